//! TLS for `https://` targets: a rustls client per connection, sans-IO.
//!
//! rustls's unbuffered API fits io_uring: the caller owns the ciphertext buffers. Received
//! bytes are appended to the connection's `incoming` buffer; [`TlsConn::pump`] lets rustls
//! process them (handshake messages, session tickets, application data, which it appends,
//! decrypted, to the caller's `received`), encodes what rustls wants to send into `outgoing`,
//! and, once traffic keys exist, encrypts a whole batch of pipelined requests into `outgoing`
//! in as few records as rustls needs, so one send carries the batch. The shell sends from a
//! second buffer, `in_flight`, which `outgoing` becomes when a send starts ([`TlsConn::
//! start_send`]) and which nothing touches until the kernel is done with it: so rustls can be
//! pumped whenever bytes arrive, even while a long send is under way (received answers, and a
//! server's close, are never held up behind it).
//!
//! Configuration ([`TlsOptions`] -> [`client_config`]) is built once per executor, so each has
//! its own session store (resumption without locks shared between cores), sized by its
//! connections: rustls's own in-memory cache keeps 8 single-use TLS 1.3 tickets per server,
//! too few when many connections reconnect at once (`--requests-per-connection`). The crypto provider
//! is aws-lc-rs: measured against ring on this project's machines, client-side handshakes cost
//! the same or less (resumed: ~15% less), records the same (see README, TLS).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rustls::client::{
    ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
    UnbufferedClientConnection,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::{ClientConfig, HandshakeKind, NamedGroup, RootCertStore};

/// TLS versions a run may negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.2 or 1.3, whichever the server prefers.
    #[default]
    Any,
    Only12,
    Only13,
}

/// Everything a TLS client needs, as plain data (the CLI reads the files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Name sent as SNI and checked against the server certificate (the URL's host, or
    /// `--sni`). An IP address is sent as no SNI and checked as an IP SAN.
    pub server_name: String,
    /// Trusted roots: the system's, DER; when empty, webpki's (Mozilla's list).
    pub roots: Vec<CertificateDer<'static>>,
    /// More trusted CAs (`--cacert`), PEM.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Do not verify the server certificate (`--insecure`).
    pub insecure: bool,
    /// Client certificate chain and key for mTLS (PEM: RSA, ECDSA or Ed25519 keys).
    pub client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
    pub versions: TlsVersions,
    /// Resume sessions (tickets or ids) when reconnecting.
    pub resume: bool,
}

/// The crypto provider every TLS connection uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// TLS 1.3 tickets kept per connection: a server sends one or two per handshake and each is
/// used once, so every reconnecting connection finds one.
const TICKETS_PER_CONNECTION: usize = 2;

/// Build the client configuration of an executor with `connections` connections. Errors name
/// the bad input.
pub fn client_config(o: &TlsOptions, connections: usize) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let versions: &[&'static rustls::SupportedProtocolVersion] = match o.versions {
        TlsVersions::Any => rustls::DEFAULT_VERSIONS,
        TlsVersions::Only12 => &[&rustls::version::TLS12],
        TlsVersions::Only13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        if o.roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        } else {
            // A system bundle may hold a certificate rustls cannot parse: skip it, as curl does.
            roots.add_parsable_certificates(o.roots.iter().cloned());
        }
        for (i, pem) in o.extra_ca_pem.iter().enumerate() {
            let mut n = 0;
            for c in CertificateDer::pem_slice_iter(pem) {
                let c = c.map_err(|e| format!("--cacert file {}: {e}", i + 1))?;
                roots
                    .add(c)
                    .map_err(|e| format!("--cacert file {}: {e}", i + 1))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("--cacert file {}: no PEM certificate in it", i + 1));
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match &o.client_cert_pem {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--cert: {e}"))?;
            if chain.is_empty() {
                return Err("--cert: no PEM certificate in it".into());
            }
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("--key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("--cert/--key: {e}"))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = if o.resume {
        let tickets = connections.max(1).saturating_mul(TICKETS_PER_CONNECTION);
        rustls::client::Resumption::store(Arc::new(SessionStore::new(tickets)))
    } else {
        rustls::client::Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// One executor's resumption state for the run's server: a TLS 1.2 session, and up to
/// `max_tickets` TLS 1.3 tickets, oldest used first (as rustls's own cache, with room for all
/// connections). Another server name (never, within a run) starts it afresh.
struct SessionStore {
    max_tickets: usize,
    inner: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    server: Option<ServerName<'static>>,
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
}

impl SessionStore {
    fn new(max_tickets: usize) -> SessionStore {
        SessionStore {
            max_tickets,
            inner: Mutex::new(Sessions::default()),
        }
    }

    /// The sessions of `name`, if it is the server they belong to.
    fn with<T>(
        &self,
        name: &ServerName<'_>,
        f: impl FnOnce(&mut Sessions) -> Option<T>,
    ) -> Option<T> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !s.server.as_ref().is_some_and(|n| n == name) {
            return None;
        }
        f(&mut s)
    }

    /// The sessions of `name`, started afresh if they belonged to another server.
    fn edit(&self, name: ServerName<'static>, f: impl FnOnce(&mut Sessions)) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.server.as_ref() != Some(&name) {
            *s = Sessions {
                server: Some(name),
                ..Sessions::default()
            };
        }
        f(&mut s);
    }
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("max_tickets", &self.max_tickets)
            .finish_non_exhaustive()
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.edit(name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(name, |s| s.kx_hint)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.edit(name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(name, |s| s.tls12.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |s| s.tls12.take());
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let max = self.max_tickets;
        self.edit(name, |s| {
            if s.tls13.len() >= max {
                s.tls13.pop_front();
            }
            s.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(name, |s| s.tls13.pop_front())
    }
}

/// The name to present and verify.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string()).map_err(|e| format!("TLS server name {name:?}: {e}"))
}

/// `--insecure`: accept any server certificate (signatures are still checked, so the handshake
/// is a real one).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What one [`TlsConn::pump`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pumped {
    /// The handshake completed in this call.
    pub established: bool,
    /// The plaintext given was encrypted into `outgoing`.
    pub encrypted: bool,
    /// The peer closed the TLS session (close_notify).
    pub peer_closed: bool,
}

/// One TLS client connection's state and ciphertext buffers.
pub struct TlsConn {
    conn: UnbufferedClientConnection,
    /// Received ciphertext not yet consumed by rustls.
    incoming: Vec<u8>,
    /// Ciphertext to send next (handshake records or encrypted requests).
    outgoing: Vec<u8>,
    /// Ciphertext being sent: the kernel reads it until the send completes.
    in_flight: Vec<u8>,
    established: bool,
}

/// Room added to `outgoing` when rustls asks for more.
const GROW: usize = 4096;

impl TlsConn {
    pub fn new(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsConn, rustls::Error> {
        Ok(TlsConn {
            conn: UnbufferedClientConnection::new(config, name)?,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            in_flight: Vec::new(),
            established: false,
        })
    }

    /// Received ciphertext: kept until `pump` consumes it.
    pub fn receive(&mut self, data: &[u8]) {
        self.incoming.extend_from_slice(data);
    }

    /// If no send is under way and ciphertext waits, make it the send's (the buffers swap:
    /// nothing is copied or allocated); true when there is a send to make.
    pub fn start_send(&mut self) -> bool {
        if self.in_flight.is_empty() && !self.outgoing.is_empty() {
            std::mem::swap(&mut self.in_flight, &mut self.outgoing);
        }
        !self.in_flight.is_empty()
    }

    /// The ciphertext of the send under way (empty: none). Unchanged until [`TlsConn::sent`].
    pub fn in_flight(&self) -> &[u8] {
        &self.in_flight
    }

    /// The send under way is complete: forget its bytes.
    pub fn sent(&mut self) {
        self.in_flight.clear();
    }

    pub fn is_established(&self) -> bool {
        self.established
    }

    /// Did this connection resume an earlier session?
    pub fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Let rustls process what was received, encode what it wants to send, append decrypted
    /// application data to `received`, and encrypt `plaintext` (all of it, or none: see
    /// [`Pumped::encrypted`]) once the handshake allows. Ciphertext goes to `outgoing`, never
    /// to the buffer in the kernel.
    pub fn pump(
        &mut self,
        mut plaintext: Option<&[u8]>,
        received: &mut Vec<u8>,
    ) -> Result<Pumped, rustls::Error> {
        let mut out = Pumped::default();
        // Bounded: each turn either makes progress or stops.
        for _ in 0..1024 {
            let status = self.conn.process_tls_records(&mut self.incoming);
            let mut discard = status.discard;
            let state = status.state?;
            let mut stop = false;
            match state {
                ConnectionState::EncodeTlsData(mut s) => {
                    let len = self.outgoing.len();
                    self.outgoing.resize(len + GROW, 0);
                    let n = match s.encode(&mut self.outgoing[len..]) {
                        Ok(n) => n,
                        Err(EncodeError::InsufficientSize(need)) => {
                            self.outgoing.resize(len + need.required_size, 0);
                            s.encode(&mut self.outgoing[len..])
                                .map_err(|e| rustls::Error::General(format!("TLS encode: {e}")))?
                        }
                        Err(e) => {
                            self.outgoing.truncate(len);
                            return Err(rustls::Error::General(format!("TLS encode: {e}")));
                        }
                    };
                    self.outgoing.truncate(len + n);
                }
                ConnectionState::TransmitTlsData(mut s) => {
                    // Requests may go in the same flight as the client's Finished.
                    if let (Some(p), Some(mut w)) = (plaintext, s.may_encrypt_app_data()) {
                        encrypt(&mut w, p, &mut self.outgoing)?;
                        plaintext = None;
                        out.encrypted = true;
                    }
                    // The caller sends `outgoing`, after any send under way.
                    s.done();
                }
                ConnectionState::BlockedHandshake => stop = true,
                ConnectionState::WriteTraffic(mut w) => {
                    if !self.established {
                        self.established = true;
                        out.established = true;
                    }
                    if let Some(p) = plaintext.take() {
                        encrypt(&mut w, p, &mut self.outgoing)?;
                        out.encrypted = true;
                    } else {
                        stop = true;
                    }
                }
                ConnectionState::ReadTraffic(mut r) => {
                    while let Some(rec) = r.next_record() {
                        let rec = rec?;
                        discard += rec.discard;
                        received.extend_from_slice(rec.payload);
                    }
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    out.peer_closed = true;
                    stop = true;
                }
                _ => stop = true,
            }
            if discard > 0 {
                self.incoming.drain(..discard.min(self.incoming.len()));
            }
            if stop {
                break;
            }
        }
        Ok(out)
    }
}

fn encrypt(
    w: &mut rustls::unbuffered::WriteTraffic<'_, rustls::client::ClientConnectionData>,
    plaintext: &[u8],
    outgoing: &mut Vec<u8>,
) -> Result<(), rustls::Error> {
    let len = outgoing.len();
    // Records add at most 22 bytes each (header, tag, content type); rustls says if not enough.
    let guess = plaintext.len() + (plaintext.len() / 16_384 + 1) * 64;
    outgoing.resize(len + guess, 0);
    match w.encrypt(plaintext, &mut outgoing[len..]) {
        Ok(n) => {
            outgoing.truncate(len + n);
            Ok(())
        }
        Err(EncryptError::InsufficientSize(need)) => {
            outgoing.resize(len + need.required_size, 0);
            let n = w
                .encrypt(plaintext, &mut outgoing[len..])
                .map_err(|e| rustls::Error::General(format!("TLS encrypt: {e}")))?;
            outgoing.truncate(len + n);
            Ok(())
        }
        Err(e) => {
            outgoing.truncate(len);
            Err(rustls::Error::General(format!("TLS encrypt: {e}")))
        }
    }
}

/// A short reason for a TLS failure, for reports (`unknown CA`, `certificate expired`...).
pub fn reason(e: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match e {
        Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "server certificate: unknown CA".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "server certificate expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "server certificate not valid yet".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "server certificate does not match the name".into()
            }
            // What `openssl req -x509` makes unless told `-addext basicConstraints=CA:FALSE`.
            CertificateError::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
                "server certificate is a CA certificate (basicConstraints CA:TRUE), not a \
                 server's: issue a leaf from it, or make it with CA:FALSE"
                    .into()
            }
            other => format!("server certificate: {other:?}"),
        },
        Error::AlertReceived(a) => format!("the server sent alert {a:?}"),
        other => other.to_string(),
    }
}
