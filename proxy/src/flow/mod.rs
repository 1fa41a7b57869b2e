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

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringload_http1::{
    BodyMode, KeptResponse, Limits, RequestDecoder, RequestEvent, ResponseDecoder, ResponseTo,
};
// A fresh `BodyBudget` per response: the flow keeps every JSON-looking body that fits
// `MAX_RESPONSE_BODY`; the capture-wide budget applies where the exchanges of all connections
// meet (`Recording`).
use ringload_recorder::exchange::{BodyBudget, Exchange, MAX_RESPONSE_BODY};

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

/// An answer the proxy gives itself, as a whole response that closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The client's request head could not be parsed.
    BadRequest,
    /// A protocol upgrade (WebSocket, h2c) or a `CONNECT` tunnel: not proxied.
    UpgradeRefused,
    /// The upstream could not be reached, closed before answering or answered garbage.
    BadGateway,
    /// The upstream did not answer within the timeout.
    GatewayTimeout,
}

impl Reply {
    pub fn status(self) -> u16 {
        match self {
            Reply::BadRequest => 400,
            Reply::UpgradeRefused => 501,
            Reply::BadGateway => 502,
            Reply::GatewayTimeout => 504,
        }
    }

    fn parts(self) -> (&'static str, &'static str) {
        match self {
            Reply::BadRequest => ("Bad Request", "the request could not be parsed as HTTP/1.1"),
            Reply::UpgradeRefused => (
                "Not Implemented",
                "protocol upgrades (WebSocket, h2c) and CONNECT are not proxied",
            ),
            Reply::BadGateway => (
                "Bad Gateway",
                "the upstream could not be reached, closed the connection or sent an invalid response",
            ),
            Reply::GatewayTimeout => ("Gateway Timeout", "the upstream did not answer in time"),
        }
    }

    /// The whole response: status line, framing, `Connection: close`, a one-line text body.
    pub fn bytes(self) -> Vec<u8> {
        let (reason, why) = self.parts();
        let body = format!("ringload proxy: {why}\n");
        format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
             x-ringload-proxy: {}\r\nconnection: close\r\n\r\n{body}",
            self.status(),
            body.len(),
            self.status()
        )
        .into_bytes()
    }
}

/// Why a request was not recorded (the recording's skip reasons).
pub const SKIP_BIG_BODY: &str = "request body over the recording cap (forwarded, not recorded)";
pub const SKIP_NOT_PATH: &str = "request with a non-path target (OPTIONS *)";
pub const SKIP_REFUSED: &str = "request refused by the proxy (upgrade, CONNECT, malformed)";
pub const SKIP_CUT: &str = "request cut off: the client closed or broke it mid-message";
pub const SKIP_UNANSWERED: &str =
    "request not answered (the upstream failed, closed or timed out, or the proxy stopped)";

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

/// What becomes of the client bytes a step consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToUpstream {
    /// Send them upstream, not before `not_before` when set (a request head held for the
    /// added latency).
    Forward { not_before: Option<Instant> },
    /// Drop them (a refused request's head).
    Drop,
}

/// What to do after a client step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNext {
    /// Call again with the bytes after the consumed ones.
    More,
    /// Nothing more can be decoded from what is there: read more client bytes.
    Read,
    /// Read nothing more from the client (its last request is in).
    Stop,
    /// The client broke a request: close both connections.
    Abort,
}

/// The outcome of [`Flow::client_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientStep {
    /// Bytes taken from the front of the input.
    pub consumed: usize,
    pub bytes: ToUpstream,
    pub then: ClientNext,
}

/// What to do after an upstream step. Consumed upstream bytes always go to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamNext {
    /// Call again with the bytes after the consumed ones.
    More,
    /// Read more upstream bytes.
    Read,
    /// Give the client this reply (after the consumed bytes), then close both connections.
    Reply(Reply),
    /// Close both connections (after forwarding the consumed bytes).
    Close,
}

/// The outcome of [`Flow::upstream_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamStep {
    /// Bytes taken from the front of the input; forward them to the client.
    pub consumed: usize,
    pub then: UpstreamNext,
}

/// The end of the client's stream, as the flow sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEnd {
    /// Between requests: half-close the upstream connection, keep answering.
    HalfClose,
    /// Inside a request: close both connections.
    Abort,
}

/// What one flow did, summed into the proxy's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// Request heads read.
    pub requests: u64,
    /// Requests forwarded upstream.
    pub forwarded: u64,
    /// Whole responses from the upstream.
    pub answered: u64,
    /// Requests the proxy answered itself (upgrade, CONNECT, malformed).
    pub refused: u64,
    /// Upstream failures: invalid response, closed before answering, timeout, unsolicited bytes.
    pub upstream_errors: u64,
    /// Exchanges cut mid-message by either side.
    pub cut: u64,
}

impl std::ops::AddAssign for FlowCounts {
    fn add_assign(&mut self, o: FlowCounts) {
        self.requests += o.requests;
        self.forwarded += o.forwarded;
        self.answered += o.answered;
        self.refused += o.refused;
        self.upstream_errors += o.upstream_errors;
        self.cut += o.cut;
    }
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

    /// Decodes client bytes: at most one head, or body bytes, per call.
    pub fn client_bytes(&mut self, buf: &[u8], now: Now) -> ClientStep {
        let stop = |then| ClientStep {
            consumed: 0,
            bytes: ToUpstream::Drop,
            then,
        };
        match self.side {
            ClientSide::Open => {}
            ClientSide::Last | ClientSide::Closed => return stop(ClientNext::Stop),
            ClientSide::Broken => return stop(ClientNext::Abort),
        }
        let forward = ToUpstream::Forward { not_before: None };
        let d = match self.requests.decode(buf) {
            Ok(d) => d,
            Err(_) if self.in_body => return self.break_request(),
            Err(_) => {
                // Nothing of this head was forwarded: answer 400 in its turn.
                self.counts.requests += 1;
                self.counts.refused += 1;
                if self.cfg.record {
                    self.skip(SKIP_REFUSED);
                }
                self.queue_local(Reply::BadRequest);
                return stop(ClientNext::Stop);
            }
        };
        let consumed = d.consumed;
        match d.message {
            None => ClientStep {
                consumed,
                bytes: forward,
                then: if consumed == 0 {
                    ClientNext::Read
                } else {
                    ClientNext::More
                },
            },
            Some(RequestEvent::Head(head)) => {
                self.counts.requests += 1;
                let refuse = head.header("upgrade").is_some()
                    || head.method().eq_ignore_ascii_case("CONNECT");
                let to = if head.method().eq_ignore_ascii_case("HEAD") {
                    ResponseTo::Head
                } else {
                    ResponseTo::NonHead
                };
                let keep_alive = head.keep_alive();
                let exchange = (self.cfg.record && !refuse)
                    .then(|| Exchange::from_request_head(&head, self.cfg.scheme))
                    .map(|ex| {
                        ex.map(|mut ex| {
                            ex.time_us = Some(now.unix_us);
                            ex.connection = Some(self.connection);
                            ex.client.clone_from(&self.client);
                            Box::new(ex)
                        })
                    });
                if refuse {
                    self.counts.refused += 1;
                    if self.cfg.record {
                        self.skip(SKIP_REFUSED);
                    }
                    self.queue_local(Reply::UpgradeRefused);
                    return ClientStep {
                        consumed,
                        bytes: ToUpstream::Drop,
                        then: ClientNext::Stop,
                    };
                }
                let exchange = match exchange {
                    Some(None) => {
                        self.skip(SKIP_NOT_PATH);
                        None
                    }
                    Some(Some(ex)) => Some(ex),
                    None => None,
                };
                self.counts.forwarded += 1;
                self.pending.push_back(Pending {
                    to,
                    local: None,
                    started: false,
                    body_done: false,
                    exchange,
                });
                self.in_body = true;
                self.last_request = !keep_alive;
                let not_before =
                    (!self.cfg.added_latency.is_zero()).then(|| now.mono + self.cfg.added_latency);
                ClientStep {
                    consumed,
                    bytes: ToUpstream::Forward { not_before },
                    then: ClientNext::More,
                }
            }
            Some(RequestEvent::Complete(summary)) => {
                self.in_body = false;
                let body = if self.cfg.record {
                    self.requests.take_body()
                } else {
                    Vec::new()
                };
                let too_big = summary.body_truncated || body.len() > self.cfg.max_body;
                // The request whose body just ended: answered already, or the newest one.
                let early = self.answered_early.is_some();
                let p = match self.answered_early.as_mut() {
                    Some(p) => Some(p),
                    None => self.pending.back_mut(),
                };
                let mut big = false;
                if let Some(p) = p {
                    p.body_done = true;
                    if let Some(ex) = p.exchange.as_mut() {
                        if too_big {
                            p.exchange = None;
                            big = true;
                        } else {
                            ex.body = body;
                        }
                    }
                }
                if big {
                    self.skip(SKIP_BIG_BODY);
                }
                if early && let Some(p) = self.answered_early.take() {
                    self.record(p);
                }
                let then = if self.last_request {
                    self.side = ClientSide::Last;
                    ClientNext::Stop
                } else {
                    ClientNext::More
                };
                ClientStep {
                    consumed,
                    bytes: forward,
                    then,
                }
            }
        }
    }

    /// The client's stream ended (EOF or a read error).
    pub fn client_eof(&mut self) -> ClientEnd {
        if self.side != ClientSide::Open {
            return if self.side == ClientSide::Broken {
                ClientEnd::Abort
            } else {
                ClientEnd::HalfClose
            };
        }
        match self.requests.finish_eof() {
            Ok(_) if !self.in_body => {
                self.side = ClientSide::Closed;
                ClientEnd::HalfClose
            }
            // A head cut by the end of the stream is a malformed request, as one that failed to
            // parse (whether the bytes showed it before the end depends on how they came):
            // nothing of it went upstream, and the client, which may still read, gets a 400.
            Err(_) if !self.in_body => {
                self.counts.requests += 1;
                self.counts.refused += 1;
                if self.cfg.record {
                    self.skip(SKIP_REFUSED);
                }
                self.queue_local(Reply::BadRequest);
                ClientEnd::HalfClose
            }
            // A body that ends exactly at EOF cannot be: requests are length-delimited.
            _ => {
                self.break_request();
                ClientEnd::Abort
            }
        }
    }

    /// A request was cut or garbled mid-message.
    fn break_request(&mut self) -> ClientStep {
        self.side = ClientSide::Broken;
        self.counts.cut += 1;
        ClientStep {
            consumed: 0,
            bytes: ToUpstream::Drop,
            then: ClientNext::Abort,
        }
    }

    fn queue_local(&mut self, reply: Reply) {
        self.side = ClientSide::Last;
        self.pending.push_back(Pending {
            to: ResponseTo::NonHead,
            local: Some(reply),
            started: false,
            body_done: true,
            exchange: None,
        });
    }

    /// Decodes upstream bytes: at most one whole response per call. Also the way to ask what
    /// to do next after the client side changed (call with no bytes).
    pub fn upstream_bytes(&mut self, buf: &[u8]) -> UpstreamStep {
        let step = |consumed, then| UpstreamStep { consumed, then };
        let Some(front) = self.pending.front() else {
            if !buf.is_empty() {
                // Bytes nobody asked for: no framing to forward them with.
                self.counts.upstream_errors += 1;
                return step(0, UpstreamNext::Close);
            }
            return step(
                0,
                if self.client_done() {
                    UpstreamNext::Close
                } else {
                    UpstreamNext::Read
                },
            );
        };
        if let Some(reply) = front.local {
            self.pending.pop_front();
            return step(0, UpstreamNext::Reply(reply));
        }
        let to = front.to;
        let decoded = if self.cfg.record {
            self.responses.decode_keeping(buf, to, &mut self.kept)
        } else {
            self.responses.decode(buf, to)
        };
        let d = match decoded {
            Ok(d) => d,
            Err(_) => {
                self.counts.upstream_errors += 1;
                return self.fail_front(Reply::BadGateway);
            }
        };
        if d.consumed > 0
            && let Some(f) = self.pending.front_mut()
        {
            f.started = true;
        }
        let Some(summary) = d.message else {
            let then = if d.consumed == 0 {
                UpstreamNext::Read
            } else {
                UpstreamNext::More
            };
            return step(d.consumed, then);
        };
        self.counts.answered += 1;
        if let Some(mut p) = self.pending.pop_front() {
            if let Some(ex) = p.exchange.as_mut() {
                ex.attach_response(summary.status, &mut self.kept, &mut BodyBudget::default());
            }
            self.kept.clear();
            if p.body_done {
                self.record(p);
            } else {
                self.answered_early = Some(p);
            }
        }
        // 101: the upstream switched protocols although the proxy never forwards an upgrade.
        let close = summary.close
            || summary.status == 101
            || (self.pending.is_empty() && self.client_done());
        step(
            d.consumed,
            if close {
                UpstreamNext::Close
            } else {
                UpstreamNext::More
            },
        )
    }

    /// The upstream's stream ended (EOF or a read error other than a timeout).
    pub fn upstream_eof(&mut self) -> UpstreamNext {
        if self.pending.front().is_some_and(|p| p.local.is_none()) {
            // A response read until close ends here.
            if let Ok(Some(summary)) = self.responses.finish_eof() {
                self.counts.answered += 1;
                if let Some(mut p) = self.pending.pop_front() {
                    if let Some(ex) = p.exchange.as_mut() {
                        ex.attach_response(
                            summary.status,
                            &mut self.kept,
                            &mut BodyBudget::default(),
                        );
                    }
                    self.kept.clear();
                    if p.body_done {
                        self.record(p);
                    } else {
                        self.answered_early = Some(p);
                    }
                }
                return UpstreamNext::Close;
            }
        }
        match self.pending.front() {
            None => UpstreamNext::Close,
            Some(p) if p.local.is_some() => self.upstream_bytes(&[]).then,
            Some(_) => {
                self.counts.upstream_errors += 1;
                self.fail_front(Reply::BadGateway).then
            }
        }
    }

    /// The upstream could not be connected (or its TLS handshake failed).
    /// (The driver counts it as a connect error.)
    pub fn upstream_failed(&mut self) -> UpstreamNext {
        self.fail_front(Reply::BadGateway).then
    }

    /// No upstream byte for the timeout: ends a waiting exchange, not an idle connection.
    pub fn upstream_timeout(&mut self) -> UpstreamNext {
        match self.pending.front() {
            None => UpstreamNext::Read,
            Some(p) if p.local.is_some() => self.upstream_bytes(&[]).then,
            Some(_) => {
                self.counts.upstream_errors += 1;
                self.fail_front(Reply::GatewayTimeout).then
            }
        }
    }

    /// The oldest exchange failed on the upstream side: the client gets `reply` if nothing of
    /// the answer went out yet, else the connection closes (it sees the cut, as it would have
    /// without the proxy).
    fn fail_front(&mut self, reply: Reply) -> UpstreamStep {
        let started = self.pending.front().is_some_and(|p| p.started);
        if started {
            self.counts.cut += 1;
        }
        UpstreamStep {
            consumed: 0,
            then: if started {
                UpstreamNext::Close
            } else {
                UpstreamNext::Reply(reply)
            },
        }
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
