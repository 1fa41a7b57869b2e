//! One client connection's state, independent of how bytes move: what is in flight, the
//! response decoder, the bytes waiting to be sent. The driver owns the socket and the ring.

use std::collections::VecDeque;

use ringload_http1::{Limits, ResponseDecoder};

/// A request written (or about to be) on a connection, waiting for its response.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    pub req: u32,
    /// When the schedule intended it to be sent (ns since run start).
    pub intended: u64,
    /// When it was written (ns since run start); the latest attempt's.
    pub sent: u64,
    /// When the schedule released it (for the lag histogram).
    pub released: u64,
    /// Attempts charged to it: each write counts, except writes lost to a graceful close of a
    /// connection that was making progress (a server's per-connection request limit).
    pub attempts: u8,
    /// Counted in the results (intended after warm-up).
    pub measured: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No socket; (re)connect at `Conn::connect_at`.
    Idle,
    Connecting,
    Open,
    /// The socket is being torn down: waiting for the kernel to finish its operations.
    Closing,
}

pub struct Conn {
    pub state: State,
    pub sock: Option<socket2::Socket>,
    /// Bumped for every socket, to recognise completions of an older one.
    pub generation: u32,
    /// Operations submitted for this connection whose last completion has not arrived.
    pub ops: u32,
    pub recv_armed: bool,
    pub inflight: VecDeque<InFlight>,
    pub decoder: ResponseDecoder,
    /// Unconsumed received bytes (an incomplete head), bounded by the head limit.
    pub rbuf: Vec<u8>,
    /// The batch being sent; untouched while a send is in the kernel.
    pub sbuf: Vec<u8>,
    pub send_off: usize,
    pub sending: bool,
    /// The server announced it will close: write nothing more.
    pub no_more_writes: bool,
    pub connect_at: u64,
    pub backoff_ms: u64,
    /// In the driver's list of connections with room and no work.
    pub parked: bool,
    /// Responses completed on the current socket.
    pub answered: u64,
}

impl Conn {
    pub fn new(depth: usize, max_request: usize, limits: Limits, captures: &[&str]) -> Conn {
        Conn {
            state: State::Idle,
            sock: None,
            generation: 0,
            ops: 0,
            recv_armed: false,
            inflight: VecDeque::with_capacity(depth),
            decoder: ResponseDecoder::with_captures(limits, captures),
            rbuf: Vec::with_capacity(limits.max_head_bytes.min(64 << 10)),
            sbuf: Vec::with_capacity(depth * max_request),
            send_off: 0,
            sending: false,
            no_more_writes: false,
            connect_at: 0,
            backoff_ms: 0,
            parked: false,
            answered: 0,
        }
    }

    /// Room for more requests in flight?
    pub fn has_room(&self, depth: usize) -> bool {
        self.state == State::Open
            && !self.sending
            && !self.no_more_writes
            && self.inflight.len() < depth
    }

    /// Forget the old socket's protocol state for a new one.
    pub fn reset_for_new_socket(&mut self) {
        self.decoder.reset();
        self.rbuf.clear();
        self.sbuf.clear();
        self.send_off = 0;
        self.sending = false;
        self.no_more_writes = false;
        self.recv_armed = false;
        self.answered = 0;
    }
}
