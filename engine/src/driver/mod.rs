//! The I/O driver of one executor: a private io_uring, all of this core's client sockets, and
//! one loop that the load model drives.
//!
//! Each turn of the loop: release the requests the schedule says are due (open loop), fill every
//! connection that has room with wire bytes in one send, check timeouts and reconnects (every
//! millisecond while busy), then one `io_uring_enter` that both submits and waits: for a
//! completion, or at most until the next thing that is due (a send, a request timeout, a
//! reconnect, the end of the run), which an `IORING_OP_TIMEOUT` bounds. An idle loop never wakes
//! on a fixed tick. Then every completion is processed: multishot receives feed the sans-IO
//! response decoder, whose completed responses become stats. Nothing on this path allocates in
//! steady state.
//!
//! When no connection can be opened for `give_up_after` (every attempt failing, none open), the
//! loop ends early with `Stats::gave_up` set, whatever the stop condition.
//!
//! Accounting: a request is counted when released by the schedule and ends in exactly one of
//! ok / failed(class) / timed out / in flight at the end. When a connection closes under
//! pipelined requests, the unanswered ones are re-sent on a fresh connection (`resent`), keeping
//! their intended time, at most `MAX_ATTEMPTS` times.

mod responses;
mod uring;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, types};
use ringload_http1::Limits;

use crate::EngineError;
use crate::conn::{Conn, InFlight, State};
use crate::requests::WireRequests;
use crate::ring::{self, BufRing};
use crate::schedule::Schedule;
use crate::stats::{ErrorClass, Stats};

const OP_RECV: u64 = 1;
const OP_SEND: u64 = 2;
const OP_CONNECT: u64 = 3;
const OP_LINK_TIMEOUT: u64 = 4;
const OP_CANCEL: u64 = 5;
const OP_TIMER: u64 = 6;
/// Timer operations in flight at most.
const TIMERS: usize = 4;
/// A timer expiring this much after the wanted wake-up is good enough.
const TIMER_SLACK_NS: u64 = 20_000;
/// A request is written at most this many times before it fails as `reset`.
pub const MAX_ATTEMPTS: u8 = 3;
/// Timeouts and reconnects are checked this often while the loop is busy; an idle loop sleeps
/// until the earliest of them instead (see `Driver::next_deadline`): a periodic wake-up timer
/// costs more than it seems on a VM (nginx served 10-15% fewer requests/s at depth 16 with a
/// 1 ms timer ticking in the client).
const CHECK_EVERY_NS: u64 = 1_000_000;
/// The shortest sleep before a deadline is looked at again, so an overdue one cannot spin.
const MIN_DEADLINE_NS: u64 = 100_000;
/// The longest a wait blocks, so the executor's other work is never starved.
const MAX_WAIT_NS: u64 = 50_000_000;
/// Receive buffer size (one multishot completion holds at most this much).
const RECV_BUF: usize = 4 << 10;
/// Completions handled per pass over the ring.
const CQE_BATCH: usize = 256;
/// Requests the schedule may release in one turn of the loop.
const RELEASE_PER_TURN: usize = 1 << 16;

/// The per-second window a request belongs to: seconds from the start of measurement to its
/// intended send time.
fn second_of(intended: u64, measure_from: u64) -> usize {
    (intended.saturating_sub(measure_from) / 1_000_000_000) as usize
}

fn ud(op: u64, generation: u32, conn: usize) -> u64 {
    (op << 56) | ((generation as u64 & 0xff_ffff) << 32) | conn as u64
}

/// What one executor is asked to do.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    pub cpu: usize,
    pub connections: usize,
    pub depth: usize,
    pub addr: SocketAddr,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub give_up_after: Option<Duration>,
    pub drain: Duration,
    pub queue_limit: usize,
    pub measure_from_ns: u64,
    pub max_wall: Duration,
    pub spin: Duration,
}

/// A timeout operation in flight: when it fires and its timespec (read by the kernel when the
/// operation is submitted, so it lives here until then).
#[derive(Clone, Copy)]
struct Timer {
    due: u64,
    ts: types::Timespec,
}

impl Timer {
    const FREE: Timer = Timer {
        due: u64::MAX,
        ts: types::Timespec::new(),
    };
}

/// A request released by the schedule (or to be re-sent), waiting for a connection.
#[derive(Debug, Clone, Copy)]
struct Pending {
    req: u32,
    intended: u64,
    released: u64,
    attempts: u8,
    measured: bool,
}

pub struct Driver {
    // Field order matters: the ring is dropped before the buffers and sockets it uses.
    ring: IoUring,
    bufs: BufRing,
    conns: Vec<Conn>,
    addr: Box<socket2::SockAddr>,
    connect_ts: Box<types::Timespec>,
    wire: Arc<WireRequests>,
    schedule: Schedule,
    queue: VecDeque<Pending>,
    stats: Stats,
    cfg: ShardConfig,
    /// Connections with an event since the last fill.
    wake: Vec<u32>,
    /// Connections with room but no work at the last fill.
    idle: Vec<u32>,
    outstanding: u64,
    timers: Box<[Timer; TIMERS]>,
    t0: Instant,
    stopping: bool,
    /// Completions copied out of the ring, reused by every `process`.
    cqes: Vec<(u64, i32, u32)>,
    /// The next check of timeouts and reconnects is due then at the latest (lowered whenever a
    /// reconnect or give-up time is set between checks).
    check_at: u64,
    /// Since when no connection could be opened (every attempt failing, none open).
    down_since: Option<u64>,
}

impl Driver {
    pub fn new(
        cfg: ShardConfig,
        wire: Arc<WireRequests>,
        schedule: Schedule,
    ) -> Result<Driver, EngineError> {
        let entries = (cfg.connections * 4 + 64)
            .next_power_of_two()
            .clamp(1024, 32768) as u32;
        let ring = ring::new_ring(entries, cfg.cpu)?;
        let nbufs = (cfg.connections * 16)
            .next_power_of_two()
            .clamp(1024, 16384) as u16;
        let bufs = BufRing::new(&ring, nbufs, RECV_BUF, cfg.cpu)?;
        let names: Vec<&str> = wire.capture_names.iter().map(String::as_str).collect();
        let limits = Limits::default();
        let conns = (0..cfg.connections)
            .map(|_| Conn::new(cfg.depth, wire.max_len(), limits, &names))
            .collect();
        let ct = cfg.connect_timeout;
        Ok(Driver {
            ring,
            bufs,
            conns,
            addr: Box::new(socket2::SockAddr::from(cfg.addr)),
            connect_ts: Box::new(
                types::Timespec::new()
                    .sec(ct.as_secs())
                    .nsec(ct.subsec_nanos()),
            ),
            stats: Stats::new(wire.keys),
            wire,
            schedule,
            queue: VecDeque::with_capacity(cfg.queue_limit.min(1 << 16)),
            wake: Vec::with_capacity(cfg.connections),
            idle: Vec::with_capacity(cfg.connections),
            outstanding: 0,
            timers: Box::new([Timer::FREE; TIMERS]),
            t0: Instant::now(),
            down_since: None,
            check_at: 0,
            cqes: Vec::with_capacity(CQE_BATCH),
            stopping: false,
            cfg,
        })
    }

    fn now(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    fn io_err(&self, source: std::io::Error) -> EngineError {
        EngineError::Io {
            cpu: self.cfg.cpu,
            source,
        }
    }

    /// Run until the schedule is done and responses are in (or the drain time is over).
    pub async fn run(mut self, t0: Instant) -> Result<Stats, EngineError> {
        self.t0 = t0;
        // Failures while connecting before the start count from the start.
        self.down_since = self.down_since.map(|_| 0);
        for i in 0..self.conns.len() {
            self.wake.push(i as u32);
        }
        let open = self.schedule.is_open();
        let mut next_check = 0;
        let mut drain_deadline = u64::MAX;
        let hard_stop = self.cfg.max_wall.as_nanos() as u64;
        let spin = self.cfg.spin.as_nanos() as u64;
        let mut now = self.now();
        loop {
            if open {
                self.release(now);
            }
            self.fill(now)?;
            if now >= next_check || now >= self.check_at {
                self.check_timeouts(now)?;
                self.reconnect_due(now)?;
                next_check = now + CHECK_EVERY_NS;
                self.check_at = self.next_deadline(now);
            }
            if !self.stopping && self.schedule.finished(now) {
                self.stopping = true;
                self.stats.send_window_s =
                    now.saturating_sub(self.cfg.measure_from_ns) as f64 / 1e9;
                drain_deadline = now + self.cfg.drain.as_nanos() as u64;
            }
            if self.stopping && (now >= drain_deadline || !self.awaiting_measured()) {
                break;
            }
            if now >= hard_stop {
                break;
            }
            if self.given_up(now) {
                self.stats.gave_up = true;
                if !self.stopping {
                    self.stats.send_window_s =
                        now.saturating_sub(self.cfg.measure_from_ns) as f64 / 1e9;
                }
                break;
            }
            let mut until = self.check_at.min(drain_deadline);
            if let Some(due) = self.schedule.next_due_at() {
                until = until.min(due);
            }
            if let Some(end) = self.schedule.closed_until().filter(|_| !self.stopping) {
                until = until.min(end);
            }
            let mut wait = until.saturating_sub(now).min(MAX_WAIT_NS);
            if open {
                // Waking from a blocked wait costs tens of microseconds (more on a VM); the
                // last `spin` before a due send is polled instead.
                wait = wait.saturating_sub(spin);
            }
            self.wait(now, wait)?;
            now = self.now();
            self.process(now)?;
            glommio::yield_if_needed().await;
        }
        let end = self.now();
        self.stats.elapsed_s = end.saturating_sub(self.cfg.measure_from_ns) as f64 / 1e9;
        self.finish();
        self.shutdown()?;
        Ok(std::mem::replace(&mut self.stats, Stats::new(0)))
    }

    /// The earliest time a check must run, whatever I/O happens: a request timeout (of what is
    /// in flight, or of anything sent from now on), a reconnect, the give-up time.
    fn next_deadline(&self, now: u64) -> u64 {
        let mut t = now.saturating_add(self.wire.min_timeout_ns(self.cfg.timeout));
        let reconnecting = !(self.stopping && self.queue.is_empty());
        for c in &self.conns {
            if let Some(head) = c.inflight.front() {
                t = t.min(head.sent.saturating_add(self.timeout_of(head.req)));
            }
            if reconnecting && c.state == State::Idle {
                t = t.min(c.connect_at);
            }
        }
        if let (Some(since), Some(limit)) = (self.down_since, self.cfg.give_up_after) {
            t = t.min(since.saturating_add(limit.as_nanos() as u64));
        }
        t.max(now + MIN_DEADLINE_NS)
    }

    /// The timeout of request `req`, ns (a plan step's own wins over the run's).
    fn timeout_of(&self, req: u32) -> u64 {
        self.wire
            .timeout_ns(req, self.cfg.timeout.as_nanos() as u64)
    }

    /// Has no connection opened for longer than the give-up time?
    fn given_up(&self, now: u64) -> bool {
        match (self.down_since, self.cfg.give_up_after) {
            (Some(t), Some(limit)) => now.saturating_sub(t) >= limit.as_nanos() as u64,
            _ => false,
        }
    }

    /// Measured requests still waiting for an outcome?
    fn awaiting_measured(&self) -> bool {
        self.queue.iter().any(|p| p.measured)
            || self
                .conns
                .iter()
                .any(|c| c.inflight.iter().any(|f| f.measured))
    }

    fn second(&self, intended: u64) -> usize {
        second_of(intended, self.cfg.measure_from_ns)
    }

    /// Open loop: move every due request into the queue (bounded; beyond it, drop and count).
    fn release(&mut self, now: u64) {
        // Bounded per turn, so a schedule far behind cannot keep the loop from its I/O.
        for _ in 0..RELEASE_PER_TURN {
            if self.queue.len() >= self.cfg.queue_limit {
                // Full: everything else due is dropped, counted at once (not timed).
                self.stats.dropped += self.schedule.skip_due(now);
                break;
            }
            let Some((req, intended, measured)) = self.schedule.next(now) else {
                break;
            };
            if measured {
                self.stats
                    .lag
                    .saturating_record(((now - intended) / 1000).max(1));
            }
            if measured {
                let s = self.second(intended);
                self.stats.sent(self.wire.key[req as usize], s);
            }
            self.queue.push_back(Pending {
                req,
                intended,
                released: now,
                attempts: 0,
                measured,
            });
        }
    }

    fn fill(&mut self, now: u64) -> Result<(), EngineError> {
        let mut woken = std::mem::take(&mut self.wake);
        for &i in &woken {
            self.fill_one(i as usize, now)?;
        }
        woken.clear();
        self.wake = woken;
        while self.has_work(now) {
            let Some(i) = self.idle.pop() else { break };
            self.conns[i as usize].parked = false;
            self.fill_one(i as usize, now)?;
        }
        Ok(())
    }

    fn has_work(&self, now: u64) -> bool {
        !self.queue.is_empty() || (!self.schedule.is_open() && !self.schedule.finished(now))
    }

    fn fill_one(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let depth = self.cfg.depth;
        let closed = !self.schedule.is_open();
        let Driver {
            conns,
            queue,
            schedule,
            stats,
            wire,
            idle,
            cfg,
            ..
        } = self;
        let c = &mut conns[i];
        if !c.has_room(depth) {
            return Ok(());
        }
        // Closed loop: refill once half the window is free, so each send carries a batch
        // (one send per response costs the kernel more than the batch saves in waiting).
        if closed && !c.inflight.is_empty() && depth - c.inflight.len() < depth.div_ceil(2) {
            return Ok(());
        }
        c.sbuf.clear();
        c.send_off = 0;
        while c.inflight.len() < depth {
            let p = match queue.pop_front() {
                Some(p) => p,
                None if closed => match schedule.next(now) {
                    Some((req, intended, measured)) => {
                        if measured {
                            let s = second_of(intended, cfg.measure_from_ns);
                            stats.sent(wire.key[req as usize], s);
                        }
                        Pending {
                            req,
                            intended,
                            released: now,
                            attempts: 0,
                            measured,
                        }
                    }
                    None => break,
                },
                None => break,
            };
            c.sbuf.extend_from_slice(wire.bytes(p.req));
            c.inflight.push_back(InFlight {
                req: p.req,
                intended: p.intended,
                sent: now,
                released: p.released,
                attempts: p.attempts + 1,
                measured: p.measured,
            });
        }
        if c.inflight.len() < depth && !c.parked {
            c.parked = true;
            idle.push(i as u32);
        }
        if !c.sbuf.is_empty() {
            stats.bytes_out += c.sbuf.len() as u64;
            self.send(i)?;
        }
        Ok(())
    }

    fn check_timeouts(&mut self, now: u64) -> Result<(), EngineError> {
        for i in 0..self.conns.len() {
            let Some(head) = self.conns[i].inflight.front() else {
                continue;
            };
            if now.saturating_sub(head.sent) >= self.timeout_of(head.req) {
                let f = self.conns[i].inflight.pop_front().expect("head exists");
                if f.measured {
                    let s = self.second(f.intended);
                    self.stats.timed_out(self.wire.key[f.req as usize], s);
                }
                self.close(i, now, true)?;
            }
        }
        Ok(())
    }

    fn reconnect_due(&mut self, now: u64) -> Result<(), EngineError> {
        if self.stopping && self.queue.is_empty() {
            return Ok(());
        }
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.state == State::Idle && c.connect_at <= now {
                self.connect(i, now)?;
            }
        }
        Ok(())
    }

    /// Close connection `i`: unanswered requests go back to the front of the queue (or fail
    /// after `MAX_ATTEMPTS`), and the socket goes once the kernel has let go of its buffers.
    fn close(&mut self, i: usize, now: u64, backoff: bool) -> Result<(), EngineError> {
        let c = &mut self.conns[i];
        if matches!(c.state, State::Closing | State::Idle) {
            return Ok(());
        }
        // A graceful close after answering some requests is the server's connection limit, not
        // the fault of the requests behind it: their write is not charged.
        let uncharged = u8::from(!backoff && c.answered > 0);
        // Popping from the back and pushing to the front keeps their order, ahead of new work.
        let Driver {
            conns,
            queue,
            stats,
            wire,
            cfg,
            ..
        } = self;
        let c = &mut conns[i];
        while let Some(f) = c.inflight.pop_back() {
            let charged = f.attempts - uncharged;
            if charged >= MAX_ATTEMPTS {
                if f.measured {
                    let s = second_of(f.intended, cfg.measure_from_ns);
                    stats.error(wire.key[f.req as usize], s, ErrorClass::Reset);
                }
            } else {
                if f.measured {
                    stats.resent += 1;
                }
                queue.push_front(Pending {
                    req: f.req,
                    intended: f.intended,
                    released: f.released,
                    attempts: charged,
                    measured: f.measured,
                });
            }
        }
        let c = &mut self.conns[i];
        c.state = State::Closing;
        c.backoff_ms = if backoff { c.backoff_ms.max(5) } else { 0 };
        if c.ops > 0 {
            let fd = c
                .sock
                .as_ref()
                .map(std::os::fd::AsRawFd::as_raw_fd)
                .unwrap_or(-1);
            c.ops += 1;
            let g = c.generation;
            let e = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all())
                .build()
                .user_data(ud(OP_CANCEL, g, i));
            self.push(e)?;
        } else {
            self.finish_close(i, now);
        }
        Ok(())
    }

    fn finish_close(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        c.sock = None;
        c.state = State::Idle;
        c.recv_armed = false;
        c.sending = false;
        c.connect_at = now + c.backoff_ms * 1_000_000;
        self.check_at = self.check_at.min(c.connect_at);
    }

    /// Count what is still unanswered as in flight at the end.
    fn finish(&mut self) {
        let Driver {
            conns,
            queue,
            stats,
            wire,
            ..
        } = self;
        for f in conns
            .iter()
            .flat_map(|c| c.inflight.iter())
            .filter(|f| f.measured)
        {
            stats.in_flight_at_end(wire.key[f.req as usize]);
        }
        for p in queue.iter().filter(|p| p.measured) {
            stats.in_flight_at_end(wire.key[p.req as usize]);
        }
    }

    /// Cancel every operation and wait (bounded) until the kernel has released our buffers.
    fn shutdown(&mut self) -> Result<(), EngineError> {
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            c.inflight.clear();
            if c.ops > 0 && c.state != State::Closing {
                c.state = State::Open;
                self.close(i, 0, false)?;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.outstanding > 0 && Instant::now() < deadline {
            let now = self.now();
            self.wait(now, 10_000_000)?;
            self.process(self.now())?;
        }
        Ok(())
    }
}
