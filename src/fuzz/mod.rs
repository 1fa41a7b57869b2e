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
use ringload_recorder::source::{access_log, har, pcap, targets};
use ringload_recorder::{Capture, Options, RecordError};

mod http1;
mod proxy;
pub use http1::{http1_request, http1_response};
pub use proxy::proxy_flow;

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
    let i = crate::inspect::summarise(&plan, "fuzz.plan", data.len() as u64);
    let _ = crate::inspect::render(&i);
    let _ = serde_json::to_string(&i).expect("inspect JSON");
}

/// The result reader (`merge`, reports): a result merged with itself renders everywhere.
pub fn result(data: &[u8]) {
    let names = ["a.json".to_string(), "b.json".to_string()];
    match ringload_results::merge::merge_with(&names, |_| Ok(data.to_vec())) {
        Ok(merged) => {
            let _ = ringload_results::render::text::render_text(&merged);
            let _ = ringload_results::render::html::run_page(&merged);
            let _ = serde_json::to_vec(&merged).expect("merged JSON");
        }
        Err(e) => check_message(&e.to_string(), ".json"),
    }
}
