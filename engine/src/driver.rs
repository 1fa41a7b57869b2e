//! The I/O driver of one executor: a private io_uring, all of this core's client sockets, and
//! one loop that the load model drives.
//!
//! Each turn of the loop: release the requests the schedule says are due (open loop), fill every
//! connection that has room with wire bytes in one send, check timeouts and reconnects, then one
//! `submit_with_args` that both submits and waits (at most until the next due time), and process
//! every completion: multishot receives feed the sans-IO response decoder, whose completed
//! responses become stats. Nothing on this path allocates in steady state.
//!
//! Accounting: a request is counted when released by the schedule and ends in exactly one of
//! ok / failed(class) / timed out / in flight at the end. When a connection closes under
//! pipelined requests, the unanswered ones are re-sent on a fresh connection (`resent`), keeping
//! their intended time, at most `MAX_ATTEMPTS` times.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use ringload_http1::{Limits, ResponseSummary, ResponseTo};

use crate::EngineError;
use crate::conn::{Conn, InFlight, State};
use crate::requests::WireRequests;
use crate::ring::{self, BGID, BufRing};
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
/// Timeouts and reconnects are checked this often.
const CHECK_EVERY_NS: u64 = 1_000_000;
/// The longest a wait blocks, so the executor's other work is never starved.
const MAX_WAIT_NS: u64 = 50_000_000;
/// Receive buffer size (one multishot completion holds at most this much).
const RECV_BUF: usize = 4 << 10;

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
}

impl Driver {
    pub fn new(
        cfg: ShardConfig,
        wire: Arc<WireRequests>,
        schedule: Schedule,
    ) -> Result<Driver, EngineError> {
        let entries = (cfg.connections * 4 + 64)
            .next_power_of_two()
            .clamp(256, 32768) as u32;
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

    fn push(&mut self, e: squeue::Entry) -> Result<(), EngineError> {
        ring::push(&mut self.ring, &e).map_err(|e| self.io_err(e))?;
        self.outstanding += 1;
        Ok(())
    }

    /// Open every connection; returns once all are open or have failed (bounded by the connect
    /// timeout). Failed ones keep retrying during the run.
    pub fn connect_all(&mut self) -> Result<(), EngineError> {
        let now = self.now();
        for i in 0..self.conns.len() {
            self.connect(i, now)?;
        }
        let deadline = now + self.cfg.connect_timeout.as_nanos() as u64 + 50_000_000;
        while self.conns.iter().any(|c| c.state == State::Connecting) && self.now() < deadline {
            let now = self.now();
            self.wait(now, 10_000_000)?;
            self.process(self.now())?;
        }
        Ok(())
    }

    fn connect(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(self.cfg.addr),
            socket2::Type::STREAM.nonblocking().cloexec(),
            Some(socket2::Protocol::TCP),
        )
        .and_then(|s| s.set_nodelay(true).map(|_| s));
        let sock = match sock {
            Ok(s) => s,
            Err(_) => {
                self.stats.connect_errors += 1;
                self.retry_later(i, now);
                return Ok(());
            }
        };
        let fd = types::Fd(std::os::fd::AsRawFd::as_raw_fd(&sock));
        let c = &mut self.conns[i];
        c.generation = c.generation.wrapping_add(1);
        c.reset_for_new_socket();
        c.sock = Some(sock);
        c.state = State::Connecting;
        c.ops += 2;
        let g = c.generation;
        let connect = opcode::Connect::new(fd, self.addr.as_ptr() as *const _, self.addr.len())
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(ud(OP_CONNECT, g, i));
        let timeout = opcode::LinkTimeout::new(&*self.connect_ts as *const _)
            .build()
            .user_data(ud(OP_LINK_TIMEOUT, g, i));
        self.push(connect)?;
        self.push(timeout)
    }

    fn retry_later(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        c.backoff_ms = (c.backoff_ms * 2).clamp(10, 1000);
        c.connect_at = now + c.backoff_ms * 1_000_000;
        c.state = State::Idle;
    }

    fn arm_recv(&mut self, i: usize) -> Result<(), EngineError> {
        let c = &mut self.conns[i];
        let Some(sock) = &c.sock else { return Ok(()) };
        let fd = types::Fd(std::os::fd::AsRawFd::as_raw_fd(sock));
        c.recv_armed = true;
        c.ops += 1;
        let e = opcode::RecvMulti::new(fd, BGID)
            .build()
            .user_data(ud(OP_RECV, c.generation, i));
        self.push(e)
    }

    fn send(&mut self, i: usize) -> Result<(), EngineError> {
        let c = &mut self.conns[i];
        let Some(sock) = &c.sock else { return Ok(()) };
        let fd = types::Fd(std::os::fd::AsRawFd::as_raw_fd(sock));
        let rest = &c.sbuf[c.send_off..];
        c.sending = true;
        c.ops += 1;
        let e = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(ud(OP_SEND, c.generation, i));
        self.push(e)
    }

    /// Run until the schedule is done and responses are in (or the drain time is over).
    pub async fn run(mut self, t0: Instant) -> Result<Stats, EngineError> {
        self.t0 = t0;
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
            if now >= next_check {
                self.check_timeouts(now)?;
                self.reconnect_due(now)?;
                next_check = now + CHECK_EVERY_NS;
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
            let mut until = next_check.min(drain_deadline);
            if let Some(due) = self.schedule.next_due_at() {
                until = until.min(due);
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

    /// Measured requests still waiting for an outcome?
    fn awaiting_measured(&self) -> bool {
        self.queue.iter().any(|p| p.measured)
            || self
                .conns
                .iter()
                .any(|c| c.inflight.iter().any(|f| f.measured))
    }

    fn second(&self, intended: u64) -> usize {
        (intended.saturating_sub(self.cfg.measure_from_ns) / 1_000_000_000) as usize
    }

    /// Open loop: move every due request into the queue (bounded; beyond it, drop and count).
    fn release(&mut self, now: u64) {
        while let Some((req, intended, measured)) = self.schedule.next(now) {
            if measured {
                self.stats
                    .lag
                    .saturating_record(((now - intended) / 1000).max(1));
            }
            if self.queue.len() >= self.cfg.queue_limit {
                if measured {
                    self.stats.dropped += 1;
                }
                continue;
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
                            let s = (intended.saturating_sub(cfg.measure_from_ns) / 1_000_000_000)
                                as usize;
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
        let default = self.cfg.timeout.as_nanos() as u64;
        for i in 0..self.conns.len() {
            let Some(head) = self.conns[i].inflight.front() else {
                continue;
            };
            let limit = self.wire.timeout_us[head.req as usize].map_or(default, |us| us * 1000);
            if now.saturating_sub(head.sent) >= limit {
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
        let mut back = Vec::new();
        while let Some(f) = c.inflight.pop_back() {
            let charged = f.attempts - uncharged;
            if charged >= MAX_ATTEMPTS {
                if f.measured {
                    let s = (f.intended.saturating_sub(self.cfg.measure_from_ns) / 1_000_000_000)
                        as usize;
                    self.stats
                        .error(self.wire.key[f.req as usize], s, ErrorClass::Reset);
                }
            } else {
                if f.measured {
                    self.stats.resent += 1;
                }
                back.push(Pending {
                    req: f.req,
                    intended: f.intended,
                    released: f.released,
                    attempts: charged,
                    measured: f.measured,
                });
            }
        }
        for p in back {
            self.queue.push_front(p);
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
    }

    /// Submit what is queued and wait for at least one completion, for at most `wait_ns`.
    ///
    /// A timeout passed to `io_uring_enter` itself costs about 2 us per request here, so waits
    /// are bounded by `IORING_OP_TIMEOUT` operations instead: one is armed only when none of
    /// those already in flight expires early enough, and a plain blocking enter follows.
    fn wait(&mut self, now: u64, wait_ns: u64) -> Result<(), EngineError> {
        let r = if wait_ns == 0 {
            self.enter(0)
        } else {
            let deadline = now + wait_ns;
            let earliest = self.timers.iter().map(|t| t.due).min().unwrap_or(u64::MAX);
            if earliest > deadline + TIMER_SLACK_NS {
                match self.timers.iter().position(|t| t.due == u64::MAX) {
                    Some(slot) => {
                        let t = &mut self.timers[slot];
                        t.due = deadline;
                        t.ts = types::Timespec::new()
                            .sec(wait_ns / 1_000_000_000)
                            .nsec((wait_ns % 1_000_000_000) as u32);
                        let e = opcode::Timeout::new(&t.ts as *const _)
                            .build()
                            .user_data(ud(OP_TIMER, 0, slot));
                        self.push(e)?;
                        self.enter(1)
                    }
                    // Every timer slot is taken by a later deadline: time this wait itself.
                    None => {
                        let ts = types::Timespec::new()
                            .sec(wait_ns / 1_000_000_000)
                            .nsec((wait_ns % 1_000_000_000) as u32);
                        let args = types::SubmitArgs::new().timespec(&ts);
                        self.ring.submitter().submit_with_args(1, &args)
                    }
                }
            } else {
                self.enter(1)
            }
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(self.io_err(e)),
        }
    }

    /// `io_uring_enter` with GETEVENTS (deferred completions are only posted by such an enter),
    /// waiting for `want` completions.
    fn enter(&mut self, want: u32) -> std::io::Result<usize> {
        let pending = self.ring.submission().len() as u32;
        // SAFETY: no extra argument is passed; every queued entry's buffers are owned by the
        // driver and outlive their operations.
        unsafe {
            self.ring.submitter().enter::<libc::sigset_t>(
                pending,
                want,
                io_uring::EnterFlags::GETEVENTS.bits(),
                None,
            )
        }
    }

    /// Handle every completion available.
    fn process(&mut self, now: u64) -> Result<(), EngineError> {
        let mut batch = [(0u64, 0i32, 0u32); 256];
        loop {
            let mut n = 0;
            for cqe in self.ring.completion() {
                batch[n] = (cqe.user_data(), cqe.result(), cqe.flags());
                n += 1;
                if n == batch.len() {
                    break;
                }
            }
            if n == 0 {
                return Ok(());
            }
            for &(data, res, flags) in &batch[..n] {
                self.complete(data, res, flags, now)?;
            }
        }
    }

    fn complete(&mut self, data: u64, res: i32, flags: u32, now: u64) -> Result<(), EngineError> {
        let op = data >> 56;
        let i = (data & 0xffff_ffff) as usize;
        if op == OP_TIMER {
            self.outstanding -= 1;
            self.timers[i].due = u64::MAX;
            return Ok(());
        }
        let more = op == OP_RECV && cqueue::more(flags);
        if !more {
            self.outstanding -= 1;
            self.conns[i].ops -= 1;
        }
        let current = (data >> 32) & 0xff_ffff == self.conns[i].generation as u64 & 0xff_ffff;
        match op {
            OP_RECV => {
                if res > 0 {
                    let bid = cqueue::buffer_select(flags).expect("multishot recv picks a buffer");
                    if current && self.conns[i].state == State::Open {
                        self.on_bytes(i, bid, res as usize, now)?;
                    }
                    self.bufs.recycle(bid);
                } else if current && self.conns[i].state == State::Open {
                    match -res {
                        0 => self.on_eof(i, now)?,
                        libc::ENOBUFS | libc::ECANCELED => {}
                        _ => self.on_reset(i, now)?,
                    }
                }
                if !more {
                    self.conns[i].recv_armed = false;
                    if current && self.conns[i].state == State::Open {
                        self.arm_recv(i)?;
                    }
                }
            }
            OP_SEND if current && self.conns[i].state == State::Open => {
                let c = &mut self.conns[i];
                c.sending = false;
                if res < 0 {
                    self.on_reset(i, now)?;
                } else {
                    c.send_off += res as usize;
                    if c.send_off < c.sbuf.len() {
                        self.send(i)?;
                    } else {
                        self.wake_conn(i);
                    }
                }
            }
            OP_CONNECT if current && self.conns[i].state == State::Connecting => {
                if res == 0 {
                    self.stats.connects += 1;
                    let c = &mut self.conns[i];
                    c.state = State::Open;
                    c.backoff_ms = 0;
                    self.arm_recv(i)?;
                    self.wake_conn(i);
                } else {
                    self.stats.connect_errors += 1;
                    let c = &mut self.conns[i];
                    c.backoff_ms = (c.backoff_ms * 2).clamp(10, 1000);
                    c.state = State::Closing;
                }
            }
            _ => {}
        }
        let c = &self.conns[i];
        if c.state == State::Closing && c.ops == 0 {
            self.finish_close(i, now);
        }
        Ok(())
    }

    fn wake_conn(&mut self, i: usize) {
        self.wake.push(i as u32);
    }

    /// Decode received bytes; complete requests; handle framing errors and server closes.
    fn on_bytes(&mut self, i: usize, bid: u16, len: usize, now: u64) -> Result<(), EngineError> {
        enum End {
            More,
            Close,
            Protocol,
            Unsolicited,
        }
        self.stats.bytes_in += len as u64;
        let data = self.bufs.data(bid, len);
        let Driver {
            conns,
            stats,
            wire,
            cfg,
            ..
        } = self;
        let c = &mut conns[i];
        let mut kept = std::mem::take(&mut c.rbuf);
        let from_kept = !kept.is_empty();
        let src: &[u8] = if !from_kept {
            data
        } else {
            kept.extend_from_slice(data);
            &kept
        };
        let mut off = 0;
        let mut end = End::More;
        while off < src.len() {
            let Some(head) = c.inflight.front() else {
                end = End::Unsolicited;
                break;
            };
            let to = if wire.head[head.req as usize] {
                ResponseTo::Head
            } else {
                ResponseTo::NonHead
            };
            match c.decoder.decode(&src[off..], to) {
                Ok(d) => {
                    off += d.consumed;
                    match d.message {
                        Some(sum) => {
                            let f = c.inflight.pop_front().expect("head exists");
                            c.answered += 1;
                            record(stats, wire, cfg, c, f, &sum, now);
                            if sum.close {
                                end = End::Close;
                                break;
                            }
                        }
                        None => break,
                    }
                }
                Err(_) => {
                    end = End::Protocol;
                    break;
                }
            }
        }
        if matches!(end, End::More) {
            if from_kept {
                kept.drain(..off);
            } else {
                kept.extend_from_slice(&data[off..]);
            }
        } else {
            kept.clear();
        }
        c.rbuf = kept;
        match end {
            End::More => {
                if c.inflight.len() < cfg.depth {
                    self.wake_conn(i);
                }
                Ok(())
            }
            End::Close => {
                self.stats.server_closes += 1;
                self.close(i, now, false)
            }
            End::Protocol => {
                let f = self.conns[i]
                    .inflight
                    .pop_front()
                    .expect("a response was expected");
                if f.measured {
                    let s = self.second(f.intended);
                    self.stats
                        .error(self.wire.key[f.req as usize], s, ErrorClass::Protocol);
                }
                self.close(i, now, true)
            }
            End::Unsolicited => {
                self.stats.unsolicited += 1;
                self.close(i, now, true)
            }
        }
    }

    /// The server closed the connection: a read-until-close body ends here; a cut response fails.
    fn on_eof(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        self.stats.server_closes += 1;
        let c = &mut self.conns[i];
        match c.decoder.finish_eof() {
            Ok(Some(sum)) => {
                if let Some(f) = c.inflight.pop_front() {
                    let Driver {
                        conns,
                        stats,
                        wire,
                        cfg,
                        ..
                    } = self;
                    record(stats, wire, cfg, &conns[i], f, &sum, now);
                }
            }
            Ok(None) => {}
            Err(_) => self.fail_head(i, ErrorClass::Reset),
        }
        self.close(i, now, false)
    }

    /// Reset or send failure: a response being received fails; the rest is re-sent.
    fn on_reset(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        if !self.conns[i].decoder.is_idle() {
            self.fail_head(i, ErrorClass::Reset);
        }
        self.close(i, now, true)
    }

    fn fail_head(&mut self, i: usize, class: ErrorClass) {
        if let Some(f) = self.conns[i].inflight.pop_front()
            && f.measured
        {
            let s = self.second(f.intended);
            self.stats.error(self.wire.key[f.req as usize], s, class);
        }
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

/// Record a completed request in the stats (if measured).
fn record(
    stats: &mut Stats,
    wire: &WireRequests,
    cfg: &ShardConfig,
    c: &Conn,
    f: InFlight,
    sum: &ResponseSummary,
    now: u64,
) {
    if !f.measured {
        return;
    }
    let check = &wire.checks[wire.check[f.req as usize] as usize];
    let passed = check.passes(sum.status, |idx| c.decoder.captured(idx).map(|v| v.value));
    let second = (f.intended.saturating_sub(cfg.measure_from_ns) / 1_000_000_000) as usize;
    stats.answered(
        wire.key[f.req as usize],
        second,
        sum.status,
        passed,
        (now - f.intended) / 1000,
        now.saturating_sub(f.sent) / 1000,
    );
}
