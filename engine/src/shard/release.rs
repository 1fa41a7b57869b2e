//! Releasing requests: the schedule's due ones go into the shared queue or their captured
//! connection's (open loop: every due one once the earliest is `precision` late, up to the
//! queue limit; closed loop: what the open connections have room for); requests sent again go
//! back to the front; a captured connection's slot opens when work arrives and is retired once
//! its connection is over.

use super::flows::Started;
use super::{Kind, Req, Shard};
use crate::schedule::NO_FLOW;

/// Requests the schedule may release in one turn of the loop.
const RELEASE_PER_TURN: usize = 1 << 16;

impl Shard {
    /// Move the requests the schedule releases now into the queue: every due one in open loop
    /// (bounded; beyond the queue limit they are dropped and counted), as many as the open
    /// connections have room for in closed loop (a closed loop sends nothing while no
    /// connection is open: a refused connection is a connect error, not a request).
    pub(super) fn release(&mut self, now: u64) {
        if self.stopping {
            // The end of the schedule, or an interrupt: nothing new goes out.
            return;
        }
        if self.open_loop
            && let Some(due) = self.schedule.next_due_at()
            && now < due.saturating_add(self.cfg.precision.as_nanos() as u64)
        {
            // Open loop: due sends wait until the earliest is `precision` late, then all due by
            // then go out in one pass (each timed from its own intended time), awake or not.
            // Sent as they fall due, every send (and every response it brings) costs the
            // client and the server a wake-up of their own.
            return;
        }
        let room = if self.open_loop {
            RELEASE_PER_TURN
        } else {
            (self.open_conns * self.cfg.depth)
                .saturating_sub(self.outstanding)
                .min(RELEASE_PER_TURN)
        };
        for _ in 0..room {
            if self.open_loop && self.queue.len() >= self.cfg.queue_limit {
                // Full: everything else due is dropped, counted at once (not one by one).
                self.stats.dropped += self.schedule.skip_due(now);
                break;
            }
            let Some(d) = self.schedule.next(now) else {
                break;
            };
            if self.open_loop && d.measured {
                self.stats
                    .lag
                    .saturating_record(((now - d.intended) / 1000).max(1));
            }
            if d.flow != NO_FLOW && d.edge.opens {
                match self.flows.start(d.flow) {
                    Started::Took(i) => self.connect(i as usize, now),
                    Started::Waits => self.stats.conn_waits += 1,
                    Started::Continues => {}
                }
            }
            let full = d.flow != NO_FLOW && self.flows.queued() >= self.cfg.queue_limit;
            if full {
                // A captured connection's steps are dropped one by one (not skipped in bulk
                // like the shared queue's), so that where each connection opens and closes
                // still counts.
                self.stats.dropped += u64::from(d.measured);
            } else {
                if d.measured {
                    let s = self.second(d.intended);
                    self.stats.sent(self.wire.req(d.req).key, s);
                }
                self.outstanding += 1;
                let r = Req {
                    req: d.req,
                    kind: Kind::Step,
                    session: d.session,
                    intended: d.intended,
                    sent: 0,
                    token_generation: 0,
                    attempts: 0,
                    measured: d.measured,
                    reauthed: false,
                    flow: d.flow,
                    lap: d.lap,
                };
                if d.flow == NO_FLOW {
                    self.queue.push_back(r);
                } else if let Some(i) = self.flows.add(r) {
                    self.wake_slot(i, now);
                }
            }
            if d.flow != NO_FLOW
                && d.edge.closes
                && let Some(i) = self.flows.last_released(d.flow)
            {
                self.retiring.push(i);
            }
        }
    }

    /// Work arrived for the captured connection on slot `i`: fill it if it is open, open it if
    /// it was waiting to be asked.
    fn wake_slot(&mut self, i: u32, now: u64) {
        let c = &self.conns[i as usize];
        if c.is_open() {
            self.wake.push(i);
        } else if c.is_held() {
            self.connect(i as usize, now);
        }
    }

    /// Put `r` back ahead of new work: in the shared queue, or its captured connection's.
    pub(super) fn requeue(&mut self, r: Req, now: u64) {
        if r.flow == NO_FLOW {
            self.queue.push_front(r);
        } else if let Some(i) = self.flows.push_front(r) {
            self.wake_slot(i, now);
        }
    }

    /// Close the slots whose captured connection is over: at once when nothing is in flight
    /// on them, else after their last response (they write nothing more).
    pub(super) fn retire(&mut self, now: u64) {
        while let Some(i) = self.retiring.pop() {
            if !self.flows.slot_done(i) {
                // Its flow started another lap meanwhile.
                continue;
            }
            let iu = i as usize;
            let c = &mut self.conns[iu];
            if c.is_open() {
                c.stop_writing();
                // An ending one closes at the server's EOF.
                if c.in_flight() == 0 && c.ending_by().is_none() {
                    self.close(iu, now, false);
                }
            } else if c.is_connecting() {
                self.close(iu, now, false);
            } else if c.is_idle() {
                self.free_slot(i, now);
            }
        }
    }

    /// Slot `i` has no socket and its captured connection is over: the oldest waiting one
    /// takes it, or it stays free.
    pub(super) fn free_slot(&mut self, i: u32, now: u64) {
        self.conns[i as usize].hold();
        if self.flows.release(i).is_some() {
            self.connect(i as usize, now);
        }
    }
}
