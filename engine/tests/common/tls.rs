//! TLS for loopback tests: a CA and a server certificate made by rcgen, and a blocking rustls
//! server per connection whose behaviour the test picks (key updates, records cut into tiny
//! TCP segments, close_notify mid-pipeline).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use ringload_engine::tls::TlsOptions;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

/// A CA and a server certificate (for `localhost` and 127.0.0.1) it signed, PEM.
pub struct Certs {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn certs() -> Certs {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert_pem = leaf.signed_by(&key, &issuer).unwrap().pem();
    Certs {
        ca_pem,
        cert_pem,
        key_pem: key.serialize_pem(),
    }
}

/// A server configuration for `c` (TLS 1.2 and 1.3, tickets for resumption).
pub fn server_config(
    c: &Certs,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap();
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    cfg.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// A TLS 1.3 server configuration that requires a client certificate from a CA nobody has:
/// every client's handshake completes on its side, then the server refuses it with an alert.
pub fn server_config_refusing_clients(c: &Certs) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let nobody = certs();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(nobody.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain = CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap();
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(cfg)
}

/// Client options trusting `c`'s CA, for `localhost`.
pub fn client_options(c: &Certs) -> TlsOptions {
    TlsOptions {
        server_name: "localhost".into(),
        extra_ca_pem: vec![c.ca_pem.clone().into_bytes()],
        resume: true,
        ..TlsOptions::default()
    }
}

/// How the test server behaves on each connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Body bytes of every response (`x` repeated); 0: "ok".
    pub body: usize,
    /// Send a TLS 1.3 KeyUpdate (asking the client to update too) before every Nth response.
    pub key_update_every: Option<u64>,
    /// Write the ciphertext in TCP segments of at most this many bytes (records cut apart).
    pub segment: Option<usize>,
    /// Answer this many requests, then send close_notify and close (requests behind it are
    /// left unanswered).
    pub close_after: Option<u64>,
}

/// Counters of what the server did, across connections.
#[derive(Debug, Default)]
pub struct Seen {
    /// Connections accepted (handshakes begun).
    pub attempts: AtomicU64,
    pub handshakes: AtomicU64,
    pub resumed: AtomicU64,
    pub tls13: AtomicU64,
    pub responses: AtomicU64,
    pub key_updates: AtomicU64,
}

/// Serve TLS on loopback with `b`; returns the address and the counters.
pub fn serve_tls(config: Arc<ServerConfig>, b: Behaviour) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    let addr = super::serve(move |sock, _| {
        let _ = one_connection(sock, config.clone(), b, &s2);
    });
    (addr, seen)
}

fn one_connection(
    mut sock: TcpStream,
    config: Arc<ServerConfig>,
    b: Behaviour,
    seen: &Seen,
) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
    // Whole pipelined batches of large answers are queued at once.
    conn.set_buffer_limit(None);
    seen.attempts.fetch_add(1, Ordering::Relaxed);
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    seen.handshakes.fetch_add(1, Ordering::Relaxed);
    if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
        seen.resumed.fetch_add(1, Ordering::Relaxed);
    }
    if conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
        seen.tls13.fetch_add(1, Ordering::Relaxed);
    }
    let response = if b.body == 0 {
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
    } else {
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.body).into_bytes();
        r.resize(r.len() + b.body, b'x');
        r
    };
    let mut pending = Vec::new();
    let mut answered = 0u64;
    let mut plain = [0u8; 16384];
    let mut cipher = Vec::new();
    loop {
        // Take the plaintext rustls holds (requests may come in the flight of the client's
        // Finished, read by the handshake), then answer every complete request head.
        loop {
            match conn.reader().read(&mut plain) {
                Ok(0) => return Ok(()),
                Ok(n) => pending.extend_from_slice(&plain[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::new();
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if b.close_after.is_some_and(|n| answered >= n) {
                conn.writer().write_all(&out)?;
                conn.send_close_notify();
                flush(&mut conn, &mut sock, &mut cipher, b.segment)?;
                return Ok(());
            }
            if b.key_update_every
                .is_some_and(|n| answered > 0 && answered.is_multiple_of(n))
            {
                conn.writer().write_all(&out)?;
                out.clear();
                flush(&mut conn, &mut sock, &mut cipher, b.segment)?;
                conn.refresh_traffic_keys().map_err(std::io::Error::other)?;
                seen.key_updates.fetch_add(1, Ordering::Relaxed);
            }
            out.extend_from_slice(&response);
            answered += 1;
            seen.responses.fetch_add(1, Ordering::Relaxed);
        }
        if !out.is_empty() {
            conn.writer().write_all(&out)?;
        }
        flush(&mut conn, &mut sock, &mut cipher, b.segment)?;
        // Read more: ciphertext in, plaintext out.
        if conn.read_tls(&mut sock)? == 0 {
            return Ok(());
        }
        conn.process_new_packets().map_err(std::io::Error::other)?;
    }
}

/// Write what rustls has to send, in segments of at most `segment` bytes.
fn flush(
    conn: &mut ServerConnection,
    sock: &mut TcpStream,
    cipher: &mut Vec<u8>,
    segment: Option<usize>,
) -> std::io::Result<()> {
    cipher.clear();
    while conn.wants_write() {
        conn.write_tls(cipher)?;
    }
    match segment {
        None => sock.write_all(cipher),
        Some(n) => {
            for piece in cipher.chunks(n) {
                sock.write_all(piece)?;
            }
            Ok(())
        }
    }
}
