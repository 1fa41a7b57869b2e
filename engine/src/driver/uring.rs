//! The io_uring side of the shell: connecting, sending, arming multishot receives, waiting
//! (bounded by timeout operations), and turning completions into shard events.

use io_uring::{cqueue, opcode, squeue, types};

use super::*;
use crate::ring::BGID;

impl Driver {
    pub(super) fn push(&mut self, e: squeue::Entry) -> Result<(), EngineError> {
        ring::push(&mut self.ring, &e).map_err(|e| self.io_err(e))?;
        self.outstanding += 1;
        Ok(())
    }

    pub(super) fn connect(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(self.addr_family),
            socket2::Type::STREAM.cloexec(),
            Some(socket2::Protocol::TCP),
        )
        .and_then(|s| s.set_nodelay(true).map(|_| s))
        .and_then(|s| self.bind_source(&s, i).map(|_| s));
        let sock = match sock {
            Ok(s) => s,
            Err(e) => {
                self.core
                    .on_socket_failed(i as u32, e.raw_os_error().unwrap_or(libc::EIO), now);
                return Ok(());
            }
        };
        let fd = types::Fd(std::os::fd::AsRawFd::as_raw_fd(&sock));
        let s = &mut self.socks[i];
        s.generation = s.generation.wrapping_add(1);
        s.sock = Some(sock);
        s.state = SockState::Connecting;
        s.recv_armed = false;
        s.started = now;
        s.ops += 2;
        self.awaiting += 1;
        let g = s.generation;
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

    /// `--source-ip`: bind connection `i`'s socket to its local address (the port is chosen at
    /// connect, per destination, so each address offers its own range of ephemeral ports).
    fn bind_source(&self, s: &socket2::Socket, i: usize) -> std::io::Result<()> {
        if self.sources.is_empty() {
            return Ok(());
        }
        let ip = self.sources[i % self.sources.len()];
        if ip.is_ipv4() {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a c_int option value we own.
            unsafe {
                libc::setsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(s),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        s.bind(&std::net::SocketAddr::new(ip, 0).into())
    }

    pub(super) fn arm_recv(&mut self, i: usize) -> Result<(), EngineError> {
        let s = &mut self.socks[i];
        let Some(fd) = s.fd() else { return Ok(()) };
        s.recv_armed = true;
        s.ops += 1;
        self.awaiting += 1;
        let e = opcode::RecvMulti::new(fd, BGID)
            .build()
            .user_data(ud(OP_RECV, s.generation, i));
        self.push(e)
    }

    /// Send what connection `i`'s batch still holds. The bytes live in the shard, untouched
    /// until `on_sent` reports them sent. Over TLS they are encrypted first.
    pub(super) fn send(&mut self, i: usize, now: u64) -> Result<(), EngineError> {
        let s = &mut self.socks[i];
        if s.state != SockState::Open {
            return Ok(());
        }
        if s.tls.is_some() {
            s.want_send = true;
            return self.tls_drive(i, now);
        }
        let Some(fd) = s.fd() else { return Ok(()) };
        s.ops += 1;
        let generation = s.generation;
        let rest = self.core.unsent(i as u32);
        let e = send_entry(fd, rest, generation, i);
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
                        t.ts = timespec(wait_ns);
                        let e = opcode::Timeout::new(&t.ts as *const _)
                            .build()
                            .user_data(ud(OP_TIMER, 0, slot));
                        self.push(e)?;
                        self.enter(1)
                    }
                    // Every timer slot is taken by a later deadline: time this wait itself.
                    None => self.enter_timed(1, wait_ns),
                }
            } else {
                self.enter(1)
            }
        };
        self.waited(r)
    }

    /// Submit what is queued and wait until `n` completions are ready or `wait_ns` has passed;
    /// whether any is ready. The timeout is `io_uring_enter`'s own (one per coalesced wait, so
    /// its cost is shared by the answers it gathers).
    pub(super) fn wait_for(&mut self, n: u32, wait_ns: u64) -> Result<bool, EngineError> {
        let r = self.enter_timed(n, wait_ns);
        self.waited(r)?;
        Ok(!self.ring.completion().is_empty())
    }

    /// A wait's outcome: timed out, interrupted or busy are normal ends of a wait.
    fn waited(&self, r: std::io::Result<usize>) -> Result<(), EngineError> {
        match r {
            Err(e)
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Err(self.io_err(e))
            }
            _ => Ok(()),
        }
    }

    /// Poll (non-blocking enters) until a completion is ready or `until`; whether one is.
    pub(super) fn poll_until(&mut self, until: u64) -> Result<bool, EngineError> {
        loop {
            if !self.ring.completion().is_empty() {
                return Ok(true);
            }
            if self.now() >= until {
                return Ok(false);
            }
            self.wait(0, 0)?;
        }
    }

    /// `io_uring_enter` waiting for `want` completions, for at most `wait_ns` (its own timeout).
    fn enter_timed(&mut self, want: u32, wait_ns: u64) -> std::io::Result<usize> {
        let ts = timespec(wait_ns);
        let args = types::SubmitArgs::new().timespec(&ts);
        self.ring.submitter().submit_with_args(want as usize, &args)
    }

    /// `io_uring_enter` with GETEVENTS (deferred completions are only posted by such an enter),
    /// waiting for `want` completions.
    fn enter(&mut self, want: u32) -> std::io::Result<usize> {
        let pending = self.ring.submission().len() as u32;
        // SAFETY: no extra argument is passed; every queued entry's buffers are owned by the
        // driver (or its shard) and outlive their operations.
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
            self.socks[i].ops -= 1;
            if matches!(op, OP_RECV | OP_CONNECT) {
                self.awaiting -= 1;
            }
        }
        let s = &self.socks[i];
        let current = (data >> 32) & 0xff_ffff == s.generation as u64 & 0xff_ffff;
        let state = if current { s.state } else { SockState::None };
        let live = matches!(state, SockState::Open | SockState::Handshaking);
        let tls = s.tls.is_some();
        let ci = i as u32;
        match op {
            OP_RECV => {
                if res > 0 {
                    let bid = cqueue::buffer_select(flags).expect("multishot recv picks a buffer");
                    let data = self.bufs.data(bid, res as usize);
                    if live && tls {
                        if let Some(t) = self.socks[i].tls.as_mut() {
                            t.receive(data);
                        }
                        self.bufs.recycle(bid);
                        self.tls_drive(i, now)?;
                    } else {
                        if live {
                            self.core.on_bytes(ci, data, now);
                        }
                        self.bufs.recycle(bid);
                    }
                } else if live {
                    match -res {
                        libc::ENOBUFS | libc::ECANCELED => {}
                        e if state == SockState::Handshaking => self.core.on_tls_failed(
                            ci,
                            if e == 0 {
                                "the server closed the connection during the TLS handshake".into()
                            } else {
                                format!(
                                    "the TLS handshake failed: {}",
                                    std::io::Error::from_raw_os_error(e)
                                )
                            },
                            now,
                        ),
                        0 => self.core.on_eof(ci, now),
                        _ => self.core.on_reset(ci, now),
                    }
                }
                if !more {
                    self.socks[i].recv_armed = false;
                    if current
                        && matches!(
                            self.socks[i].state,
                            SockState::Open | SockState::Handshaking
                        )
                    {
                        self.arm_recv(i)?;
                    }
                }
            }
            OP_SEND if live && tls => self.tls_sent(i, res, now)?,
            OP_SEND if state == SockState::Open => self.core.on_sent(ci, res, now),
            OP_CONNECT if state == SockState::Connecting => {
                if res == 0 {
                    self.tcp_up(i, now)?;
                } else {
                    // The linked timeout cancels a connect that took too long.
                    let errno = if res == -libc::ECANCELED {
                        libc::ETIMEDOUT
                    } else {
                        -res
                    };
                    self.core.on_connect_failed(ci, errno, now);
                }
            }
            _ => {}
        }
        let s = &self.socks[i];
        if s.state == SockState::Closing && s.ops == 0 {
            self.dropped(i, now);
        }
        Ok(())
    }
}

fn timespec(ns: u64) -> types::Timespec {
    types::Timespec::new()
        .sec(ns / 1_000_000_000)
        .nsec((ns % 1_000_000_000) as u32)
}

/// A send of `bytes` on `fd` for connection `i` (its `generation`). The bytes must stay where
/// they are until the send completes: the shard's unsent bytes, or a TLS connection's
/// ciphertext in flight.
pub(super) fn send_entry(fd: types::Fd, bytes: &[u8], generation: u32, i: usize) -> squeue::Entry {
    opcode::Send::new(fd, bytes.as_ptr(), bytes.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(ud(OP_SEND, generation, i))
}
