//! `necro consumers prune`: removes the group's consumers that hold nothing pending and have
//! been idle at least `--idle`, and names those it refused because they still hold entries.

use std::fmt::Write;

use necro_backend_redis::{RedisBackend, StreamInfo};
use serde_json::json;

use crate::cli::PruneArgs;
use crate::error::CliError;
use crate::table::duration;

/// What `necro consumers prune` does and prints.
pub(crate) async fn prune(
    backend: &RedisBackend,
    info: &StreamInfo,
    args: &PruneArgs,
    json: bool,
) -> Result<String, CliError> {
    let group_name = backend.config().consumer_group();
    let Some(group) = info.group(group_name) else {
        return Err(CliError::NoGroup {
            stream: info.stream.clone(),
            group: group_name.to_owned(),
        });
    };
    let report = backend.prune_consumers(args.idle).await?;
    let pending_of = |name: &str| {
        group
            .consumers
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.pending)
    };
    if json {
        let value = json!({
            "group": group_name,
            "idle_ms": crate::table::millis(args.idle),
            "removed": report.removed,
            "kept_pending": report.kept_pending.iter().map(|name| json!({
                "name": name,
                "pending": pending_of(name),
            })).collect::<Vec<_>>(),
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&value)?));
    }
    let mut out = String::new();
    for name in &report.removed {
        let _ = writeln!(out, "removed {name}");
    }
    for name in &report.kept_pending {
        let _ = writeln!(
            out,
            "kept {name}: it still holds {} pending entries (live workers claim them; prune again later)",
            pending_of(name)
        );
    }
    let _ = writeln!(
        out,
        "removed {} consumer(s) idle at least {} from group {group_name}; kept {} holding pending entries",
        report.removed.len(),
        duration(args.idle),
        report.kept_pending.len()
    );
    Ok(out)
}
