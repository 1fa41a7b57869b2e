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
//! The shard's parts, each a child module (the first six are `impl Shard` blocks):
//!
//! - `release`: the schedule's due requests into the queues, re-queueing, captured slots retired
//! - `fill`: queued requests written onto connections with room, one batch per connection
//! - `responses`: received bytes: answers recorded, server closes, resets, protocol errors
//! - `sockets`: opening connections, the shell's connect/TLS/send/close events, closing one
//! - `checks`: request and connect timeouts, reconnects, give-up, and the next deadline
//! - `outcomes`: failed and timed-out requests, logins' results, the final count at the end
//! - `conn`: one connection: its state, the requests in flight, the decoder, the batch
//! - `flows`: the books of captured connections (which one is on which slot, which wait)
//! - `auth`: tokens minted at replay: logins, refreshes, back-off
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
mod checks;
mod conn;
mod fill;
mod flows;
mod outcomes;
mod release;
mod responses;
mod sockets;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ringload_http1::Limits;

use crate::requests::WireRequests;
use crate::schedule::Schedule;
use crate::stats::Stats;

use auth::Auth;
use conn::Conn;
use flows::Flows;

/// A request is written at most this many times before it fails as `reset`.
pub const MAX_ATTEMPTS: u8 = 3;
/// Timeouts and reconnects are checked at their deadlines (see `Shard::next_deadline`); this
/// coarse tick while busy only bounds the cost of a deadline someone forgot to announce. A
/// fine periodic timer costs more than it seems on a VM (nginx served 10-15% fewer requests/s
/// at depth 16 with a 1 ms timer ticking in the client), and a check pass visits every
/// connection.
const CHECK_EVERY_NS: u64 = 10_000_000;

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
    /// Closed loop: how long a wait may hold to gather answers (see `EngineConfig::coalesce`).
    pub coalesce: Duration,
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

    fn second(&self, intended: u64) -> usize {
        second_of(intended, self.cfg.measure_from_ns)
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
