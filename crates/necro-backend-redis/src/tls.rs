//! TLS settings for `rediss://` URLs: which roots to trust (the system's, or a CA file) and an
//! optional client certificate for mutual TLS (why a handshake failed is
//! [`TlsRefusal`](crate::TlsRefusal), in `error.rs`).
//!
//! Certificate verification is always on: there is no option to turn it off. A `rediss://` URL
//! without [`TlsOptions`] trusts the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` name
//! others); with [`TlsOptions::ca_file`] it trusts only the certificates of that file.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// TLS settings of a `rediss://` connection, given to
/// [`RedisConfigBuilder::tls`](crate::RedisConfigBuilder::tls).
///
/// Files are PEM and are read when the configuration is built (so a missing or unreadable file
/// is a [`ConfigError::Tls`] at `build()`), and again when connecting. The server's name is
/// checked against the URL's host.
///
/// ```
/// use necro_backend_redis::{RedisConfig, TlsOptions};
/// let options = TlsOptions::new()
///     .ca_file("/etc/redis/ca.crt")
///     .client_certificate("/etc/redis/client.crt", "/etc/redis/client.key");
/// assert_eq!(options.ca_file_path().unwrap().to_str(), Some("/etc/redis/ca.crt"));
/// // A plain redis:// URL with TLS options is refused: they would be ignored.
/// assert!(RedisConfig::builder("redis://localhost").tls(options).build().is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct TlsOptions {
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    /// No CA file (the system's roots) and no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts only the CA certificates in this PEM file (one or more), instead of the system's.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents this certificate chain (PEM, leaf first) and private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1) to a server that asks for one (`tls-auth-clients yes`): mutual TLS.
    pub fn client_certificate(
        mut self,
        cert_chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((cert_chain.into(), key.into()));
        self
    }

    /// The CA file, if one was given.
    #[must_use]
    pub fn ca_file_path(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The client certificate chain and key files, if given.
    #[must_use]
    pub fn client_certificate_paths(&self) -> Option<(&Path, &Path)> {
        self.client_cert
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path()))
    }
}

/// Refuses TLS options on a URL that does not use TLS (they would be silently ignored) and
/// files that cannot be read or hold nothing usable.
pub(crate) fn check(url: &str, options: Option<&TlsOptions>) -> Result<(), ConfigError> {
    let Some(options) = options else {
        return Ok(());
    };
    if !url.trim_start().starts_with("rediss://") {
        return Err(ConfigError::Tls {
            reason: "TLS options were given for a URL that is not rediss://".to_owned(),
        });
    }
    #[cfg(feature = "tls")]
    {
        imp::client_config(options).map(drop)
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = options;
        Ok(())
    }
}

#[cfg(feature = "tls")]
pub(crate) use imp::client_config;

#[cfg(feature = "tls")]
mod imp {
    use std::path::Path;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::{ClientConfig, RootCertStore};

    use super::TlsOptions;
    use crate::error::ConfigError;

    fn tls_err(reason: String) -> ConfigError {
        ConfigError::Tls { reason }
    }

    fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| tls_err(format!("{what} {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(tls_err(format!(
                "{what} {} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(certs)
    }

    /// The rustls configuration for these options (ring provider, verification on).
    pub(crate) fn client_config(options: &TlsOptions) -> Result<ClientConfig, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(e.to_string()))?;
        let mut roots = RootCertStore::empty();
        match &options.ca_file {
            Some(path) => {
                for cert in certs(path, "CA file")? {
                    roots
                        .add(cert)
                        .map_err(|e| tls_err(format!("CA file {}: {e}", path.display())))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // A system root rustls cannot use is skipped, as fred does not either.
                    let _ = roots.add(cert);
                }
            }
        }
        let builder = builder.with_root_certificates(roots);
        match &options.client_cert {
            None => Ok(builder.with_no_client_auth()),
            Some((chain, key)) => {
                let chain = certs(chain, "client certificate file")?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| tls_err(format!("client key file {}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_err(format!("client certificate and key: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TlsRefusal;

    #[test]
    fn refusals_are_read_from_rustls_names() {
        let t = |s: &str| TlsRefusal::from_text(s);
        assert_eq!(
            t("Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }"),
            Some(TlsRefusal::UnknownIssuer)
        );
        assert_eq!(
            t("InvalidCertificate(NotValidForNameContext { expected: .. })"),
            Some(TlsRefusal::NameMismatch)
        );
        assert_eq!(
            t("received fatal alert: CertificateRequired"),
            Some(TlsRefusal::ClientCertificate)
        );
        assert_eq!(t("Connection refused (os error 111)"), None);
    }

    #[test]
    fn options_on_a_plain_url_are_refused() {
        let e = check("redis://h", Some(&TlsOptions::new())).unwrap_err();
        assert!(matches!(e, ConfigError::Tls { .. }), "{e}");
        assert!(check("redis://h", None).is_ok());
    }
}
