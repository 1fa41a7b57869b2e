//! Server counters: lock-free atomics shared by all executors (one relaxed add per
//! response), snapshotted into a plain [`Stats`] value on demand.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Statuses 100..=599 are counted individually.
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 500;

/// A snapshot of what the server has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Final responses written (including 400 answers to bad requests).
    pub requests: u64,
    /// Connections accepted since start.
    pub connections: u64,
    /// Connections open at the time of the snapshot.
    pub active_connections: u64,
    /// Requests answered 400 because they could not be framed or carried an invalid
    /// `x-ringload-*` header.
    pub bad_requests: u64,
    /// Responses by status code, ascending, only codes that occurred.
    pub by_status: Vec<(u16, u64)>,
    /// TLS handshakes completed (with [`crate::TargetConfig::tls`]).
    pub tls_handshakes: u64,
    /// ... of which TLS 1.3 (the rest are TLS 1.2).
    pub tls13: u64,
    /// ... of which resumed an earlier session.
    pub tls_resumed: u64,
    /// ... of which presented a client certificate (verified against the client CA).
    pub tls_client_certs: u64,
    /// TLS handshakes that failed or stalled (bad certificate, wrong version, garbage).
    pub tls_failures: u64,
}

impl Stats {
    /// How many responses had `status`.
    pub fn status_count(&self, status: u16) -> u64 {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

#[derive(Debug)]
pub(crate) struct Counters {
    requests: AtomicU64,
    connections: AtomicU64,
    active: AtomicU64,
    bad_requests: AtomicU64,
    by_status: [AtomicU64; STATUS_SLOTS],
    tls_handshakes: AtomicU64,
    tls13: AtomicU64,
    tls_resumed: AtomicU64,
    tls_client_certs: AtomicU64,
    tls_failures: AtomicU64,
}

impl Counters {
    pub fn new() -> Counters {
        Counters {
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            active: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            by_status: [const { AtomicU64::new(0) }; STATUS_SLOTS],
            tls_handshakes: AtomicU64::new(0),
            tls13: AtomicU64::new(0),
            tls_resumed: AtomicU64::new(0),
            tls_client_certs: AtomicU64::new(0),
            tls_failures: AtomicU64::new(0),
        }
    }

    pub fn response(&self, status: u16) {
        self.requests.fetch_add(1, Relaxed);
        if let Some(slot) = status
            .checked_sub(STATUS_MIN)
            .and_then(|i| self.by_status.get(usize::from(i)))
        {
            slot.fetch_add(1, Relaxed);
        }
    }

    pub fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Relaxed);
    }

    pub fn tls_handshake(&self, tls13: bool, resumed: bool, client_cert: bool) {
        self.tls_handshakes.fetch_add(1, Relaxed);
        self.tls13.fetch_add(u64::from(tls13), Relaxed);
        self.tls_resumed.fetch_add(u64::from(resumed), Relaxed);
        self.tls_client_certs
            .fetch_add(u64::from(client_cert), Relaxed);
    }

    pub fn tls_failed(&self) {
        self.tls_failures.fetch_add(1, Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
        self.active.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.active.fetch_sub(1, Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let by_status = self
            .by_status
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.load(Relaxed);
                (n > 0).then(|| (STATUS_MIN + i as u16, n))
            })
            .collect();
        Stats {
            requests: self.requests.load(Relaxed),
            connections: self.connections.load(Relaxed),
            active_connections: self.active.load(Relaxed),
            bad_requests: self.bad_requests.load(Relaxed),
            by_status,
            tls_handshakes: self.tls_handshakes.load(Relaxed),
            tls13: self.tls13.load(Relaxed),
            tls_resumed: self.tls_resumed.load(Relaxed),
            tls_client_certs: self.tls_client_certs.load(Relaxed),
            tls_failures: self.tls_failures.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_status() {
        let c = Counters::new();
        c.response(200);
        c.response(200);
        c.response(503);
        c.response(42); // out of range: counted as a request, no status slot
        let s = c.snapshot();
        assert_eq!(s.requests, 4);
        assert_eq!(s.by_status, vec![(200, 2), (503, 1)]);
        assert_eq!(s.status_count(503), 1);
        assert_eq!(s.status_count(404), 0);
    }
}
