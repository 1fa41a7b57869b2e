//! Every byte prefix of valid input is Partial: never an error, never a
//! completion that the full input would not produce at that point.

mod common;

use common::{run_requests, run_responses, whole};
use ringload_http1::{BodyMode, Limits, RequestDecoder, ResponseDecoder, ResponseTo};

const RESPONSES: &[(&[u8], ResponseTo)] = &[
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ResponseTo::NonHead,
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ResponseTo::NonHead,
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
        ResponseTo::NonHead,
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
        ResponseTo::Head,
    ),
    (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        ResponseTo::NonHead,
    ),
    (
        b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        ResponseTo::NonHead,
    ),
    (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
        ResponseTo::NonHead,
    ),
    (
        b"\r\nHTTP/1.1 404 Not Found\nContent-Length: 1\n\nx",
        ResponseTo::NonHead,
    ),
    (
        b"HTTP/1.1 200 OK\r\nServer: s\r\n\r\nuntil close",
        ResponseTo::NonHead,
    ),
];

const REQUESTS: &[&[u8]] = &[
    b"GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /p HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nbody",
    b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"\r\nOPTIONS * HTTP/1.0\r\n\r\n",
    b"DELETE /x HTTP/1.1\nContent-Length: 1\n\nz",
];

#[test]
fn every_prefix_of_each_response_is_partial() {
    for (msg, to) in RESPONSES {
        for p in 0..msg.len() {
            let r = whole(
                &mut ResponseDecoder::new(Limits::default()),
                &msg[..p],
                &[*to],
                false,
            );
            // A response with interim parts may legitimately not complete; no
            // prefix may complete or fail.
            assert_eq!(
                r.error,
                None,
                "prefix {p} of {:?}",
                String::from_utf8_lossy(msg)
            );
            assert!(
                r.done.is_empty(),
                "prefix {p} of {:?} completed",
                String::from_utf8_lossy(msg)
            );
        }
    }
}

#[test]
fn every_prefix_of_a_pipelined_stream_completes_exactly_the_contained_responses() {
    let stream: Vec<u8> = RESPONSES
        .iter()
        .flat_map(|(m, _)| m.iter().copied())
        .collect();
    let tos: Vec<ResponseTo> = RESPONSES.iter().map(|(_, t)| *t).collect();
    let full = whole(
        &mut ResponseDecoder::new(Limits::default()),
        &stream,
        &tos,
        true,
    );
    assert_eq!(full.error, None);
    assert_eq!(full.done.len(), RESPONSES.len());
    let mut ends = vec![];
    let mut at = 0;
    for (m, _) in RESPONSES {
        at += m.len();
        ends.push(at);
    }
    for p in 0..stream.len() {
        // Whole prefix at once, and the same prefix one byte at a time.
        let cuts: Vec<usize> = (1..p).collect();
        for r in [
            whole(
                &mut ResponseDecoder::new(Limits::default()),
                &stream[..p],
                &tos,
                false,
            ),
            run_responses(
                &mut ResponseDecoder::new(Limits::default()),
                &stream[..p],
                &cuts,
                &tos,
                false,
            ),
        ] {
            assert_eq!(r.error, None, "prefix {p}");
            // The last response reads until close, so it never completes here.
            let contained = ends[..ends.len() - 1].iter().filter(|&&e| e <= p).count();
            assert_eq!(r.done[..], full.done[..contained], "prefix {p}");
        }
    }
}

#[test]
fn every_prefix_of_each_request_is_partial() {
    for msg in REQUESTS {
        for p in 0..msg.len() {
            for mode in [BodyMode::Discard, BodyMode::Retain] {
                let r = run_requests(
                    &mut RequestDecoder::new(Limits::default(), mode),
                    &msg[..p],
                    &[],
                    false,
                );
                assert_eq!(
                    r.error,
                    None,
                    "prefix {p} of {:?}",
                    String::from_utf8_lossy(msg)
                );
                assert!(
                    r.seen.iter().all(|s| s.summary.is_none()),
                    "prefix {p} of {:?} completed",
                    String::from_utf8_lossy(msg)
                );
            }
        }
    }
}

#[test]
fn every_prefix_of_a_pipelined_request_stream_completes_exactly_the_contained_requests() {
    let stream: Vec<u8> = REQUESTS.concat();
    let full = run_requests(
        &mut RequestDecoder::new(Limits::default(), BodyMode::Retain),
        &stream,
        &[],
        true,
    );
    assert_eq!(full.error, None);
    assert_eq!(full.seen.len(), REQUESTS.len());
    let mut ends = vec![];
    let mut at = 0;
    for m in REQUESTS {
        at += m.len();
        ends.push(at);
    }
    for p in 0..stream.len() {
        let cuts: Vec<usize> = (1..p).collect();
        for r in [
            run_requests(
                &mut RequestDecoder::new(Limits::default(), BodyMode::Retain),
                &stream[..p],
                &[],
                false,
            ),
            run_requests(
                &mut RequestDecoder::new(Limits::default(), BodyMode::Retain),
                &stream[..p],
                &cuts,
                false,
            ),
        ] {
            assert_eq!(r.error, None, "prefix {p}");
            let complete: Vec<_> = r
                .seen
                .iter()
                .filter(|s| s.summary.is_some())
                .cloned()
                .collect();
            let contained = ends.iter().filter(|&&e| e <= p).count();
            assert_eq!(complete[..], full.seen[..contained], "prefix {p}");
        }
    }
}
