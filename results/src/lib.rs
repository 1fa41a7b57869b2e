//! ringload's results: what a run, a merge or a comparison found, and everything done with it
//! afterwards. No I/O beyond reading a named result file; nothing here prints or exits.
//!
//! ```text
//! engine Stats --build--> Report (model, ringload-result/1) --render--> text | JSON | CSV | HDR log | HTML
//!                            ^  |                                         ^
//!   result files --file--> merge (sparse histograms, budgets)             |
//!                               +--gate--> Verdict (--fail-on, exit 3)    |
//! rounds of Stats --compare--> Comparison (ringload-compare/1) -----------+
//! ```
//!
//! Latency is always a whole HdrHistogram (`histogram`: V2, base64): percentiles of merged or
//! scoped results come from summed histograms, never from averaged percentiles.
//! The JSON forms are documented in `formats/RESULT.md` and `formats/result.schema.json`.

pub mod build;
pub mod compare;
pub mod file;
pub mod gate;
pub mod histogram;
pub mod json;
pub mod merge;
pub mod model;
pub mod render;
mod sparse;

pub use build::{Names, build};
pub use compare::Comparison;
pub use file::Loaded;
pub use gate::{Gate, Verdict};
pub use model::{Provenance, Report};

/// A result that cannot be read, merged or gated; the text names the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{0}")]
    Invalid(String),
}

/// Results built from known stats, for the tests of every module here.
#[cfg(test)]
pub(crate) mod testing {
    use ringload_engine::{Origin, RunConfig, Stats, Target};

    use crate::model::Report;

    /// A worker's stats: 500 requests over label `GET /a` in segment `canary` (key 0) and in
    /// no segment (key 1), over 3 seconds; latencies 100 us..5.1 ms, every 50th reset, every
    /// 7th a 503 that fails its check (answered by a proxy, the upstream or unknown in turn),
    /// every 3rd saying its upstream took a quarter of its latency.
    pub fn worker(seed: u64) -> Stats {
        let mut s = Stats::with_layout(ringload_engine::KeyLayout {
            labels: 1,
            segments: 1,
            profiles: 0,
        });
        for i in 0..500u64 {
            let key = (i % 2) as u32;
            let second = (i / 200) as usize;
            s.sent(key, second);
            let v = 100 + (i * 37 + seed * 101) % 5000;
            if i % 50 == 0 {
                s.error(key, second, ringload_engine::ErrorClass::Reset);
            } else {
                s.answered(
                    key,
                    second,
                    if i % 7 == 0 { 503 } else { 200 },
                    i % 7 != 0,
                    v,
                    v / 2,
                );
                if i % 7 == 0 {
                    let o =
                        [Origin::Proxy, Origin::Upstream, Origin::Unknown][(i / 7 % 3) as usize];
                    s.origin(key, o);
                }
                if i % 3 == 0 {
                    s.upstream_time(key, v / 4, v / 2);
                }
            }
        }
        s.lag.saturating_record(10 + seed);
        s.elapsed_s = 3.0;
        s.send_window_s = 3.0;
        s
    }

    pub fn report_of(s: &Stats) -> Report {
        let cfg = RunConfig::new(Target {
            addr: "127.0.0.1:1".parse().unwrap(),
            host_header: "x".into(),
            tls: None,
        });
        let names = crate::build::Names {
            labels: vec!["GET /a".to_string()],
            segments: vec!["canary".to_string()],
            logins: Vec::new(),
        };
        crate::build::build(s, &cfg, &names, "p", "http://x", &Ok(()))
    }
}
