//! The io_uring side of the driver: connecting, sending, arming multishot receives, waiting
//! (bounded by timeout operations), and dispatching completions.

use io_uring::{cqueue, opcode, squeue, types};

use super::*;
use crate::conn::State;
use crate::ring::{self, BGID};

impl Driver {
    pub(super) fn push(&mut self, e: squeue::Entry) -> Result<(), EngineError> {
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

    pub(super) fn connect(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(self.cfg.addr),
            socket2::Type::STREAM.cloexec(),
            Some(socket2::Protocol::TCP),
        )
        .and_then(|s| s.set_nodelay(true).map(|_| s));
        let sock = match sock {
            Ok(s) => s,
            Err(e) => {
                self.connect_failed(now, e.raw_os_error().unwrap_or(libc::EIO));
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

    /// Count a failed connect attempt; with no connection open, the target is down from now.
    fn connect_failed(&mut self, now: u64, errno: i32) {
        self.stats.connect_errors += 1;
        self.stats.last_connect_error = Some(errno);
        if self.down_since.is_none() && !self.conns.iter().any(|c| c.state == State::Open) {
            self.down_since = Some(now);
            if let Some(limit) = self.cfg.give_up_after {
                self.check_at = self
                    .check_at
                    .min(now.saturating_add(limit.as_nanos() as u64));
            }
        }
    }

    pub(super) fn retry_later(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        c.backoff_ms = (c.backoff_ms * 2).clamp(10, 1000);
        c.connect_at = now + c.backoff_ms * 1_000_000;
        c.state = State::Idle;
        self.check_at = self.check_at.min(c.connect_at);
    }

    pub(super) fn arm_recv(&mut self, i: usize) -> Result<(), EngineError> {
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

    pub(super) fn send(&mut self, i: usize) -> Result<(), EngineError> {
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

    /// Submit what is queued and wait for at least one completion, for at most `wait_ns`.
    ///
    /// A timeout passed to `io_uring_enter` itself costs about 2 us per request here, so waits
    /// are bounded by `IORING_OP_TIMEOUT` operations instead: one is armed only when none of
    /// those already in flight expires early enough, and a plain blocking enter follows.
    pub(super) fn wait(&mut self, now: u64, wait_ns: u64) -> Result<(), EngineError> {
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
    pub(super) fn enter(&mut self, want: u32) -> std::io::Result<usize> {
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
    pub(super) fn process(&mut self, now: u64) -> Result<(), EngineError> {
        // Copied out first: handling a completion needs `self` (it queues new operations).
        let mut batch = std::mem::take(&mut self.cqes);
        let r = loop {
            batch.clear();
            batch.extend(
                self.ring
                    .completion()
                    .take(CQE_BATCH)
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            if batch.is_empty() {
                break Ok(());
            }
            if let Err(e) = batch
                .iter()
                .try_for_each(|&(data, res, flags)| self.complete(data, res, flags, now))
            {
                break Err(e);
            }
        };
        self.cqes = batch;
        r
    }

    pub(super) fn complete(
        &mut self,
        data: u64,
        res: i32,
        flags: u32,
        now: u64,
    ) -> Result<(), EngineError> {
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
                    self.down_since = None;
                    let c = &mut self.conns[i];
                    c.state = State::Open;
                    c.backoff_ms = 0;
                    self.arm_recv(i)?;
                    self.wake_conn(i);
                } else {
                    // The linked timeout cancels a connect that took too long.
                    let errno = if res == -libc::ECANCELED {
                        libc::ETIMEDOUT
                    } else {
                        -res
                    };
                    self.connect_failed(now, errno);
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

    pub(super) fn wake_conn(&mut self, i: usize) {
        self.wake.push(i as u32);
    }
}
