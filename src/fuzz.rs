//! Entry points for fuzzing every parser that an attacker or a broken tool can feed: capture
//! sources (HAR, pcap/pcapng, each access-log format, targets files), the plan reader, the
//! result reader (`merge`, reports) and the HTTP/1.1 request and response decoders.
//!
//! Each entry takes arbitrary bytes and returns nothing: it panics when an invariant breaks,
//! which is what a fuzzer reports. Beyond "no panic, no unbounded allocation", they check:
//! - every error is one line and names the input file (never an output);
//! - what a capture source accepts, normalisation and the plan writer accept too, and the plan
//!   reads back equal (a capture's fault is never reported as the output plan's);
//! - a plan that reads writes back to a plan that reads equal, and `inspect` summarises it;
//! - a result that `merge` accepts merges with itself and renders as text, JSON and HTML;
//! - the HTTP/1.1 decoders give the same messages and errors whether the bytes come at once or
//!   one at a time;
//! - the proxy's flow forwards exactly a prefix of what each side sent (a refused head dropped,
//!   a local reply only at the end), and forwards and records the same requests whole or byte
//!   by byte.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call these functions, and so does the stable
//! smoke test `tests/fuzz_smoke.rs` (seed corpus plus bounded mutations, run by `scripts/test`),
//! so both exercise the same code. [`TARGETS`] lists them by name.

use std::path::Path;

use ringload_formats::{read_plan, write_plan};
use ringload_http1::{
    BodyMode, Decoded, Limits, RequestCollector, RequestDecoder, RequestEvent, ResponseDecoder,
    ResponseTo,
};
use ringload_recorder::source::{access_log, har, pcap, targets};
use ringload_recorder::{Capture, Options, RecordError};

/// A fuzz target: its name (the cargo-fuzz target and seed directory) and entry point.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every fuzz target, by name.
pub const TARGETS: &[Target] = &[
    Target {
        name: "har",
        run: har,
    },
    Target {
        name: "pcap",
        run: pcap,
    },
    Target {
        name: "access_log_combined",
        run: access_log_combined,
    },
    Target {
        name: "access_log_json",
        run: access_log_json,
    },
    Target {
        name: "access_log_envoy",
        run: access_log_envoy,
    },
    Target {
        name: "targets",
        run: targets,
    },
    Target {
        name: "plan",
        run: plan,
    },
    Target {
        name: "result",
        run: result,
    },
    Target {
        name: "http1_response",
        run: http1_response,
    },
    Target {
        name: "http1_request",
        run: http1_request,
    },
    Target {
        name: "proxy_flow",
        run: proxy_flow,
    },
];

/// An error message shown to users: one line, naming `file`.
fn check_message(message: &str, file: &str) {
    assert!(
        !message.contains('\n'),
        "an error of more than one line: {message:?}"
    );
    assert!(
        message.contains(file),
        "an error that does not name {file}: {message:?}"
    );
}

/// A capture source's outcome, then normalisation and the plan writer and reader.
fn check_capture(read: Result<Capture, RecordError>, file: &str) {
    let capture = match read {
        Ok(c) => c,
        Err(e) => return check_message(&e.to_string(), file),
    };
    let (plan, _) = match ringload_recorder::normalise(vec![capture], &Options::default()) {
        Ok(p) => p,
        Err(e) => return check_message(&e.to_string(), file),
    };
    let mut bytes = Vec::new();
    if let Err(e) = write_plan(&mut bytes, &plan) {
        panic!("a capture normalised into a plan the writer refuses: {e}");
    }
    let back = read_plan(bytes.as_slice()).expect("a written plan reads back");
    assert_eq!(back, plan, "the plan read back differs");
}

/// `record --har`.
pub fn har(data: &[u8]) {
    check_capture(har::parse(data, Path::new("fuzz.har")), "fuzz.har");
}

/// `record --pcap` (pcap and pcapng).
pub fn pcap(data: &[u8]) {
    let opts = pcap::PcapOptions::default();
    check_capture(
        pcap::parse(data, Path::new("fuzz.pcap"), &opts),
        "fuzz.pcap",
    );
}

fn access_log(data: &[u8], format: access_log::LogFormat) {
    let opts = access_log::AccessLogOptions {
        format,
        fields: Vec::new(),
    };
    check_capture(
        access_log::parse(data, Path::new("fuzz.log"), &opts),
        "fuzz.log",
    );
}

/// `record --access-log --log-format nginx-combined`.
pub fn access_log_combined(data: &[u8]) {
    access_log(data, access_log::LogFormat::NginxCombined);
}

/// `record --access-log --log-format nginx-json`.
pub fn access_log_json(data: &[u8]) {
    access_log(data, access_log::LogFormat::NginxJson);
}

/// `record --access-log --log-format envoy`.
pub fn access_log_envoy(data: &[u8]) {
    access_log(data, access_log::LogFormat::Envoy);
}

/// `record --targets`; `@body` lines get a fixed body (nothing is read from disk).
pub fn targets(data: &[u8]) {
    let mut load = |name: &str| match name {
        "missing" => Err("missing: No such file or directory".to_string()),
        _ => Ok(b"{\"fuzz\":1}".to_vec()),
    };
    check_capture(
        targets::parse_bytes(data, Path::new("fuzz.targets"), &mut load),
        "fuzz.targets",
    );
}

/// The plan reader (`inspect`, `run`): a plan that reads writes back equal; `inspect` shows it.
/// The bytes are read as they are, then with the container's length and checksum made right,
/// so that mutations reach the payload decoder and the plan checks behind the checksum.
pub fn plan(data: &[u8]) {
    plan_bytes(data);
    if data.len() >= ringload_formats::HEADER_LEN + 4 {
        let mut fixed = data.to_vec();
        let payload = (data.len() - ringload_formats::HEADER_LEN - 4) as u64;
        fixed[16..24].copy_from_slice(&payload.to_le_bytes());
        let crc = crc32(&fixed[..fixed.len() - 4]);
        let n = fixed.len();
        fixed[n - 4..].copy_from_slice(&crc.to_le_bytes());
        plan_bytes(&fixed);
    }
}

/// CRC-32 (IEEE), as the plan container uses.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn plan_bytes(data: &[u8]) {
    let plan = match read_plan(data) {
        Ok(p) => p,
        Err(e) => {
            // The CLI prefixes the file name; the reader's message must be one line.
            let m = format!("fuzz.plan: {e}");
            return check_message(&m, "fuzz.plan");
        }
    };
    let mut bytes = Vec::new();
    write_plan(&mut bytes, &plan).expect("a plan that reads also writes");
    assert_eq!(
        read_plan(bytes.as_slice()).expect("rewritten plan reads"),
        plan
    );
    let i = crate::inspect::summarise(&plan, Path::new("fuzz.plan"), data.len() as u64);
    let _ = crate::inspect::render(&i);
    let _ = serde_json::to_string(&i).expect("inspect JSON");
}

/// The result reader (`merge`, reports): a result merged with itself renders everywhere.
pub fn result(data: &[u8]) {
    let names = ["a.json".to_string(), "b.json".to_string()];
    match crate::merge::merge_with(&names, |_| Ok(data.to_vec())) {
        Ok(merged) => {
            let _ = crate::report::render_text(&merged);
            let _ = crate::html::run_page(&merged);
            let _ = serde_json::to_vec(&merged).expect("merged JSON");
        }
        Err(e) => check_message(&e.to_string(), ".json"),
    }
}

/// What a response stream decoded to: completed messages (as text) and the error, if any.
fn responses(data: &[u8], to: &[ResponseTo], pieces: usize) -> (Vec<String>, Option<String>) {
    let mut dec = ResponseDecoder::with_captures(Limits::default(), &["x-a", "content-type"]);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for chunk in data.chunks(pieces.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            let t = to
                .get(out.len() % to.len().max(1))
                .copied()
                .unwrap_or_default();
            match dec.decode(&buf, t) {
                Err(e) => return (out, Some(e.to_string())),
                Ok(Decoded { consumed, message }) => {
                    assert!(consumed <= buf.len());
                    buf.drain(..consumed);
                    match message {
                        Some(s) => {
                            let c = dec.captured(0).map(|c| c.value.to_vec());
                            out.push(format!("{s:?} {c:?}"));
                        }
                        None => break,
                    }
                }
            }
        }
    }
    match dec.finish_eof() {
        Ok(Some(s)) => out.push(format!("{s:?} eof")),
        Ok(None) => {}
        Err(e) => return (out, Some(e.to_string())),
    }
    (out, None)
}

/// The engine's response decoder: the same messages whole or byte by byte. The first byte
/// says which responses answer HEAD requests.
pub fn http1_response(data: &[u8]) {
    let Some((&mask, data)) = data.split_first() else {
        return;
    };
    let to: Vec<ResponseTo> = (0..8)
        .map(|i| {
            if mask & (1 << i) != 0 {
                ResponseTo::Head
            } else {
                ResponseTo::NonHead
            }
        })
        .collect();
    let whole = responses(data, &to, data.len());
    let bytewise = responses(data, &to, 1);
    // Which error is found may differ (a bad header is caught early when it came with the
    // start line, else when the head completes), not whether one is, nor what came before.
    assert_eq!(
        (&whole.0, whole.1.is_some()),
        (&bytewise.0, bytewise.1.is_some()),
        "whole and byte-by-byte decoding differ: {whole:?} / {bytewise:?}"
    );
}

/// What a request stream decoded to through the borrowed decoder (retaining bodies).
fn requests(data: &[u8], pieces: usize) -> (Vec<String>, Option<String>) {
    let mut dec = RequestDecoder::new(Limits::default(), BodyMode::Retain);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for chunk in data.chunks(pieces.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            let (consumed, event) = match dec.decode(&buf) {
                Err(e) => return (out, Some(e.to_string())),
                Ok(Decoded { consumed, message }) => (
                    consumed,
                    message.map(|m| match m {
                        RequestEvent::Head(h) => format!(
                            "head {} {} {:?}",
                            h.method(),
                            h.target(),
                            h.headers().collect::<Vec<_>>()
                        ),
                        RequestEvent::Complete(s) => format!("complete {s:?}"),
                    }),
                ),
            };
            assert!(consumed <= buf.len());
            buf.drain(..consumed);
            match event {
                Some(e) => {
                    let body = if e.starts_with("complete") {
                        format!(" body {:?}", dec.body())
                    } else {
                        String::new()
                    };
                    out.push(e + &body);
                }
                None => break,
            }
        }
    }
    match dec.finish_eof() {
        Ok(Some(s)) => out.push(format!("complete {s:?} eof")),
        Ok(None) => {}
        Err(e) => return (out, Some(e.to_string())),
    }
    (out, None)
}

/// The recorder's and the target server's request decoders: the same requests whole or byte by
/// byte, and the owned collector agrees with the borrowed decoder on the request heads.
pub fn http1_request(data: &[u8]) {
    let whole = requests(data, data.len());
    let bytewise = requests(data, 1);
    assert_eq!(
        (&whole.0, whole.1.is_some()),
        (&bytewise.0, bytewise.1.is_some()),
        "whole and byte-by-byte decoding differ: {whole:?} / {bytewise:?}"
    );
    let mut col = RequestCollector::new(Limits::default());
    let mut buf = data.to_vec();
    let mut owned = 0;
    for _ in 0..=data.len() {
        match col.decode(&buf) {
            Ok(Decoded {
                consumed,
                message: Some(_),
            }) => {
                buf.drain(..consumed);
                owned += 1;
            }
            Ok(Decoded { consumed, .. }) => {
                buf.drain(..consumed);
                break;
            }
            Err(_) => break,
        }
    }
    let heads = whole.0.iter().filter(|e| e.starts_with("head")).count();
    assert!(
        owned <= heads,
        "the collector found {owned} requests, the decoder {heads} heads"
    );
}

/// What a flow did with both streams: bytes forwarded upstream and dropped, upstream bytes
/// forwarded to the client, the status of a local reply, requests forwarded, and the exchanges
/// recorded (method, path, status).
type Flowed = (
    Vec<u8>,
    usize,
    Vec<u8>,
    Option<u16>,
    u64,
    Vec<(String, String, Option<u16>)>,
);

/// Drives a recording flow with `client` then `upstream` bytes in pieces of `piece`, as the
/// proxy's driver does, ending both streams.
fn flow(client: &[u8], upstream: &[u8], piece: usize) -> Flowed {
    use ringload_proxy::flow::{
        ClientEnd, ClientNext, Flow, FlowConfig, Now, ToUpstream, UpstreamNext,
    };
    let now = Now {
        mono: std::time::Instant::now(),
        unix_us: 0,
    };
    let mut f = Flow::new(
        FlowConfig {
            record: true,
            ..FlowConfig::default()
        },
        1,
        None,
    );
    let (mut up, mut dropped, mut down, mut reply) = (Vec::new(), 0, Vec::new(), None);
    let (mut buf, mut pos) = (Vec::new(), 0);
    loop {
        let s = f.client_bytes(&buf, now);
        assert!(s.consumed <= buf.len());
        match s.bytes {
            ToUpstream::Forward { .. } => up.extend_from_slice(&buf[..s.consumed]),
            ToUpstream::Drop => dropped += s.consumed,
        }
        buf.drain(..s.consumed);
        match s.then {
            ClientNext::More => {}
            ClientNext::Read if pos < client.len() => {
                let end = (pos + piece).min(client.len());
                buf.extend_from_slice(&client[pos..end]);
                pos = end;
            }
            ClientNext::Read => {
                if f.client_eof() == ClientEnd::Abort {
                    up.clear();
                }
                break;
            }
            ClientNext::Stop => break,
            ClientNext::Abort => {
                // The connection ends here; how much of a broken body went up first depends
                // on how it arrived, so it is not compared.
                up.clear();
                break;
            }
        }
    }
    let (mut buf, mut pos) = (Vec::new(), 0);
    for _ in 0..upstream.len() * 2 + 64 {
        let s = f.upstream_bytes(&buf);
        assert!(s.consumed <= buf.len());
        down.extend_from_slice(&buf[..s.consumed]);
        buf.drain(..s.consumed);
        let mut then = s.then;
        if then == UpstreamNext::Read {
            if pos < upstream.len() {
                let end = (pos + piece).min(upstream.len());
                buf.extend_from_slice(&upstream[pos..end]);
                pos = end;
                continue;
            }
            then = f.upstream_eof();
        }
        match then {
            UpstreamNext::More => {}
            UpstreamNext::Read => panic!("the flow wants upstream bytes after their end"),
            UpstreamNext::Reply(r) => {
                reply = Some(r.status());
                break;
            }
            UpstreamNext::Close => break,
        }
    }
    f.finish();
    let forwarded = f.counts().forwarded;
    let recorded = f
        .take_recorded()
        .into_iter()
        .map(|e| (e.method, e.path, e.status))
        .collect();
    (up, dropped, down, reply, forwarded, recorded)
}

/// The proxy's sans-IO flow fed a client stream and an upstream stream (the input: a 2-byte
/// little-endian length of the client part, then the client part, then the upstream part).
pub fn proxy_flow(data: &[u8]) {
    let n = data
        .get(..2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let rest = data.get(2..).unwrap_or_default();
    let (client, upstream) = rest.split_at(n.min(rest.len()));
    let whole = flow(client, upstream, usize::MAX);
    let (up, dropped, down, reply, forwarded, recorded) = &whole;
    // Upstream gets a prefix of the client's bytes, minus a dropped (refused) head at its end;
    // the client a prefix of the upstream's bytes, then at most one local reply.
    assert!(up.len() + dropped <= client.len());
    assert_eq!(
        &client[..up.len()],
        up.as_slice(),
        "forwarded bytes are not the client's"
    );
    assert!(down.len() <= upstream.len());
    assert_eq!(
        &upstream[..down.len()],
        down.as_slice(),
        "answers are not the upstream's"
    );
    assert!(
        reply.is_none_or(|s| [400, 501, 502, 504].contains(&s)),
        "{reply:?}"
    );
    let heads = recorded.len();
    assert!(recorded.iter().all(|r| r.2.is_some()), "{recorded:?}");
    // Fed byte by byte, as many requests go up and the same exchanges are recorded. (Where a
    // side breaks, how much went through first, blank lines before a broken head included,
    // depends on how the bytes came, and so whether the client gets a 502 or sees the cut:
    // the bytes are not compared.)
    let bytewise = flow(client, upstream, 1);
    assert_eq!(
        (forwarded, recorded),
        (&bytewise.4, &bytewise.5),
        "whole and byte-by-byte driving differ ({heads} exchanges recorded whole)"
    );
}
