//! Test helpers: a scripted upstream (plain or TLS) that checks the exact bytes it receives,
//! blocking clients, proxies on free ports, and a throw-away TLS identity.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

type Script = dyn Fn(&mut dyn ReadWrite, &dyn Fn(bool)) + Send + Sync;

pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// An upstream on a free loopback port running a script on every connection it accepts.
pub struct Upstream {
    pub addr: SocketAddr,
    connections: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
}

impl Upstream {
    /// Runs `script(stream, check)` per connection; `check(false)` counts a failure.
    pub fn script(
        script: impl Fn(&mut dyn ReadWrite, &dyn Fn(bool)) + Send + Sync + 'static,
    ) -> Upstream {
        Self::start(Arc::new(script), None)
    }

    /// Per connection: read exactly `reqs[i]` (checked), answer `resps[i]`, in turn; then
    /// read until the client closes.
    pub fn exchanges(reqs: Vec<Vec<u8>>, resps: Vec<Vec<u8>>) -> Upstream {
        Self::start(Arc::new(exchanges_script(reqs, resps)), None)
    }

    /// [`Upstream::exchanges`] over TLS.
    pub fn tls(
        config: Arc<rustls::ServerConfig>,
        reqs: Vec<Vec<u8>>,
        resps: Vec<Vec<u8>>,
    ) -> Upstream {
        Self::start(Arc::new(exchanges_script(reqs, resps)), Some(config))
    }

    fn start(script: Arc<Script>, tls: Option<Arc<rustls::ServerConfig>>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let (c, f) = (connections.clone(), failures.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let (script, f, tls) = (script.clone(), f.clone(), tls.clone());
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let check = |ok: bool| {
                        if !ok {
                            f.fetch_add(1, Ordering::SeqCst);
                        }
                    };
                    match tls {
                        None => script(&mut s, &check),
                        Some(cfg) => {
                            let conn = rustls::ServerConnection::new(cfg).unwrap();
                            let mut t = rustls::StreamOwned::new(conn, s);
                            script(&mut t, &check);
                            t.conn.send_close_notify();
                            let _ = t.flush();
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            connections,
            failures,
        }
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }
}

fn exchanges_script(
    reqs: Vec<Vec<u8>>,
    resps: Vec<Vec<u8>>,
) -> impl Fn(&mut dyn ReadWrite, &dyn Fn(bool)) + Send + Sync {
    move |s, check| {
        for (q, a) in reqs.iter().zip(&resps) {
            let got = read_n(s, q.len());
            if got.len() < q.len() {
                return; // the client left early (a test that stops midway)
            }
            check(&got == q);
            if s.write_all(a).and_then(|_| s.flush()).is_err() {
                return;
            }
        }
        let rest = read_to_eof(s);
        check(rest.is_empty());
    }
}

/// A client connection with timeouts, so a broken proxy fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads exactly `n` bytes (fewer if the stream ends or times out first).
pub fn read_n(s: &mut (impl Read + ?Sized), n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    let mut got = 0;
    while got < n {
        match s.read(&mut out[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    out.truncate(got);
    out
}

/// Reads until the stream ends (or times out).
pub fn read_to_eof(s: &mut (impl Read + ?Sized)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
}

/// `n` bytes of a pattern that shows misplaced bytes.
pub fn big(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"0123456789abcdefghijklmnopqrstuvwxyz"[i % 36] ^ (i / 36 % 2) as u8)
        .collect()
}

pub fn recording_proxy(upstream: SocketAddr) -> ringload_proxy::ProxyHandle {
    ringload_proxy::spawn(ringload_proxy::ProxyConfig {
        upstream,
        record: Some(Default::default()),
        ..Default::default()
    })
    .unwrap()
}

pub fn forwarding_proxy(upstream: SocketAddr) -> ringload_proxy::ProxyHandle {
    ringload_proxy::spawn(ringload_proxy::ProxyConfig {
        upstream,
        ..Default::default()
    })
    .unwrap()
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert PEM, key PEM, the same cert
/// as the CA to trust).
pub fn tls_identity() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = ck.cert.pem().into_bytes();
    (
        cert.clone(),
        ck.signing_key.serialize_pem().into_bytes(),
        cert,
    )
}

pub fn tls_server(cert: &[u8], key: &[u8]) -> Arc<rustls::ServerConfig> {
    ringload_proxy::tls::server_config(cert, key).unwrap()
}

pub fn tls_client(ca: &[u8]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// Sends `reqs` one by one over one TLS connection to `addr` (as `localhost`), reading each
/// answer (Content-Length framed); returns every answer's bytes.
pub fn tls_get(addr: SocketAddr, cfg: &Arc<rustls::ClientConfig>, reqs: &[&[u8]]) -> Vec<u8> {
    let conn = rustls::ClientConnection::new(cfg.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut t = rustls::StreamOwned::new(conn, connect(addr));
    let mut out = Vec::new();
    for r in reqs {
        t.write_all(r).unwrap();
        let mut dec = ringload_http1::ResponseDecoder::new(Default::default());
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        'answer: loop {
            let n = t.read(&mut chunk).unwrap();
            assert!(n > 0, "the connection ended before the answer");
            buf.extend_from_slice(&chunk[..n]);
            let mut at = 0;
            loop {
                let d = dec.decode(&buf[at..], Default::default()).unwrap();
                at += d.consumed;
                if d.message.is_some() {
                    out.extend_from_slice(&buf[..at]);
                    break 'answer;
                }
                if d.consumed == 0 {
                    break;
                }
            }
            out.extend_from_slice(&buf[..at]);
            buf.drain(..at);
        }
    }
    out
}
