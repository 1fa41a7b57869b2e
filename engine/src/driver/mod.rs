//! The io_uring shell of one executor: a private ring, all of this core's client sockets, and
//! one loop around the executor's sans-IO [`Shard`].
//!
//! Each turn: the shard polls (releases due requests, fills connections, runs due checks), its
//! actions become submissions (connect with a linked timeout, one send per connection per batch,
//! cancel on close), then one `io_uring_enter` both submits and waits: for a completion, or at
//! most until the shard's next deadline (a due send, a request timeout, a reconnect, the end of
//! the run), which an `IORING_OP_TIMEOUT` bounds. In the closed loop, with many answers awaited,
//! the wait is coalesced first: until half of them are in or `coalesce` has passed, so a burst
//! of answers wakes the executor once (every wake-up of a sleeping client is paid by the server
//! whose answer causes it). An idle loop never wakes on a fixed tick. Then
//! every completion becomes a shard event: multishot receives hand their bytes to
//! `Shard::on_bytes`, a connect to `on_connected`, a send to `on_sent`. Nothing on this path
//! allocates in steady state.
//!
//! The shell knows only sockets: which are open, how many operations each has in the kernel
//! (a socket is dropped only when none has), and which generation a completion belongs to.
//! Every decision about requests is the shard's.

mod tls;
mod uring;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{IoUring, types};

use crate::EngineError;
use crate::requests::WireRequests;
use crate::ring::{self, BufRing};
use crate::schedule::Schedule;
use crate::shard::{Action, Shard, ShardConfig};
use crate::stats::Stats;

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
/// The longest a wait blocks, so the executor's other work is never starved.
const MAX_WAIT_NS: u64 = 50_000_000;
/// Receive buffer size (one multishot completion holds at most this much).
const RECV_BUF: usize = 4 << 10;
/// Most receive buffers per executor (8 MiB of 4 KiB buffers).
const RECV_BUFS_MAX: usize = 2048;
/// Fewest operations awaiting the server (armed receives, that is open connections, and
/// connects) for a closed-loop wait to be coalesced: below it, a run with so few connections
/// is more likely measuring latency than saturating a server.
const COALESCE_MIN: u32 = 16;
/// Completions handled per pass over the ring.
const CQE_BATCH: usize = 256;

fn ud(op: u64, generation: u32, conn: usize) -> u64 {
    (op << 56) | ((generation as u64 & 0xff_ffff) << 32) | conn as u64
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SockState {
    None,
    Connecting,
    /// TCP is up; the TLS handshake is under way.
    Handshaking,
    Open,
    /// Waiting for the kernel to finish this socket's operations before dropping it.
    Closing,
}

/// One connection's socket as the shell sees it.
struct Sock {
    sock: Option<socket2::Socket>,
    state: SockState,
    /// Bumped for every socket, to recognise completions of an older one.
    generation: u32,
    /// Operations submitted whose last completion has not arrived.
    ops: u32,
    recv_armed: bool,
    /// When the connect was submitted, and when TCP came up (ns).
    started: u64,
    tcp_up: u64,
    /// `https://`: the TLS session, created when TCP comes up.
    tls: Option<Box<crate::tls::TlsConn>>,
    /// Ciphertext of `tls.in_flight()` already sent; a send of the rest is in the kernel when
    /// `tls_sending`.
    tls_off: usize,
    tls_sending: bool,
    /// The shard asked to send its batch (not encrypted yet).
    want_send: bool,
    /// Plaintext bytes of the shard's batch encrypted into the session's `outgoing`, not yet
    /// in a send.
    plain_pending: usize,
    /// Plaintext bytes of the shard's batch inside the ciphertext being sent: reported to the
    /// shard as sent once all of it is out.
    plain_in_flight: usize,
}

impl Sock {
    fn fd(&self) -> Option<types::Fd> {
        self.sock
            .as_ref()
            .map(|s| types::Fd(std::os::fd::AsRawFd::as_raw_fd(s)))
    }
}

pub struct Driver {
    // Field order matters: the ring is dropped before the buffers and sockets it uses, and
    // before the shard whose send buffers it may still read.
    ring: IoUring,
    bufs: BufRing,
    socks: Vec<Sock>,
    addr: Box<socket2::SockAddr>,
    connect_ts: Box<types::Timespec>,
    core: Shard,
    actions: Vec<Action>,
    /// Operations in the kernel, all sockets and timers.
    outstanding: u64,
    /// Of those, the ones the server completes (armed receives, connects): how many answers a
    /// coalesced wait may gather.
    awaiting: u32,
    timers: Box<[Timer; TIMERS]>,
    t0: Instant,
    /// Completions copied out of the ring, reused by every pass.
    cqes: Vec<(u64, i32, u32)>,
    cpu: usize,
    addr_family: SocketAddr,
    /// `https://`: this executor's TLS configuration (its own session cache) and server name.
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// Decrypted bytes of one TLS pump, handed to the shard (reused).
    plain: Vec<u8>,
    /// Local addresses to bind before connecting (`--source-ip`), in turn per connection.
    sources: Arc<[std::net::IpAddr]>,
}

impl Driver {
    pub fn new(
        cfg: ShardConfig,
        wire: Arc<WireRequests>,
        schedule: Schedule,
        tls: Option<(
            Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
        )>,
    ) -> Result<Driver, EngineError> {
        // Neither ring grows with the connection count past what the kernel allows: a full
        // submission queue is submitted and refilled (`ring::push`), completions are drained
        // in a loop, and receive buffers are handed back as soon as their bytes are decoded,
        // so a few thousand cover any number of connections (a multishot receive that finds
        // none is re-armed).
        let entries = (cfg.connections * 4 + 64)
            .next_power_of_two()
            .clamp(1024, ring::MAX_SQ_ENTRIES) as u32;
        let ring = ring::new_ring(entries, cfg.cpu)?;
        let nbufs = (cfg.connections * 4)
            .next_power_of_two()
            .clamp(512, RECV_BUFS_MAX) as u16;
        let bufs = BufRing::new(&ring, nbufs, RECV_BUF, cfg.cpu)?;
        let ct = cfg.connect_timeout;
        let socks = (0..cfg.connections)
            .map(|_| Sock {
                sock: None,
                state: SockState::None,
                generation: 0,
                ops: 0,
                recv_armed: false,
                started: 0,
                tcp_up: 0,
                tls: None,
                tls_off: 0,
                tls_sending: false,
                want_send: false,
                plain_pending: 0,
                plain_in_flight: 0,
            })
            .collect();
        Ok(Driver {
            ring,
            bufs,
            socks,
            addr: Box::new(socket2::SockAddr::from(cfg.addr)),
            connect_ts: Box::new(
                types::Timespec::new()
                    .sec(ct.as_secs())
                    .nsec(ct.subsec_nanos()),
            ),
            actions: Vec::with_capacity(cfg.connections * 2),
            outstanding: 0,
            awaiting: 0,
            timers: Box::new([Timer::FREE; TIMERS]),
            t0: Instant::now(),
            cqes: Vec::with_capacity(CQE_BATCH),
            cpu: cfg.cpu,
            addr_family: cfg.addr,
            tls,
            plain: Vec::new(),
            sources: cfg.source_addrs.clone(),
            core: Shard::new(cfg, wire, schedule),
        })
    }

    fn now(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    fn io_err(&self, source: std::io::Error) -> EngineError {
        EngineError::Io {
            cpu: self.cpu,
            source,
        }
    }

    /// Open every connection; returns once all are open or have failed (bounded by the connect
    /// timeout). Failed ones keep retrying during the run.
    pub fn connect_all(&mut self) -> Result<(), EngineError> {
        let now = self.now();
        self.core.connect_all(now);
        self.apply(now)?;
        let deadline = now + self.core.config().connect_timeout.as_nanos() as u64 + 50_000_000;
        while self.core.connecting() && self.now() < deadline {
            let now = self.now();
            self.wait(now, 10_000_000)?;
            self.process(self.now())?;
            self.apply(self.now())?;
        }
        Ok(())
    }

    /// Run until the shard is done (schedule over and responses in, or the drain time over).
    pub async fn run(mut self, t0: Instant) -> Result<Stats, EngineError> {
        self.t0 = t0;
        self.core.begin();
        let open = self.core.is_open_loop();
        let spin = self.core.config().spin.as_nanos() as u64;
        let mut now = self.now();
        loop {
            self.core.poll(now);
            self.apply(now)?;
            if self.core.is_done() {
                break;
            }
            let mut wait = self.core.wakeup_at().saturating_sub(now).min(MAX_WAIT_NS);
            if open {
                // Waking from a blocked wait costs tens of microseconds (more on a VM); the
                // last `spin` before a due send is polled instead.
                wait = wait.saturating_sub(spin);
            } else if wait > 0 {
                let deadline = now + wait;
                if self.answered_awake(now, deadline)? {
                    wait = 0;
                } else {
                    now = self.now();
                    wait = deadline.saturating_sub(now);
                }
            }
            self.wait(now, wait)?;
            now = self.now();
            self.process(now)?;
            glommio::yield_if_needed().await;
        }
        let stats = self.core.finish(self.now());
        self.shutdown()?;
        Ok(stats)
    }

    /// Closed loop, before sleeping until `deadline`: poll for `--spin`, then gather a burst of
    /// answers in one wake-up (`--coalesce`: each wake-up of a sleeping client costs the server
    /// that sends the answer). Whether answers came (then there is no sleep).
    fn answered_awake(&mut self, now: u64, deadline: u64) -> Result<bool, EngineError> {
        let spin = self.core.config().spin.as_nanos() as u64;
        if spin > 0 && self.poll_until(now + spin)? {
            return Ok(true);
        }
        let coalesce = self.core.config().coalesce.as_nanos() as u64;
        if coalesce == 0 || self.awaiting < COALESCE_MIN {
            return Ok(false);
        }
        let left = deadline.saturating_sub(self.now());
        if left == 0 {
            return Ok(false);
        }
        // `awaiting` counts every armed receive, so half of it may never come: the time
        // bounds the wait.
        self.wait_for(self.awaiting / 2, coalesce.min(left))
    }

    /// Carry out the shard's actions.
    fn apply(&mut self, now: u64) -> Result<(), EngineError> {
        loop {
            let mut acts = std::mem::take(&mut self.actions);
            self.core.take_actions(&mut acts);
            if acts.is_empty() {
                self.actions = acts;
                return Ok(());
            }
            let r = acts.iter().try_for_each(|&a| match a {
                Action::Connect(i) => self.connect(i as usize, now),
                Action::Send(i) => self.send(i as usize, now),
                Action::Close(i) => self.close(i as usize, now),
            });
            self.actions = acts;
            r?;
        }
    }

    /// Tear connection `i`'s socket down and drop it once the kernel has finished with its
    /// operations (at once if it has none). An open socket is shut down: its receive ends with
    /// EOF and a send in the kernel fails, which costs the kernel O(1); a cancel by descriptor
    /// instead scans every request of the ring (quadratic with thousands of connections
    /// closing), so it is used only for a connect still in flight.
    fn close(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let s = &mut self.socks[i];
        if s.state == SockState::Closing {
            return Ok(());
        }
        let was = s.state;
        s.state = SockState::Closing;
        if s.ops == 0 {
            self.dropped(i, now);
            return Ok(());
        }
        let fd = s.fd().map_or(-1, |f| f.0);
        if matches!(was, SockState::Open | SockState::Handshaking) {
            // SAFETY: shutdown(2) on a descriptor this connection owns.
            if unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } == 0 {
                return Ok(());
            }
        }
        s.ops += 1;
        let g = s.generation;
        let e = io_uring::opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all())
            .build()
            .user_data(ud(OP_CANCEL, g, i));
        self.push(e)
    }

    /// The kernel let go of socket `i`: drop it and tell the shard.
    fn dropped(&mut self, i: usize, now: u64) {
        let s = &mut self.socks[i];
        s.sock = None;
        s.state = SockState::None;
        s.recv_armed = false;
        s.tls = None;
        s.tls_sending = false;
        s.want_send = false;
        s.plain_pending = 0;
        s.plain_in_flight = 0;
        self.core.on_closed(i as u32, now);
    }

    /// End every socket's operations (see `close`: no ring-wide cancel, which the kernel serves
    /// by rescanning its requests for each match) and wait (bounded) until the kernel has
    /// released our buffers.
    fn shutdown(&mut self) -> Result<(), EngineError> {
        let now = self.now();
        for i in 0..self.socks.len() {
            if self.socks[i].ops > 0 {
                self.close(i, now)?;
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
