//! The proxy on [`ringload_host::serve`]'s listener frame (binding, one glommio executor per
//! thread sharing the listening socket, the readiness hand-shake, stopping): what its
//! executors share, waiting (on the frame's wake pipe, which a stop, a reached request limit or
//! a signal handler writes to) and what a stopped proxy leaves.
//!
//! Each executor builds an `ExecutorCtx` on its own thread; the frame's accept loop counts
//! every accepted connection and hands it to `conn::serve`. To stop, the [`StopTrigger`] (the
//! frame's) shuts the listener and the executors' control sockets down: they stop accepting,
//! end their connections (which count what they did) and return, and the handle joins them.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ringload_host::serve::{Executors, Frame, ServeError, Serving};

use crate::flow::FlowConfig;
use crate::recording::Recording;
use crate::shared::{ExecutorCtx, Shared};
use crate::stats::Counters;
use crate::{ProxyConfig, ProxyError, ProxyStats};

/// Why [`ProxyHandle::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// A [`StopTrigger`] fired (or a signal handler wrote to [`StopTrigger::wake_fd`]).
    Woken,
    /// The recording reached its request limit.
    Limit,
    /// The deadline passed.
    Deadline,
}

/// Asks a running proxy to stop waiting and stop, from any thread; cheap to clone.
///
/// [`StopTrigger::trigger`] wakes [`ProxyHandle::wait`] and stops the executors;
/// [`StopTrigger::wake_fd`] wakes it without stopping anything (for a signal handler such as
/// `signal_hook::low_level::pipe`).
pub use ringload_host::serve::StopTrigger;

/// What a stopped proxy leaves: its counters and, when recording, the capture.
#[derive(Debug)]
pub struct Stopped {
    pub stats: ProxyStats,
    pub capture: Option<ringload_recorder::Capture>,
}

/// A running proxy. Dropping it stops it too (ignoring errors and the recording).
#[derive(Debug)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
    serving: Serving,
    description: String,
    io_memory: usize,
}

impl ProxyHandle {
    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Counters so far (connections still open add theirs when they end).
    pub fn stats(&self) -> ProxyStats {
        self.shared.counters.snapshot()
    }

    /// Exchanges recorded so far (0 when not recording).
    pub fn recorded(&self) -> u64 {
        self.shared
            .recording
            .as_ref()
            .and_then(|r| r.lock().ok().map(|r| r.len()))
            .unwrap_or(0)
    }

    pub fn stop_trigger(&self) -> StopTrigger {
        self.serving.stop_trigger()
    }

    /// Blocks until a [`StopTrigger`] fires or [`StopTrigger::wake_fd`] is written to, the
    /// recording reaches its limit, or `deadline` passes.
    pub fn wait(&self, deadline: Option<Instant>) -> Result<Ended, ProxyError> {
        let limit = || self.shared.limit.load(Ordering::SeqCst);
        if limit() {
            return Ok(Ended::Limit);
        }
        let woken = self
            .serving
            .wait(deadline)
            .map_err(|source| ProxyError::Setup {
                what: "waiting for the proxy to stop",
                source,
            })?;
        Ok(match (limit(), woken) {
            (true, _) => Ended::Limit,
            (false, true) => Ended::Woken,
            (false, false) => Ended::Deadline,
        })
    }

    /// Stops accepting, ends every connection, joins the executors; returns the counters and
    /// the capture (when recording).
    pub fn stop(mut self) -> Result<Stopped, ProxyError> {
        self.serving
            .stop()
            .map_err(|e| proxy_error(e, self.io_memory))?;
        let capture = self.shared.recording.as_ref().map(|r| {
            let rec = match r.lock() {
                Ok(mut g) => std::mem::replace(&mut *g, Recording::new(None)),
                Err(p) => std::mem::replace(&mut *p.into_inner(), Recording::new(None)),
            };
            rec.into_capture(
                self.description.clone(),
                std::path::PathBuf::from(format!("proxy on {}", self.serving.local_addr())),
            )
        });
        Ok(Stopped {
            stats: self.shared.counters.snapshot(),
            capture,
        })
    }
}

pub(crate) fn spawn(cfg: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    let frame = Frame::bind(cfg.listen).map_err(|e| proxy_error(e, cfg.io_memory))?;
    let setup = |what| move |source| ProxyError::Setup { what, source };
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        recording: cfg
            .record
            .map(|r| Mutex::new(Recording::new(r.max_requests))),
        connections: AtomicU64::new(0),
        limit: AtomicBool::new(false),
        wake_tx: frame
            .wake_fd()
            .map_err(setup("duplicating the wake pipe"))?,
    });
    let flow = FlowConfig {
        record: cfg.record.is_some(),
        max_body: cfg.record.map_or(0, |r| r.max_body),
        added_latency: cfg.added_latency,
        scheme: if cfg.tls.is_some() { "https" } else { "http" },
        ..FlowConfig::default()
    };
    let executors = Executors {
        name: "ringload-proxy",
        threads: cfg.threads,
        io_memory: cfg.io_memory,
        pin: Vec::new(),
    };
    let make = |_| {
        let shared = shared.clone();
        let (upstream, timeout) = (cfg.upstream, cfg.upstream_timeout);
        let connector = cfg.upstream_tls.clone();
        let acceptor = cfg.tls.clone();
        move || ExecutorCtx {
            flow,
            upstream,
            connector: connector.map(|t| (t.config.into(), t.server_name)),
            acceptor: acceptor.map(Into::into),
            upstream_timeout: timeout,
            shared,
        }
    };
    let serving = frame
        .spawn(&executors, make, serve_connection)
        .map_err(|e| proxy_error(e, cfg.io_memory))?;
    Ok(ProxyHandle {
        shared,
        serving,
        description: cfg.description,
        io_memory: cfg.io_memory,
    })
}

/// One accepted connection, counted when accepted.
fn serve_connection(
    stream: glommio::net::TcpStream,
    ctx: Rc<ExecutorCtx>,
) -> impl std::future::Future<Output = ()> {
    ctx.shared.counters.connection();
    crate::conn::serve(stream, ctx)
}

/// The frame's error as the proxy's (`io_memory` for a failed start's message).
fn proxy_error(e: ServeError, io_memory: usize) -> ProxyError {
    match e {
        ServeError::Bind { addr, source } => ProxyError::Bind { addr, source },
        ServeError::Executor { index, reason } => ProxyError::Executor {
            index,
            reason,
            io_memory,
        },
        ServeError::ExecutorFailed { index, reason } => {
            ProxyError::ExecutorFailed { index, reason }
        }
        ServeError::Setup { what, source } => ProxyError::Setup { what, source },
        // ServeError is non_exhaustive; whatever it adds is a setup failure here.
        other => ProxyError::Setup {
            what: "serving",
            source: std::io::Error::other(other.to_string()),
        },
    }
}
