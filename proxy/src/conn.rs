//! The I/O shell of one proxied connection: sockets, buffers, timers, around a [`Flow`].
//!
//! Each direction is a pump with one fixed buffer of [`BUF_CAP`] bytes (a whole head of up to
//! 64 KiB fits, with room for a read): read what fits, let the flow decode it, write what it
//! consumed to the other side, drop it, read again. Writes are awaited before the next read,
//! so a slow reader on one side slows the sender on the other (TCP back-pressure end to end)
//! and a connection never holds more than its two buffers, however long the bodies are.
//! Consecutive steps that forward are written with one call. The two pumps run concurrently,
//! so a request body still streaming up does not stop a response streaming down (an upstream
//! that answers early, `100 Continue`).
//!
//! The upstream connection is opened when the first request is ready to go: a client that
//! sends nothing costs no upstream connection, and one that the proxy refuses (or that the
//! upstream cannot serve: 502) costs none either. The response pump owns the write side of the
//! client connection; the request pump wakes it when the client side changed what it waits
//! for (a refused request to answer, the last request in), and the response pump wakes the
//! request pump when answers made room below [`MAX_PENDING`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::io::{ReadHalf, WriteHalf};
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use glommio::net::TcpStream;

use crate::flow::{ClientEnd, ClientNext, Flow, Now, ToUpstream, UpstreamNext};
use crate::shared::ExecutorCtx;
use crate::tls::Stream;

/// Bytes buffered per direction: the largest head the decoders accept (64 KiB) and a read.
pub const BUF_CAP: usize = 80 * 1024;
/// Requests read ahead of their answers on one connection (pipelining depth); past it the
/// proxy stops reading the client until answers come back.
pub const MAX_PENDING: usize = 256;
/// Time for a TLS handshake with a client or the upstream.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to open the upstream connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection keeps reading what the client still sends (so the kernel
/// does not reset the connection over unread bytes and destroy the last answer).
const LINGER: Duration = Duration::from_secs(2);

/// A fixed buffer: bytes `start..end` are filled.
struct Buf {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            data: vec![0; BUF_CAP].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into; moves the filled bytes to the front when the room runs short.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 && self.data.len() - self.end < 16 * 1024 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.data[self.end..]
    }

    fn fill(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }
}

/// Wakes one waiting task; a notification with nobody waiting is kept for the next wait.
#[derive(Default)]
struct Notify {
    set: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn notified(&self) {
        future::poll_fn(|cx| {
            if self.set.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// `f`'s output, or `None` after `d`.
async fn timeout<T>(d: Duration, f: impl Future<Output = T>) -> Option<T> {
    future::or(async { Some(f.await) }, async {
        glommio::timer::sleep(d).await;
        None
    })
    .await
}

/// What the request pump does next: act on `len` bytes at the front of the buffer, then `then`.
#[derive(Debug, Clone, Copy)]
struct Work {
    len: usize,
    bytes: ToUpstream,
    then: Then,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    More,
    /// The client's last request is in.
    Stop,
    /// The client half-closed between requests.
    HalfClose,
    /// The client broke a request.
    Abort,
}

/// The client's read side, its buffer, and a step decided but not acted on yet.
struct Reader {
    rd: ReadHalf<Stream>,
    buf: Buf,
    stash: Option<crate::flow::ClientStep>,
}

impl Reader {
    /// The next work for the request pump, reading the client as needed. Steps that simply
    /// forward are merged into one work.
    async fn next(&mut self, flow: &RefCell<Flow>) -> Work {
        let mut fwd = 0;
        loop {
            let step = match self.stash.take() {
                Some(s) => s,
                None => flow
                    .borrow_mut()
                    .client_bytes(&self.buf.filled()[fwd..], Now::read()),
            };
            let plain = step.bytes == ToUpstream::Forward { not_before: None };
            if plain && step.then == ClientNext::More {
                fwd += step.consumed;
                continue;
            }
            if step.then == ClientNext::Read {
                if fwd > 0 {
                    return Work {
                        len: fwd,
                        bytes: ToUpstream::Forward { not_before: None },
                        then: Then::More,
                    };
                }
                let spare = self.buf.spare();
                let read = if spare.is_empty() {
                    // Cannot happen: a head waiting for more bytes is shorter than the buffer.
                    Ok(0)
                } else {
                    self.rd.read(spare).await
                };
                match read {
                    Ok(n) if n > 0 => {
                        self.buf.fill(n);
                        continue;
                    }
                    _ => {
                        let then = match flow.borrow_mut().client_eof() {
                            ClientEnd::HalfClose => Then::HalfClose,
                            ClientEnd::Abort => Then::Abort,
                        };
                        return Work {
                            len: 0,
                            bytes: ToUpstream::Drop,
                            then,
                        };
                    }
                }
            }
            if fwd > 0 {
                self.stash = Some(step);
                return Work {
                    len: fwd,
                    bytes: ToUpstream::Forward { not_before: None },
                    then: Then::More,
                };
            }
            let then = match step.then {
                ClientNext::More | ClientNext::Read => Then::More,
                ClientNext::Stop => Then::Stop,
                ClientNext::Abort => Then::Abort,
            };
            return Work {
                len: step.consumed,
                bytes: step.bytes,
                then,
            };
        }
    }

    /// Reads and drops what the client still sends, until it closes or [`LINGER`] passes.
    async fn linger(&mut self) {
        let deadline = Instant::now() + LINGER;
        let mut budget = 1usize << 20;
        while budget > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            self.buf.consume(usize::MAX);
            match timeout(left, self.rd.read(self.buf.spare())).await {
                Some(Ok(n)) if n > 0 => budget = budget.saturating_sub(n),
                _ => return,
            }
        }
    }
}

/// Serves one accepted client connection until both sides are done. Never panics on input.
pub(crate) async fn serve(tcp: TcpStream, ctx: Rc<ExecutorCtx>) {
    let client_ip = tcp.peer_addr().ok().map(|a| a.ip().to_string());
    // Small answers must not wait for Nagle and delayed ACKs (~40 ms).
    let _ = tcp.set_nodelay(true);
    let client = match &ctx.acceptor {
        None => Stream::Plain(tcp),
        Some(acceptor) => match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Some(Ok(s)) => Stream::Tls(Box::new(s.into())),
            _ => {
                ctx.shared.counters.tls_failure();
                return;
            }
        },
    };
    let flow = RefCell::new(Flow::new(ctx.flow, ctx.shared.next_connection(), client_ip));
    // Counts and hands over what the flow did however the connection ends, stop included.
    let _finish = Finish {
        flow: &flow,
        ctx: &ctx,
    };
    let (rd, mut wr) = futures_lite::io::split(client);
    let mut reader = Reader {
        rd,
        buf: Buf::new(),
        stash: None,
    };
    let linger = run(&flow, &mut reader, &mut wr, &ctx).await;
    let _ = wr.close().await;
    if linger {
        reader.linger().await;
    }
}

/// Runs the connection; returns whether the client may still be sending (linger then).
async fn run(
    flow: &RefCell<Flow>,
    reader: &mut Reader,
    client: &mut WriteHalf<Stream>,
    ctx: &ExecutorCtx,
) -> bool {
    // Until a request is to go upstream, there is no upstream connection.
    let first = loop {
        let w = reader.next(flow).await;
        match (w.bytes, w.then) {
            (ToUpstream::Forward { .. }, _) if w.len > 0 => break w,
            (_, Then::More) => reader.buf.consume(w.len),
            (_, Then::Stop) => {
                // A refused or malformed first request: answer it.
                reader.buf.consume(w.len);
                let step = flow.borrow_mut().upstream_bytes(&[]);
                if let UpstreamNext::Reply(r) = step.then {
                    let _ = client.write_all(&r.bytes()).await;
                }
                return true;
            }
            (_, Then::HalfClose | Then::Abort) => return false,
        }
    };
    let upstream = match timeout(CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT, connect(ctx)).await {
        Some(Ok(s)) => s,
        _ => {
            ctx.shared.counters.connect_error();
            let then = flow.borrow_mut().upstream_failed();
            if let UpstreamNext::Reply(r) = then {
                let _ = client.write_all(&r.bytes()).await;
            }
            return true;
        }
    };
    let (up_rd, mut up_wr) = futures_lite::io::split(upstream);
    let to_responses = Notify::default();
    let to_requests = Notify::default();
    let requests = async {
        let then = pump_requests(flow, reader, first, &mut up_wr, &to_requests, ctx).await;
        if then == Then::HalfClose {
            let _ = up_wr.close().await;
        }
        to_responses.notify();
        if then != Then::Abort {
            // The response pump decides when the connection ends.
            future::pending::<()>().await;
        }
        false
    };
    let responses = async {
        pump_responses(flow, up_rd, client, &to_responses, &to_requests, ctx).await;
        true
    };
    future::or(responses, requests).await
}

/// Client -> upstream: forwards what the flow lets through, holding heads for the added
/// latency. Returns how the client side ended.
async fn pump_requests(
    flow: &RefCell<Flow>,
    reader: &mut Reader,
    mut work: Work,
    upstream: &mut WriteHalf<Stream>,
    room: &Notify,
    ctx: &ExecutorCtx,
) -> Then {
    loop {
        if let ToUpstream::Forward { not_before } = work.bytes
            && work.len > 0
        {
            if let Some(t) = not_before {
                let wait = t.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    glommio::timer::sleep(wait).await;
                }
            }
            let bytes = &reader.buf.filled()[..work.len];
            if upstream.write_all(bytes).await.is_err() || upstream.flush().await.is_err() {
                // The upstream is gone; the response pump sees it and answers for it.
                return Then::Stop;
            }
            ctx.shared.counters.bytes_up(work.len);
        }
        reader.buf.consume(work.len);
        if work.then != Then::More {
            return work.then;
        }
        while flow.borrow().pending() >= MAX_PENDING {
            room.notified().await;
        }
        work = reader.next(flow).await;
    }
}

/// Upstream -> client: forwards answers as the flow frames them, records, and ends the
/// connection when the flow says so.
async fn pump_responses(
    flow: &RefCell<Flow>,
    mut upstream: ReadHalf<Stream>,
    client: &mut WriteHalf<Stream>,
    wake: &Notify,
    room: &Notify,
    ctx: &ExecutorCtx,
) {
    let mut buf = Buf::new();
    // The client went away: answers are still read (and recorded), not written.
    let mut client_ok = true;
    loop {
        let mut fwd = 0;
        let next = loop {
            let step = flow.borrow_mut().upstream_bytes(&buf.filled()[fwd..]);
            fwd += step.consumed;
            if step.then != UpstreamNext::More {
                break step.then;
            }
        };
        hand_over(flow, ctx);
        if fwd > 0 {
            if client_ok {
                client_ok = client.write_all(&buf.filled()[..fwd]).await.is_ok()
                    && client.flush().await.is_ok();
            }
            ctx.shared.counters.bytes_down(fwd);
            buf.consume(fwd);
            room.notify();
        }
        let mut next = next;
        loop {
            match next {
                UpstreamNext::More | UpstreamNext::Read => {}
                UpstreamNext::Close => return,
                UpstreamNext::Reply(r) => {
                    if client_ok {
                        let _ = client.write_all(&r.bytes()).await;
                    }
                    return;
                }
            }
            let waiting = flow.borrow().pending() > 0;
            let spare = buf.spare();
            let read = async { Some(upstream.read(spare).await) };
            let woken = async {
                wake.notified().await;
                None
            };
            let got = if waiting {
                let limit = ctx.upstream_timeout;
                future::or(
                    read,
                    future::or(woken, async {
                        glommio::timer::sleep(limit).await;
                        Some(Err(std::io::ErrorKind::TimedOut.into()))
                    }),
                )
                .await
            } else {
                future::or(read, woken).await
            };
            next = match got {
                // The client side changed: ask the flow again.
                None => break,
                Some(Ok(n)) if n > 0 => {
                    buf.fill(n);
                    break;
                }
                Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    flow.borrow_mut().upstream_timeout()
                }
                Some(_) => flow.borrow_mut().upstream_eof(),
            };
            hand_over(flow, ctx);
        }
    }
}

async fn connect(ctx: &ExecutorCtx) -> std::io::Result<Stream> {
    let tcp = TcpStream::connect_timeout(ctx.upstream, CONNECT_TIMEOUT)
        .await
        .map_err(std::io::Error::from)?;
    tcp.set_nodelay(true).map_err(std::io::Error::from)?;
    Ok(match &ctx.connector {
        None => Stream::Plain(tcp),
        Some((connector, name)) => {
            Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await?.into()))
        }
    })
}

/// Passes what the flow recorded (and why it skipped requests) to the recording.
fn hand_over(flow: &RefCell<Flow>, ctx: &ExecutorCtx) {
    let Some(recording) = &ctx.shared.recording else {
        return;
    };
    let (recorded, skipped) = {
        let mut f = flow.borrow_mut();
        (f.take_recorded(), f.take_skipped())
    };
    if recorded.is_empty() && skipped.is_empty() {
        return;
    }
    let mut limit_reached = false;
    if let Ok(mut r) = recording.lock() {
        for (reason, n) in skipped {
            r.skip(reason, n);
        }
        for ex in recorded {
            limit_reached |= r.offer(ex) == crate::recording::Offered::LimitReached;
        }
    }
    if limit_reached {
        ctx.shared.limit_reached();
    }
}

/// At the end of a connection, however it ends: count what was not answered and add the
/// flow's counts to the proxy's.
struct Finish<'a> {
    flow: &'a RefCell<Flow>,
    ctx: &'a ExecutorCtx,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.flow.try_borrow_mut() {
            f.finish();
            self.ctx.shared.counters.add(f.counts());
        }
        hand_over(self.flow, self.ctx);
    }
}
