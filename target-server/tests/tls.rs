//! The target over TLS: TLS 1.2 and 1.3 as the client asks (counted by the server), pipelined
//! keep-alive answers, the shop's logins over https, close_notify before a closing answer,
//! mTLS (no certificate or one from another CA fails the handshake, the CA's own passes),
//! plaintext or a stalled handshake on the TLS port, and unusable PEM named at start.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, start, tcp};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use ringload_target::{ShopConfig, TargetConfig, TargetError, TlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A CA, able to issue server and client certificates (PEM pairs).
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = p.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(p, key),
        }
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![usage];
        (
            p.signed_by(&key, &self.issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }
}

fn tls_target(ca: &Ca, client_ca: Option<&Ca>, shop: bool) -> ringload_target::TargetHandle {
    let (cert, key) = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    start(TargetConfig {
        tls: Some(TlsConfig {
            cert_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
            client_ca_pem: client_ca.map(|c| c.pem.clone().into_bytes()),
        }),
        shop: shop.then(ShopConfig::default),
        ..TargetConfig::default()
    })
}

fn client_config(
    ca: &Ca,
    versions: &[&'static rustls::SupportedProtocolVersion],
    client_cert: Option<&(String, String)>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let b = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    let mut cfg = match client_cert {
        None => b.with_no_client_auth(),
        Some((cert, key)) => b
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

type TlsClient = Client<StreamOwned<ClientConnection, TcpStream>>;

/// A TLS client connection, its handshake completed (or its error).
fn connect(addr: SocketAddr, cfg: Arc<ClientConfig>) -> Result<TlsClient, std::io::Error> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(cfg, name).unwrap();
    let mut sock = tcp(addr);
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(Client::over(StreamOwned::new(conn, sock)))
}

#[test]
fn tls13_and_tls12_pipelined_answers_and_versions_counted_by_the_server() {
    let ca = Ca::new("test CA");
    let server = tls_target(&ca, None, false);
    for (versions, tls13) in [
        (&[&rustls::version::TLS13][..], true),
        (&[&rustls::version::TLS12][..], false),
    ] {
        let mut c = connect(server.local_addr(), client_config(&ca, versions, None)).unwrap();
        assert_eq!(c.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        let want = if tls13 {
            rustls::ProtocolVersion::TLSv1_3
        } else {
            rustls::ProtocolVersion::TLSv1_2
        };
        assert_eq!(c.stream.conn.protocol_version(), Some(want));
        // 16 pipelined in one write, one of them large enough to span several records.
        let mut batch = Vec::new();
        for i in 0..16 {
            let size = if i == 7 { 100_000 } else { 10 };
            batch.extend_from_slice(
                format!("GET /?size={size} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
            );
        }
        c.send(&batch);
        for i in 0..16 {
            let r = c.read_response(false);
            assert_eq!(r.status, 200);
            assert_eq!(r.body, common::pattern(if i == 7 { 100_000 } else { 10 }));
        }
    }
    let s = server.stats();
    assert_eq!(
        (s.tls_handshakes, s.tls13, s.tls_failures),
        (2, 1, 0),
        "{s:?}"
    );
    assert_eq!(s.requests, 32);
}

#[test]
fn shop_logins_and_protected_routes_over_tls() {
    let ca = Ca::new("test CA");
    let server = tls_target(&ca, None, true);
    let mut c = connect(
        server.local_addr(),
        client_config(&ca, rustls::ALL_VERSIONS, None),
    )
    .unwrap();
    let body = r#"{"username":"alice","password":"P@ssw0rd-LoadTest!"}"#;
    c.send(
        format!(
            "POST /api/v1/login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let token = v["data"]["token"].as_str().unwrap().to_string();
    c.send(
        format!("GET /api/v1/cart HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(c.read_response(false).status, 200);
    c.send(b"GET /api/v1/cart HTTP/1.1\r\nHost: shop\r\n\r\n");
    assert_eq!(c.read_response(false).status, 401);
    assert_eq!(server.shop_stats().unwrap().logins, 1);
}

/// A closing answer is followed by close_notify: the client reads a clean end of stream, not
/// a truncation.
#[test]
fn closing_answer_ends_with_close_notify() {
    let ca = Ca::new("test CA");
    let server = tls_target(&ca, None, false);
    let mut c = connect(
        server.local_addr(),
        client_config(&ca, rustls::ALL_VERSIONS, None),
    )
    .unwrap();
    c.send(b"GET /?close=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    let n = c
        .stream
        .read_to_end(&mut rest)
        .expect("clean close_notify, no truncation");
    assert_eq!(n, 0);
}

#[test]
fn mtls_requires_a_certificate_from_the_client_ca() {
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let other = Ca::new("another CA");
    let server = tls_target(&ca, Some(&clients), false);
    let good = clients.issue(&["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let bad = other.issue(&["client"], ExtendedKeyUsagePurpose::ClientAuth);
    // TLS 1.3: the client's side of the handshake completes before the server judges its
    // certificate, so the refusal is the alert that answers the first request.
    for cert in [None, Some(&bad)] {
        let refused = connect(
            server.local_addr(),
            client_config(&ca, rustls::ALL_VERSIONS, cert),
        )
        .and_then(|mut c| {
            c.stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")?;
            let mut b = [0u8; 64];
            c.stream.read(&mut b)
        });
        let e = refused.expect_err("refused").to_string();
        assert!(
            e.contains("CertificateRequired")
                || e.contains("UnknownCA")
                || e.contains("BadCertificate"),
            "{e}"
        );
    }
    let mut c = connect(
        server.local_addr(),
        client_config(&ca, rustls::ALL_VERSIONS, Some(&good)),
    )
    .unwrap();
    assert_eq!(c.get("/").status, 200);
    let s = server.stats();
    assert_eq!(
        (s.tls_handshakes, s.tls_client_certs, s.tls_failures),
        (1, 1, 2),
        "{s:?}"
    );
}

/// Plaintext HTTP on the TLS port fails its handshake; a client that stalls mid-handshake
/// holds nothing up: the server stops at once.
#[test]
fn plaintext_and_stalled_handshakes_on_the_tls_port() {
    let ca = Ca::new("test CA");
    let server = tls_target(&ca, None, false);
    let mut plain = Client::connect(server.local_addr());
    plain.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut answer = Vec::new();
    plain
        .stream
        .read_to_end(&mut answer)
        .expect("closed, not left hanging");
    assert_eq!(
        answer.first(),
        Some(&0x15),
        "a TLS alert, then the close: {answer:?}"
    );
    let mut stalled = tcp(server.local_addr());
    stalled.write_all(&[0x16, 0x03, 0x01, 0x00, 0x40]).unwrap(); // a record header, no body
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().tls_failures < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = Instant::now();
    let s = server.stop().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(
        (s.tls_failures, s.tls_handshakes, s.requests),
        (1, 0, 0),
        "{s:?}"
    );
}

#[test]
fn unusable_pem_is_named_at_start() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let (_, other_key) = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    for (cfg, needle) in [
        (
            TlsConfig {
                cert_pem: b"not a certificate".to_vec(),
                key_pem: key.clone().into_bytes(),
                client_ca_pem: None,
            },
            "no PEM certificate",
        ),
        (
            TlsConfig {
                cert_pem: cert.clone().into_bytes(),
                key_pem: b"nothing".to_vec(),
                client_ca_pem: None,
            },
            "TLS key",
        ),
        (
            TlsConfig {
                cert_pem: cert.clone().into_bytes(),
                key_pem: other_key.into_bytes(),
                client_ca_pem: None,
            },
            "certificate and key",
        ),
        (
            TlsConfig {
                cert_pem: cert.into_bytes(),
                key_pem: key.into_bytes(),
                client_ca_pem: Some(b"".to_vec()),
            },
            "client CA",
        ),
    ] {
        let e = ringload_target::spawn(TargetConfig {
            tls: Some(cfg),
            ..TargetConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, TargetError::Tls(_)), "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
}
