//! [`Flow`]: one client connection and the upstream connection opened for it, as a state
//! machine without I/O. The driver (`conn`) feeds it the bytes each side sent, the ends of
//! stream and the clock ([`Now`]); it answers with steps saying how many of those bytes were
//! taken and what becomes of them.
//!
//! Both directions go through the shared `ringload_http1` decoders, which consume a prefix of
//! what they are given: a head once it is whole, body bytes as they arrive. The consumed bytes
//! are what the driver forwards, unchanged, so a response reaches the client byte for byte as
//! the upstream sent it, and bodies stream through in buffer-sized pieces: nothing here holds
//! a body, except the copy a recording keeps (request bodies up to [`FlowConfig::max_body`],
//! JSON-looking response bodies up to [`MAX_RESPONSE_BODY`]).
//!
//! Requests are answered in order (HTTP/1.1 pipelining): each forwarded request head queues a
//! `Pending` entry; the response decoder frames the next response with what the oldest entry
//! asked (`HEAD` has no body), and a complete response pops it. A request the proxy refuses
//! (a protocol upgrade, `CONNECT`, a malformed head) queues a local [`Reply`] instead, given in
//! its turn, after which both connections close.
//!
//! States: the client half is `ClientSide` (`Open` -> `Last` when a request asked to close
//! or was refused, `Closed` on a clean half-close, `Broken` when a request was cut or garbled);
//! the upstream half has no state of its own beyond the decoder and the queue: every way it can
//! end (a response asking to close, end of stream, garbage, a timeout) is a step returning
//! [`UpstreamNext::Close`] or a [`Reply`] for the client when no byte of the answer had been
//! forwarded yet (502, 504), so a misbehaving side ends its exchange and its connection, never
//! more.
//!
//! Here: the flow's state (`Flow`, `ClientSide`, `Pending`), its inputs ([`Now`],
//! [`FlowConfig`]) and what both halves share (recorded exchanges, skip reasons, `finish`).
//! In the children:
//!
//! - `steps`: what a step tells the driver ([`ClientStep`], [`UpstreamStep`], [`ClientEnd`])
//! - `reply`: [`Reply`], the whole responses the proxy gives itself
//! - `counts`: [`FlowCounts`] and the reasons a request was not recorded
//! - `client`: the client half, requests framed, forwarded or refused, and queued
//! - `upstream`: the upstream half, responses framed in order, failures and timeouts
//! - `tests`: the flow driven in memory, in pieces of every size

mod client;
mod counts;
mod reply;
mod steps;
mod upstream;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringload_http1::{BodyMode, KeptResponse, Limits, RequestDecoder, ResponseDecoder, ResponseTo};
use ringload_recorder::exchange::{Exchange, MAX_RESPONSE_BODY};

pub use counts::{
    FlowCounts, SKIP_BIG_BODY, SKIP_CUT, SKIP_NOT_PATH, SKIP_REFUSED, SKIP_UNANSWERED,
};
pub use reply::Reply;
pub use steps::{ClientEnd, ClientNext, ClientStep, ToUpstream, UpstreamNext, UpstreamStep};

/// The clock as the driver read it: monotonic for deadlines, wall time for recorded exchanges.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    /// Microseconds since the Unix epoch.
    pub unix_us: i64,
}

impl Now {
    /// Reads both clocks (the driver's one place that does).
    pub fn read() -> Now {
        Now {
            mono: Instant::now(),
            unix_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64),
        }
    }
}

/// What a flow does besides forwarding. Plain data, copied into every flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Caps of both decoders (head size, header count, chunk lines, trailers).
    pub limits: Limits,
    /// Record exchanges (`record --proxy`); `false` forwards only (`ringload proxy`).
    pub record: bool,
    /// Recording: most request body bytes kept per request. A longer request is forwarded
    /// whole but not recorded (a cut body would replay as another request).
    pub max_body: usize,
    /// Each request head is forwarded this long after it was read (the sidecar stand-in's
    /// cost per request).
    pub added_latency: Duration,
    /// `https` when the proxy terminates TLS from clients, else `http`.
    pub scheme: &'static str,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            limits: Limits::default(),
            record: false,
            max_body: 8 << 20,
            added_latency: Duration::ZERO,
            scheme: "http",
        }
    }
}

/// Where the client half of a flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientSide {
    /// Requests are read and forwarded.
    Open,
    /// The last request is in (it asked to close, or the proxy refused it): nothing more is
    /// read from the client.
    Last,
    /// The client closed its sending side between requests (forwarded upstream as a
    /// half-close); answers still go back.
    Closed,
    /// The client cut or garbled a request mid-message: the flow ends.
    Broken,
}

/// A request read from the client, waiting for its answer.
#[derive(Debug)]
struct Pending {
    to: ResponseTo,
    /// The proxy answers it itself (nothing was forwarded).
    local: Option<Reply>,
    /// Bytes of its answer have been forwarded to the client.
    started: bool,
    /// Its body has been read whole.
    body_done: bool,
    /// What is recorded of it (recording only; `None` when it cannot be recorded).
    exchange: Option<Box<Exchange>>,
}

/// One proxied connection; see the module docs.
#[derive(Debug)]
pub struct Flow {
    cfg: FlowConfig,
    connection: u64,
    client: Option<String>,
    requests: RequestDecoder,
    responses: ResponseDecoder,
    kept: KeptResponse,
    side: ClientSide,
    /// A request's body is being read (its head was forwarded).
    in_body: bool,
    /// The request being read asked to close the connection after it.
    last_request: bool,
    pending: VecDeque<Pending>,
    /// A request whose answer came before its body was read whole (recording only).
    answered_early: Option<Pending>,
    recorded: Vec<Exchange>,
    skipped: Vec<(&'static str, u64)>,
    counts: FlowCounts,
}

impl Flow {
    /// A flow for client connection `connection` from address `client` (its IP as text).
    pub fn new(cfg: FlowConfig, connection: u64, client: Option<String>) -> Flow {
        let mode = if cfg.record {
            BodyMode::Retain
        } else {
            BodyMode::Discard
        };
        let req_limits = Limits {
            // One byte over the cap tells a body that was too long from one that fit.
            max_body_retained: cfg.max_body.saturating_add(1),
            ..cfg.limits
        };
        Flow {
            cfg,
            connection,
            client,
            requests: RequestDecoder::new(req_limits, mode),
            responses: ResponseDecoder::new(cfg.limits),
            kept: KeptResponse::new(if cfg.record { MAX_RESPONSE_BODY } else { 0 }),
            side: ClientSide::Open,
            in_body: false,
            last_request: false,
            pending: VecDeque::new(),
            answered_early: None,
            recorded: Vec::new(),
            skipped: Vec::new(),
            counts: FlowCounts::default(),
        }
    }

    /// Requests read and not yet answered (the driver stops reading past a limit).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn counts(&self) -> FlowCounts {
        self.counts
    }

    /// Exchanges recorded since the last call.
    pub fn take_recorded(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.recorded)
    }

    /// Requests not recorded since the last call, by reason.
    pub fn take_skipped(&mut self) -> Vec<(&'static str, u64)> {
        std::mem::take(&mut self.skipped)
    }

    fn skip(&mut self, reason: &'static str) {
        match self.skipped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.skipped.push((reason, 1)),
        }
    }

    fn client_done(&self) -> bool {
        self.side != ClientSide::Open
    }

    fn record(&mut self, p: Pending) {
        if let Some(ex) = p.exchange {
            self.recorded.push(*ex);
        }
    }

    /// The connection is over: whatever was not answered is counted by reason.
    pub fn finish(&mut self) {
        let mut reasons = Vec::new();
        for p in self.pending.drain(..).chain(self.answered_early.take()) {
            if p.exchange.is_some() {
                reasons.push(if p.body_done {
                    SKIP_UNANSWERED
                } else {
                    SKIP_CUT
                });
            }
        }
        for r in reasons {
            self.skip(r);
        }
    }
}

#[cfg(test)]
mod tests;
