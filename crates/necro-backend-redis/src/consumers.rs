//! The group's consumers: leaving the group on close, and pruning the consumers that
//! processes which never closed left behind. Both run one Lua script, so that checking a
//! consumer's pending count and deleting it are one atomic step: `XGROUP DELCONSUMER` drops a
//! consumer's pending entries from the group, and no read or claim may slip in between.

use std::time::Duration;

use fred::error::Error as FredError;
use fred::interfaces::ClientLike;
use fred::types::{CustomCommand, Value};
use necro_core::BackendError;

use crate::connect::Inner;
use crate::entry::value_string;
use crate::error::{backend_error, unexpected_reply};

/// What [`RedisBackend::prune_consumers`](crate::RedisBackend::prune_consumers) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// The consumers deleted from the group: idle at least `min_idle`, nothing pending.
    pub removed: Vec<String>,
    /// The consumers idle at least `min_idle` that were kept because they still hold pending
    /// entries. Live workers claim those entries once they are `claim_min_idle_ms` old; a
    /// later prune then removes the emptied consumer.
    pub kept_pending: Vec<String>,
}

/// KEYS[1] the stream; ARGV[1] the group, ARGV[2] the least idle time in ms, ARGV[3] this
/// backend's consumer, ARGV[4] `self` (that consumer alone, however idle) or `others` (every
/// other consumer). Deletes the chosen consumers that hold nothing pending and returns
/// `{removed, kept_pending}`; a missing stream or group has no consumers.
const SCRIPT: &str = r"
local ok, list = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then
  local msg = type(list) == 'table' and list.err or tostring(list)
  if string.find(msg, 'NOGROUP', 1, true) or string.find(msg, 'no such key', 1, true) then
    return {{}, {}}
  end
  return redis.error_reply(msg)
end
local min_idle = tonumber(ARGV[2])
local only_self = ARGV[4] == 'self'
local removed, kept = {}, {}
for _, c in ipairs(list) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  local mine = f['name'] == ARGV[3]
  if only_self == mine and (mine or f['idle'] >= min_idle) then
    if f['pending'] == 0 then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
      table.insert(removed, f['name'])
    else
      table.insert(kept, f['name'])
    end
  end
end
return {removed, kept}
";

/// Which consumers the script looks at.
#[derive(Clone, Copy)]
enum Scope {
    /// This backend's own consumer, however idle.
    This,
    /// Every consumer but this backend's own, idle at least the given time.
    Others(Duration),
}

impl Inner {
    /// Deletes this backend's consumer from the group if it holds no pending entries (the
    /// first step of `close`). A stream or group that is gone is nothing to leave.
    pub(crate) async fn leave_group(&self) -> Result<(), FredError> {
        self.run_prune(Scope::This).await.map(|_| ())
    }

    /// The body of `RedisBackend::prune_consumers`, whose docs say what it does.
    pub(crate) async fn prune_consumers(
        &self,
        min_idle: Duration,
    ) -> Result<PruneReport, BackendError> {
        self.check_open()?;
        let reply = self
            .run_prune(Scope::Others(min_idle))
            .await
            .map_err(backend_error)?;
        parse_report(reply).ok_or_else(|| unexpected_reply("the consumer pruning script"))
    }

    async fn run_prune(&self, scope: Scope) -> Result<Value, FredError> {
        let (min_idle, mode) = match scope {
            Scope::This => (Duration::ZERO, "self"),
            Scope::Others(idle) => (idle, "others"),
        };
        let args: Vec<Value> = vec![
            SCRIPT.into(),
            1.into(),
            self.config.stream_key().into(),
            self.group.as_str().into(),
            u64::try_from(min_idle.as_millis())
                .unwrap_or(u64::MAX)
                .to_string()
                .into(),
            self.consumer.as_str().into(),
            mode.into(),
        ];
        self.pool
            .next()
            .custom(CustomCommand::new_static("EVAL", None::<u16>, false), args)
            .await
    }
}

fn parse_report(reply: Value) -> Option<PruneReport> {
    let names = |v: Value| match v {
        Value::Array(items) => items.iter().map(value_string).collect::<Option<Vec<_>>>(),
        _ => None,
    };
    let Value::Array(parts) = reply else {
        return None;
    };
    let mut parts = parts.into_iter();
    let (Some(removed), Some(kept), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    Some(PruneReport {
        removed: names(removed)?,
        kept_pending: names(kept)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ns: &[&str]) -> Value {
        Value::Array(ns.iter().map(|n| Value::String((*n).into())).collect())
    }

    #[test]
    fn parses_the_script_reply_and_refuses_other_shapes() {
        let reply = Value::Array(vec![names(&["a", "b"]), names(&["c"])]);
        assert_eq!(
            parse_report(reply),
            Some(PruneReport {
                removed: vec!["a".to_owned(), "b".to_owned()],
                kept_pending: vec!["c".to_owned()],
            })
        );
        assert_eq!(
            parse_report(Value::Array(vec![names(&[]), names(&[])])),
            Some(PruneReport::default())
        );
        assert_eq!(parse_report(Value::Integer(1)), None);
        assert_eq!(parse_report(Value::Array(vec![names(&["a"])])), None);
        assert_eq!(
            parse_report(Value::Array(vec![names(&[]), names(&[]), names(&[])])),
            None
        );
        assert_eq!(
            parse_report(Value::Array(vec![Value::Integer(1), names(&[])])),
            None
        );
    }
}
