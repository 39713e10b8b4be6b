//! Redis URLs: checked at build time (scheme, host, database, the `tls` feature, and fred's own
//! parser), and masked wherever they are shown.

use crate::error::ConfigError;

/// What a password is shown as.
const MASK: &str = "****";

pub(crate) fn validate_url(raw: &str, masked: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidUrl {
        url: masked.to_owned(),
        reason,
        source: None,
    };
    let url = url::Url::parse(raw).map_err(|e| ConfigError::InvalidUrl {
        url: masked.to_owned(),
        reason: e.to_string(),
        source: Some(e),
    })?;
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        other => {
            return Err(ConfigError::UnsupportedScheme {
                scheme: other.to_owned(),
            });
        }
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("missing host".to_owned()));
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() && path.parse::<u8>().is_err() {
        return Err(invalid(format!(
            "the path must be a database number 0..=255, got {path:?}"
        )));
    }
    if tls && !cfg!(feature = "tls") {
        return Err(ConfigError::TlsNotEnabled {
            url: masked.to_owned(),
        });
    }
    // fred parses the URL again when connecting; make sure it agrees now, at build time.
    fred::types::config::Config::from_url_centralized(raw)
        .map_err(|e| invalid(e.details().to_owned()))?;
    Ok(())
}

/// Masks the password of a Redis URL, keeping scheme, user, host, port and db.
///
/// Works on unparsable input too: whatever sits between `user:` and the last `@` of the
/// authority is replaced.
///
/// ```
/// use necro_backend_redis::mask_url;
/// assert_eq!(mask_url("redis://alice:pw@db.example:6380/2"), "redis://alice:****@db.example:6380/2");
/// assert_eq!(mask_url("rediss://:pw@host"), "rediss://:****@host");
/// assert_eq!(mask_url("redis://localhost:6379"), "redis://localhost:6379");
/// ```
#[must_use]
pub fn mask_url(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        // Not URL-shaped: if it could hold credentials, show nothing of it.
        return if raw.contains('@') || raw.contains(':') {
            "<unparsable URL>".to_owned()
        } else {
            raw.to_owned()
        };
    };
    let (scheme, rest) = raw.split_at(scheme_end + 3);
    let Some(at) = rest.rfind('@') else {
        return raw.to_owned();
    };
    let (userinfo, host_and_more) = rest.split_at(at);
    match userinfo.find(':') {
        Some(colon) => format!("{scheme}{}:{MASK}{host_and_more}", &userinfo[..colon]),
        // `redis://secret@host`: some clients read a lone user part as the password.
        None => format!("{scheme}{MASK}{host_and_more}"),
    }
}
