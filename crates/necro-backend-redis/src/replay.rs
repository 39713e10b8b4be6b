//! Replay, atomic per entry: one Lua script puts dead letters back onto the main stream,
//! each only if it is still in the dead-letter stream, and deletes it there in the same step.
//! Two replays of one entry racing each other (two operators, two tabs of the live page) put
//! it back once: the second finds it gone. A MULTI/EXEC could not do it: it cannot make the
//! `XADD` depend on the entry still being there.

use fred::interfaces::ClientLike;
use fred::types::{CustomCommand, Value};
use necro_core::{BackendError, Event, Metadata};

use crate::connect::Inner;
use crate::entry::{EntryId, event_fields, value_string};
use crate::error::{sent_write_error, unexpected_reply};

/// KEYS[1] the dead-letter stream, KEYS[2] the main stream; ARGV[1] the main stream's
/// `MAXLEN ~` (empty for none), then per entry its dead-letter id, its number of fields and
/// the fields (name, value, …) of its new main-stream entry. Replays each entry still held:
/// `XADD`, then `XDEL` (an `XADD` that fails stops the script before the entry is deleted,
/// so nothing is lost). Returns `{dead-letter id, new id, …}` of the entries replayed.
const SCRIPT: &str = r"
local out = {}
local i = 2
while i <= #ARGV do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  local fields = {}
  for j = 1, 2 * n do fields[j] = ARGV[i + 1 + j] end
  i = i + 2 + 2 * n
  if #redis.call('XRANGE', KEYS[1], id, id) == 1 then
    local new
    if ARGV[1] == '' then
      new = redis.call('XADD', KEYS[2], '*', unpack(fields))
    else
      new = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
    end
    redis.call('XDEL', KEYS[1], id)
    out[#out + 1] = id
    out[#out + 1] = new
  end
end
return out
";

/// A dead letter to replay: its id in the dead-letter stream, its event and metadata.
pub(crate) type Replayable = (EntryId, Event, Metadata);

impl Inner {
    /// Replays `batch` (one script call): each entry still in the dead-letter stream goes
    /// back onto the main stream as a new entry (first delivery again, same event id, the
    /// fields `event_fields` writes) and is deleted from the dead-letter stream, atomically.
    /// Returns `(dead-letter id, new main-stream id)` of the entries replayed, in `batch`'s
    /// order; the others were gone (replayed or purged meanwhile).
    ///
    /// With `python_compatible`, a batch holding an event a Python consumer would refuse is
    /// refused whole.
    pub(crate) async fn replay_entries(
        &self,
        batch: &[Replayable],
    ) -> Result<Vec<(EntryId, EntryId)>, BackendError> {
        self.check_open()?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.check_python(batch.iter().map(|(_, event, _)| event))?;
        let mut args: Vec<Value> = Vec::with_capacity(5 + batch.len() * 8);
        args.push(SCRIPT.into());
        args.push(2.into());
        args.push(self.config.dlq_stream().into());
        args.push(self.config.stream_key().into());
        args.push(
            self.config
                .max_len
                .map(|n| n.to_string())
                .unwrap_or_default()
                .into(),
        );
        for (id, event, meta) in batch {
            let fields = event_fields(event, meta);
            args.push(id.as_str().into());
            args.push(fields.len().to_string().into());
            for (name, value) in fields {
                args.push(name.into());
                args.push(value.into());
            }
        }
        let reply: Value = self
            .pool
            .next()
            .custom(CustomCommand::new_static("EVAL", None::<u16>, false), args)
            .await
            .map_err(|e| sent_write_error(e, "replay script"))?;
        let replayed =
            parse_replayed(reply).ok_or_else(|| unexpected_reply("the replay script"))?;
        self.counters.enqueued(replayed.len() as u64);
        Ok(replayed)
    }
}

/// `{id, new, id, new, …}` as pairs.
fn parse_replayed(reply: Value) -> Option<Vec<(EntryId, EntryId)>> {
    let items = match reply {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => return None,
    };
    if items.len() % 2 != 0 {
        return None;
    }
    items
        .chunks(2)
        .map(|pair| match pair {
            [id, new] => Some((
                EntryId::from(value_string(id)?),
                EntryId::from(value_string(new)?),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn parses_the_script_reply_and_refuses_other_shapes() {
        let pairs = parse_replayed(Value::Array(vec![s("1-0"), s("9-0"), s("2-0"), s("9-1")]));
        assert_eq!(
            pairs,
            Some(vec![
                (EntryId::from("1-0"), EntryId::from("9-0")),
                (EntryId::from("2-0"), EntryId::from("9-1")),
            ])
        );
        assert_eq!(parse_replayed(Value::Array(Vec::new())), Some(Vec::new()));
        assert_eq!(parse_replayed(Value::Null), Some(Vec::new()));
        assert_eq!(parse_replayed(Value::Array(vec![s("1-0")])), None);
        assert_eq!(parse_replayed(Value::Integer(1)), None);
    }
}
