#!/usr/bin/env python3
"""Writes the committed seed corpus (fuzz/corpus/<target>/) from inputs the tests use
(tests/python_wire.rs, tests/malformed.rs, tests/headers.rs, tests/dlq.rs). Run from fuzz/."""
import os

V4 = "3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c"
TS = "2024-01-15T10:30:45.123456+00:00"
COMPACT = '{"id":"%s","timestamp":"%s","event_type":"ORDER_PLACED","payload":{"order_id":123}}' % (V4, TS)
SPACED = ('{"id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "timestamp": "2024-01-15T10:30:45+00:00", '
          '"event_type": "ORDER_SHIPPED", "payload": {"order_id": 123, "carrier": "DHL", "tags": ["a", "b"]}}')
ESCAPES = ('{"id":"%s","timestamp":"%s","event_type":"T","payload":{"t":"caf\\u00e9 \\ud83d\\ude00 '
           '\\u4e2d \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0001\\u001f"}}' % (V4, TS))
NESTED = '{"id":"%s","timestamp":"%s","event_type":"T","payload":{"a":1,"b":[1,2,{"c":null}],"d":true,"e":false,"f":[],"g":{}}}' % (V4, TS)
DEEP = '{"id":"%s","timestamp":"%s","event_type":"T","payload":%s}' % (V4, TS, '{"a":' * 101 + '1' + '}' * 101)
events = {
    "compact": COMPACT, "python_spaced": SPACED, "escapes": ESCAPES, "nested": NESTED, "too_deep": DEEP,
    "payload_array": COMPACT.replace('{"order_id":123}', "[1,2]"),
    "bad_timestamp": COMPACT.replace(TS, "yesterday"),
    "no_timestamp": '{"id":"%s","event_type":"X","payload":{}}' % V4,
    "nan": COMPACT.replace("123", "NaN"),
    "bad_uuid": COMPACT.replace(V4, "not-a-uuid"),
    "empty_type": COMPACT.replace("ORDER_PLACED", ""),
    "unknown_field": COMPACT[:-1] + ',"extra":1}',
    "big_number": COMPACT.replace("123", "1e400"),
}

def fields(*pairs):
    return b"\0".join(b"%s\0%s" % (k, v) for k, v in pairs)

def enc(s):
    return s.encode() if isinstance(s, str) else s

entries = {
    "good": fields((b"event", enc(COMPACT))),
    "good_with_meta": fields((b"event", enc(COMPACT)), (b"correlation_id", enc(V4)),
                             (b"causation_id", enc(V4)), (b"header:traceparent", b"00-abc-01"),
                             (b"header:tenant", b"acme")),
    "garbage": fields((b"event", b"garbage 1")),
    "no_event": fields((b"foo", b"bar"), (b"baz", b"1")),
    "not_utf8": fields((b"event", b"\xff\xfe{"), (b"\xc3\x28", b"\x80")),
    "bad_header": fields((b"event", enc(COMPACT)), (b"header:", b"x"), (b"header:bad name", b"v")),
    "bad_meta": fields((b"event", enc(COMPACT)), (b"correlation_id", b"nope")),
    "two_events": fields((b"event", b"garbage"), (b"event", enc(COMPACT))),
    "deep": fields((b"event", enc(DEEP))),
}
dead_letters = {
    "python": fields((b"original_id", b"1705314645123-0"), (b"event", enc(COMPACT)),
                     (b"reason", b"handler failed"), (b"failed_at", b"2024-01-15T10:30:45.123456+00:00")),
    "rust_malformed": fields((b"original_id", b"1-0"), (b"event", b"garbage"), (b"reason", b"malformed entry"),
                             (b"failed_at", b"2024-01-15T10:30:45Z"), (b"kind", b"malformed"), (b"attempts", b"1"),
                             (b"consumer", b"c"), (b"fields", b'[["event",null],["x",{"base64":"/w=="}]]')),
    "rust_handler": fields((b"original_id", b"2-0"), (b"event", enc(COMPACT)), (b"reason", b"boom"),
                           (b"failed_at", b"2024-01-15T10:30:45"), (b"kind", b"handler_failed"), (b"attempts", b"3"),
                           (b"organ", b"Mailer"),
                           (b"failures", b'[{"attempt":1,"error":"boom","at":"2024-01-15T10:30:45Z"}]'),
                           (b"header:tenant", b"acme")),
    "old_fields_object": fields((b"event", b"x"), (b"kind", b"malformed"), (b"fields", b'{"event":"x","y":"z"}')),
    "empty": b"",
}

def write(target, items, prefix=b""):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in items.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(prefix + enc(data))

write("event_json", events)
write("stream_entry", entries, prefix=b"\x00")
write("stream_entry", {"redelivered_" + k: v for k, v in entries.items() if k.startswith("good")}, prefix=b"\x05")
write("dead_letter_entry", dead_letters)
