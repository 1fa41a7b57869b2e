//! `ringload-proxy`: a reverse proxy that forwards HTTP/1.1 to one upstream unchanged and, when
//! asked, records every exchange for the recorder (`ringload record --proxy`); without
//! recording, with an optional added latency, it is the sidecar stand-in (`ringload proxy`).
//!
//! ```text
//! client --TLS?--> accept (glommio executor, one per thread, sharing the socket: the listener
//!                    frame of ringload_host::serve, which the target server uses too)
//!   conn     the I/O shell: two pumps with one fixed buffer each (client -> upstream,
//!            upstream -> client), TCP back-pressure end to end, the upstream connected lazily
//!     flow   the sans-IO core: ringload_http1's request and response decoders frame both
//!            streams; what they consume is forwarded byte for byte; requests queue in order
//!            for their answers (pipelining, HEAD, 1xx, 204/304, close); refusals and upstream
//!            failures become local 400/501/502/504 replies; finished exchanges come out as
//!            ringload_recorder Exchanges
//!   recording   every connection's exchanges, capture-wide budgets, the request limit
//!               -> ringload_recorder::Capture -> the recorder's normalise (by the CLI)
//! ```
//! The recorder stays free of sockets and runtimes; this crate depends on it (for `Exchange`
//! and `Capture`) and on the HTTP codec, never on the engine. TLS is rustls (aws-lc-rs): client
//! connections with [`tls::server_config`], the upstream with a `rustls::ClientConfig` the
//! caller builds. Nothing here prints or exits: [`spawn`] returns a [`ProxyHandle`] to wait on
//! and stop, [`ProxyStats`] and the [`ringload_recorder::Capture`] come back from
//! [`ProxyHandle::stop`].
//!
//! ```no_run
//! use ringload_proxy::{ProxyConfig, RecordConfig, spawn};
//!
//! let cfg = ProxyConfig {
//!     upstream: "127.0.0.1:8080".parse().unwrap(),
//!     record: Some(RecordConfig::default()),
//!     ..ProxyConfig::default()
//! };
//! let proxy = spawn(cfg).unwrap();
//! println!("send traffic to http://{}", proxy.local_addr());
//! // ... clients talk to the proxy ...
//! let stopped = proxy.stop().unwrap();
//! println!("{} exchanges", stopped.capture.unwrap().exchanges.len());
//! ```

mod conn;
pub mod flow;
mod recording;
mod server;
mod shared;
mod stats;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use conn::{BUF_CAP, MAX_PENDING};
pub use recording::{MAX_EXCHANGES, REQUEST_BODY_BUDGET};
pub use server::{Ended, ProxyHandle, StopTrigger, Stopped};
pub use stats::ProxyStats;

/// The longest `added_latency` (a sidecar adds microseconds to milliseconds; more is a typo).
pub const MAX_ADDED_LATENCY: Duration = Duration::from_secs(10);
/// The largest recording cap on one request body.
pub const MAX_RECORDED_BODY: usize = 64 << 20;

/// How the upstream is reached over TLS.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub config: Arc<rustls::ClientConfig>,
    /// Sent as SNI and verified against the certificate.
    pub server_name: rustls::pki_types::ServerName<'static>,
}

/// What a recording keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// Stop recording after this many exchanges (at most [`MAX_EXCHANGES`], the default).
    pub max_requests: Option<u64>,
    /// Request bodies kept per request; a longer request is forwarded but not recorded.
    /// Default 8 MiB (as the pcap source), at most [`MAX_RECORDED_BODY`].
    pub max_body: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            max_requests: None,
            max_body: 8 << 20,
        }
    }
}

/// Proxy configuration; build with `..ProxyConfig::default()`, checked by [`spawn`].
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Address to listen on; port 0 picks a free one ([`ProxyHandle::local_addr`]).
    pub listen: SocketAddr,
    /// Where requests go.
    pub upstream: SocketAddr,
    /// `https://` upstream: how to speak TLS to it.
    pub upstream_tls: Option<UpstreamTls>,
    /// Terminate TLS from clients with this configuration ([`tls::server_config`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Executor threads sharing the listening socket. Default 1, at most 64.
    pub threads: usize,
    /// Each request head is forwarded this long after it was read. Default none.
    pub added_latency: Duration,
    /// An exchange waiting longer than this for upstream bytes ends (504 if nothing of the
    /// answer went out yet). Default 60 s.
    pub upstream_timeout: Duration,
    /// Record exchanges (`None`: forward only).
    pub record: Option<RecordConfig>,
    /// Bytes of io_uring buffer memory per executor (counts against `ulimit -l`). Default
    /// 512 KiB.
    pub io_memory: usize,
    /// How the recording describes itself in the plan (e.g. `proxy :8081 -> http://svc`).
    pub description: String,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: SocketAddr::from(([127, 0, 0, 1], 80)),
            upstream_tls: None,
            tls: None,
            threads: 1,
            added_latency: Duration::ZERO,
            upstream_timeout: Duration::from_secs(60),
            record: None,
            io_memory: 512 * 1024,
            description: "recording proxy".into(),
        }
    }
}

impl ProxyConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), ProxyError> {
        let bad = |m| Err(ProxyError::InvalidConfig(m));
        if !(1..=64).contains(&self.threads) {
            return bad("threads must be within 1..=64");
        }
        if self.added_latency > MAX_ADDED_LATENCY {
            return bad("added latency must be at most 10s");
        }
        if self.upstream_timeout.is_zero() || self.upstream_timeout > Duration::from_secs(24 * 3600)
        {
            return bad("upstream timeout must be within 1ns..=24h");
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&self.io_memory) {
            return bad("io_memory must be within 64 KiB..=64 MiB");
        }
        if let Some(r) = &self.record {
            if r.max_requests == Some(0) || r.max_requests.is_some_and(|n| n > MAX_EXCHANGES) {
                return bad("max_requests must be within 1..=1000000");
            }
            if r.max_body > MAX_RECORDED_BODY {
                return bad("max_body must be at most 64 MiB");
            }
        }
        Ok(())
    }
}

/// Errors starting, running or stopping the proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    #[error("invalid proxy config: {0}")]
    InvalidConfig(&'static str),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS {what}: {why}")]
    Tls { what: &'static str, why: String },
    #[error(
        "cannot start proxy executor {index}: {reason} (glommio registers io_uring memory: \
         io_memory = {io_memory} bytes per executor; check `ulimit -l`)"
    )]
    Executor {
        index: usize,
        reason: String,
        io_memory: usize,
    },
    #[error("proxy executor {index} failed: {reason}")]
    ExecutorFailed { index: usize, reason: String },
    #[error("{what}: {source}")]
    Setup {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Validates `cfg`, binds and starts the proxy on its own thread(s); returns once every
/// executor is accepting connections.
pub fn spawn(cfg: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    cfg.validate()?;
    server::spawn(cfg)
}
