//! `ringload-target`: ringload's built-in calibration HTTP/1.1 server.
//!
//! It answers every request according to knobs in the request itself (delay, status mix,
//! body size, chunking, connection close — see [`HELP`]), plus an optional server-wide
//! stall schedule, so a load generator can be checked against known behaviour:
//! latency accuracy, error accounting, pipelining order and coordinated omission.
//!
//! # Layout
//! - [`TargetConfig`] (plain, `Default`, [`TargetConfig::validate`]) -> [`spawn`] binds
//!   the socket and starts `threads` glommio executors that share it (the kernel hands
//!   each accepted connection to one of them), returning a [`TargetHandle`] once all
//!   are serving. [`run`] is the blocking form for the CLI (until SIGINT/SIGTERM).
//! - `server`: the target on `ringload_host::serve`'s listener frame (executors, stop
//!   hand-shake), signals. `conn`: the per-connection loop
//!   (parse -> queue in order with due times -> batch-write what is due).
//! - Sans-IO parts: request framing comes from `ringload-http1`'s `RequestDecoder`
//!   (discarding bodies, or keeping up to 64 KiB in shop mode); `behavior` (knobs),
//!   `response` (encoding), `stall` (schedule), `stats` (counters -> [`Stats`]), `shop`
//!   (the e-commerce API with logins of [`TargetConfig::shop`]: routes, tokens, counters ->
//!   [`ShopStats`]).
//! - `tls`: with [`TargetConfig::tls`] ([`TlsConfig`], PEM), every accepted connection makes a
//!   rustls handshake (TLS 1.2 or 1.3, ALPN `http/1.1`, mTLS with a client CA) and `conn`
//!   serves the decrypted stream the same way (it is generic over the stream).
//!
//! # Resources
//! Each executor sets up io_uring rings and registers `io_memory` bytes of buffers, which
//! count against the memlock limit (`ulimit -l`, often 8 MiB for non-root users); the
//! default is a small 512 KiB per executor. If an executor cannot start, [`spawn`]
//! returns [`TargetError::Executor`] naming the limit instead of panicking. Executors
//! never spin before parking, and by default are not pinned: they inherit the caller's
//! CPU affinity (`taskset`); with `pin_cpus` each is fixed to one CPU of that set.
//!
//! ```no_run
//! use ringload_target::{TargetConfig, spawn};
//!
//! let cfg = TargetConfig { listen: "127.0.0.1:0".parse().unwrap(), ..TargetConfig::default() };
//! let server = spawn(cfg).unwrap();
//! println!("listening on {}", server.local_addr());
//! // ... send requests such as GET /?delay=5ms..50ms&status=503:10 ...
//! let stats = server.stop().unwrap();
//! println!("served {} requests", stats.requests);
//! ```

mod behavior;
mod conn;
mod response;
mod server;
mod shop;
pub mod shopper;
mod stall;
mod stats;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub use behavior::{MAX_BODY_SIZE, MAX_DELAY};
pub use server::{StopTrigger, TargetHandle, stopped_by_signal};
pub use shop::{DEFAULT_PASSWORD, SESSION_COOKIE, ShopConfig, ShopStats};
pub use stats::Stats;

/// What the server does per request; shown by `ringload target --help`.
pub const HELP: &str = "\
Every request is answered according to query parameters or the equivalent headers
(a query parameter wins over its header; a query value that does not parse is ignored,
since replayed traffic may use these names for other things, while a bad header value
is answered 400 with the reason):

  ?delay=20ms          x-ringload-delay: 20ms        answer after a fixed delay
  ?delay=5ms..50ms     x-ringload-delay: 5ms..50ms   uniform random delay in the range
                       units: ns, us, ms, s (decimals allowed); at most 60s; the answer
                       says it as an application would: server-timing: app;dur=MS
  ?status=404          x-ringload-status: 404        always this status (200..=599)
  ?status=503:10       x-ringload-status: 503:10     10% of answers 503, the rest 200;
                       lists allowed: 503:10,500:2.5 (at most 4, shares <= 100%)
  ?size=4096           x-ringload-size: 4096         body of that many bytes (abc..z
                       repeated; at most 16 MiB); default body is \"ok\"
  ?chunked=1           x-ringload-chunked: 1         chunked transfer encoding (HTTP/1.1)
  ?close=1             x-ringload-close: 1           send Connection: close, then close

  x-user-segment: beta-testers  ->  x-upstream-version: canary-v2 (else: stable)

HTTP/1.1 keep-alive and pipelining (answers in request order; a delayed answer holds
the ones behind it), HTTP/1.0, HEAD (headers only), Expect: 100-continue. Request
bodies are read and discarded. Malformed or oversized request heads get 400 and the
connection is closed. With a stall schedule (every N, for D) the whole server stops
answering for D every N since it started; answers due meanwhile go out when the stall
ends (use it to see coordinated omission in a load generator).

With --shop, these paths are the guide's e-commerce API instead (delays still apply;
every other path keeps the behaviour above). Logins take `username` and `password`
(every account's password is --shop-password) and mint a token that lives --token-ttl;
a restarted server refuses old tokens (HMAC under a key drawn at start):

  POST /auth/realms/shop/protocol/openid-connect/token   form, grant_type=password
       -> 200 {\"access_token\",\"token_type\":\"Bearer\",\"expires_in\"}; 401 wrong password
  POST /api/v1/login     JSON -> 200 {\"user\":{..},\"data\":{\"token\",\"expires_in\"}}
  POST /api/v1/session   form or JSON -> Set-Cookie: shop_session=TOKEN; Max-Age=TTL
  POST /api/v1/token     form or JSON -> X-Auth-Token: TOKEN, X-Auth-Expires-In: TTL
  /api/v1/cart*, /api/v1/checkout, /api/v1/orders*   need a token: Authorization: Bearer,
       X-Auth-Token, cookie shop_session or ?access_token=; else 401 (missing, unknown,
       expired)
  GET /api/v1/products*, /health      open
  GET /api/v1/recommendations         x-user-segment: beta-testers -> x-upstream-version:
       the canary (--canary-version, default canary-v2); others: the canary for
       --canary-weight percent of requests (random), else stable
  GET /__shop/stats                   counters as JSON: logins, login_failures, users
       (distinct), unauthorized, expired, routes{..}, versions{stable, canary}";

/// The help text describing the per-request knobs (same as [`HELP`]).
pub fn help_text() -> &'static str {
    HELP
}

/// Server configuration; build with `..TargetConfig::default()` and check with
/// [`validate`](TargetConfig::validate) (done by [`spawn`] too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// Address to listen on; port 0 lets the OS pick (see [`TargetHandle::local_addr`]).
    /// Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Executor threads sharing the listening socket. Default 1, at most 64.
    pub threads: usize,
    /// Pin executor `i` to the `i`-th CPU (round robin) of the allowed set. Default
    /// false: threads inherit the caller's affinity.
    pub pin_cpus: bool,
    /// Stall the whole server every this long (from start). Default `None`.
    pub stall_every: Option<Duration>,
    /// Length of each stall; must be > 0 and < `stall_every` when stalls are enabled.
    pub stall_for: Duration,
    /// Bytes of io_uring buffer memory per executor (counted against `ulimit -l`).
    /// Default 512 KiB; allowed 64 KiB ..= 64 MiB.
    pub io_memory: usize,
    /// Largest request head accepted (larger -> 400). Default 16 KiB; 1 KiB ..= 1 MiB.
    pub max_head_bytes: usize,
    /// Serve the shop API (logins, tokens, canary split) on its paths. Default `None`.
    pub shop: Option<ShopConfig>,
    /// Serve over TLS (and require client certificates with a client CA). Default `None`.
    pub tls: Option<TlsConfig>,
}

/// TLS for the target, as PEM bytes (the caller reads the files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server's certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
    /// Require a client certificate issued by one of these CAs (mTLS): a client without
    /// one, or with another, fails the handshake.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            threads: 1,
            pin_cpus: false,
            stall_every: None,
            stall_for: Duration::ZERO,
            io_memory: 512 * 1024,
            max_head_bytes: 16 * 1024,
            shop: None,
            tls: None,
        }
    }
}

impl TargetConfig {
    /// Checks ranges, the stall pair and the TLS files; the error names the offending field.
    pub fn validate(&self) -> Result<(), TargetError> {
        if let Some(t) = &self.tls {
            tls::server_config(t).map_err(TargetError::Tls)?;
        }
        let bad = |msg| Err(TargetError::InvalidConfig(msg));
        if !(1..=64).contains(&self.threads) {
            return bad("threads must be within 1..=64");
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&self.io_memory) {
            return bad("io_memory must be within 64 KiB..=64 MiB");
        }
        if !(1024..=1024 * 1024).contains(&self.max_head_bytes) {
            return bad("max_head_bytes must be within 1 KiB..=1 MiB");
        }
        if let Some(shop) = &self.shop {
            shop.validate().map_err(TargetError::InvalidConfig)?;
        }
        if let Some(every) = self.stall_every {
            if self.stall_for.is_zero() {
                return bad("stall_for must be > 0 when stall_every is set");
            }
            if self.stall_for >= every {
                return bad("stall_for must be shorter than stall_every");
            }
        }
        Ok(())
    }
}

/// Errors starting, running or stopping the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    #[error("invalid target config: {0}")]
    InvalidConfig(&'static str),
    /// The TLS certificate, key or client CA cannot be used.
    #[error("invalid target TLS config: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// io_uring cannot be used here; the text says why and what to change.
    #[error("cannot serve: {0}")]
    Unavailable(String),
    /// An executor could not start; the reason names io_memory and the locked-memory limit.
    #[error("cannot start target executor {index}: {reason}")]
    Executor { index: usize, reason: String },
    #[error("target executor {index} failed: {reason}")]
    ExecutorFailed { index: usize, reason: String },
    #[error("{what}: {source}")]
    Setup {
        what: &'static str,
        source: io::Error,
    },
}

/// Validates `cfg`, binds and starts the server on its own thread(s); returns once every
/// executor is accepting connections.
pub fn spawn(cfg: TargetConfig) -> Result<TargetHandle, TargetError> {
    cfg.validate()?;
    server::spawn(&cfg)
}

/// Blocking form for the CLI: starts the server, calls `on_listening` with the bound
/// address, and serves until SIGINT/SIGTERM; returns the final counters. To also stop it
/// from another thread, use [`spawn`], [`TargetHandle::stop_trigger`] and
/// [`TargetHandle::wait_for_shutdown`].
pub fn run(cfg: TargetConfig, on_listening: impl FnOnce(SocketAddr)) -> Result<Stats, TargetError> {
    let handle = spawn(cfg)?;
    on_listening(handle.local_addr());
    handle.wait_for_shutdown()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert!(TargetConfig::default().validate().is_ok());
        let msg = |c: TargetConfig| c.validate().unwrap_err().to_string();
        assert!(
            msg(TargetConfig {
                threads: 0,
                ..Default::default()
            })
            .contains("threads")
        );
        assert!(
            msg(TargetConfig {
                io_memory: 1,
                ..Default::default()
            })
            .contains("io_memory")
        );
        let stall = TargetConfig {
            stall_every: Some(Duration::from_millis(100)),
            stall_for: Duration::from_millis(100),
            ..Default::default()
        };
        assert!(msg(stall).contains("stall_for"));
        let no_len = TargetConfig {
            stall_every: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        assert!(msg(no_len).contains("stall_for"));
    }
}
