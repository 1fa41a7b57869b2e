//! Sockets: opening connections, what the shell reports about them (connects, the TLS
//! handshake, failures, sends, closes), and closing one, which puts its unanswered requests
//! back in front of new work or fails them after [`MAX_ATTEMPTS`] writes.

use super::conn::Conn;
use super::{Action, CloseAs, Kind, MAX_ATTEMPTS, Shard, second_of};
use crate::stats::ErrorClass;

impl Shard {
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

    pub(super) fn connect(&mut self, i: usize, now: u64) {
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
    pub(super) fn close(&mut self, i: usize, now: u64, backoff: bool) {
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
        // An ending connection left the open count when it began to end.
        let was_ending = self.conns[i].ending_by().is_some();
        if !self.conns[i].close(how != CloseAs::Graceful) {
            return;
        }
        if was_open {
            self.stats.connection_done(self.conns[i].answered());
        }
        if how == CloseAs::Refused {
            self.conns[i].refused();
        }
        self.open_conns -= usize::from(was_open && !was_ending);
        self.give_back(i, uncharged, now);
        self.actions.push(Action::Close(i as u32));
    }

    /// The server said `Connection: close` on connection `i`: it closes first (its EOF, or the
    /// grace, closes ours, see `Conn::ending`), so the server keeps the TIME_WAIT. Requests
    /// written behind that answer will not be answered on it: they go back to the queue now
    /// (uncharged: the server ended the connection), and the slot no longer counts as open, so
    /// a closed loop does not release work that it cannot carry.
    pub(super) fn ending(&mut self, i: usize, now: u64) {
        let by = now.saturating_add(self.ending_grace_ns());
        if !self.conns[i].ending(by) {
            return;
        }
        self.open_conns -= 1;
        self.check_at = self.check_at.min(by);
        let uncharged = u8::from(self.conns[i].made_progress());
        self.give_back(i, uncharged, now);
    }

    /// Put what connection `i` has in flight back at the front of the queue (`uncharged`: the
    /// write is not counted against the request's attempts), or fail it after `MAX_ATTEMPTS`.
    fn give_back(&mut self, i: usize, uncharged: u8, now: u64) {
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
    }
}
