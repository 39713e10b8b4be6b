#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60) with libFuzzer through
# cargo-fuzz, and fails on any crash, timeout, leak or out-of-memory.
#
#   fuzz/run.sh 60
#
# The toolchain is stable (rust-toolchain.toml), and cargo-fuzz needs nightly-only flags
# (-Zsanitizer=address, -Cpasses=sancov-module): RUSTC_BOOTSTRAP=1 lets stable rustc accept
# them. Needs `cargo install cargo-fuzz` (installed here when missing) and a C++ toolchain for
# libFuzzer (build-essential). Inputs the run finds interesting go to a scratch corpus under
# target/, not into the committed seeds; a crash is left in fuzz/artifacts/<target>/: copy it
# to fuzz/regressions/<target>/ with the fix, where tests/fuzz_corpus.rs replays it.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

targets=$(cargo fuzz list)
status=0
for target in $targets; do
    scratch="target/corpus/$target"
    mkdir -p "$scratch" "artifacts/$target"
    echo "== $target: ${seconds}s"
    log="target/$target.log"
    # -timeout: one input taking over 10 s is a failure; -rss_limit_mb: over 2 GiB is one;
    # leaks are reported by AddressSanitizer's leak checker (on by default).
    if cargo fuzz run "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$log" || true
    else
        status=1
        echo "!! $target FAILED; the end of its log ($log):"
        tail -40 "$log"
    fi
done
exit "$status"
