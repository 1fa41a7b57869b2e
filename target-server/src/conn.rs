//! One connection: a single task that alternates between parsing, writing due responses
//! and waiting for "more bytes or the next response comes due", whichever is first.
//!
//! Parsed requests become [`Pending`] entries in arrival order, each with the instant its
//! answer is due (`arrival + delay`). Only the front entry is ever waited for, so a
//! delayed response holds the ones pipelined behind it — HTTP/1.1 requires answers in
//! request order. Whatever is due is encoded into one output buffer and written in one
//! go (batching). Reading continues while we wait, so later requests are timestamped
//! when they arrive, and stops when the queue is full (backpressure) or the connection
//! is closing.
//!
//! In shop mode the decoder keeps request bodies (up to 64 KiB): a head on a shop path keeps
//! the fields the shop reads, and when its body is complete the shop computes the whole
//! answer (`shop::Shop::handle`), queued like any other with the head's delay.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, future};
use glommio::net::TcpStream;
use rand::rngs::StdRng;

use ringload_http1::{
    BodyMode, Framing, Limits, RequestDecoder, RequestEvent, RequestHead, Version,
};

use crate::behavior::Params;
use crate::response::{self, Body, ResponseSpec, encode_head, encode_shop};
use crate::shop::{self, MAX_SHOP_BODY, Shop, ShopRequest, ShopResponse};
use crate::stall::StallSchedule;
use crate::stats::Counters;

/// Shared, read-only state of one executor's connections.
pub(crate) struct ExecutorCtx {
    pub counters: Arc<Counters>,
    pub stall: Option<StallSchedule>,
    pub rng: RefCell<StdRng>,
    pub max_head: usize,
    pub shop: Option<Arc<Shop>>,
    /// With TLS: the handshake every accepted connection makes first.
    pub tls: Option<futures_rustls::TlsAcceptor>,
}

/// Most parsed-but-unanswered requests per connection before we stop reading.
const MAX_PENDING: usize = 256;
/// Flush the output buffer once it holds this much.
const OUT_BATCH: usize = 64 * 1024;
/// Initial read buffer; grows up to `max_head + INBUF_SLACK` for large heads.
const INBUF_INITIAL: usize = 8 * 1024;
const INBUF_SLACK: usize = 4 * 1024;
/// After a closing response: how long / how much we keep draining the client's bytes so
/// the close does not turn into a reset that destroys the response in flight.
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
enum Item {
    /// `100 Continue` interim response.
    Continue,
    Response(ResponseSpec),
    /// A shop answer; `spec` carries the connection handling (close, HEAD, HTTP/1.0).
    Shop(ResponseSpec, Box<ShopResponse>),
}

#[derive(Debug, Clone)]
struct Pending {
    due: Instant,
    item: Item,
}

/// What one decoder step produced, detached from the decoder's borrow.
enum Step {
    NeedMore,
    /// A head: the decided answer, whether to send `100 Continue` first, and the shop
    /// request when the shop answers it.
    Head(ResponseSpec, Duration, bool, Option<Box<ShopRequest>>),
    /// The request (body included) is complete: queue the answer.
    Complete,
    Bad(ringload_http1::Error),
}

struct Conn {
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
    max_inbuf: usize,
    decoder: RequestDecoder,
    /// The answer decided from the current request's head, queued once its body is done.
    current: Option<(ResponseSpec, Duration, Option<Box<ShopRequest>>)>,
    pending: VecDeque<Pending>,
    out: Vec<u8>,
    /// A closing response is queued: parse nothing further.
    closing: bool,
    /// The client has sent EOF.
    eof: bool,
}

enum Wake {
    Read(io::Result<usize>),
    Timer,
}

/// Serves one accepted connection, over TLS when the target has it, until it closes or fails.
pub async fn accept(stream: TcpStream, ctx: Rc<ExecutorCtx>) {
    // Small pipelined answers must not wait for Nagle + delayed ACK (~40 ms).
    let _ = stream.set_nodelay(true);
    match &ctx.tls {
        None => serve(stream, &ctx).await,
        Some(acceptor) => {
            if let Some(tls) = crate::tls::accept(acceptor, stream, &ctx.counters).await {
                serve(tls, &ctx).await;
            }
        }
    }
}

/// Serves one connection's plaintext stream until it closes or fails. Never panics on input.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, ctx: &ExecutorCtx) {
    let mut c = Conn {
        inbuf: vec![0; INBUF_INITIAL.min(ctx.max_head + INBUF_SLACK)],
        start: 0,
        end: 0,
        max_inbuf: ctx.max_head + INBUF_SLACK,
        decoder: RequestDecoder::new(
            Limits {
                max_head_bytes: ctx.max_head,
                max_body_retained: MAX_SHOP_BODY,
                ..Limits::default()
            },
            if ctx.shop.is_some() {
                BodyMode::Retain
            } else {
                BodyMode::Discard
            },
        ),
        current: None,
        pending: VecDeque::new(),
        out: Vec::new(),
        closing: false,
        eof: false,
    };
    loop {
        let now = Instant::now();
        c.parse(now, ctx);
        if c.next_due(now, ctx).is_some_and(|due| due <= now) {
            match c.write_due(&mut stream, ctx, now).await {
                Ok(false) => continue,
                Ok(true) => return linger(&mut stream, &mut c.inbuf).await,
                Err(_) => return,
            }
        }
        let can_read = !c.eof && !c.closing && c.pending.len() < MAX_PENDING;
        let wake = match (can_read, c.next_due(now, ctx)) {
            (false, None) => return,
            (false, Some(due)) => {
                sleep_until(due).await;
                Wake::Timer
            }
            (true, None) => Wake::Read(c.read(&mut stream).await),
            (true, Some(due)) => {
                let timer = async {
                    sleep_until(due).await;
                    Wake::Timer
                };
                future::or(async { Wake::Read(c.read(&mut stream).await) }, timer).await
            }
        };
        match wake {
            Wake::Timer => {}
            Wake::Read(Ok(0)) => c.eof = true,
            Wake::Read(Ok(n)) => c.end += n,
            Wake::Read(Err(_)) => return,
        }
    }
}

async fn sleep_until(t: Instant) {
    let d = t.saturating_duration_since(Instant::now());
    if !d.is_zero() {
        glommio::timer::sleep(d).await;
    }
}

/// Half-closes (over TLS: close_notify first), then drains what the client still sends for a
/// bounded time and size.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, buf: &mut [u8]) {
    // glommio's `close` is `shutdown(Write)`; futures-rustls sends close_notify, then that.
    if stream.close().await.is_err() {
        return;
    }
    let drain = async {
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    future::or(drain, glommio::timer::sleep(LINGER_TIME)).await;
}

impl Conn {
    /// Reads more bytes into the buffer, compacting or growing it first.
    async fn read<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> io::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.end == self.inbuf.len() {
            if self.start > 0 {
                self.inbuf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            } else {
                // Only a partial head can fill the buffer; parse caps it below max_inbuf.
                let grown = (self.inbuf.len() * 2).min(self.max_inbuf);
                self.inbuf.resize(grown, 0);
            }
        }
        stream.read(&mut self.inbuf[self.end..]).await
    }

    /// When the front response may be written: its due time, pushed past any stall.
    fn next_due(&self, now: Instant, ctx: &ExecutorCtx) -> Option<Instant> {
        let front = self.pending.front()?;
        let t = front.due.max(now);
        Some(ctx.stall.and_then(|s| s.stalled_until(t)).unwrap_or(t))
    }

    /// Turns buffered bytes into pending responses, as far as they go.
    fn parse(&mut self, now: Instant, ctx: &ExecutorCtx) {
        // Not `start < end`: a bodyless request completes on a call that consumes nothing.
        while !self.closing && self.pending.len() < MAX_PENDING {
            let (consumed, step) = match self.decoder.decode(&self.inbuf[self.start..self.end]) {
                Err(e) => (0, Step::Bad(e)),
                Ok(d) => {
                    let step = match d.message {
                        None => Step::NeedMore,
                        Some(RequestEvent::Head(head)) => {
                            let (spec, delay) = decide(&head, ctx);
                            let shop = match (&ctx.shop, spec.body_is_error()) {
                                (Some(_), false) => shop::route(head.path())
                                    .map(|r| Box::new(ShopRequest::from_head(&head, r))),
                                _ => None,
                            };
                            Step::Head(
                                spec,
                                delay,
                                head.expect_continue() && head.framing() != Framing::Empty,
                                shop,
                            )
                        }
                        Some(RequestEvent::Complete(_)) => Step::Complete,
                    };
                    (d.consumed, step)
                }
            };
            self.start += consumed;
            match step {
                Step::NeedMore => return,
                Step::Head(spec, delay, expect_continue, shop) => {
                    if spec.body_is_error() {
                        ctx.counters.bad_request();
                    }
                    if expect_continue {
                        self.pending.push_back(Pending {
                            due: now,
                            item: Item::Continue,
                        });
                    }
                    self.current = Some((spec, delay, shop));
                }
                Step::Complete => {
                    let body = self.decoder.take_body();
                    match (self.current.take(), &ctx.shop) {
                        (Some((spec, delay, Some(req))), Some(shop)) => {
                            let now_ms = SystemTime::now()
                                .duration_since(UNIX_EPOCH)
                                .map_or(0, |d| d.as_millis() as u64);
                            let answer =
                                shop.handle(&req, &body, now_ms, &mut *ctx.rng.borrow_mut());
                            self.push(now + delay, Item::Shop(spec, Box::new(answer)));
                        }
                        (Some((spec, delay, _)), _) => {
                            self.push(now + delay, Item::Response(spec));
                        }
                        (None, _) => {}
                    }
                }
                Step::Bad(e) => self.bad_request(e, now, ctx),
            }
        }
    }

    fn push(&mut self, due: Instant, item: Item) {
        if let Item::Response(spec) | Item::Shop(spec, _) = &item {
            self.closing |= spec.close;
        }
        self.pending.push_back(Pending { due, item });
    }

    /// Unframeable input: answer 400 and close (the framing is lost).
    fn bad_request(&mut self, e: ringload_http1::Error, now: Instant, ctx: &ExecutorCtx) {
        ctx.counters.bad_request();
        let spec = ResponseSpec {
            status: 400,
            body: Body::BadRequest(e),
            chunked: false,
            head_only: false,
            close: true,
            keep_alive_10: false,
            canary: false,
            app_time: None,
        };
        self.push(now, Item::Response(spec));
    }

    /// Encodes every due response (up to a batch) and writes them with as few writes as
    /// possible. Returns `true` if a closing response was written.
    async fn write_due<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        ctx: &ExecutorCtx,
        now: Instant,
    ) -> io::Result<bool> {
        let mut close = false;
        while let Some(front) = self.pending.front() {
            if front.due > now || self.out.len() >= OUT_BATCH {
                break;
            }
            let Some(Pending { item, .. }) = self.pending.pop_front() else {
                break;
            };
            match item {
                Item::Continue => self.out.extend_from_slice(response::CONTINUE),
                Item::Shop(spec, answer) => {
                    encode_shop(&spec, &answer, &mut self.out);
                    ctx.counters.response(answer.status);
                    if spec.close {
                        close = true;
                        break;
                    }
                }
                Item::Response(spec) => {
                    let mut body = encode_head(&spec, &mut self.out);
                    while body.next_piece(&mut self.out) {
                        if self.out.len() >= OUT_BATCH {
                            stream.write_all(&self.out).await?;
                            self.out.clear();
                        }
                    }
                    ctx.counters.response(spec.status);
                    if spec.close {
                        close = true;
                        break;
                    }
                }
            }
        }
        if !self.out.is_empty() {
            stream.write_all(&self.out).await?;
            self.out.clear();
        }
        // A TLS stream may keep records it could not write at once; they must go out now, not
        // with the next answer (a no-op on a plain socket).
        stream.flush().await?;
        Ok(close)
    }
}

/// Decides the answer to one request from its head: knobs from headers and query, then
/// the random draws. An invalid `x-ringload-*` header yields a 400 explaining it.
fn decide(head: &RequestHead<'_>, ctx: &ExecutorCtx) -> (ResponseSpec, Duration) {
    let mut params = Params::default();
    let mut bad = None;
    for (name, value) in head.headers() {
        if let Err(e) = params.apply_header(name, value) {
            bad.get_or_insert(e);
        }
    }
    params.apply_query(head.target());
    let http11 = head.version() == Version::Http11;
    let close = !head.keep_alive() || params.close;
    let mut spec = ResponseSpec {
        status: 200,
        body: Body::Default,
        // HTTP/1.0 clients cannot decode chunked bodies.
        chunked: params.chunked && http11,
        head_only: head.method() == "HEAD",
        close,
        keep_alive_10: !http11 && !close,
        canary: params.canary,
        app_time: None,
    };
    if let Some(e) = bad {
        spec.status = 400;
        spec.body = Body::BadParam(e);
        spec.chunked = false;
        return (spec, Duration::ZERO);
    }
    let decision = params.decide(&mut *ctx.rng.borrow_mut());
    spec.status = decision.status;
    if params.delay.is_some() {
        spec.app_time = Some(decision.delay);
    }
    if let Some(n) = params.size {
        spec.body = Body::Generated(n);
    }
    (spec, decision.delay)
}
