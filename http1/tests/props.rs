//! Property tests: random and mutated bytes never panic and stay bounded;
//! randomly generated valid streams decode to exactly what a model predicts,
//! however they are cut into pieces.

mod common;

use common::{collect, run_requests, run_responses};
use proptest::prelude::*;
use ringload_http1::{
    BodyMode, Framing, Limits, RequestCollector, RequestDecoder, ResponseDecoder, ResponseTo,
    Version,
};

fn small_limits() -> Limits {
    Limits {
        max_head_bytes: 256,
        max_headers: 8,
        max_chunk_line: 16,
        max_trailer_bytes: 32,
        max_body_retained: 16,
        max_interim: 3,
    }
}

/// Sorted cut points inside `0..len`.
fn cuts_for(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut c: Vec<usize> = raw.iter().map(|x| x % (len + 1)).collect();
    c.sort_unstable();
    c
}

// ---- a model of valid responses ----

#[derive(Debug, Clone)]
enum Body {
    Length(Vec<u8>),
    Chunked {
        chunks: Vec<Vec<u8>>,
        ext: bool,
        trailer: bool,
    },
    /// 204 / 304 / HEAD: no body.
    None,
}

#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    http10: bool,
    close_hdr: bool,
    interim: u8,
    head_req: bool,
    version_hdr: Option<String>,
    body: Body,
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..40)
}

fn resp_strategy() -> impl Strategy<Value = Resp> {
    let body = prop_oneof![
        body_bytes().prop_map(Body::Length),
        (
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 0..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(chunks, ext, trailer)| Body::Chunked {
                chunks,
                ext,
                trailer
            }),
        Just(Body::None),
    ];
    (
        prop_oneof![
            Just(200u16),
            Just(201),
            Just(404),
            Just(500),
            Just(204),
            Just(304)
        ],
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        proptest::option::of("[a-z0-9-]{1,12}"),
        body,
    )
        .prop_map(
            |(status, http10, close_hdr, interim, head_req, version_hdr, body)| {
                // No-body statuses and HEAD carry headers that would otherwise
                // frame a body, to check they are ignored.
                let body = if status == 204 || status == 304 {
                    Body::None
                } else {
                    body
                };
                // `Body::None` on another status is only valid as a HEAD response.
                let head_req =
                    head_req || (matches!(body, Body::None) && status != 204 && status != 304);
                Resp {
                    status,
                    http10,
                    close_hdr,
                    interim,
                    head_req,
                    version_hdr,
                    body,
                }
            },
        )
}

/// Encodes a response and returns the summary fields the decoder must report:
/// (status, version, close, framing, body_bytes, wire_bytes, interim).
fn encode_resp(r: &Resp, out: &mut Vec<u8>) -> (u16, Version, bool, Framing, u64, u64, u16) {
    let start = out.len();
    for _ in 0..r.interim {
        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let v = if r.http10 { "1.0" } else { "1.1" };
    out.extend_from_slice(
        format!("HTTP/{v} {} Whatever\r\nServer: model\r\n", r.status).as_bytes(),
    );
    if let Some(h) = &r.version_hdr {
        out.extend_from_slice(format!("X-Upstream-Version: {h}\r\n").as_bytes());
    }
    if r.close_hdr {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if r.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    let no_body = r.head_req || matches!(r.body, Body::None);
    let (framing, body_len) = match &r.body {
        Body::Length(b) => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", b.len()).as_bytes());
            if !no_body {
                out.extend_from_slice(b);
            }
            (Framing::Length, b.len())
        }
        Body::Chunked {
            chunks,
            ext,
            trailer,
        } => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            if !no_body {
                for c in chunks {
                    out.extend_from_slice(
                        format!("{:x}{}\r\n", c.len(), if *ext { ";k=v" } else { "" }).as_bytes(),
                    );
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n");
                if *trailer {
                    out.extend_from_slice(b"X-Trailer: t\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
            (Framing::Chunked, chunks.iter().map(Vec::len).sum())
        }
        Body::None => {
            // A Content-Length that must be ignored.
            out.extend_from_slice(b"Content-Length: 7\r\n\r\n");
            (Framing::Empty, 0)
        }
    };
    let (framing, body_len) = if no_body {
        (Framing::Empty, 0)
    } else {
        (framing, body_len)
    };
    let version = if r.http10 {
        Version::Http10
    } else {
        Version::Http11
    };
    // Transfer-Encoding in HTTP/1.0 is faulty framing: close even when the
    // response has no body (HEAD).
    let close = r.close_hdr || (r.http10 && matches!(r.body, Body::Chunked { .. }));
    (
        r.status,
        version,
        close,
        framing,
        body_len as u64,
        (out.len() - start) as u64,
        u16::from(r.interim),
    )
}

// ---- a model of valid requests ----

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    expect: bool,
    chunked: bool,
    body: Vec<u8>,
}

fn req_strategy() -> impl Strategy<Value = Req> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
        "/[a-z0-9/]{0,12}(\\?[a-z=&]{0,8})?",
        any::<bool>(),
        any::<bool>(),
        body_bytes(),
    )
        .prop_map(|(method, path, expect, chunked, body)| Req {
            method,
            path,
            expect,
            chunked,
            body,
        })
}

fn encode_req(r: &Req, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!("{} {} HTTP/1.1\r\nHost: model\r\n", r.method, r.path).as_bytes(),
    );
    if r.expect {
        out.extend_from_slice(b"Expect: 100-continue\r\n");
    }
    if r.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for c in r.body.chunks(7) {
            out.extend_from_slice(format!("{:X}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else if !r.body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", r.body.len()).as_bytes());
        out.extend_from_slice(&r.body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
}

proptest! {
    // 256 cases by default; raise with PROPTEST_CASES for a longer soak.
    #[test]
    fn random_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..8),
        prefix in prop_oneof![Just(&b""[..]), Just(&b"HTTP/1.1 200 OK\r\n"[..]), Just(&b"GET / HTTP/1.1\r\n"[..])],
        small in any::<bool>(),
    ) {
        let input = [prefix, &data[..]].concat();
        let cuts = cuts_for(input.len(), &raw_cuts);
        let limits = if small { small_limits() } else { Limits::default() };
        let r = run_responses(&mut ResponseDecoder::with_captures(limits, &["x-a"]), &input, &cuts, &[], true);
        prop_assert!(r.leftover <= input.len());
        let r = run_requests(&mut RequestDecoder::new(limits, BodyMode::Retain), &input, &cuts, true);
        prop_assert!(r.leftover <= input.len());
        for s in &r.seen {
            prop_assert!(s.body.len() <= limits.max_body_retained);
        }
        let _ = collect(&mut RequestCollector::new(limits), &input, &cuts);
    }

    #[test]
    fn valid_response_streams_match_the_model_however_cut(
        resps in proptest::collection::vec(resp_strategy(), 1..6),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut input = Vec::new();
        let mut want = Vec::new();
        for r in &resps {
            want.push(encode_resp(r, &mut input));
        }
        let tos: Vec<ResponseTo> = resps.iter().map(|r| if r.head_req { ResponseTo::Head } else { ResponseTo::NonHead }).collect();
        let cuts = cuts_for(input.len(), &raw_cuts);
        let mut dec = ResponseDecoder::with_captures(Limits::default(), &["x-upstream-version"]);
        let run = run_responses(&mut dec, &input, &cuts, &tos, true);
        prop_assert_eq!(run.error, None);
        let got: Vec<_> = run.done.iter().map(|s| (s.status, s.version, s.close, s.framing, s.body_bytes, s.wire_bytes, s.interim)).collect();
        prop_assert_eq!(got, want);
        let want_caps: Vec<Option<Vec<u8>>> = resps.iter().map(|r| r.version_hdr.clone().map(String::into_bytes)).collect();
        prop_assert_eq!(run.captured0, want_caps);
        prop_assert_eq!(run.leftover, 0);
    }

    #[test]
    fn valid_request_streams_match_the_model_however_cut(
        reqs in proptest::collection::vec(req_strategy(), 1..6),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut input = Vec::new();
        for r in &reqs {
            encode_req(r, &mut input);
        }
        let cuts = cuts_for(input.len(), &raw_cuts);
        let run = run_requests(&mut RequestDecoder::new(Limits::default(), BodyMode::Retain), &input, &cuts, true);
        prop_assert_eq!(run.error, None);
        prop_assert_eq!(run.seen.len(), reqs.len());
        for (seen, want) in run.seen.iter().zip(&reqs) {
            prop_assert_eq!(&seen.method, want.method);
            prop_assert_eq!(&seen.target, &want.path);
            prop_assert_eq!(seen.expect_continue_at_head, want.expect);
            prop_assert_eq!(&seen.body, &want.body);
            let s = seen.summary.expect("complete");
            prop_assert_eq!(s.body_bytes, want.body.len() as u64);
            prop_assert!(s.keep_alive);
        }
        let (owned, err) = collect(&mut RequestCollector::new(Limits::default()), &input, &cuts);
        prop_assert_eq!(err, None);
        let bodies: Vec<&[u8]> = owned.iter().map(|o| o.body.as_slice()).collect();
        let want_bodies: Vec<&[u8]> = reqs.iter().map(|r| r.body.as_slice()).collect();
        prop_assert_eq!(bodies, want_bodies);
    }

    #[test]
    fn mutated_valid_streams_never_panic_and_are_cut_independent(
        resps in proptest::collection::vec(resp_strategy(), 1..4),
        reqs in proptest::collection::vec(req_strategy(), 1..4),
        muts in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..5),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..10),
        small in any::<bool>(),
    ) {
        let limits = if small { small_limits() } else { Limits::default() };
        let mut resp_bytes = Vec::new();
        for r in &resps {
            encode_resp(r, &mut resp_bytes);
        }
        let mut req_bytes = Vec::new();
        for r in &reqs {
            encode_req(r, &mut req_bytes);
        }
        for input in [&mut resp_bytes, &mut req_bytes] {
            for (pos, byte, op) in &muts {
                let at = pos % (input.len() + 1);
                match op {
                    0 if at < input.len() => input[at] = *byte,
                    1 => input.insert(at, *byte),
                    _ if at < input.len() => { input.remove(at); }
                    _ => {}
                }
            }
        }
        let tos: Vec<ResponseTo> = resps.iter().map(|r| if r.head_req { ResponseTo::Head } else { ResponseTo::NonHead }).collect();
        let cuts = cuts_for(resp_bytes.len(), &raw_cuts);
        let a = run_responses(&mut ResponseDecoder::new(limits), &resp_bytes, &[], &tos, true);
        let b = run_responses(&mut ResponseDecoder::new(limits), &resp_bytes, &cuts, &tos, true);
        // Completed responses do not depend on how the bytes were cut (the
        // error kind may: an over-long garbage head can be caught by the early
        // start-line check or by the size cap first).
        prop_assert_eq!(&a.done, &b.done);
        prop_assert_eq!(a.error.is_some(), b.error.is_some());
        let wire: u64 = a.done.iter().map(|d| d.wire_bytes).sum();
        prop_assert!(wire <= resp_bytes.len() as u64);

        let cuts = cuts_for(req_bytes.len(), &raw_cuts);
        let a = run_requests(&mut RequestDecoder::new(limits, BodyMode::Retain), &req_bytes, &[], true);
        let b = run_requests(&mut RequestDecoder::new(limits, BodyMode::Retain), &req_bytes, &cuts, true);
        let done = |r: &common::RequestRun| r.seen.iter().filter(|s| s.summary.is_some()).cloned().collect::<Vec<_>>();
        prop_assert_eq!(done(&a), done(&b));
        prop_assert_eq!(a.error.is_some(), b.error.is_some());
    }
}
