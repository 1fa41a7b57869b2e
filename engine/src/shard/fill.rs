//! Filling connections: queued requests are written onto each connection with room, one batch
//! (one send) per connection. A login is written from its session's `--users` row; a slotted
//! step gets its session's token spliced in, or waits for a login, or fails as `auth` while
//! the session backs off.

use super::auth::Ready;
use super::{Action, Kind, Shard, login_req, second_of};
use crate::requests::{close_after, insert_index};
use crate::schedule::NO_FLOW;
use crate::stats::ErrorClass;

impl Shard {
    pub(super) fn fill(&mut self, now: u64) {
        let mut woken = std::mem::take(&mut self.wake);
        for &i in &woken {
            self.fill_one(i as usize, now);
        }
        woken.clear();
        self.wake = woken;
        while !self.queue.is_empty() {
            let Some(i) = self.idle.pop() else { break };
            self.conns[i as usize].parked = false;
            self.fill_one(i as usize, now);
        }
    }

    fn fill_one(&mut self, i: usize, now: u64) {
        let depth = self.cfg.depth;
        let c = &mut self.conns[i];
        if !c.has_room(depth) {
            return;
        }
        // Closed loop: refill once half the window is free, so each send carries a batch
        // (one send per response costs the kernel more than the batch saves in waiting).
        if !self.open_loop && c.in_flight() > 0 && depth - c.in_flight() < depth.div_ceil(2) {
            return;
        }
        let Shard {
            conns,
            queue,
            flows,
            wire,
            auth,
            stats,
            cfg,
            outstanding,
            ids,
            ..
        } = self;
        // A captured connection takes its own requests only; the flow's books are settled
        // after the batch (its queue is borrowed meanwhile).
        let captured = flows.captured();
        let (queue, before) = if captured {
            match flows.queue_on(i as u32) {
                Some(q) => {
                    let n = q.len();
                    (q, n)
                }
                None => return,
            }
        } else {
            (queue, 0)
        };
        let mut failed_flows: u32 = 0;
        let mut flow = NO_FLOW;
        let c = &mut conns[i];
        c.begin_batch();
        while c.has_room(depth) {
            let Some(mut r) = queue.pop_front() else {
                break;
            };
            let start = c.batch().len();
            let session = cfg.sessions.get(r.session as usize).copied().unwrap_or(0);
            let scope = crate::ids::scope(session, r.lap);
            match r.kind {
                Kind::Login(p) => {
                    let login = &wire.profiles[p as usize];
                    let user = cfg
                        .user_rows
                        .get(r.session as usize)
                        .copied()
                        .unwrap_or(session);
                    let row = user as usize % login.logins.len();
                    wire.write_fresh(&login.logins[row], &[], ids, scope, c.batch());
                }
                Kind::Step => {
                    let w = wire.req(r.req);
                    match w.splice {
                        None => wire.write_fresh(w, &[], ids, scope, c.batch()),
                        Some(sp) => match auth.ready(r, sp.profile, now) {
                            (
                                Ready::Send {
                                    insert,
                                    generation,
                                    refresh,
                                },
                                _,
                            ) => {
                                r.token_generation = generation;
                                let insert = &insert[insert_index(sp.form)];
                                wire.write_fresh(w, insert, ids, scope, c.batch());
                                if refresh {
                                    queue.push_front(login_req(sp.profile, &r, now));
                                    stats.login_sent(wire.profiles[sp.profile as usize].key);
                                }
                            }
                            (Ready::Wait { login }, _) => {
                                if login {
                                    queue.push_front(login_req(sp.profile, &r, now));
                                    stats.login_sent(wire.profiles[sp.profile as usize].key);
                                }
                                continue;
                            }
                            (Ready::Fail, Some(r)) => {
                                if r.measured {
                                    let s = second_of(r.intended, cfg.measure_from_ns);
                                    stats.error(w.key, s, ErrorClass::Auth);
                                }
                                *outstanding -= 1;
                                failed_flows += 1;
                                flow = r.flow;
                                continue;
                            }
                            (Ready::Fail, None) => continue,
                        },
                    }
                }
            }
            if c.next_is_last(cfg.requests_per_connection) {
                close_after(c.batch(), start);
            }
            r.sent = now;
            r.attempts += 1;
            c.push(r, cfg.requests_per_connection);
        }
        if captured {
            let after = queue.len();
            flows.recount(before, after);
            for _ in 0..failed_flows {
                if let Some(slot) = flows.settled(flow) {
                    self.retiring.push(slot);
                }
            }
        }
        let c = &mut self.conns[i];
        let (idle, stats, actions) = (&mut self.idle, &mut self.stats, &mut self.actions);
        if c.in_flight() < depth && !c.parked {
            c.parked = true;
            idle.push(i as u32);
        }
        if c.start_send() {
            stats.bytes_out += c.unsent().len() as u64;
            actions.push(Action::Send(i as u32));
        }
    }
}
