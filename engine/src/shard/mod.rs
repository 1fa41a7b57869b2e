//! The sans-IO core of one executor: what to send, on which connection, and what every outcome
//! means, with time passed in and no socket in sight.
//!
//! The io_uring shell (`driver`) turns completions into calls on a [`Shard`] and the shard's
//! [`Action`]s into submissions; tests drive the same shard in memory with a virtual clock.
//!
//! ```text
//!   poll(now):  release (the schedule's due requests -> queue)
//!               fill    (queue -> connections with room, one batch per connection) -> Send
//!               checks  (request timeouts, reconnects, give-up, end of run and drain)
//!   events:     on_connected / on_connect_failed / on_sent / on_bytes / on_eof / on_reset /
//!               on_closed
//!   actions:    Connect(i), Send(i) (bytes from `unsent(i)`), Close(i) (then `on_closed`)
//! ```
//!
//! One release path serves every load model: the schedule releases a request when it is due
//! (open loop: at its intended time; closed loop: when the connections have room, intended
//! now), into one queue that connections drain. Re-sent requests and logins go to the front.
//!
//! Captured connections (`flows`): each captured connection's requests wait in a queue of their
//! own and go out on one connection slot, opened when its first step is released and closed
//! once its last step has an outcome; the slots are the connections allowed open at once.
//!
//! Accounting: a request is counted when released and ends in exactly one of ok /
//! failed(class) / timed out / in flight at the end, so `requests == ok + failed + timed_out +
//! in_flight_at_end`. When a connection closes under pipelined requests, the unanswered ones are
//! re-sent on a fresh connection (`resent`), keeping their intended time, at most
//! [`MAX_ATTEMPTS`] times. Logins (see `auth`) are counted in their own rows only.

mod auth;
mod conn;
mod flows;
mod responses;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ringload_http1::Limits;

use crate::requests::{WireRequests, insert_index};
use crate::schedule::{NO_FLOW, Schedule};
use crate::stats::{ErrorClass, Stats};

use auth::{Auth, Ready};
use conn::Conn;
use flows::{Flows, Started};

/// A request is written at most this many times before it fails as `reset`.
pub const MAX_ATTEMPTS: u8 = 3;
/// Timeouts and reconnects are checked at their deadlines (see `Shard::next_deadline`); this
/// coarse tick while busy only bounds the cost of a deadline someone forgot to announce. A
/// fine periodic timer costs more than it seems on a VM (nginx served 10-15% fewer requests/s
/// at depth 16 with a 1 ms timer ticking in the client), and a check pass visits every
/// connection.
const CHECK_EVERY_NS: u64 = 10_000_000;
/// The shortest sleep before a deadline is looked at again, so an overdue one cannot spin.
const MIN_DEADLINE_NS: u64 = 100_000;
/// Requests the schedule may release in one turn of the loop.
const RELEASE_PER_TURN: usize = 1 << 16;

/// What the shell must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a socket for connection `i` and report `on_connected`/`on_connect_failed`.
    Connect(u32),
    /// Send `unsent(i)` and report `on_sent`.
    Send(u32),
    /// Tear connection `i`'s socket down (cancelling what is in flight) and report `on_closed`.
    Close(u32),
}

/// What one executor is asked to do.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    pub cpu: usize,
    pub connections: usize,
    pub depth: usize,
    pub addr: std::net::SocketAddr,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub give_up_after: Option<Duration>,
    pub drain: Duration,
    pub queue_limit: usize,
    pub measure_from_ns: u64,
    pub max_wall: Duration,
    pub spin: Duration,
    /// Open loop: a due send may wait this long to share a wake-up with the next ones.
    pub precision: Duration,
    /// Global index of each of this shard's sessions (the scope of its fresh ids).
    pub sessions: Arc<[u32]>,
    /// The `--users` row of each of this shard's sessions, before the modulo: its place among
    /// the plan's sessions that log in.
    pub user_rows: Arc<[u32]>,
    /// Segments of the plan (stats keys are `label * (segments + 1) + segment`).
    pub segments: usize,
    /// Close each connection after this many requests.
    pub requests_per_connection: Option<u32>,
    /// `Some(n)`: connections are captured, `n` of them among this shard's steps, and
    /// `connections` is how many may be open at once; `None`: connections are a pool.
    pub flows: Option<usize>,
    /// Writes fresh header ids (where the requests have places for them).
    pub ids: crate::ids::IdGen,
    /// Local addresses to connect from, connection `i` from `source_addrs[i % len]`.
    pub source_addrs: Arc<[std::net::IpAddr]>,
    /// This executor's index (its live figures' slot).
    pub index: usize,
    /// Set to end the run early (sending stops, in-flight requests drain).
    pub interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
    pub live: Option<Arc<crate::live::Live>>,
}

/// Why a connection closes, which decides what its unanswered requests are charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseAs {
    /// By the server or its request limit: reconnect at once; the requests behind are not
    /// charged if the connection made progress.
    Graceful,
    /// Reset, timeout, protocol error: back off, charge every request written.
    Failure,
    /// Refused in TLS before any answer: back off, charge nothing.
    Refused,
}

/// What a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A plan step.
    Step,
    /// A login of this auth profile, for `Req::session`.
    Login(u16),
}

/// A request released by the schedule (or a login), waiting for a connection or on one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req {
    /// Plan request id (steps) or `--users` row (logins).
    pub req: u32,
    pub kind: Kind,
    /// This shard's index of the session it belongs to.
    pub session: u32,
    /// When the schedule intended it to be sent (ns since run start).
    pub intended: u64,
    /// When it was last written.
    pub sent: u64,
    /// The token it carried (slotted requests).
    pub token_generation: u32,
    /// Attempts charged to it: each write counts, except writes lost to a graceful close of a
    /// connection that was making progress (a server's per-connection request limit).
    pub attempts: u8,
    /// Counted in the results (intended after warm-up).
    pub measured: bool,
    /// Already re-sent once after a 401: a second 401 is its answer.
    pub reauthed: bool,
    /// The shard's index of its captured connection, or `NO_FLOW`.
    pub flow: u32,
    /// The schedule's lap it was released in.
    pub lap: u32,
}

/// The per-second window a request belongs to: seconds from the start of measurement to its
/// intended send time.
fn second_of(intended: u64, measure_from: u64) -> usize {
    (intended.saturating_sub(measure_from) / 1_000_000_000) as usize
}

pub struct Shard {
    cfg: ShardConfig,
    wire: Arc<WireRequests>,
    schedule: Schedule,
    queue: VecDeque<Req>,
    /// Captured connections (their own queues instead of `queue`).
    flows: Flows,
    /// Connection slots whose captured connection is over: closed at the next poll.
    retiring: Vec<u32>,
    /// Fresh header ids written into each batch.
    ids: crate::ids::IdGen,
    conns: Vec<Conn>,
    stats: Stats,
    auth: Auth,
    actions: Vec<Action>,
    /// Connections with an event since the last fill.
    wake: Vec<u32>,
    /// Connections with room but no work at the last fill.
    idle: Vec<u32>,
    /// Released requests without an outcome yet: queued, in flight or waiting for a token.
    outstanding: usize,
    /// Connections open now (a closed loop releases only what they have room for).
    open_conns: usize,
    open_loop: bool,
    stopping: bool,
    done: bool,
    drain_deadline: u64,
    next_check: u64,
    /// The next check of timeouts and reconnects is due then at the latest (lowered whenever a
    /// reconnect, give-up time or earlier request timeout appears between checks).
    check_at: u64,
    /// Since when no connection could be opened (every attempt failing, none open).
    down_since: Option<u64>,
    /// The next second (of measurement) whose end publishes live figures.
    next_publish: u64,
    /// Where a failed check's reason is written before it is compared with those kept (reused,
    /// so a failure like one already kept allocates nothing).
    scratch: String,
}

impl Shard {
    pub fn new(cfg: ShardConfig, wire: Arc<WireRequests>, schedule: Schedule) -> Shard {
        // Compiled once; every connection's decoder holds only the values.
        let captures = ringload_http1::CaptureSet::new(&wire.capture_specs());
        let limits = Limits::default();
        let flows = Flows::new(cfg.flows, cfg.connections);
        let conns = (0..cfg.connections)
            .map(|_| {
                let mut c = Conn::new(limits, &captures);
                if flows.captured() {
                    // Captured connections open when their first step is due.
                    c.hold();
                }
                c
            })
            .collect();
        let auth = Auth::new(cfg.sessions.len().max(1), wire.profiles.len());
        let splits = wire.split_captures.len();
        Shard {
            stats: Stats::with_layout(wire.layout).with_splits(cfg.segments, splits),
            open_loop: schedule.is_open(),
            queue: VecDeque::with_capacity(cfg.queue_limit.min(1 << 16)),
            wake: Vec::with_capacity(cfg.connections),
            idle: Vec::with_capacity(cfg.connections),
            actions: Vec::with_capacity(cfg.connections * 2),
            conns,
            retiring: Vec::with_capacity(if flows.captured() { cfg.connections } else { 0 }),
            flows,
            ids: cfg.ids.clone(),
            auth,
            outstanding: 0,
            open_conns: 0,
            stopping: false,
            done: false,
            drain_deadline: u64::MAX,
            next_check: 0,
            check_at: 0,
            down_since: None,
            next_publish: 1,
            scratch: String::with_capacity(128),
            wire,
            schedule,
            cfg,
        }
    }

    pub fn config(&self) -> &ShardConfig {
        &self.cfg
    }

    /// Open every connection (before the start; those that fail keep retrying). Captured
    /// connections open when their first step is due instead.
    pub fn connect_all(&mut self, now: u64) {
        if self.flows.captured() {
            return;
        }
        for i in 0..self.conns.len() {
            self.connect(i, now);
        }
    }

    /// Some connection is still connecting.
    pub fn connecting(&self) -> bool {
        self.conns.iter().any(Conn::is_connecting)
    }

    /// Measurement starts at `now` (0): failures while connecting count from here, every
    /// connection gets a chance to fill.
    pub fn begin(&mut self) {
        self.down_since = self.down_since.map(|_| 0);
        self.wake.clear();
        self.wake.extend(0..self.conns.len() as u32);
        self.check_at = 0;
    }

    /// The actions to carry out, oldest first (the vector is swapped, not reallocated).
    pub fn take_actions(&mut self, into: &mut Vec<Action>) {
        into.clear();
        std::mem::swap(into, &mut self.actions);
    }

    /// The bytes of connection `i`'s batch still to send.
    pub fn unsent(&self, i: u32) -> &[u8] {
        self.conns[i as usize].unsent()
    }

    /// Is the run over (stats are final once `finish` is called)?
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Is this an open-loop run (the shell polls briefly before due sends)?
    pub fn is_open_loop(&self) -> bool {
        self.open_loop
    }

    /// One turn: release due requests, fill connections, run due checks, decide the end.
    pub fn poll(&mut self, now: u64) {
        if self.done {
            return;
        }
        self.release(now);
        self.fill(now);
        self.retire(now);
        if now >= self.next_check || now >= self.check_at {
            self.check_timeouts(now);
            self.reconnect_due(now);
            self.next_check = now + CHECK_EVERY_NS;
            self.check_at = self.next_deadline(now);
        }
        let interrupted = self
            .cfg
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed));
        if interrupted && !self.stopping {
            self.stats.interrupted = true;
        }
        if let Some(live) = &self.cfg.live {
            let measured = now.saturating_sub(self.cfg.measure_from_ns);
            if now >= self.cfg.measure_from_ns && measured >= self.next_publish * 1_000_000_000 {
                self.next_publish = measured / 1_000_000_000 + 1;
                live.publish(
                    self.cfg.index,
                    &self.stats,
                    self.next_publish.saturating_sub(2),
                );
            }
        }
        if !self.stopping && (interrupted || self.schedule.finished(now)) {
            self.stopping = true;
            self.stats.send_window_s = now.saturating_sub(self.cfg.measure_from_ns) as f64 / 1e9;
            self.drain_deadline = now + self.cfg.drain.as_nanos() as u64;
        }
        if self.stopping && (now >= self.drain_deadline || !self.awaiting_measured()) {
            self.done = true;
        }
        if now >= self.cfg.max_wall.as_nanos() as u64 {
            self.done = true;
        }
        if self.given_up(now) {
            self.stats.gave_up = true;
            if !self.stopping {
                self.stats.send_window_s =
                    now.saturating_sub(self.cfg.measure_from_ns) as f64 / 1e9;
            }
            self.done = true;
        }
    }

    /// Until when the shell may sleep without missing anything (it wakes earlier on I/O).
    pub fn wakeup_at(&self) -> u64 {
        let mut until = self.check_at.min(self.drain_deadline);
        if let Some(due) = self.schedule.next_due_at() {
            // Sends due within the precision window go out together, each with its own
            // intended time (its lateness is in the lag histogram).
            until = until.min(due.saturating_add(self.cfg.precision.as_nanos() as u64));
        }
        if let Some(end) = self.schedule.closed_until().filter(|_| !self.stopping) {
            until = until.min(end);
        }
        until
    }

    /// The earliest time a check must run, whatever I/O happens: a request timeout (of what is
    /// in flight, or of anything sent from now on), a reconnect, the give-up time.
    fn next_deadline(&self, now: u64) -> u64 {
        let mut t = now.saturating_add(self.wire.min_timeout_ns(self.cfg.timeout));
        let reconnecting = !(self.stopping && self.nothing_queued());
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
        }
        if let (Some(since), Some(limit)) = (self.down_since, self.cfg.give_up_after) {
            t = t.min(since.saturating_add(limit.as_nanos() as u64));
        }
        t.max(now + MIN_DEADLINE_NS)
    }

    /// The timeout of request `r`, ns (a plan step's own wins over the run's).
    fn timeout_of(&self, r: &Req) -> u64 {
        let default = self.cfg.timeout.as_nanos() as u64;
        match r.kind {
            Kind::Step => self.wire.timeout_ns(self.wire.req(r.req), default),
            Kind::Login(_) => default,
        }
    }

    /// Has no connection opened for longer than the give-up time?
    fn given_up(&self, now: u64) -> bool {
        match (self.down_since, self.cfg.give_up_after) {
            (Some(t), Some(limit)) => now.saturating_sub(t) >= limit.as_nanos() as u64,
            _ => false,
        }
    }

    /// No request waits for a connection (in the shared queue or a captured connection's).
    fn nothing_queued(&self) -> bool {
        self.queue.is_empty() && self.flows.queued() == 0
    }

    /// Measured requests still waiting for an outcome?
    fn awaiting_measured(&self) -> bool {
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

    fn second(&self, intended: u64) -> usize {
        second_of(intended, self.cfg.measure_from_ns)
    }

    /// Move the requests the schedule releases now into the queue: every due one in open loop
    /// (bounded; beyond the queue limit they are dropped and counted), as many as the open
    /// connections have room for in closed loop (a closed loop sends nothing while no
    /// connection is open: a refused connection is a connect error, not a request).
    fn release(&mut self, now: u64) {
        if self.stopping {
            // The end of the schedule, or an interrupt: nothing new goes out.
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
    fn requeue(&mut self, r: Req, now: u64) {
        if r.flow == NO_FLOW {
            self.queue.push_front(r);
        } else if let Some(i) = self.flows.push_front(r) {
            self.wake_slot(i, now);
        }
    }

    /// Request `r` (a step) has its outcome.
    fn settle(&mut self, r: &Req) {
        self.outstanding -= 1;
        if r.flow != NO_FLOW
            && let Some(i) = self.flows.settled(r.flow)
        {
            self.retiring.push(i);
        }
    }

    /// Close the slots whose captured connection is over: at once when nothing is in flight
    /// on them, else after their last response (they write nothing more).
    fn retire(&mut self, now: u64) {
        while let Some(i) = self.retiring.pop() {
            if !self.flows.slot_done(i) {
                // Its flow started another lap meanwhile.
                continue;
            }
            let iu = i as usize;
            let c = &mut self.conns[iu];
            if c.is_open() {
                c.stop_writing();
                if c.in_flight() == 0 {
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
    fn free_slot(&mut self, i: u32, now: u64) {
        self.conns[i as usize].hold();
        if self.flows.release(i).is_some() {
            self.connect(i as usize, now);
        }
    }

    fn fill(&mut self, now: u64) {
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

    fn check_timeouts(&mut self, now: u64) {
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

    fn reconnect_due(&mut self, now: u64) {
        if self.stopping && self.nothing_queued() {
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

    fn connect(&mut self, i: usize, now: u64) {
        self.conns[i].connect(now);
        self.actions.push(Action::Connect(i as u32));
    }

    /// Connection `i` is open. `confirmed`: the target is up (plain TCP); a TLS connection is
    /// confirmed by its first response, since a server may refuse a client certificate only
    /// after the client's side of the handshake is done.
    pub fn on_connected(&mut self, i: u32, _now: u64, confirmed: bool) {
        let c = &mut self.conns[i as usize];
        if !c.is_connecting() {
            return;
        }
        self.stats.connects += 1;
        if confirmed {
            self.down_since = None;
        }
        self.open_conns += 1;
        c.opened(confirmed);
        self.wake.push(i);
    }

    /// A TCP connect took `connect_us` (once per connection, TLS or not).
    pub fn on_tcp_up(&mut self, connect_us: u64) {
        self.stats.connected(connect_us);
    }

    /// A TLS handshake completed `us` after TCP came up (`resumed`: an earlier session).
    pub fn on_handshake(&mut self, us: u64, resumed: bool) {
        self.stats.handshake(us, resumed);
    }

    /// Connection `i` failed in TLS (`reason`). Before any response this is a failed
    /// connection (the requests on it were never answered: they go back uncharged, and the
    /// target counts as down); after, it is a reset.
    pub fn on_tls_failed(&mut self, i: u32, reason: String, now: u64) {
        let iu = i as usize;
        let c = &self.conns[iu];
        if !(c.is_open() || c.is_connecting()) {
            return;
        }
        self.stats.tls_failed(|| reason);
        if c.is_connecting() {
            self.mark_down(now);
            self.conns[iu].connect_failed();
            self.actions.push(Action::Close(i));
        } else if c.made_progress() {
            self.on_reset(i, now);
        } else {
            self.close_as(iu, now, CloseAs::Refused);
            self.mark_down(now);
        }
    }

    /// Connection `i`'s connect attempt failed with `errno` (a timeout is ETIMEDOUT); the shell
    /// still tears the attempt down (`on_closed` follows).
    pub fn on_connect_failed(&mut self, i: u32, errno: i32, now: u64) {
        if !self.conns[i as usize].is_connecting() {
            return;
        }
        self.connect_error(errno, now);
        self.conns[i as usize].connect_failed();
        self.actions.push(Action::Close(i));
    }

    /// No socket could be created for connection `i` (`errno`): it retries later.
    pub fn on_socket_failed(&mut self, i: u32, errno: i32, now: u64) {
        self.connect_error(errno, now);
        let at = self.conns[i as usize].retry_later(now);
        self.check_at = self.check_at.min(at);
    }

    /// Count a failed connect attempt; with no connection up, the target is down from now.
    fn connect_error(&mut self, errno: i32, now: u64) {
        let measuring = now >= self.cfg.measure_from_ns && !self.stopping;
        self.stats
            .connect_failed(measuring.then(|| second_of(now, self.cfg.measure_from_ns)));
        self.stats.last_connect_error = Some(errno);
        self.mark_down(now);
    }

    /// A connection attempt failed: with none confirmed up, the target is down from now.
    fn mark_down(&mut self, now: u64) {
        if self.down_since.is_none() && !self.conns.iter().any(Conn::is_confirmed) {
            self.down_since = Some(now);
            if let Some(limit) = self.cfg.give_up_after {
                self.check_at = self
                    .check_at
                    .min(now.saturating_add(limit.as_nanos() as u64));
            }
        }
    }

    /// `res` bytes of connection `i`'s batch were sent (negative: the send failed with -errno).
    pub fn on_sent(&mut self, i: u32, res: i32, now: u64) {
        let c = &mut self.conns[i as usize];
        if !c.is_open() {
            return;
        }
        if res < 0 {
            self.on_reset(i, now);
        } else if c.sent(res as usize) {
            self.wake.push(i);
        } else {
            self.actions.push(Action::Send(i));
        }
    }

    /// The shell let go of connection `i`'s socket.
    pub fn on_closed(&mut self, i: u32, now: u64) {
        let c = &mut self.conns[i as usize];
        if !c.is_closing() {
            return;
        }
        let at = c.closed(now);
        self.check_at = self.check_at.min(at);
        if self.flows.captured() {
            if self.flows.slot_done(i) {
                self.free_slot(i, now);
            } else if !self.flows.has_work(i) {
                // Reopened when its next step is due, as the captured client would.
                self.conns[i as usize].hold();
            }
        }
    }

    /// Close connection `i` (`backoff`: after a failure): see [`CloseAs`].
    fn close(&mut self, i: usize, now: u64, backoff: bool) {
        let how = if backoff {
            CloseAs::Failure
        } else {
            CloseAs::Graceful
        };
        self.close_as(i, now, how);
    }

    /// Close connection `i`: unanswered requests go back to the front of the queue (or fail
    /// after `MAX_ATTEMPTS`), and the shell tears the socket down.
    fn close_as(&mut self, i: usize, now: u64, how: CloseAs) {
        // A graceful close after answering some requests is the server's connection limit, not
        // the fault of the requests behind it, and a connection refused in TLS never carried
        // them: their write is not charged.
        let uncharged = u8::from(match how {
            CloseAs::Graceful => self.conns[i].made_progress(),
            CloseAs::Failure => false,
            CloseAs::Refused => true,
        });
        let was_open = self.conns[i].is_open();
        if !self.conns[i].close(how != CloseAs::Graceful) {
            return;
        }
        if was_open {
            self.stats.connection_done(self.conns[i].answered());
        }
        if how == CloseAs::Refused {
            self.conns[i].refused();
        }
        self.open_conns -= usize::from(was_open);
        // Popping from the back and pushing to the front keeps their order, ahead of new work.
        while let Some(mut r) = self.conns[i].take_back() {
            let charged = r.attempts - uncharged;
            if charged >= MAX_ATTEMPTS {
                self.failed(r, ErrorClass::Reset, now);
            } else {
                if r.measured && r.kind == Kind::Step {
                    self.stats.resent += 1;
                }
                r.attempts = charged;
                self.requeue(r, now);
            }
        }
        self.actions.push(Action::Close(i as u32));
    }

    /// A request failed without a usable response.
    fn failed(&mut self, r: Req, class: ErrorClass, now: u64) {
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

    fn timed_out(&mut self, r: Req, now: u64) {
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
    fn login_outcome(
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
            auth::LoginOutcome::Ok => {
                for w in waiting.into_iter().rev() {
                    self.requeue(w, now);
                }
                true
            }
            auth::LoginOutcome::Failed(why) => {
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

/// A login of `profile` for the session of `of`, sent on its captured connection if it has one.
fn login_req(profile: u16, of: &Req, now: u64) -> Req {
    Req {
        req: 0,
        kind: Kind::Login(profile),
        session: of.session,
        intended: now,
        sent: 0,
        token_generation: 0,
        attempts: 0,
        measured: false,
        reauthed: false,
        flow: of.flow,
        lap: of.lap,
    }
}
