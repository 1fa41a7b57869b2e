//! TLS on the target (`TargetConfig::tls`): one rustls server configuration built from PEM at
//! start, and each accepted connection's handshake before `conn::serve` sees plaintext.
//!
//! The connection loop is written against futures-lite's `AsyncRead`/`AsyncWrite`, so a TLS
//! connection is glommio's `TcpStream` inside a `futures_rustls::server::TlsStream`:
//! futures-rustls is the futures-io sibling of tokio-rustls, kept by the same maintainers, on
//! rustls 0.23, and adds nothing but the poll plumbing (no runtime, no extra buffers beyond
//! rustls's own). The server speaks TLS 1.2 and 1.3 with ALPN `http/1.1`, resumes sessions
//! with tickets (stateless, so every executor resumes every other's), and with a client CA
//! requires a client certificate that chains to it (mTLS), refusing the handshake otherwise.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use futures_rustls::TlsAcceptor;
use futures_rustls::server::TlsStream;
use glommio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, ProtocolVersion, RootCertStore, ServerConfig};

use crate::TlsConfig;
use crate::stats::Counters;

/// A client that has not finished its handshake by then is dropped (a stalled or idle
/// client must not hold a connection task for ever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Build the server configuration; errors name the bad input.
pub(crate) fn server_config(t: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = CertificateDer::pem_slice_iter(&t.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate: {e}"))?;
    if chain.is_empty() {
        return Err("TLS certificate: no PEM certificate in it".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&t.key_pem).map_err(|e| format!("TLS key: {e}"))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match &t.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pem) {
                let c = c.map_err(|e| format!("client CA: {e}"))?;
                roots.add(c).map_err(|e| format!("client CA: {e}"))?;
            }
            if roots.is_empty() {
                return Err("client CA: no PEM certificate in it".into());
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("client CA: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ticketer =
        rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| format!("TLS tickets: {e}"))?;
    Ok(Arc::new(config))
}

/// Run the server side of the handshake on `stream`; `None` (counted) if it fails or stalls.
pub(crate) async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    counters: &Counters,
) -> Option<TlsStream<TcpStream>> {
    let handshake = async { acceptor.accept(stream).await.ok() };
    let timeout = async {
        glommio::timer::sleep(HANDSHAKE_TIMEOUT).await;
        None
    };
    let Some(tls) = future::or(handshake, timeout).await else {
        counters.tls_failed();
        return None;
    };
    let (_, conn) = tls.get_ref();
    counters.tls_handshake(
        conn.protocol_version() == Some(ProtocolVersion::TLSv1_3),
        conn.handshake_kind() == Some(HandshakeKind::Resumed),
        conn.peer_certificates().is_some_and(|c| !c.is_empty()),
    );
    Some(tls)
}
