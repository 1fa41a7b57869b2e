//! The engine's steady state must not allocate per response: count heap
//! allocations made by this thread while decoding a pipelined stream.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringload_http1::{BodyMode, Limits, RequestDecoder, RequestEvent, ResponseDecoder, ResponseTo};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only bumps a const-initialised
// thread-local counter (which itself never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

/// Decode `stream` in fixed-size pieces, like a ring of receive buffers, calling `each` after
/// every response; returns the responses and the bytes consumed.
fn decode_in_pieces(
    dec: &mut ResponseDecoder,
    stream: &[u8],
    mut each: impl FnMut(&ResponseDecoder),
) -> (usize, usize) {
    let (mut n, mut pos) = (0, 0);
    for end in (0..stream.len()).step_by(61).skip(1).chain([stream.len()]) {
        loop {
            let d = dec
                .decode(&stream[pos..end], ResponseTo::NonHead)
                .expect("valid");
            pos += d.consumed;
            if d.message.is_none() {
                break;
            }
            n += 1;
            each(dec);
        }
    }
    (n, pos)
}

#[test]
fn decoding_allocates_nothing_per_message() {
    let one: Vec<u8> = [
        &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nX-Upstream-Version: canary-v2\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
    ]
    .concat();
    let stream = one.repeat(500);
    let mut dec =
        ResponseDecoder::with_captures(Limits::default(), &["x-upstream-version", "server"]);
    let before = allocs();
    let mut canary = 0;
    let (n, pos) = decode_in_pieces(&mut dec, &stream, |dec| {
        if dec.captured(0).is_some_and(|c| c.value == b"canary-v2") {
            canary += 1;
        }
    });
    assert_eq!(allocs() - before, 0, "response decoding allocated");
    assert_eq!((n, canary, pos), (1500, 500, stream.len()));

    let req =
        b"POST /p?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"
            .repeat(500);
    let mut dec = RequestDecoder::new(Limits::default(), BodyMode::Discard);
    let before = allocs();
    let (mut pos, mut heads, mut done) = (0, 0, 0);
    for _ in 0..10 * req.len() {
        let d = dec.decode(&req[pos..]).expect("valid");
        pos += d.consumed;
        match d.message {
            Some(RequestEvent::Head(h)) => heads += usize::from(h.path().starts_with('/')),
            Some(RequestEvent::Complete(_)) => done += 1,
            None => break,
        }
    }
    assert_eq!(allocs() - before, 0, "request decoding allocated");
    assert_eq!((heads, done, pos), (1000, 1000, req.len()));
}

/// Sized and joined captures and the sniff of error bodies allocate nothing per response: the
/// sniff's buffer is reserved once, at the first error response.
#[test]
fn sniffing_error_bodies_allocates_once() {
    use ringload_http1::CaptureSpec;
    let one: Vec<u8> = [
        &b"HTTP/1.1 503 Service Unavailable\r\nserver: envoy\r\nContent-Length: 19\r\n\r\nno healthy upstream"[..],
        b"HTTP/1.1 200 OK\r\nServer-Timing: db;dur=1\r\nserver-timing: app;dur=4.5\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n",
        &[b'x'; 1024],
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    let stream = one.repeat(500);
    let specs = [
        CaptureSpec::first("server"),
        CaptureSpec {
            name: "server-timing",
            cap: 256,
            join: true,
        },
    ];
    let mut dec =
        ResponseDecoder::with_capture_specs(Limits::default(), &specs).sniff_error_bodies(256);
    let before = allocs();
    let (mut sniffed, mut timed) = (0, 0);
    let (n, pos) = decode_in_pieces(&mut dec, &stream, |dec| {
        sniffed += dec.error_body_prefix().len();
        if dec
            .captured(1)
            .is_some_and(|c| c.value == b"db;dur=1, app;dur=4.5")
        {
            timed += 1;
        }
    });
    assert_eq!(
        allocs() - before,
        1,
        "one reserve for the sniff, nothing per response"
    );
    assert_eq!((n, timed, pos), (1500, 500, stream.len()));
    assert_eq!(sniffed, 500 * (19 + 256));
}
