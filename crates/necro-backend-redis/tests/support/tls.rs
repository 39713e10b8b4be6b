//! TLS test material: a throwaway CA, a second CA nobody trusts, a server certificate for
//! `localhost` and a client certificate, all made by the `openssl` command line; and a private
//! `redis-server` serving TLS on a free loopback port (Debian's build has `--tls-port`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{RedisServer, under_ci, unique_key};

/// Certificates and keys in a temporary directory, removed on drop.
pub(crate) struct TlsCerts {
    pub(crate) dir: PathBuf,
}

impl TlsCerts {
    /// The CA that signed the server's and the client's certificates.
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// Another CA, which signed nothing the server presents.
    pub(crate) fn other_ca(&self) -> PathBuf {
        self.dir.join("other-ca.crt")
    }
    /// The client certificate (signed by [`ca`](Self::ca)).
    pub(crate) fn client_cert(&self) -> PathBuf {
        self.dir.join("client.crt")
    }
    /// The client certificate's key.
    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }
    /// A client certificate signed by the other CA (the server does not trust it).
    pub(crate) fn stranger_cert(&self) -> PathBuf {
        self.dir.join("stranger.crt")
    }
    /// Its key.
    pub(crate) fn stranger_key(&self) -> PathBuf {
        self.dir.join("stranger.key")
    }

    /// Makes everything with `openssl`; `None` (skipped; a failure under `CI=true`) without it.
    pub(crate) fn make() -> Option<Self> {
        if Command::new("openssl").arg("version").output().is_err() {
            assert!(
                !under_ci(),
                "CI=true and no openssl binary: failing instead of skipping"
            );
            eprintln!("SKIPPED: no openssl binary on PATH");
            return None;
        }
        let dir = std::env::temp_dir().join(unique_key("tls").replace(':', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let certs = Self { dir };
        let d = &certs.dir;
        std::fs::write(d.join("server.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
        std::fs::write(d.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
        for ca in ["ca", "other-ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-days",
                    "1",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    &format!("/CN=necro test {ca}"),
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.crt"),
                ],
            );
        }
        for (name, ca, ext, cn) in [
            ("server", "ca", "server.cnf", "localhost"),
            ("client", "ca", "client.cnf", "necro client"),
            ("stranger", "other-ca", "client.cnf", "stranger"),
        ] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    &format!("/CN={cn}"),
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.crt"),
                    "-CAkey",
                    &format!("{ca}.key"),
                    "-CAcreateserial",
                    "-days",
                    "1",
                    "-extfile",
                    ext,
                    "-out",
                    &format!("{name}.crt"),
                ],
            );
        }
        Some(certs)
    }

    /// A `redis-server` serving TLS with the server certificate on a free port (plain TCP on
    /// another), asking clients for a certificate signed by [`ca`](Self::ca) when
    /// `auth_clients` is `"yes"` (or `"optional"`, or `"no"`). Returns it and its TLS port.
    pub(crate) fn start_server(
        &self,
        auth_clients: &str,
        extra: &[&str],
    ) -> Option<(RedisServer, u16)> {
        // The free port is released before the server binds it, so another process may take
        // it first: a server that does not come up is tried again on new ports.
        let mut last = String::new();
        for _ in 0..3 {
            let tls_port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let port = tls_port.to_string();
            let (cert, key, ca) = (
                self.dir.join("server.crt"),
                self.dir.join("server.key"),
                self.ca(),
            );
            let mut args = vec![
                "--tls-port",
                &port,
                "--tls-cert-file",
                cert.to_str().unwrap(),
                "--tls-key-file",
                key.to_str().unwrap(),
                "--tls-ca-cert-file",
                ca.to_str().unwrap(),
                "--tls-auth-clients",
                auth_clients,
            ];
            args.extend_from_slice(extra);
            match RedisServer::try_start_with(false, &args)? {
                Ok(server) => return Some((server, tls_port)),
                Err(e) => last = e,
            }
        }
        panic!("no TLS redis-server came up in 3 tries: {last}");
    }
}

impl Drop for TlsCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
