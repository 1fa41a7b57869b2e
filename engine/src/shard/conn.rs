//! One client connection as the shard sees it, independent of how bytes move: its state, the
//! requests in flight on it, the response decoder, and the batch of bytes being sent. The state
//! is private and changes only through these methods, so every transition is in one place.
//!
//! ```text
//!   Idle{at} --connect()--> Connecting{since} --opened()--> Open --close()--> Closing --closed()--> Idle
//!                                |                          |             ^   ^
//!                                |                       ending()         |   |
//!                                |                          v             |   |
//!                                |                    Ending{by} --close()+   |
//!                                +------------------connect failed------------+
//! ```
//!
//! `Ending` is a connection whose server said `Connection: close`: nothing more is written or
//! decoded, and the shard closes it when the server's EOF arrives (or at `by`), so the server
//! closes first and keeps the TIME_WAIT, not the client's port.
//!
//! `Idle{at: u64::MAX}` is held: it reconnects only when the shard asks (a captured
//! connection with nothing to send yet, or a slot no captured connection is on).

use std::collections::VecDeque;

use ringload_http1::{CaptureSet, KeptResponse, Limits, ResponseDecoder};

use super::Req;

/// `Idle::at` of a connection that waits to be asked.
const HELD: u64 = u64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No socket; (re)connect at `at` (ns), or when asked (`HELD`).
    Idle {
        at: u64,
    },
    /// Since `since` (ns): TCP connect and, over TLS, the handshake.
    Connecting {
        since: u64,
    },
    Open,
    /// The server said it closes after its answer: closed at its EOF, or at `by` (ns).
    Ending {
        by: u64,
    },
    /// The shell is tearing the socket down; `closed()` follows.
    Closing,
}

pub(super) struct Conn {
    state: State,
    /// Requests written on the current socket, oldest first.
    inflight: VecDeque<Req>,
    pub(super) decoder: ResponseDecoder,
    /// Unconsumed received bytes (an incomplete head), bounded by the head limit. Grown only
    /// when a head arrives in pieces, so an idle connection holds no buffer.
    pub(super) rbuf: Vec<u8>,
    /// The batch being sent; untouched while `sending`.
    sbuf: Vec<u8>,
    send_off: usize,
    sending: bool,
    /// The server announced it will close: write nothing more.
    no_more_writes: bool,
    backoff_ms: u64,
    /// In the shard's list of connections with room and no work.
    pub(super) parked: bool,
    /// Responses completed on the current socket.
    answered: u64,
    /// Requests written on the current socket (for `--requests-per-connection`).
    written: u32,
    /// The target answered on this socket, or it is plain TCP: the target is up.
    confirmed: bool,
    /// The response being decoded is kept whole (a login response, whose token is needed).
    pub(super) keep: Option<Box<KeptResponse>>,
}

impl Conn {
    /// A connection whose decoder captures `captures` and sniffs error bodies for the hops.
    pub(super) fn new(limits: Limits, captures: &CaptureSet) -> Conn {
        Conn {
            state: State::Idle { at: 0 },
            inflight: VecDeque::new(),
            decoder: ResponseDecoder::with_capture_set(limits, captures)
                .sniff_error_bodies(crate::mesh::BODY_SNIFF),
            rbuf: Vec::new(),
            sbuf: Vec::new(),
            send_off: 0,
            sending: false,
            no_more_writes: false,
            backoff_ms: 0,
            parked: false,
            answered: 0,
            written: 0,
            confirmed: false,
            keep: None,
        }
    }

    /// A socket that is up (including one waiting for the server's close).
    pub(super) fn is_open(&self) -> bool {
        matches!(self.state, State::Open | State::Ending { .. })
    }

    /// Waiting for the server to close, until when.
    pub(super) fn ending_by(&self) -> Option<u64> {
        match self.state {
            State::Ending { by } => Some(by),
            _ => None,
        }
    }

    /// The server said it closes: write and decode nothing more, close at its EOF or at `by`.
    /// False if the connection was not open.
    pub(super) fn ending(&mut self, by: u64) -> bool {
        if self.state != State::Open {
            return false;
        }
        self.state = State::Ending { by };
        self.no_more_writes = true;
        true
    }

    /// No socket and no reconnect planned until the shard asks.
    pub(super) fn is_held(&self) -> bool {
        self.state == State::Idle { at: HELD }
    }

    /// No socket: hold it until asked (a socket being torn down is held once `closed`).
    pub(super) fn hold(&mut self) {
        if let State::Idle { .. } = self.state {
            self.state = State::Idle { at: HELD };
        }
    }

    /// Without a socket (held, or waiting to reconnect).
    pub(super) fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle { .. })
    }

    /// Responses answered on the current (or last) socket.
    pub(super) fn answered(&self) -> u64 {
        self.answered
    }

    pub(super) fn is_connecting(&self) -> bool {
        matches!(self.state, State::Connecting { .. })
    }

    /// When the current connection attempt started, if one is under way.
    pub(super) fn connecting_since(&self) -> Option<u64> {
        match self.state {
            State::Connecting { since } => Some(since),
            _ => None,
        }
    }

    /// Idle and due to (re)connect at `now`.
    pub(super) fn connect_due(&self, now: u64) -> bool {
        matches!(self.state, State::Idle { at } if at <= now)
    }

    /// When an idle connection wants to reconnect.
    pub(super) fn reconnect_at(&self) -> Option<u64> {
        match self.state {
            State::Idle { at } => Some(at),
            _ => None,
        }
    }

    /// Room for more requests in flight?
    pub(super) fn has_room(&self, depth: usize) -> bool {
        self.state == State::Open
            && !self.sending
            && !self.no_more_writes
            && self.inflight.len() < depth
    }

    pub(super) fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    pub(super) fn inflight(&self) -> impl Iterator<Item = &Req> {
        self.inflight.iter()
    }

    pub(super) fn head(&self) -> Option<&Req> {
        self.inflight.front()
    }

    pub(super) fn pop_head(&mut self) -> Option<Req> {
        self.inflight.pop_front()
    }

    /// Answered the head request: it leaves, the socket has made progress.
    pub(super) fn answered_head(&mut self) -> Option<Req> {
        let r = self.inflight.pop_front()?;
        self.answered += 1;
        self.confirmed = true;
        self.backoff_ms = 0;
        Some(r)
    }

    /// Open, and the target is known to be up on it.
    pub(super) fn is_confirmed(&self) -> bool {
        self.state == State::Open && self.confirmed
    }

    /// Take every request in flight, newest first.
    pub(super) fn take_back(&mut self) -> Option<Req> {
        self.inflight.pop_back()
    }

    /// Did the current socket answer anything (so a close is a limit, not a failure)?
    pub(super) fn made_progress(&self) -> bool {
        self.answered > 0
    }

    /// The server said `Connection: close`: write nothing more on this socket.
    pub(super) fn stop_writing(&mut self) {
        self.no_more_writes = true;
    }

    /// Start a batch: the send buffer is cleared for new bytes.
    pub(super) fn begin_batch(&mut self) {
        debug_assert!(!self.sending);
        self.sbuf.clear();
        self.send_off = 0;
    }

    /// The batch being written (between `begin_batch` and `start_send`).
    pub(super) fn batch(&mut self) -> &mut Vec<u8> {
        &mut self.sbuf
    }

    /// Will the next request written be the last this socket carries (`limit` per socket)?
    pub(super) fn next_is_last(&self, limit: Option<u32>) -> bool {
        limit.is_some_and(|l| self.written + 1 >= l)
    }

    /// Did this socket ask the server to close (its last request, `limit` per socket, is
    /// written with `Connection: close`)?
    pub(super) fn asked_close(&self, limit: Option<u32>) -> bool {
        limit.is_some_and(|l| self.written >= l)
    }

    /// Add a request written into the current batch; after `limit` requests on this socket,
    /// write no more (it closes once they are answered).
    pub(super) fn push(&mut self, r: Req, limit: Option<u32>) {
        self.inflight.push_back(r);
        self.written += 1;
        if limit.is_some_and(|l| self.written >= l) {
            self.no_more_writes = true;
        }
    }

    /// Everything this socket will carry is answered: time to close it.
    pub(super) fn spent(&self) -> bool {
        self.state == State::Open && self.no_more_writes && self.inflight.is_empty()
    }

    /// The batch has bytes: hand it to the shell.
    pub(super) fn start_send(&mut self) -> bool {
        if self.sbuf.is_empty() {
            return false;
        }
        self.sending = true;
        true
    }

    /// Bytes still to send of the current batch.
    pub(super) fn unsent(&self) -> &[u8] {
        &self.sbuf[self.send_off.min(self.sbuf.len())..]
    }

    /// `n` bytes were sent; true when the whole batch is out.
    pub(super) fn sent(&mut self, n: usize) -> bool {
        self.send_off += n;
        if self.send_off >= self.sbuf.len() {
            self.sending = false;
            true
        } else {
            false
        }
    }

    pub(super) fn connect(&mut self, now: u64) {
        self.state = State::Connecting { since: now };
    }

    /// A new socket is open (`confirmed`: the target is known to be up; TLS connections are
    /// confirmed by their first response): forget the old one's protocol state.
    pub(super) fn opened(&mut self, confirmed: bool) {
        self.state = State::Open;
        self.confirmed = confirmed;
        self.written = 0;
        // An unconfirmed (TLS) connection may still be refused: its back-off is kept until
        // the target answers.
        if confirmed {
            self.backoff_ms = 0;
        }
        self.decoder.reset();
        self.rbuf.clear();
        self.sbuf.clear();
        self.send_off = 0;
        self.sending = false;
        self.no_more_writes = false;
        self.answered = 0;
        self.keep = None;
    }

    /// A connect attempt failed: retry after a growing back-off (10 ms .. 1 s).
    pub(super) fn connect_failed(&mut self) {
        self.backoff_ms = (self.backoff_ms * 2).clamp(10, 1000);
        self.state = State::Closing;
    }

    /// The connection was refused in TLS before any answer (a client certificate rejected
    /// after the client's side of the handshake): back off as after a failed connect.
    pub(super) fn refused(&mut self) {
        self.backoff_ms = (self.backoff_ms * 2).clamp(10, 1000);
    }

    /// Start closing an open (or connecting) socket; false if it was not open. With `backoff`
    /// (a failure) the reconnect waits at least 5 ms; a graceful close reconnects at once.
    pub(super) fn close(&mut self, backoff: bool) -> bool {
        if matches!(self.state, State::Closing | State::Idle { .. }) {
            return false;
        }
        self.backoff_ms = if backoff { self.backoff_ms.max(5) } else { 0 };
        self.state = State::Closing;
        self.sending = false;
        true
    }

    /// The shell let go of the socket: reconnect after the back-off. Returns when.
    pub(super) fn closed(&mut self, now: u64) -> u64 {
        let at = now + self.backoff_ms * 1_000_000;
        self.state = State::Idle { at };
        at
    }

    /// No socket could even be created: idle, retry after a growing back-off.
    pub(super) fn retry_later(&mut self, now: u64) -> u64 {
        self.backoff_ms = (self.backoff_ms * 2).clamp(10, 1000);
        self.closed(now)
    }

    /// Drop what is in flight without outcomes (the run is over and they were counted).
    pub(super) fn forget_inflight(&mut self) {
        self.inflight.clear();
    }

    pub(super) fn is_closing(&self) -> bool {
        self.state == State::Closing
    }
}
