//! Outcomes: a request without a usable response ends once, as failed or timed out (answers
//! are recorded in `responses`); a settled step leaves the outstanding count and its captured
//! connection's books; a login's result goes to its session's token; and at the end what is
//! still unanswered counts as in flight.

use super::auth::LoginOutcome;
use super::{Kind, Req, Shard};
use crate::schedule::NO_FLOW;
use crate::stats::{ErrorClass, Stats};

impl Shard {
    /// Request `r` (a step) has its outcome.
    pub(super) fn settle(&mut self, r: &Req) {
        self.outstanding -= 1;
        if r.flow != NO_FLOW
            && let Some(i) = self.flows.settled(r.flow)
        {
            self.retiring.push(i);
        }
    }

    /// A request failed without a usable response.
    pub(super) fn failed(&mut self, r: Req, class: ErrorClass, now: u64) {
        match r.kind {
            Kind::Step => {
                self.settle(&r);
                if r.measured {
                    let s = self.second(r.intended);
                    self.stats.error(self.wire.req(r.req).key, s, class);
                }
            }
            Kind::Login(p) => self.login_failed(r, p, None, now),
        }
    }

    pub(super) fn timed_out(&mut self, r: Req, now: u64) {
        match r.kind {
            Kind::Step => {
                self.settle(&r);
                if r.measured {
                    let s = self.second(r.intended);
                    self.stats.timed_out(self.wire.req(r.req).key, s);
                }
            }
            Kind::Login(p) => {
                let key = self.wire.profiles[p as usize].key;
                self.stats.login_done(key, false, true, None);
                self.login_outcome(r, p, None, None, now);
            }
        }
    }

    /// A login ended without a token (a reset, a protocol error): its row counts an `auth`
    /// failure, the session backs off.
    fn login_failed(&mut self, r: Req, p: u16, status: Option<u16>, now: u64) {
        let key = self.wire.profiles[p as usize].key;
        self.stats.login_done(key, false, false, None);
        self.login_outcome(r, p, status, None, now);
    }

    /// Hand a login's result to the session's token: waiting requests go out (front of the
    /// queue, in order) or fail as `auth`.
    pub(super) fn login_outcome(
        &mut self,
        r: Req,
        p: u16,
        status: Option<u16>,
        kept: Option<&ringload_http1::KeptResponse>,
        now: u64,
    ) -> bool {
        let key = self.wire.profiles[p as usize].key;
        let (outcome, waiting) = self.auth.on_login(
            r.session,
            p,
            &self.wire.profiles[p as usize],
            status,
            kept,
            now,
        );
        match outcome {
            LoginOutcome::Ok => {
                for w in waiting.into_iter().rev() {
                    self.requeue(w, now);
                }
                true
            }
            LoginOutcome::Failed(why) => {
                for w in waiting {
                    self.settle(&w);
                    if w.measured {
                        let s = self.second(w.intended);
                        self.stats
                            .error(self.wire.req(w.req).key, s, ErrorClass::Auth);
                    }
                }
                self.stats.offending(key, why);
                false
            }
        }
    }

    /// Measured requests still waiting for an outcome?
    pub(super) fn awaiting_measured(&self) -> bool {
        self.queue
            .iter()
            .chain(self.flows.queued_reqs())
            .any(|r| r.measured && r.kind == Kind::Step)
            || self
                .conns
                .iter()
                .any(|c| c.inflight().any(|r| r.measured && r.kind == Kind::Step))
            || self.auth.waiting().any(|r| r.measured)
    }

    /// Count what is still unanswered as in flight at the end; the stats are final.
    pub fn finish(&mut self, now: u64) -> Stats {
        self.stats.elapsed_s = now.saturating_sub(self.cfg.measure_from_ns) as f64 / 1e9;
        let Shard {
            conns,
            queue,
            flows,
            stats,
            wire,
            auth,
            ..
        } = self;
        for c in conns.iter().filter(|c| c.is_open()) {
            stats.connection_done(c.answered());
        }
        let key = |r: &Req| match r.kind {
            Kind::Step => wire.req(r.req).key,
            Kind::Login(p) => wire.profiles[p as usize].key,
        };
        let pending = conns
            .iter()
            .flat_map(|c| c.inflight())
            .chain(queue.iter())
            .chain(flows.queued_reqs())
            .chain(auth.waiting());
        for r in pending {
            match r.kind {
                Kind::Step if r.measured => stats.in_flight_at_end(key(r)),
                Kind::Login(_) => stats.login_in_flight_at_end(key(r)),
                _ => {}
            }
        }
        for c in conns.iter_mut() {
            c.forget_inflight();
        }
        std::mem::replace(&mut self.stats, Stats::new(0))
    }
}
