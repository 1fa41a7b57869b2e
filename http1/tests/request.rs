//! Framing cases for `RequestDecoder` and `RequestCollector`.

mod common;

use common::{RequestRun, collect, run_requests};
use ringload_http1::{
    BodyMode, ErrorKind, Framing, Limits, RequestCollector, RequestDecoder, RequestEvent, Version,
};

fn discard() -> RequestDecoder {
    RequestDecoder::new(Limits::default(), BodyMode::Discard)
}
fn retain() -> RequestDecoder {
    RequestDecoder::new(Limits::default(), BodyMode::Retain)
}

/// Runs whole, byte by byte and at every single split; all must agree.
fn check(make: fn() -> RequestDecoder, input: &[u8], eof: bool) -> RequestRun {
    let key = |r: &RequestRun| (r.seen.clone(), r.error);
    let a = run_requests(&mut make(), input, &[], eof);
    let all: Vec<usize> = (1..input.len()).collect();
    let b = run_requests(&mut make(), input, &all, eof);
    assert_eq!(
        key(&a),
        key(&b),
        "whole vs byte-by-byte for {:?}",
        String::from_utf8_lossy(input)
    );
    for cut in 1..input.len() {
        let c = run_requests(&mut make(), input, &[cut], eof);
        assert_eq!(key(&a), key(&c), "split at {cut}");
    }
    a
}

#[test]
fn simple_get_view() {
    let input =
        b"GET /api/v1/items?id=7&x=y HTTP/1.1\r\nHost: example\r\nX-Req: a\r\nx-req: b\r\n\r\n";
    let mut d = discard();
    let r = d.decode(input).unwrap();
    assert_eq!(r.consumed, input.len());
    let Some(RequestEvent::Head(h)) = r.message else {
        panic!("expected head")
    };
    assert_eq!(h.method(), "GET");
    assert_eq!(h.target(), "/api/v1/items?id=7&x=y");
    assert_eq!(h.path(), "/api/v1/items");
    assert_eq!(h.query(), Some("id=7&x=y"));
    assert_eq!(h.version(), Version::Http11);
    assert!(h.keep_alive() && !h.expect_continue());
    assert_eq!(h.header_count(), 3);
    assert_eq!(h.header("host"), Some(&b"example"[..]));
    assert_eq!(h.header("X-REQ"), Some(&b"a"[..]));
    assert_eq!(h.header("nope"), None);
    assert_eq!(
        h.headers().map(|(n, _)| n).collect::<Vec<_>>(),
        vec!["Host", "X-Req", "x-req"]
    );
    assert_eq!(h.raw(), &input[..]);
    assert_eq!((h.framing(), h.content_length()), (Framing::Empty, None));
    // The bodyless request completes on the next call without consuming.
    let r = d.decode(b"").unwrap();
    let Some(RequestEvent::Complete(s)) = r.message else {
        panic!("expected complete")
    };
    assert_eq!(r.consumed, 0);
    assert_eq!(
        (s.head_bytes as usize, s.body_bytes, s.wire_bytes as usize),
        (input.len(), 0, input.len())
    );
    assert!(d.is_idle());
}

#[test]
fn content_length_body_retained_and_discarded() {
    let input = b"POST /u HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello worldGET / HTTP/1.1\r\n\r\n";
    let r = check(retain, input, true);
    assert_eq!(r.error, None);
    assert_eq!(r.seen.len(), 2);
    assert_eq!(r.seen[0].body, b"hello world");
    let s = r.seen[0].summary.unwrap();
    assert_eq!(
        (s.framing, s.body_bytes, s.body_truncated),
        (Framing::Length, 11, false)
    );
    assert_eq!(r.seen[1].method, "GET");
    let r = check(discard, input, true);
    assert_eq!(r.seen[0].body, b"");
    assert_eq!(r.seen[0].summary.unwrap().body_bytes, 11);
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let input = b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n5\r\npedia\r\n0\r\nDigest: x\r\n\r\n";
    let r = check(retain, input, true);
    assert_eq!(r.error, None);
    assert_eq!(r.seen[0].body, b"Wikipedia");
    let s = r.seen[0].summary.unwrap();
    assert_eq!(
        (s.framing, s.body_bytes, s.wire_bytes as usize),
        (Framing::Chunked, 9, input.len())
    );
}

#[test]
fn retained_body_is_capped_and_flagged() {
    let input =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    let make = || {
        RequestDecoder::new(
            Limits {
                max_body_retained: 4,
                ..Limits::default()
            },
            BodyMode::Retain,
        )
    };
    let r = check(make, input, true);
    assert_eq!(r.seen[0].body, b"abcd");
    let s = r.seen[0].summary.unwrap();
    assert_eq!((s.body_bytes, s.body_truncated), (6, true));
}

#[test]
fn expect_continue_is_visible_at_head_time() {
    let mut d = discard();
    let input = b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    let r = d.decode(input).unwrap();
    let Some(RequestEvent::Head(h)) = r.message else {
        panic!()
    };
    assert!(h.expect_continue());
    // No body yet: the server would now send "100 Continue".
    assert_eq!(d.decode(b"").unwrap().message.map(|_| ()), None);
    let r = d.decode(b"abc").unwrap();
    let Some(RequestEvent::Complete(s)) = r.message else {
        panic!()
    };
    assert!(s.expect_continue);
    assert_eq!(r.consumed, 3);
}

#[test]
fn keep_alive_rules() {
    let cases: &[(&[u8], bool, Version)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", true, Version::Http11),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false, Version::Http11),
        (b"GET / HTTP/1.0\r\n\r\n", false, Version::Http10),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, Version::Http10),
        (b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, Version::Http10),
    ];
    for (input, keep, version) in cases {
        let r = check(discard, input, true);
        let s = r.seen[0].summary.unwrap();
        assert_eq!(
            (s.keep_alive, s.version),
            (*keep, *version),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn pipelined_requests_and_leading_blank_line() {
    let input: Vec<u8> = [
        &b"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n",
        b"DELETE /d?x HTTP/1.1\r\n\r\n",
    ]
    .concat();
    let r = check(retain, &input, true);
    assert_eq!(r.error, None);
    let got: Vec<(&str, &str, &[u8])> = r
        .seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str(), s.body.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("GET", "/a", &b""[..]),
            ("POST", "/b", b"hi"),
            ("POST", "/c", b"yo"),
            ("DELETE", "/d?x", b"")
        ]
    );
    let wire: u64 = r.seen.iter().map(|s| s.summary.unwrap().wire_bytes).sum();
    assert_eq!(wire, input.len() as u64);
}

#[test]
fn request_errors() {
    let cases: &[(&[u8], ErrorKind)] = &[
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 184467440737095516160\r\n\r\n",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            ErrorKind::InvalidTransferEncoding,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            ErrorKind::InvalidTransferEncoding,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
            ErrorKind::ConflictingFraming,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            ErrorKind::InvalidChunk,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nG\r\n",
            ErrorKind::InvalidChunk,
        ),
        (b"GET / HTTP/3.0\r\n\r\n", ErrorKind::InvalidHead),
        (b"GET  / HTTP/1.1\r\n\r\n", ErrorKind::InvalidHead),
        (b"G@T / HTTP/1.1\r\n\r\n", ErrorKind::InvalidHead),
        (b"\x00\x01\x02", ErrorKind::InvalidHead),
        (
            b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
            ErrorKind::InvalidHead,
        ),
        (b"GET / HTTP/1.1\r\nHost: a", ErrorKind::UnexpectedEof),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
            ErrorKind::UnexpectedEof,
        ),
    ];
    for (input, kind) in cases {
        let r = check(discard, input, true);
        let e = r
            .error
            .unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)));
        assert_eq!(e.kind(), *kind, "{:?}: {e}", String::from_utf8_lossy(input));
    }
}

#[test]
fn request_limits() {
    let make = || {
        RequestDecoder::new(
            Limits {
                max_head_bytes: 40,
                max_headers: 2,
                ..Limits::default()
            },
            BodyMode::Discard,
        )
    };
    let r = check(
        make,
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
        true,
    );
    assert_eq!(r.error.unwrap().kind(), ErrorKind::TooManyHeaders);
    let r = check(
        make,
        b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n",
        true,
    );
    let e = r.error.unwrap();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::HeadTooLarge, 40));
}

#[test]
fn finish_eof_collects_an_uncollected_bodyless_request() {
    let mut d = discard();
    let r = d.decode(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(matches!(r.message, Some(RequestEvent::Head(_))));
    let s = d.finish_eof().unwrap().expect("complete at EOF");
    assert_eq!(s.framing, Framing::Empty);
    assert_eq!(d.finish_eof(), Ok(None));
}

#[test]
fn collector_yields_owned_requests() {
    let input: Vec<u8> = [
        &b"POST /submit?a=1 HTTP/1.1\r\nHost: svc\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"[..],
        b"GET /next HTTP/1.0\r\n\r\n",
    ]
    .concat();
    let all: Vec<usize> = (1..input.len()).collect();
    for cuts in [&[][..], &all[..]] {
        let mut col = RequestCollector::new(Limits::default());
        let (reqs, err) = collect(&mut col, &input, cuts);
        assert_eq!(err, None);
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].target, "/submit?a=1");
        assert_eq!(
            reqs[0].headers,
            vec![
                ("Host".to_owned(), b"svc".to_vec()),
                ("Content-Type".to_owned(), b"text/plain".to_vec()),
                ("Content-Length".to_owned(), b"5".to_vec()),
            ]
        );
        assert_eq!(reqs[0].body, b"hello");
        assert_eq!(reqs[0].summary.body_bytes, 5);
        assert_eq!(
            (
                reqs[1].method.as_str(),
                reqs[1].version,
                reqs[1].summary.keep_alive
            ),
            ("GET", Version::Http10, false)
        );
        assert!(reqs[1].body.is_empty());
        assert_eq!(col.stream_offset(), input.len() as u64);
    }
    // A cut stream is reported.
    let mut col = RequestCollector::new(Limits::default());
    let (reqs, err) = collect(&mut col, &input[..input.len() - 3], &[]);
    assert_eq!(reqs.len(), 1);
    assert_eq!(err.unwrap().kind(), ErrorKind::UnexpectedEof);
}

#[test]
fn reset_clears_failure() {
    let mut d = discard();
    let e = d.decode(b"\x01").unwrap_err();
    assert_eq!(d.decode(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(), e);
    d.reset();
    assert!(matches!(
        d.decode(b"GET / HTTP/1.1\r\n\r\n").unwrap().message,
        Some(RequestEvent::Head(_))
    ));
}
