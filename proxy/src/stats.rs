//! The proxy's counters: atomics the executors add to, read as a [`ProxyStats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::flow::FlowCounts;

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Client connections accepted.
    pub connections: u64,
    /// Client TLS handshakes that failed or timed out.
    pub tls_failures: u64,
    /// Upstream connections that could not be opened (or whose TLS handshake failed).
    pub connect_errors: u64,
    /// Request heads read from clients.
    pub requests: u64,
    /// Requests forwarded upstream.
    pub forwarded: u64,
    /// Whole responses read from the upstream.
    pub answered: u64,
    /// Requests the proxy answered itself (upgrade, CONNECT, malformed: 400/501).
    pub refused: u64,
    /// Upstream failures after connecting: invalid or unsolicited responses, closed before
    /// answering, timeouts.
    pub upstream_errors: u64,
    /// Exchanges cut mid-message by the client or the upstream.
    pub cut: u64,
    /// Bytes forwarded client -> upstream and upstream -> client (decrypted, when TLS).
    pub bytes_up: u64,
    pub bytes_down: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    tls_failures: AtomicU64,
    connect_errors: AtomicU64,
    requests: AtomicU64,
    forwarded: AtomicU64,
    answered: AtomicU64,
    refused: AtomicU64,
    upstream_errors: AtomicU64,
    cut: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

impl Counters {
    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }
    pub(crate) fn tls_failure(&self) {
        self.tls_failures.fetch_add(1, Relaxed);
    }
    pub(crate) fn connect_error(&self) {
        self.connect_errors.fetch_add(1, Relaxed);
    }
    pub(crate) fn bytes_up(&self, n: usize) {
        self.bytes_up.fetch_add(n as u64, Relaxed);
    }
    pub(crate) fn bytes_down(&self, n: usize) {
        self.bytes_down.fetch_add(n as u64, Relaxed);
    }

    /// A finished connection's counts.
    pub(crate) fn add(&self, c: FlowCounts) {
        self.requests.fetch_add(c.requests, Relaxed);
        self.forwarded.fetch_add(c.forwarded, Relaxed);
        self.answered.fetch_add(c.answered, Relaxed);
        self.refused.fetch_add(c.refused, Relaxed);
        self.upstream_errors.fetch_add(c.upstream_errors, Relaxed);
        self.cut.fetch_add(c.cut, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            connections: self.connections.load(Relaxed),
            tls_failures: self.tls_failures.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            requests: self.requests.load(Relaxed),
            forwarded: self.forwarded.load(Relaxed),
            answered: self.answered.load(Relaxed),
            refused: self.refused.load(Relaxed),
            upstream_errors: self.upstream_errors.load(Relaxed),
            cut: self.cut.load(Relaxed),
            bytes_up: self.bytes_up.load(Relaxed),
            bytes_down: self.bytes_down.load(Relaxed),
        }
    }
}
