//! Configuration from the environment: [`RedisConfig::builder_from_env`] and
//! [`RedisConfig::builder_from_vars`] read `NECRO_REDIS_URL` and the other `NECRO_*` variables
//! into a [`RedisConfigBuilder`] (this file imports `config.rs`, never the other way round).

use std::time::Duration;

use crate::config::{RedisConfig, RedisConfigBuilder, mask_url};
use crate::error::ConfigError;

/// The variable holding the Redis URL, read by [`RedisConfig::builder_from_env`].
pub(crate) const ENV_URL: &str = "NECRO_REDIS_URL";

/// Every variable [`RedisConfig::builder_from_env`] reads.
pub(crate) const ENV_VARS: [&str; 15] = [
    ENV_URL,
    "NECRO_STREAM",
    "NECRO_GROUP",
    "NECRO_CONSUMER",
    "NECRO_DLQ_STREAM",
    "NECRO_POOL_SIZE",
    "NECRO_MAX_RETRIES",
    "NECRO_CLAIM_MIN_IDLE_MS",
    "NECRO_CLAIM_INTERVAL_MS",
    "NECRO_BATCH_SIZE",
    "NECRO_BLOCK_TIMEOUT_MS",
    "NECRO_MAX_LEN",
    "NECRO_COMMAND_TIMEOUT_MS",
    "NECRO_CONNECT_TIMEOUT_MS",
    "NECRO_PYTHON_COMPATIBLE",
];

impl RedisConfig {
    /// Starts a builder from the process environment: `NECRO_REDIS_URL` (required) and the
    /// optional variables below, each setting one option. An unset variable keeps the option's
    /// default; the builder's setters can still override anything afterwards, and
    /// [`build`](RedisConfigBuilder::build) validates the whole as usual.
    ///
    /// | variable | option | value |
    /// |---|---|---|
    /// | `NECRO_REDIS_URL` | `redis_url` | required: `redis://` or `rediss://` URL |
    /// | `NECRO_STREAM` | [`stream_key`](RedisConfigBuilder::stream_key) | text |
    /// | `NECRO_GROUP` | [`consumer_group`](RedisConfigBuilder::consumer_group) | text |
    /// | `NECRO_CONSUMER` | [`consumer_name`](RedisConfigBuilder::consumer_name) | text |
    /// | `NECRO_DLQ_STREAM` | [`dlq_stream`](RedisConfigBuilder::dlq_stream) | text |
    /// | `NECRO_POOL_SIZE` | [`pool_size`](RedisConfigBuilder::pool_size) | whole number |
    /// | `NECRO_MAX_RETRIES` | [`max_retries`](RedisConfigBuilder::max_retries) | whole number |
    /// | `NECRO_CLAIM_MIN_IDLE_MS` | [`claim_min_idle_ms`](RedisConfigBuilder::claim_min_idle_ms) | milliseconds |
    /// | `NECRO_CLAIM_INTERVAL_MS` | [`claim_interval`](RedisConfigBuilder::claim_interval) | milliseconds |
    /// | `NECRO_BATCH_SIZE` | [`batch_size`](RedisConfigBuilder::batch_size) | whole number |
    /// | `NECRO_BLOCK_TIMEOUT_MS` | [`block_timeout`](RedisConfigBuilder::block_timeout) | milliseconds |
    /// | `NECRO_MAX_LEN` | [`max_len`](RedisConfigBuilder::max_len) | whole number |
    /// | `NECRO_COMMAND_TIMEOUT_MS` | [`command_timeout`](RedisConfigBuilder::command_timeout) | milliseconds |
    /// | `NECRO_CONNECT_TIMEOUT_MS` | [`connect_timeout`](RedisConfigBuilder::connect_timeout) | milliseconds |
    /// | `NECRO_PYTHON_COMPATIBLE` | [`python_compatible`](RedisConfigBuilder::python_compatible) | `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` |
    ///
    /// Numbers and booleans may carry surrounding whitespace; text is taken as it is.
    ///
    /// ```no_run
    /// use necro_backend_redis::RedisConfig;
    /// # fn main() -> Result<(), necro_backend_redis::ConfigError> {
    /// let config = RedisConfig::builder_from_env()?
    ///     .consumer_group("billing") // code still decides what it wants to
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::MissingEnv`] when `NECRO_REDIS_URL` is not set;
    /// [`ConfigError::InvalidEnv`], naming the variable and its value, when one is set but
    /// empty, not UTF-8, or not of its kind (a number that does not parse, a boolean that is
    /// none of the spellings above). The URL's value is never part of an error.
    pub fn builder_from_env() -> Result<RedisConfigBuilder, ConfigError> {
        for var in ENV_VARS {
            if let Err(std::env::VarError::NotUnicode(value)) = std::env::var(var) {
                let value = value.to_string_lossy();
                // The URL may hold a password.
                let value = if var == ENV_URL {
                    mask_url(&value)
                } else {
                    value.into_owned()
                };
                return Err(invalid_env(var, value, "UTF-8 text", None));
            }
        }
        Self::builder_from_vars(|var| std::env::var(var).ok())
    }

    /// [`builder_from_env`](Self::builder_from_env) with the variables read through `lookup`
    /// (the variable's name to its value, `None` when unset) instead of the process
    /// environment: for a `.env` file, a secrets store, or a test.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use necro_backend_redis::{ConfigError, RedisConfig};
    ///
    /// let vars = HashMap::from([
    ///     ("NECRO_REDIS_URL", "redis://127.0.0.1:6379"),
    ///     ("NECRO_STREAM", "orders"),
    ///     ("NECRO_MAX_RETRIES", "5"),
    /// ]);
    /// let config = RedisConfig::builder_from_vars(|var| vars.get(var).map(|v| v.to_string()))
    ///     .unwrap()
    ///     .build()
    ///     .unwrap();
    /// assert_eq!((config.stream_key(), config.max_retries()), ("orders", 5));
    ///
    /// let err = RedisConfig::builder_from_vars(|var| match var {
    ///     "NECRO_REDIS_URL" => Some("redis://h".to_owned()),
    ///     "NECRO_MAX_RETRIES" => Some("three".to_owned()),
    ///     _ => None,
    /// })
    /// .unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidEnv { var: "NECRO_MAX_RETRIES", .. }));
    /// assert_eq!(err.to_string(), r#"environment variable NECRO_MAX_RETRIES is "three", expected a whole number"#);
    /// ```
    ///
    /// # Errors
    /// As [`builder_from_env`](Self::builder_from_env).
    pub fn builder_from_vars(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RedisConfigBuilder, ConfigError> {
        let vars = Vars(lookup);
        let url = vars
            .text(ENV_URL)?
            .ok_or(ConfigError::MissingEnv { var: ENV_URL })?;
        let mut b = RedisConfigBuilder::new(url);
        if let Some(v) = vars.text("NECRO_STREAM")? {
            b = b.stream_key(v);
        }
        if let Some(v) = vars.text("NECRO_GROUP")? {
            b = b.consumer_group(v);
        }
        if let Some(v) = vars.text("NECRO_CONSUMER")? {
            b = b.consumer_name(v);
        }
        if let Some(v) = vars.text("NECRO_DLQ_STREAM")? {
            b = b.dlq_stream(v);
        }
        if let Some(n) = vars.whole("NECRO_POOL_SIZE")? {
            b = b.pool_size(n);
        }
        if let Some(n) = vars.whole("NECRO_MAX_RETRIES")? {
            b = b.max_retries(n);
        }
        if let Some(d) = vars.millis("NECRO_CLAIM_MIN_IDLE_MS")? {
            b = b.claim_min_idle(d);
        }
        if let Some(d) = vars.millis("NECRO_CLAIM_INTERVAL_MS")? {
            b = b.claim_interval(d);
        }
        if let Some(n) = vars.whole("NECRO_BATCH_SIZE")? {
            b = b.batch_size(n);
        }
        if let Some(d) = vars.millis("NECRO_BLOCK_TIMEOUT_MS")? {
            b = b.block_timeout(d);
        }
        if let Some(n) = vars.whole("NECRO_MAX_LEN")? {
            b = b.max_len(n);
        }
        if let Some(d) = vars.millis("NECRO_COMMAND_TIMEOUT_MS")? {
            b = b.command_timeout(d);
        }
        if let Some(d) = vars.millis("NECRO_CONNECT_TIMEOUT_MS")? {
            b = b.connect_timeout(d);
        }
        if let Some(on) = vars.flag("NECRO_PYTHON_COMPATIBLE")? {
            b = b.python_compatible(on);
        }
        Ok(b)
    }
}

/// Reads the variables of [`RedisConfig::builder_from_vars`] through its lookup.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The value, if set; set but blank is an error.
    fn text(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        match (self.0)(var) {
            Some(v) if v.trim().is_empty() => Err(invalid_env(var, v, "a non-empty value", None)),
            other => Ok(other),
        }
    }

    fn whole<T: std::str::FromStr<Err = std::num::ParseIntError>>(
        &self,
        var: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        self.text(var)?
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|e| invalid_env(var, v, "a whole number", Some(e)))
            })
            .transpose()
    }

    fn millis(&self, var: &'static str) -> Result<Option<Duration>, ConfigError> {
        Ok(self.whole::<u64>(var)?.map(Duration::from_millis))
    }

    fn flag(&self, var: &'static str) -> Result<Option<bool>, ConfigError> {
        self.text(var)?
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(invalid_env(
                    var,
                    v,
                    "true or false (or 1/0, yes/no, on/off)",
                    None,
                )),
            })
            .transpose()
    }
}

fn invalid_env(
    var: &'static str,
    value: String,
    expected: &'static str,
    source: Option<std::num::ParseIntError>,
) -> ConfigError {
    ConfigError::InvalidEnv {
        var,
        value,
        expected,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CONSUMER_GROUP;

    fn from_map(vars: &[(&str, &str)]) -> Result<RedisConfigBuilder, ConfigError> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RedisConfig::builder_from_vars(|var| vars.get(var).cloned())
    }

    const URL: (&str, &str) = ("NECRO_REDIS_URL", "redis://:pw@127.0.0.1:6379/2");

    #[test]
    fn from_vars_sets_every_option() {
        let c = from_map(&[
            URL,
            ("NECRO_STREAM", "orders"),
            ("NECRO_GROUP", "billing"),
            ("NECRO_CONSUMER", "worker-7"),
            ("NECRO_DLQ_STREAM", "orders:dead"),
            ("NECRO_POOL_SIZE", "4"),
            ("NECRO_MAX_RETRIES", "7"),
            ("NECRO_CLAIM_MIN_IDLE_MS", "60000"),
            ("NECRO_CLAIM_INTERVAL_MS", "250"),
            ("NECRO_BATCH_SIZE", "50"),
            ("NECRO_BLOCK_TIMEOUT_MS", "0"),
            ("NECRO_MAX_LEN", "100000"),
            ("NECRO_COMMAND_TIMEOUT_MS", "1500"),
            ("NECRO_CONNECT_TIMEOUT_MS", "2500"),
            ("NECRO_PYTHON_COMPATIBLE", "true"),
        ])
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(c.masked_url(), "redis://:****@127.0.0.1:6379/2");
        assert_eq!(c.redis_url, "redis://:pw@127.0.0.1:6379/2");
        assert_eq!(
            (c.stream_key(), c.consumer_group(), c.consumer_name()),
            ("orders", "billing", "worker-7")
        );
        assert_eq!(c.dlq_stream(), "orders:dead");
        assert_eq!((c.pool_size(), c.max_retries(), c.batch_size()), (4, 7, 50));
        assert_eq!(c.claim_min_idle(), Duration::from_secs(60));
        assert_eq!(c.claim_interval(), Duration::from_millis(250));
        assert_eq!(c.block_timeout(), Duration::ZERO);
        assert_eq!(c.max_len(), Some(100_000));
        assert_eq!(c.command_timeout(), Duration::from_millis(1500));
        assert_eq!(c.connect_timeout(), Duration::from_millis(2500));
        assert!(c.python_compatible());
    }

    #[test]
    fn from_vars_keeps_the_defaults_of_unset_variables_and_setters_still_override() {
        let c = from_map(&[URL]).unwrap().build().unwrap();
        let d = RedisConfig::builder(URL.1).build().unwrap();
        assert_eq!(
            (c.stream_key(), c.consumer_group(), c.dlq_stream()),
            (d.stream_key(), d.consumer_group(), d.dlq_stream())
        );
        assert!(
            c.consumer_name()
                .contains(&format!("-{}-", std::process::id()))
        );
        assert_eq!(
            (c.pool_size(), c.max_retries(), c.batch_size(), c.max_len()),
            (d.pool_size(), d.max_retries(), d.batch_size(), d.max_len())
        );
        assert_eq!(
            (c.claim_min_idle(), c.claim_interval(), c.block_timeout()),
            (d.claim_min_idle(), d.claim_interval(), d.block_timeout())
        );
        assert_eq!(
            (
                c.command_timeout(),
                c.connect_timeout(),
                c.python_compatible()
            ),
            (
                d.command_timeout(),
                d.connect_timeout(),
                d.python_compatible()
            )
        );

        let c = from_map(&[
            URL,
            ("NECRO_STREAM", "from-env"),
            ("NECRO_MAX_RETRIES", "9"),
        ])
        .unwrap()
        .stream_key("from-code")
        .build()
        .unwrap();
        assert_eq!((c.stream_key(), c.max_retries()), ("from-code", 9));
    }

    #[test]
    fn from_vars_trims_numbers_and_reads_boolean_spellings() {
        let c = from_map(&[URL, ("NECRO_MAX_RETRIES", " 5\n")])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.max_retries(), 5);
        for (value, on) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            (" on ", true),
            ("false", false),
            ("False", false),
            ("0", false),
            ("no", false),
            ("off", false),
        ] {
            let c = from_map(&[URL, ("NECRO_PYTHON_COMPATIBLE", value)])
                .unwrap()
                .build()
                .unwrap();
            assert_eq!(c.python_compatible(), on, "{value:?}");
        }
    }

    #[test]
    fn from_vars_refuses_unreadable_values_naming_the_variable_and_the_value() {
        assert_eq!(
            from_map(&[("NECRO_STREAM", "s")]).unwrap_err(),
            ConfigError::MissingEnv {
                var: "NECRO_REDIS_URL"
            }
        );
        // The numeric ones: ENV_VARS from NECRO_POOL_SIZE up to the flag at the end.
        let numeric = &ENV_VARS[5..ENV_VARS.len() - 1];
        assert_eq!(
            (numeric[0], numeric[numeric.len() - 1]),
            ("NECRO_POOL_SIZE", "NECRO_CONNECT_TIMEOUT_MS")
        );
        for &var in numeric {
            for bad in ["abc", "-1", "1.5", "5s", "99999999999999999999999"] {
                let err = from_map(&[URL, (var, bad)]).unwrap_err();
                match &err {
                    ConfigError::InvalidEnv {
                        var: v,
                        value,
                        expected: "a whole number",
                        source: Some(_),
                    } => assert_eq!((*v, value.as_str()), (var, bad)),
                    other => panic!("{var}={bad}: {other:?}"),
                }
                let text = err.to_string();
                assert!(text.contains(var) && text.contains(bad), "{text}");
            }
        }
        // u32: one past its range.
        assert!(matches!(
            from_map(&[URL, ("NECRO_MAX_RETRIES", "4294967296")]),
            Err(ConfigError::InvalidEnv {
                var: "NECRO_MAX_RETRIES",
                ..
            })
        ));
        let err = from_map(&[URL, ("NECRO_PYTHON_COMPATIBLE", "maybe")]).unwrap_err();
        assert!(matches!(
            &err,
            ConfigError::InvalidEnv { var: "NECRO_PYTHON_COMPATIBLE", value, source: None, .. }
                if value == "maybe"
        ));
        assert_eq!(
            err.to_string(),
            r#"environment variable NECRO_PYTHON_COMPATIBLE is "maybe", expected true or false (or 1/0, yes/no, on/off)"#
        );
        // Set but blank is not "unset": every variable, the URL too.
        for var in ENV_VARS {
            let err = if var == ENV_URL {
                from_map(&[(var, " ")])
            } else {
                from_map(&[URL, (var, "")])
            }
            .unwrap_err();
            assert!(
                matches!(&err, ConfigError::InvalidEnv { var: v, expected: "a non-empty value", .. } if *v == var),
                "{var}: {err:?}"
            );
        }
        // Values that read but are out of range are build()'s, under the option's name.
        assert!(matches!(
            from_map(&[URL, ("NECRO_POOL_SIZE", "0")]).unwrap().build(),
            Err(ConfigError::OutOfRange {
                option: "pool_size",
                ..
            })
        ));
        let err = from_map(&[("NECRO_REDIS_URL", "http://user:pw@h")])
            .unwrap()
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::UnsupportedScheme { .. }));
    }

    #[test]
    fn every_variable_is_read_and_documented() {
        let asked = std::cell::RefCell::new(Vec::new());
        let _builder = RedisConfig::builder_from_vars(|var| {
            asked.borrow_mut().push(var.to_owned());
            (var == ENV_URL).then(|| "redis://h".to_owned())
        })
        .unwrap();
        assert_eq!(asked.into_inner(), ENV_VARS.map(str::to_owned));
        let page = include_str!("../../../docs/redis.md");
        for var in ENV_VARS {
            assert!(
                page.contains(&format!("| `{var}` |")),
                "{var} in docs/redis.md"
            );
        }
    }

    /// Runs this test again in a child process whose environment holds the variables, since
    /// a test may not change its own process's environment (`set_var` is unsafe).
    #[test]
    fn builder_from_env_reads_the_process_environment() {
        const CHILD: &str = "NECRO_CONFIG_TEST_CHILD";
        match std::env::var(CHILD).as_deref() {
            Ok("set") => {
                let c = RedisConfig::builder_from_env().unwrap().build().unwrap();
                assert_eq!(c.masked_url(), "redis://127.0.0.1:6390");
                assert_eq!((c.stream_key(), c.max_retries()), ("env-stream", 4));
                assert_eq!(c.consumer_group(), DEFAULT_CONSUMER_GROUP);
                assert!(c.python_compatible());
                return;
            }
            Ok("unset") => {
                assert_eq!(
                    RedisConfig::builder_from_env().unwrap_err(),
                    ConfigError::MissingEnv { var: ENV_URL }
                );
                return;
            }
            #[cfg(unix)]
            Ok("not-utf8") => {
                let err = RedisConfig::builder_from_env().unwrap_err();
                assert!(
                    matches!(&err, ConfigError::InvalidEnv { var: "NECRO_STREAM", expected: "UTF-8 text", value, .. } if value == "a\u{fffd}b"),
                    "{err:?}"
                );
                return;
            }
            _ => {}
        }
        let run = |mode: &str, vars: &[(&str, &std::ffi::OsStr)]| {
            let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
            cmd.args([
                "env::tests::builder_from_env_reads_the_process_environment",
                "--exact",
                "--test-threads=1",
            ])
            .env(CHILD, mode);
            for var in ENV_VARS {
                cmd.env_remove(var);
            }
            for (k, v) in vars {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "{mode}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let os = std::ffi::OsStr::new;
        run(
            "set",
            &[
                ("NECRO_REDIS_URL", os("redis://127.0.0.1:6390")),
                ("NECRO_STREAM", os("env-stream")),
                ("NECRO_MAX_RETRIES", os("4")),
                ("NECRO_PYTHON_COMPATIBLE", os("yes")),
            ],
        );
        run("unset", &[]);
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            run(
                "not-utf8",
                &[
                    ("NECRO_REDIS_URL", os("redis://h")),
                    ("NECRO_STREAM", std::ffi::OsStr::from_bytes(b"a\xffb")),
                ],
            );
        }
    }
}
