//! Checks run at their deadlines: requests and connects that take too long, connections due
//! to reconnect, a target down for longer than the give-up time, and when the next of these
//! is due (the shell sleeps until then at most).

use super::{Kind, Req, Shard};

/// The shortest sleep before a deadline is looked at again, so an overdue one cannot spin.
const MIN_DEADLINE_NS: u64 = 100_000;
/// How long a server that said `Connection: close` has to close (at most half the request
/// timeout): then the client closes.
const ENDING_GRACE_NS: u64 = 1_000_000_000;

impl Shard {
    /// The earliest time a check must run, whatever I/O happens: a request timeout (of what is
    /// in flight, or of anything sent from now on), a reconnect, the give-up time.
    pub(super) fn next_deadline(&self, now: u64) -> u64 {
        let mut t = now.saturating_add(self.wire.min_timeout_ns(self.cfg.timeout));
        let reconnecting = self.wants_connections(now);
        for c in &self.conns {
            if let Some(head) = c.head() {
                t = t.min(head.sent.saturating_add(self.timeout_of(head)));
            }
            if reconnecting && let Some(at) = c.reconnect_at() {
                t = t.min(at);
            }
            if let Some(since) = c.connecting_since() {
                t = t.min(since.saturating_add(self.connect_deadline_ns()));
            }
            if let Some(by) = c.ending_by() {
                t = t.min(by);
            }
        }
        if let (Some(since), Some(limit)) = (self.down_since, self.cfg.give_up_after) {
            t = t.min(since.saturating_add(limit.as_nanos() as u64));
        }
        t.max(now + MIN_DEADLINE_NS)
    }

    /// How long a connection waits for the close its server announced.
    pub(super) fn ending_grace_ns(&self) -> u64 {
        ENDING_GRACE_NS.min(self.cfg.timeout.as_nanos() as u64 / 2)
    }

    /// The timeout of request `r`, ns (a plan step's own wins over the run's).
    pub(super) fn timeout_of(&self, r: &Req) -> u64 {
        let default = self.cfg.timeout.as_nanos() as u64;
        match r.kind {
            Kind::Step => self.wire.timeout_ns(self.wire.req(r.req), default),
            Kind::Login(_) => default,
        }
    }

    /// Has no connection opened for longer than the give-up time?
    pub(super) fn given_up(&self, now: u64) -> bool {
        match (self.down_since, self.cfg.give_up_after) {
            (Some(t), Some(limit)) => now.saturating_sub(t) >= limit.as_nanos() as u64,
            _ => false,
        }
    }

    /// Is there work a new connection could carry? Not once the schedule has released its
    /// last request (checked before `poll` marks the stop, so that the pass that releases it
    /// opens no connection that would carry nothing) and nothing waits to be sent again.
    fn wants_connections(&self, now: u64) -> bool {
        !((self.stopping || self.schedule.finished(now)) && self.nothing_queued())
    }

    /// No request waits for a connection (in the shared queue or a captured connection's).
    fn nothing_queued(&self) -> bool {
        self.queue.is_empty() && self.flows.queued() == 0
    }

    pub(super) fn check_timeouts(&mut self, now: u64) {
        let connect_ns = self.connect_deadline_ns();
        for i in 0..self.conns.len() {
            // A TLS handshake that stalls is a failed connection.
            if self.conns[i]
                .connecting_since()
                .is_some_and(|t| now.saturating_sub(t) >= connect_ns)
            {
                self.on_connect_failed(i as u32, libc::ETIMEDOUT, now);
                continue;
            }
            // The server announced a close and has not closed: the client does (what was
            // written behind the announcing answer went back to the queue at the answer).
            if let Some(by) = self.conns[i].ending_by() {
                if now >= by {
                    self.close(i, now, false);
                }
                continue;
            }
            let Some(head) = self.conns[i].head() else {
                continue;
            };
            if now.saturating_sub(head.sent) >= self.timeout_of(head) {
                let r = self.conns[i].pop_head().expect("head exists");
                self.timed_out(r, now);
                self.close(i, now, true);
            }
        }
    }

    pub(super) fn reconnect_due(&mut self, now: u64) {
        if !self.wants_connections(now) {
            return;
        }
        for i in 0..self.conns.len() {
            if self.conns[i].connect_due(now) {
                self.connect(i, now);
            }
        }
    }

    /// How long a connection may take to open (TCP and TLS): the connect timeout, plus a margin
    /// so the kernel's own timeout of the TCP connect fires first.
    fn connect_deadline_ns(&self) -> u64 {
        self.cfg.connect_timeout.as_nanos() as u64 + 50_000_000
    }
}
