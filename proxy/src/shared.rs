//! What the proxy's executors share (counters, the recording, the stop pipe) and each one's
//! read-only context for its connections.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;

use crate::flow::FlowConfig;
use crate::recording::Recording;
use crate::stats::Counters;

/// What every executor shares.
pub(crate) struct Shared {
    pub counters: Counters,
    pub recording: Option<Mutex<Recording>>,
    pub connections: AtomicU64,
    pub limit: AtomicBool,
    pub wake_tx: OwnedFd,
}

impl Shared {
    pub(crate) fn next_connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The recording holds as many exchanges as it may: wake the waiter.
    pub(crate) fn limit_reached(&self) {
        self.limit.store(true, Ordering::SeqCst);
        ringload_host::serve::wake(&self.wake_tx);
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// One executor's read-only context for its connections.
pub(crate) struct ExecutorCtx {
    pub flow: FlowConfig,
    pub upstream: SocketAddr,
    pub connector: Option<(futures_rustls::TlsConnector, ServerName<'static>)>,
    pub acceptor: Option<futures_rustls::TlsAcceptor>,
    pub upstream_timeout: Duration,
    pub shared: Arc<Shared>,
}
