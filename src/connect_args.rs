//! Where requests go and how the connection is made: the target URL (`http://` or `https://`),
//! `--resolve`, and the TLS options (`--cacert`, `--insecure`, `--cert`/`--key`, `--sni`,
//! `--tls-version`, `--no-tls-resume`). Shared by `run` and `compare`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::Args;
use ringload_engine::Target;
use ringload_engine::tls::{TlsOptions, TlsVersions};

use crate::addresses::{Url, parse_url};
use crate::error::CliError;

#[derive(Debug, Args, Default, Clone)]
pub struct ConnectArgs {
    /// Reach HOST:PORT at ADDR instead of resolving it, keeping HOST for the Host header and
    /// TLS (as curl's `--resolve`), e.g. `shop.example.com:443:10.0.0.7` (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Trust this CA (PEM) for https targets, besides the system's (repeatable).
    #[arg(long, value_name = "FILE")]
    pub cacert: Vec<PathBuf>,
    /// Do not verify the server certificate (a warning is printed).
    #[arg(long)]
    pub insecure: bool,
    /// Client certificate (PEM chain) for mTLS; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM: RSA, ECDSA or Ed25519) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Server name to send (SNI) and verify, instead of the URL's host.
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// Only this TLS version: 1.2 or 1.3 (default: either).
    #[arg(long, value_name = "1.2|1.3")]
    pub tls_version: Option<String>,
    /// Do not resume TLS sessions: every new connection makes a full handshake.
    #[arg(long)]
    pub no_tls_resume: bool,
    /// Connect from these local addresses in turn, e.g. `127.0.0.1-127.0.0.8` on loopback or
    /// `10.0.0.5,10.0.0.6` (addresses of this host): each has its own ephemeral ports, so
    /// tens of thousands of connections to one target address do not run out of them.
    #[arg(long, value_name = "LIST|RANGE")]
    pub source_ip: Option<String>,
}

impl ConnectArgs {
    /// The engine's target for `url` (`flag` names the option in errors).
    pub fn target(&self, url: &str, flag: &str) -> Result<Target, CliError> {
        let u = parse_url(url, flag)?;
        let addr = self.address(&u, flag, url)?;
        let tls = if u.https {
            Some(self.tls_options(&u)?)
        } else {
            if self.insecure || !self.cacert.is_empty() || self.cert.is_some() || self.sni.is_some()
            {
                return Err(CliError::BadInput(format!(
                    "{flag} {url:?}: TLS options (--cacert, --insecure, --cert, --sni) need an https:// target"
                )));
            }
            None
        };
        Ok(Target {
            addr,
            host_header: u.authority,
            tls,
        })
    }

    /// These options for the `compare` side at `url` (the other side at `other`): when only
    /// the other side is https, the TLS options are its own and this side keeps `--resolve`
    /// alone, so a plain baseline can face an (m)TLS candidate in one command.
    pub fn for_compare_side(&self, url: &str, other: &str) -> ConnectArgs {
        let https = |u: &str| parse_url(u, "").is_ok_and(|u| u.https);
        if https(url) || !https(other) {
            return self.clone();
        }
        ConnectArgs {
            resolve: self.resolve.clone(),
            ..ConnectArgs::default()
        }
    }

    fn address(&self, u: &Url, flag: &str, url: &str) -> Result<SocketAddr, CliError> {
        for r in &self.resolve {
            let bad = || {
                CliError::BadInput(format!(
                    "--resolve {r:?}: expected HOST:PORT:ADDR, e.g. shop.example.com:443:10.0.0.7"
                ))
            };
            let (host, rest) = r.split_once(':').ok_or_else(bad)?;
            let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
            let port: u16 = port.parse().map_err(|_| bad())?;
            if host.eq_ignore_ascii_case(&u.host) && port == u.port {
                let ip: std::net::IpAddr = addr
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| bad())?;
                return Ok(SocketAddr::new(ip, port));
            }
        }
        let host = if u.host.contains(':') {
            format!("[{}]", u.host)
        } else {
            u.host.clone()
        };
        (host.as_str(), u.port)
            .to_socket_addrs()
            .map_err(|e| {
                CliError::BadInput(format!("{flag} {url:?}: cannot resolve {}: {e}", u.host))
            })?
            .next()
            .ok_or_else(|| {
                CliError::BadInput(format!("{flag} {url:?}: {} resolves to no address", u.host))
            })
    }

    fn tls_options(&self, u: &Url) -> Result<TlsOptions, CliError> {
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).map_err(|e| CliError::BadInput(format!("{what} {}: {e}", p.display())))
        };
        let versions = match self.tls_version.as_deref() {
            None => TlsVersions::Any,
            Some("1.2") => TlsVersions::Only12,
            Some("1.3") => TlsVersions::Only13,
            Some(v) => {
                return Err(CliError::BadInput(format!(
                    "--tls-version {v:?}: 1.2 or 1.3"
                )));
            }
        };
        let client_cert_pem = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((read(c, "--cert")?, read(k, "--key")?)),
            _ => None,
        };
        let o = TlsOptions {
            server_name: self.sni.clone().unwrap_or_else(|| u.host.clone()),
            roots: if self.insecure {
                Vec::new()
            } else {
                system_roots()
            },
            extra_ca_pem: self
                .cacert
                .iter()
                .map(|p| read(p, "--cacert"))
                .collect::<Result<_, _>>()?,
            insecure: self.insecure,
            client_cert_pem,
            versions,
            resume: !self.no_tls_resume,
        };
        // Named files are checked now, with their names, rather than inside the engine.
        if let Err(e) = ringload_engine::tls::client_config(&o, 1) {
            let e = match (e.strip_prefix("--cacert file "), &self.cacert) {
                (Some(rest), files) => {
                    let (n, why) = rest.split_once(": ").unwrap_or(("1", rest));
                    let idx = n.parse::<usize>().unwrap_or(1).saturating_sub(1);
                    format!(
                        "--cacert {}: {why}",
                        files
                            .get(idx)
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    )
                }
                _ => e,
            };
            return Err(CliError::BadInput(e));
        }
        if self.insecure {
            eprintln!("ringload: warning: --insecure: the server certificate is not verified");
        }
        Ok(o)
    }
}

/// The system's trusted roots (none: the engine uses webpki's).
fn system_roots() -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}
