//! Framing cases for `ResponseDecoder`, each checked fed whole and byte by byte.

mod common;

use common::{ResponseRun, bytewise, run_responses, whole};
use ringload_http1::{
    ErrorKind, Framing, Limits, ResponseDecoder, ResponseSummary, ResponseTo, Version,
};

const GET: ResponseTo = ResponseTo::NonHead;
const HEAD: ResponseTo = ResponseTo::Head;

fn dec() -> ResponseDecoder {
    ResponseDecoder::new(Limits::default())
}

/// Decodes whole, byte by byte and split at every single point; all must agree.
fn check(input: &[u8], tos: &[ResponseTo], eof: bool) -> ResponseRun {
    // Where an error stops the caller's buffer depends on the pieces, so
    // compare everything but `leftover`.
    let key = |r: &ResponseRun| (r.done.clone(), r.captured0.clone(), r.error);
    let a = whole(&mut dec(), input, tos, eof);
    let b = bytewise(&mut dec(), input, tos, eof);
    assert_eq!(
        key(&a),
        key(&b),
        "whole vs byte-by-byte differ for {:?}",
        String::from_utf8_lossy(input)
    );
    for cut in 1..input.len() {
        let c = run_responses(&mut dec(), input, &[cut], tos, eof);
        assert_eq!(key(&a), key(&c), "split at {cut} differs");
    }
    a
}

fn ok(input: &[u8], tos: &[ResponseTo], eof: bool) -> Vec<ResponseSummary> {
    let r = check(input, tos, eof);
    assert_eq!(
        r.error,
        None,
        "unexpected error for {:?}",
        String::from_utf8_lossy(input)
    );
    r.done
}

fn err(input: &[u8], tos: &[ResponseTo]) -> ringload_http1::Error {
    let r = check(input, tos, true);
    r.error.unwrap_or_else(|| {
        panic!(
            "no error for {:?}: {:?}",
            String::from_utf8_lossy(input),
            r.done
        )
    })
}

#[test]
fn content_length() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let done = ok(input, &[], false);
    assert_eq!(
        done,
        vec![ResponseSummary {
            status: 200,
            version: Version::Http11,
            close: false,
            framing: Framing::Length,
            head_bytes: 38,
            body_bytes: 5,
            wire_bytes: 43,
            interim: 0,
        }]
    );
}

#[test]
fn content_length_zero_completes_with_head() {
    let done = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &[], false);
    assert_eq!((done[0].framing, done[0].body_bytes), (Framing::Length, 0));
}

#[test]
fn identical_duplicate_content_length_is_accepted() {
    let done = ok(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3, 3\r\n\r\nabc",
        &[],
        false,
    );
    assert_eq!(done[0].body_bytes, 3);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1;q=\"x\"\r\nhello\r\n6\r\n world\r\n0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
    let done = ok(input, &[], false);
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].framing, done[0].body_bytes, done[0].close),
        (Framing::Chunked, 11, false)
    );
    assert_eq!(done[0].wire_bytes, input.len() as u64);
}

#[test]
fn chunked_after_other_coding_and_case_insensitive() {
    let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n1\r\nx\r\n0\r\n\r\n";
    assert_eq!(ok(input, &[], false)[0].framing, Framing::Chunked);
}

#[test]
fn transfer_encoding_not_ending_in_chunked_reads_until_close() {
    let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzzz";
    assert!(ok(input, &[], false).is_empty());
    let done = ok(input, &[], true);
    assert_eq!(
        (done[0].framing, done[0].body_bytes, done[0].close),
        (Framing::UntilClose, 4, true)
    );
}

#[test]
fn read_until_close() {
    let input = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome body bytes";
    let r = check(input, &[], false);
    assert!(r.done.is_empty() && r.error.is_none() && r.leftover == 0);
    let done = ok(input, &[], true);
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].framing, done[0].body_bytes, done[0].close),
        (Framing::UntilClose, 15, true)
    );
    // An empty read-until-close body is still a complete response at EOF.
    let done = ok(b"HTTP/1.1 200 OK\r\n\r\n", &[], true);
    assert_eq!(
        (done[0].body_bytes, done[0].framing),
        (0, Framing::UntilClose)
    );
}

#[test]
fn head_response_has_no_body_whatever_the_headers_say() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
        HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let done = ok(input, &[HEAD, HEAD, GET], false);
    assert_eq!(done.len(), 3);
    assert_eq!(
        done.iter().map(|d| d.body_bytes).collect::<Vec<_>>(),
        vec![0, 0, 2]
    );
    assert_eq!(done[0].framing, Framing::Empty);
    // A HEAD response without length information does not read until close.
    let done = ok(b"HTTP/1.1 200 OK\r\n\r\n", &[HEAD], false);
    assert_eq!((done[0].framing, done[0].close), (Framing::Empty, false));
}

#[test]
fn no_body_statuses() {
    for status in [204u16, 304] {
        let input = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        );
        let done = ok(input.as_bytes(), &[], false);
        assert_eq!(done.len(), 2, "status {status}");
        assert_eq!(
            (done[0].status, done[0].framing, done[0].body_bytes),
            (status, Framing::Empty, 0)
        );
    }
}

#[test]
fn interim_responses_are_skipped() {
    let input = b"HTTP/1.1 100 Continue\r\n\r\n\
        HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
        HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    let done = ok(input, &[], false);
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].status, done[0].interim, done[0].body_bytes),
        (201, 2, 2)
    );
    assert_eq!(done[0].head_bytes, 43);
    assert_eq!(done[0].wire_bytes, input.len() as u64);
    // EOF after an interim response but before the final one is a cut stream.
    let e = err(b"HTTP/1.1 100 Continue\r\n\r\n", &[]);
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
}

#[test]
fn too_many_interim_responses() {
    let limits = Limits {
        max_interim: 2,
        ..Limits::default()
    };
    let input = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(3);
    let e = whole(&mut ResponseDecoder::new(limits), &input, &[], false)
        .error
        .unwrap();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::TooManyInterim, 50));
}

#[test]
fn switching_protocols_is_final_and_closes() {
    let done = ok(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        &[],
        false,
    );
    assert_eq!(
        (done[0].status, done[0].close, done[0].framing),
        (101, true, Framing::Empty)
    );
}

#[test]
fn http10() {
    let done = ok(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", &[], false);
    assert_eq!((done[0].version, done[0].close), (Version::Http10, true));
    let done = ok(
        b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
        &[],
        false,
    );
    assert_eq!((done[0].version, done[0].close), (Version::Http10, false));
    let done = ok(b"HTTP/1.0 200 OK\r\n\r\nuntil close", &[], true);
    assert_eq!(
        (done[0].framing, done[0].body_bytes, done[0].close),
        (Framing::UntilClose, 11, true)
    );
    // Transfer-Encoding in HTTP/1.0 is faulty framing: honour it, then close.
    let done = ok(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        &[],
        false,
    );
    assert_eq!((done[0].framing, done[0].close), (Framing::Chunked, true));
}

#[test]
fn connection_close() {
    let done = ok(
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
        &[],
        false,
    );
    assert!(done[0].close);
}

#[test]
fn bare_lf_heads_and_leading_blank_lines() {
    let input = b"HTTP/1.1 200 OK\nContent-Length: 1\n\nx\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    let done = ok(input, &[], false);
    assert_eq!(done.len(), 2);
    assert_eq!(done[1].wire_bytes, 4 + 27);
}

#[test]
fn pipelined_mixed_sequence_in_one_buffer() {
    let input: Vec<u8> = [
        &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
        b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\ntail until close",
    ]
    .concat();
    let tos = [GET, GET, HEAD, GET, GET, GET];
    let done = ok(&input, &tos, true);
    let got: Vec<(u16, u64, bool, u16)> = done
        .iter()
        .map(|d| (d.status, d.body_bytes, d.close, d.interim))
        .collect();
    assert_eq!(
        got,
        vec![
            (200, 3, false, 1),
            (200, 3, false, 0),
            (200, 0, false, 0),
            (304, 0, false, 0),
            (404, 4, false, 0),
            (500, 16, true, 0)
        ]
    );
    assert_eq!(
        done.iter().map(|d| d.wire_bytes).sum::<u64>(),
        input.len() as u64
    );
}

#[test]
fn framing_errors() {
    let cases: &[(&[u8], ErrorKind)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabc",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
            ErrorKind::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            ErrorKind::ConflictingFraming,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            ErrorKind::InvalidTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
            ErrorKind::InvalidChunk,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
            ErrorKind::InvalidChunk,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n",
            ErrorKind::InvalidChunk,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n",
            ErrorKind::InvalidChunk,
        ),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", ErrorKind::InvalidHead),
        (b"HTTP/1.1 099 Low\r\n\r\n", ErrorKind::InvalidHead),
        (b"HTTP/2.0 200 OK\r\n\r\n", ErrorKind::InvalidHead),
        (
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            ErrorKind::InvalidHead,
        ),
        (
            b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
            ErrorKind::InvalidHead,
        ),
        (b"SSH-2.0-OpenSSH\r\n", ErrorKind::InvalidHead),
    ];
    for (input, kind) in cases {
        let e = err(input, &[]);
        assert_eq!(e.kind(), *kind, "{:?}: {e}", String::from_utf8_lossy(input));
    }
}

#[test]
fn garbage_is_rejected_before_a_line_ending_arrives() {
    let mut d = dec();
    let e = d.decode(b"\x16\x03\x01", GET).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidHead, 0));
    // A wrong status line is rejected once its line ends, long before the cap.
    let mut d = dec();
    let e = d.decode(b"HTTP/1.1 abc\r\nX: y", GET).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidHead);
}

#[test]
fn chunk_line_limit() {
    let limits = Limits {
        max_chunk_line: 8,
        ..Limits::default()
    };
    let input =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;abcdefgh\r\nx\r\n0\r\n\r\n";
    let e = whole(&mut ResponseDecoder::new(limits), input, &[], false)
        .error
        .unwrap();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::ChunkLineTooLong, 55));
    let e = bytewise(&mut ResponseDecoder::new(limits), input, &[], false)
        .error
        .unwrap();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::ChunkLineTooLong, 55));
}

#[test]
fn head_and_header_count_limits() {
    let limits = Limits {
        max_head_bytes: 64,
        max_headers: 3,
        ..Limits::default()
    };
    let big = [&b"HTTP/1.1 200 OK\r\nX: "[..], &[b'a'; 60], b"\r\n\r\n"].concat();
    for r in [
        whole(&mut ResponseDecoder::new(limits), &big, &[], false),
        bytewise(&mut ResponseDecoder::new(limits), &big, &[], false),
    ] {
        let e = r.error.unwrap();
        assert_eq!((e.kind(), e.offset()), (ErrorKind::HeadTooLarge, 64));
    }
    let many = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    let e = whole(&mut ResponseDecoder::new(limits), many, &[], false)
        .error
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::TooManyHeaders);
    let three = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n";
    let lim4 = Limits {
        max_headers: 4,
        ..limits
    };
    assert_eq!(
        whole(&mut ResponseDecoder::new(lim4), three, &[], false)
            .done
            .len(),
        1
    );
    // Endless blank lines are bounded too.
    let blanks = b"\r\n".repeat(40);
    let e = whole(&mut ResponseDecoder::new(limits), &blanks, &[], false)
        .error
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::HeadTooLarge);
}

#[test]
fn default_limit_rejects_oversized_head() {
    let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
    while input.len() <= 64 * 1024 {
        input.extend_from_slice(
            format!("X-Filler-{}: {}\r\n", input.len(), "v".repeat(900)).as_bytes(),
        );
    }
    let e = whole(&mut dec(), &input, &[], false).error.unwrap();
    assert_eq!(e.kind(), ErrorKind::HeadTooLarge);
}

#[test]
fn large_head_fed_byte_by_byte_completes() {
    // ~60 KiB head delivered one byte at a time: the scanner only looks at
    // the new tail, so this stays linear (a quadratic rescan would do ~1.8e9
    // byte comparisons here and make the test crawl).
    let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..60 {
        input.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    input.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let r = bytewise(&mut dec(), &input, &[], false);
    assert_eq!(r.error, None);
    assert_eq!(r.done.len(), 1);
    assert_eq!(r.done[0].body_bytes, 2);
}

#[test]
fn unexpected_eof() {
    for input in [
        &b"HTTP/1.1 200"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
    ] {
        let e = err(input, &[]);
        assert_eq!(
            e.kind(),
            ErrorKind::UnexpectedEof,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Idle (or only blank lines) at EOF is a clean close.
    assert_eq!(whole(&mut dec(), b"", &[], true).error, None);
    assert_eq!(whole(&mut dec(), b"\r\n", &[], true).error, None);
}

#[test]
fn error_offset_points_into_the_stream_and_is_sticky() {
    let first = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let input = [
        &first[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nQ\r\n",
    ]
    .concat();
    let mut d = dec();
    let r = whole(&mut d, &input, &[], false);
    assert_eq!(r.done.len(), 1);
    let e = r.error.unwrap();
    assert_eq!(
        (e.kind(), e.offset()),
        (ErrorKind::InvalidChunk, input.len() as u64 - 3)
    );
    assert_eq!(d.decode(b"HTTP/1.1 200 OK\r\n\r\n", GET), Err(e));
    assert_eq!(d.finish_eof(), Err(e));
    d.reset();
    assert_eq!(whole(&mut d, first, &[], false).done.len(), 1);
    // Content-Length errors point at the value.
    let e = err(b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", &[]);
    assert_eq!(e.offset(), 33);
}

#[test]
fn captures_selected_headers() {
    let names = ["x-upstream-version", "X-Missing", "x-long"];
    let long = "L".repeat(100);
    let input = format!(
        "HTTP/1.1 100 Continue\r\nX-Upstream-Version: interim\r\n\r\n\
         HTTP/1.1 200 OK\r\nX-Upstream-Version: stable\r\nx-long: {long}\r\nContent-Length: 0\r\n\r\n\
         HTTP/1.1 200 OK\r\nx-upstream-version:  canary-v2 \r\nX-UPSTREAM-VERSION: second\r\nContent-Length: 1\r\n\r\nx\
         HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    );
    let mut d = ResponseDecoder::with_captures(Limits::default(), &names);
    let mut buf = input.as_bytes();
    let mut seen = vec![];
    while let Some(s) = {
        let r = d.decode(buf, GET).unwrap();
        buf = &buf[r.consumed..];
        r.message
    } {
        let _ = s;
        let v = |i| {
            d.captured(i)
                .map(|c| (String::from_utf8_lossy(c.value).into_owned(), c.truncated))
        };
        seen.push((v(0), v(1), v(2)));
    }
    assert!(buf.is_empty());
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0],
        (
            Some(("stable".into(), false)),
            None,
            Some(("L".repeat(64), true))
        )
    );
    assert_eq!(seen[1], (Some(("canary-v2".into(), false)), None, None));
    assert_eq!(seen[2], (None, None, None));
    // Fed byte by byte, the captures agree.
    let mut d2 = ResponseDecoder::with_captures(Limits::default(), &names);
    let r = bytewise(&mut d2, input.as_bytes(), &[], false);
    let caps: Vec<_> = r
        .captured0
        .iter()
        .map(|c| {
            c.as_deref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .collect();
    assert_eq!(
        caps,
        vec![
            Some("stable".to_owned()),
            Some("canary-v2".to_owned()),
            None
        ]
    );
}

#[test]
fn idle_and_offset_accessors() {
    let mut d = dec();
    assert!(d.is_idle());
    let r = d.decode(b"HTTP/1.1 200 OK\r\n", GET).unwrap();
    assert_eq!((r.consumed, r.message), (0, None));
    assert!(!d.is_idle());
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    let r = d.decode(input, GET).unwrap();
    assert_eq!(r.consumed, input.len());
    assert!(d.is_idle());
    assert_eq!(d.stream_offset(), input.len() as u64);
}

/// `decode_keeping` keeps the final head's fields and the de-chunked body up to its cap, the same
/// whatever the pieces the bytes arrive in; interim responses leave nothing behind.
#[test]
fn kept_responses_hold_fields_and_body_up_to_the_cap() {
    use ringload_http1::KeptResponse;
    let input: &[u8] = b"HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\n\
HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/\r\nset-cookie: theme=dark\r\n\
Transfer-Encoding: chunked\r\n\r\n5\r\n{\"acc\r\na\r\ness\":\"t1\"}\r\n0\r\n\r\n";
    let expect_body = b"{\"access\":\"t1\"}";
    for cut in 0..input.len() {
        for cap in [1024, 4] {
            let mut d = dec();
            let mut keep = KeptResponse::new(cap);
            let mut buf = Vec::new();
            let mut done = None;
            for piece in [&input[..cut], &input[cut..]] {
                buf.extend_from_slice(piece);
                let r = d.decode_keeping(&buf, GET, &mut keep).unwrap();
                buf.drain(..r.consumed);
                if let Some(s) = r.message {
                    done = Some(s);
                }
            }
            let s = done.unwrap_or_else(|| panic!("cut at {cut}: incomplete"));
            assert_eq!((s.status, s.body_bytes), (200, 15));
            let cookies: Vec<&[u8]> = keep.values("SET-COOKIE").collect();
            assert_eq!(cookies, [&b"sid=abc; Path=/"[..], b"theme=dark"]);
            assert!(keep.values("x-interim").next().is_none());
            let n = cap.min(expect_body.len());
            assert_eq!(keep.body, &expect_body[..n], "cut at {cut}, cap {cap}");
            assert_eq!(keep.body_truncated, cap < expect_body.len());
        }
    }
}

/// Error bodies are sniffed up to the cap, de-chunked, the same whatever the pieces the bytes
/// arrive in; successes are not looked at; each response starts afresh, pipelined or not, and
/// read-until-close bodies are sniffed too.
#[test]
fn error_bodies_are_sniffed_up_to_the_cap() {
    let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
    let input = format!(
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nno he\r\ne\r\nalthy upstream\r\n0\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nno healthy upstream\
         HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nContent-Length: {}\r\n\r\n{page}\
         HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n\
         HTTP/1.0 503 x\r\n\r\nupstream connect error or disconnect/reset before headers",
        page.len()
    );
    let input = input.as_bytes();
    for cap in [16, 256, 1 << 20] {
        let want: Vec<Vec<u8>> = [
            &b"no healthy upstream"[..],
            b"",
            page.as_bytes(),
            b"",
            b"upstream connect error or disconnect/reset before headers",
        ]
        .iter()
        .map(|b| b[..b.len().min(cap.min(ringload_http1::MAX_BODY_SNIFF))].to_vec())
        .collect();
        for cut in 0..input.len() {
            let mut d = dec().sniff_error_bodies(cap);
            let mut buf = Vec::new();
            let mut seen = Vec::new();
            for piece in [&input[..cut], &input[cut..]] {
                buf.extend_from_slice(piece);
                loop {
                    let r = d.decode(&buf, GET).unwrap();
                    buf.drain(..r.consumed);
                    match r.message {
                        Some(_) => seen.push(d.error_body_prefix().to_vec()),
                        None => break,
                    }
                }
            }
            assert_eq!(d.finish_eof().unwrap().unwrap().status, 503);
            seen.push(d.error_body_prefix().to_vec());
            assert_eq!(seen, want, "cap {cap}, cut at {cut}");
        }
    }
    // Off by default.
    let mut d = dec();
    d.decode(b"HTTP/1.1 503 x\r\nContent-Length: 2\r\n\r\nno", GET)
        .unwrap();
    assert!(d.error_body_prefix().is_empty());
}
