//! Drivers shared by the integration tests: they play the caller's side of
//! the buffer contract (append received bytes, drop consumed ones, call again
//! until the decoder needs more) and bound every loop.
#![allow(dead_code)]

use ringload_http1::{
    Error, OwnedRequest, RequestCollector, RequestDecoder, RequestEvent, ResponseDecoder,
    ResponseSummary, ResponseTo,
};

/// Everything a response stream decoded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRun {
    pub done: Vec<ResponseSummary>,
    /// The captured values of capture slot 0 for each completed response.
    pub captured0: Vec<Option<Vec<u8>>>,
    pub error: Option<Error>,
    /// Bytes still held by the caller at the end.
    pub leftover: usize,
}

/// Feeds `input` cut at the given points (sorted, in range) to a response
/// decoder, then signals EOF if `eof`.
pub fn run_responses(
    dec: &mut ResponseDecoder,
    input: &[u8],
    cuts: &[usize],
    tos: &[ResponseTo],
    eof: bool,
) -> ResponseRun {
    let mut run = ResponseRun {
        done: vec![],
        captured0: vec![],
        error: None,
        leftover: 0,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut prev = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    for end in ends {
        let end = end.clamp(prev, input.len());
        buf.extend_from_slice(&input[prev..end]);
        prev = end;
        // Each round either consumes bytes or completes a message or stops.
        for _ in 0..=input.len() + 4 {
            let to = tos.get(run.done.len()).copied().unwrap_or_default();
            match dec.decode(&buf, to) {
                Err(e) => {
                    run.error = Some(e);
                    run.leftover = buf.len();
                    return run;
                }
                Ok(d) => {
                    assert!(d.consumed <= buf.len(), "consumed more than given");
                    buf.drain(..d.consumed);
                    match d.message {
                        Some(s) => {
                            run.captured0
                                .push(dec.captured(0).map(|c| c.value.to_vec()));
                            run.done.push(s);
                        }
                        None => break,
                    }
                }
            }
        }
    }
    if eof {
        match dec.finish_eof() {
            Ok(Some(s)) => {
                run.captured0
                    .push(dec.captured(0).map(|c| c.value.to_vec()));
                run.done.push(s);
            }
            Ok(None) => {}
            Err(e) => run.error = Some(e),
        }
    }
    run.leftover = buf.len();
    run
}

pub fn whole(
    dec: &mut ResponseDecoder,
    input: &[u8],
    tos: &[ResponseTo],
    eof: bool,
) -> ResponseRun {
    run_responses(dec, input, &[], tos, eof)
}

pub fn bytewise(
    dec: &mut ResponseDecoder,
    input: &[u8],
    tos: &[ResponseTo],
    eof: bool,
) -> ResponseRun {
    let cuts: Vec<usize> = (1..input.len()).collect();
    run_responses(dec, input, &cuts, tos, eof)
}

/// One decoded request as seen through the borrowed head + summary events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub expect_continue_at_head: bool,
    pub summary: Option<ringload_http1::RequestSummary>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRun {
    pub seen: Vec<SeenRequest>,
    pub error: Option<Error>,
    pub leftover: usize,
}

pub fn run_requests(
    dec: &mut RequestDecoder,
    input: &[u8],
    cuts: &[usize],
    eof: bool,
) -> RequestRun {
    let mut run = RequestRun {
        seen: vec![],
        error: None,
        leftover: 0,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut prev = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    for end in ends {
        let end = end.clamp(prev, input.len());
        buf.extend_from_slice(&input[prev..end]);
        prev = end;
        for _ in 0..=2 * input.len() + 4 {
            let d = match dec.decode(&buf) {
                Err(e) => {
                    run.error = Some(e);
                    run.leftover = buf.len();
                    return run;
                }
                Ok(d) => d,
            };
            assert!(d.consumed <= buf.len(), "consumed more than given");
            let consumed = d.consumed;
            let (stop, completed) = match d.message {
                None => (true, false),
                Some(RequestEvent::Head(h)) => {
                    assert!(
                        run.seen.last().is_none_or(|r| r.summary.is_some()),
                        "two heads in a row"
                    );
                    run.seen.push(SeenRequest {
                        method: h.method().to_owned(),
                        target: h.target().to_owned(),
                        headers: h
                            .headers()
                            .map(|(n, v)| (n.to_owned(), v.to_vec()))
                            .collect(),
                        expect_continue_at_head: h.expect_continue(),
                        summary: None,
                        body: vec![],
                    });
                    (false, false)
                }
                Some(RequestEvent::Complete(s)) => {
                    let last = run.seen.last_mut().expect("Complete without Head");
                    assert!(last.summary.is_none(), "two Completes for one head");
                    last.summary = Some(s);
                    (false, true)
                }
            };
            if completed {
                // The retained body is valid until the next call.
                if let Some(last) = run.seen.last_mut() {
                    last.body = dec.body().to_vec();
                }
            }
            buf.drain(..consumed);
            if stop {
                break;
            }
        }
    }
    if eof {
        match dec.finish_eof() {
            Ok(Some(s)) => {
                if let Some(last) = run.seen.last_mut() {
                    last.summary = Some(s);
                }
            }
            Ok(None) => {}
            Err(e) => run.error = Some(e),
        }
    }
    run.leftover = buf.len();
    run
}

pub fn collect(
    col: &mut RequestCollector,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<OwnedRequest>, Option<Error>) {
    let mut out = vec![];
    let mut buf: Vec<u8> = Vec::new();
    let mut prev = 0;
    for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        let end = end.clamp(prev, input.len());
        buf.extend_from_slice(&input[prev..end]);
        prev = end;
        for _ in 0..=input.len() + 4 {
            match col.decode(&buf) {
                Err(e) => return (out, Some(e)),
                Ok(d) => {
                    buf.drain(..d.consumed);
                    match d.message {
                        Some(r) => out.push(r),
                        None => break,
                    }
                }
            }
        }
    }
    match col.finish_eof() {
        Ok(Some(r)) => out.push(r),
        Ok(None) => {}
        Err(e) => return (out, Some(e)),
    }
    (out, None)
}
