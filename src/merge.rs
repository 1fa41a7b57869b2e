//! `ringload merge`: results of runs that went on at the same time (shards of one plan on many
//! workers, `run --shard K/N`) merged into one, losslessly: counts add up, and every latency
//! figure comes from the sum of the workers' whole histograms (never from averaging
//! percentiles), per label x segment, per segment, per second, for service time and lag.
//!
//! Rates add up (the workers sent at the same time); the duration is the longest worker's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use clap::Args;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde::Deserialize;

use crate::error::{CliError, EXIT_INVALID_RUN, EXIT_OK};
use crate::report::{Errors, Group, Percentiles, Report, RunInfo, Summary, WindowRow, encode};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Result files (`run -o`) of the workers, two or more.
    #[arg(required = true, num_args = 2..)]
    pub results: Vec<PathBuf>,
    /// Write the merged result (same format as `run -o`) here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write an HTML report of the merged result here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct ErrorsIn {
    connect: u64,
    timeout: u64,
    reset: u64,
    protocol: u64,
    validation: u64,
}

#[derive(Debug, Deserialize)]
struct GroupIn {
    label: Option<String>,
    segment: Option<String>,
    requests: u64,
    ok: u64,
    failed: u64,
    timed_out: u64,
    in_flight_at_end: u64,
    rps: f64,
    errors: ErrorsIn,
    histogram: String,
}

#[derive(Debug, Deserialize)]
struct SummaryIn {
    #[serde(flatten)]
    group: GroupIn,
    resent: u64,
    dropped: u64,
    duration_s: f64,
    send_rate: f64,
    service_histogram: String,
    lag_histogram: String,
    status: BTreeMap<String, u64>,
    bytes_in: u64,
    bytes_out: u64,
    connections_opened: u64,
    server_closes: u64,
    unsolicited_responses: u64,
}

#[derive(Debug, Deserialize)]
struct WindowIn {
    second: usize,
    requests: u64,
    ok: u64,
    errors: ErrorsIn,
    histogram: String,
}

#[derive(Debug, Deserialize)]
struct RunIn {
    target: String,
    #[serde(default)]
    started_at_unix_ms: Option<u64>,
    connections: usize,
    pipeline: usize,
    threads: usize,
    load: String,
    stop: String,
    warmup_s: f64,
    timeout_s: f64,
}

#[derive(Debug, Deserialize)]
struct ResultIn {
    format: String,
    plan: String,
    run: RunIn,
    valid: bool,
    invalid_reason: Option<String>,
    summary: SummaryIn,
    labels: Vec<GroupIn>,
    segments: Vec<GroupIn>,
    windows: Vec<WindowIn>,
}

/// Largest base64 histogram accepted (ringload's own are a few KiB).
const MAX_HISTOGRAM_B64: usize = 4 << 20;
/// Most label x segment groups and seconds one result may hold (bounds memory: each decoded
/// histogram takes up to ~200 KiB, a per-second one ~25 KiB).
const MAX_GROUPS: usize = 10_000;
const MAX_WINDOWS: usize = 7 * 86_400;

/// The histograms in results are ringload's: V2 encoding, values 1 us ..= MAX_LATENCY_US, with
/// `digits` significant digits. The header is checked before decoding, so a forged one cannot
/// make the decoder allocate what its payload does not hold.
fn decode(b64: &str, digits: u32, what: &str) -> Result<Histogram<u64>, String> {
    if b64.len() > MAX_HISTOGRAM_B64 {
        return Err(format!(
            "{what}: a histogram of {} bytes is too large",
            b64.len()
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("{what}: histogram is not base64 ({e})"))?;
    let field = |at: usize, n: usize| -> u64 {
        bytes[at..at + n]
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b))
    };
    // hdrhistogram V2 without compression: the base cookie with the word-size flag 0x10.
    const V2_COOKIE: u64 = 0x1c84_9313;
    if bytes.len() < 40
        || field(0, 4) != V2_COOKIE
        || field(4, 4) > (bytes.len() - 40) as u64
        || field(12, 4) != u64::from(digits)
        || field(16, 8) != 1
        || field(24, 8) != ringload_engine::stats::MAX_LATENCY_US
    {
        return Err(format!(
            "{what}: a histogram is not one of ringload's (V2, 1 us..1 h, {digits} digits)"
        ));
    }
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("{what}: histogram does not decode ({e:?})"))
}

/// `a += b` (same bounds: `decode` checked them).
fn add(a: &mut Histogram<u64>, b: &Histogram<u64>, what: &str) -> Result<(), String> {
    a.add(b)
        .map_err(|e| format!("{what}: histograms cannot be merged ({e:?})"))
}

fn window_histogram() -> Histogram<u64> {
    ringload_engine::stats::new_window_histogram()
}

#[derive(Default)]
struct Acc {
    requests: u64,
    ok: u64,
    failed: u64,
    timed_out: u64,
    in_flight_at_end: u64,
    rps: f64,
    errors: [u64; 5],
    hist: Option<Histogram<u64>>,
}

impl Acc {
    fn take(&mut self, g: &GroupIn, what: &str) -> Result<(), String> {
        for (a, b) in [
            (&mut self.requests, g.requests),
            (&mut self.ok, g.ok),
            (&mut self.failed, g.failed),
            (&mut self.timed_out, g.timed_out),
            (&mut self.in_flight_at_end, g.in_flight_at_end),
        ] {
            *a = a.saturating_add(b);
        }
        if g.rps.is_finite() {
            self.rps += g.rps;
        }
        let e = &g.errors;
        for (a, b) in
            self.errors
                .iter_mut()
                .zip([e.connect, e.timeout, e.reset, e.protocol, e.validation])
        {
            *a = a.saturating_add(b);
        }
        let h = decode(&g.histogram, 3, what)?;
        add(
            self.hist
                .get_or_insert_with(ringload_engine::stats::new_histogram),
            &h,
            what,
        )
    }

    fn group(self, label: Option<String>, segment: Option<String>) -> Group {
        let h = self
            .hist
            .unwrap_or_else(ringload_engine::stats::new_histogram);
        let [connect, timeout, reset, protocol, validation] = self.errors;
        Group {
            label,
            segment,
            requests: self.requests,
            ok: self.ok,
            failed: self.failed,
            timed_out: self.timed_out,
            in_flight_at_end: self.in_flight_at_end,
            rps: (self.rps * 10.0).round() / 10.0,
            latency_us: Percentiles::of(&h),
            errors: Errors {
                connect,
                timeout,
                reset,
                protocol,
                validation,
            },
            histogram: encode(&h),
        }
    }
}

/// One second of the run, summed over workers: requests, ok, errors (as `Acc`), latency.
#[derive(Default)]
struct WindowAcc(u64, u64, [u64; 5], Option<Histogram<u64>>);

/// Accumulators by key, in first-seen order.
struct Ordered<K> {
    index: std::collections::HashMap<K, usize>,
    items: Vec<(K, Acc)>,
}

impl<K> Default for Ordered<K> {
    fn default() -> Self {
        Ordered {
            index: std::collections::HashMap::new(),
            items: Vec::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Ordered<K> {
    fn entry(&mut self, key: K) -> &mut Acc {
        let i = *self.index.entry(key.clone()).or_insert_with(|| {
            self.items.push((key, Acc::default()));
            self.items.len() - 1
        });
        &mut self.items[i].1
    }
}

/// Merge parsed results (`names` for error messages).
fn merge(results: &[(String, ResultIn)]) -> Result<Report, String> {
    // Workers start at slightly different times: their seconds are lined up by start time
    // when every result has one, and they must have run at the same time for rates to add.
    let starts: Option<Vec<u64>> = results.iter().map(|r| r.1.run.started_at_unix_ms).collect();
    let first_start = starts.as_ref().and_then(|s| s.iter().min().copied());
    let mut invalid: Vec<String> = Vec::new();
    if let Some(starts) = &starts {
        let ends: Vec<u64> = results
            .iter()
            .zip(starts)
            .map(|(r, s)| s + (r.1.summary.duration_s.clamp(0.0, 1e9) * 1000.0) as u64)
            .collect();
        let (latest_start, earliest_end) = (
            starts.iter().max().copied().unwrap_or(0),
            ends.iter().min().copied().unwrap_or(0),
        );
        if latest_start >= earliest_end {
            invalid.push(format!(
                "the workers did not run at the same time (one started {:.1} s after another \
                 ended): their rates do not add up",
                (latest_start - earliest_end) as f64 / 1e3
            ));
        }
    }
    let mut summary = Acc::default();
    // In the order the first result lists them (then any new ones in their order).
    let mut labels: Ordered<(Option<String>, Option<String>)> = Ordered::default();
    let mut segments: Ordered<Option<String>> = Ordered::default();
    let mut windows: BTreeMap<usize, WindowAcc> = BTreeMap::new();
    let mut service: Option<Histogram<u64>> = None;
    let mut lag: Option<Histogram<u64>> = None;
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let (mut resent, mut dropped, mut send_rate, mut duration) = (0u64, 0u64, 0.0f64, 0.0f64);
    let (mut bytes_in, mut bytes_out, mut opened, mut closes, mut unsolicited) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut connections, mut threads) = (0usize, 0usize);
    let mut targets: Vec<&str> = Vec::new();
    for (name, r) in results {
        if r.format != "ringload-result/1" {
            return Err(format!(
                "{name}: format {:?} is not a ringload run result (ringload-result/1)",
                r.format
            ));
        }
        let s = &r.summary;
        summary.take(&s.group, name)?;
        if r.labels.len() + r.segments.len() > MAX_GROUPS || r.windows.len() > MAX_WINDOWS {
            return Err(format!(
                "{name}: more than {MAX_GROUPS} label groups or {MAX_WINDOWS} seconds"
            ));
        }
        for g in &r.labels {
            labels
                .entry((g.label.clone(), g.segment.clone()))
                .take(g, name)?;
        }
        for g in &r.segments {
            segments.entry(g.segment.clone()).take(g, name)?;
        }
        let shift = match (r.run.started_at_unix_ms, first_start) {
            (Some(s), Some(f)) => ((s - f + 500) / 1000) as usize,
            _ => 0,
        };
        for w in &r.windows {
            let second = w.second.saturating_add(shift);
            if second >= MAX_WINDOWS {
                return Err(format!("{name}: second {} is out of range", w.second));
            }
            let e = windows.entry(second).or_default();
            e.0 = e.0.saturating_add(w.requests);
            e.1 = e.1.saturating_add(w.ok);
            let we = &w.errors;
            for (a, b) in
                e.2.iter_mut()
                    .zip([0, we.timeout, we.reset, we.protocol, we.validation])
            {
                *a = a.saturating_add(b);
            }
            let h = decode(
                &w.histogram,
                u32::from(ringload_engine::stats::WINDOW_DIGITS),
                name,
            )?;
            add(e.3.get_or_insert_with(window_histogram), &h, name)?;
        }
        for (dst, b64) in [
            (&mut service, &s.service_histogram),
            (&mut lag, &s.lag_histogram),
        ] {
            let h = decode(b64, 3, name)?;
            add(
                dst.get_or_insert_with(ringload_engine::stats::new_histogram),
                &h,
                name,
            )?;
        }
        if s.status.len() > 1000 {
            return Err(format!("{name}: more than 1000 status codes"));
        }
        for (k, v) in &s.status {
            let e = status.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
        for (a, b) in [
            (&mut resent, s.resent),
            (&mut dropped, s.dropped),
            (&mut bytes_in, s.bytes_in),
            (&mut bytes_out, s.bytes_out),
            (&mut opened, s.connections_opened),
            (&mut closes, s.server_closes),
            (&mut unsolicited, s.unsolicited_responses),
        ] {
            *a = a.saturating_add(b);
        }
        if s.send_rate.is_finite() {
            send_rate += s.send_rate;
        }
        if s.duration_s.is_finite() {
            duration = duration.max(s.duration_s);
        }
        connections = connections.saturating_add(r.run.connections);
        threads = threads.saturating_add(r.run.threads);
        if !targets.contains(&r.run.target.as_str()) {
            targets.push(&r.run.target);
        }
        if !r.valid {
            invalid.push(format!(
                "{name}: {}",
                r.invalid_reason.as_deref().unwrap_or("invalid")
            ));
        }
    }
    let first = &results[0].1;
    let service = service.unwrap_or_else(ringload_engine::stats::new_histogram);
    let lag = lag.unwrap_or_else(ringload_engine::stats::new_histogram);
    Ok(Report {
        format: "ringload-result/1",
        tool_version: env!("CARGO_PKG_VERSION"),
        plan: first.plan.clone(),
        run: RunInfo {
            target: targets.join(" "),
            started_at_unix_ms: first_start,
            connections,
            pipeline: first.run.pipeline,
            threads,
            load: format!("{} (x{} workers)", first.run.load, results.len()),
            stop: first.run.stop.clone(),
            warmup_s: first.run.warmup_s,
            timeout_s: first.run.timeout_s,
        },
        valid: invalid.is_empty(),
        invalid_reason: (!invalid.is_empty()).then(|| invalid.join("; ")),
        summary: Summary {
            group: summary.group(None, None),
            resent,
            dropped,
            duration_s: duration,
            send_rate: (send_rate * 10.0).round() / 10.0,
            service_us: Percentiles::of(&service),
            lag_us: Percentiles::of(&lag),
            service_histogram: encode(&service),
            lag_histogram: encode(&lag),
            status,
            bytes_in,
            bytes_out,
            connections_opened: opened,
            server_closes: closes,
            unsolicited_responses: unsolicited,
        },
        labels: labels
            .items
            .into_iter()
            .map(|((l, s), a)| a.group(l, s))
            .collect(),
        segments: segments
            .items
            .into_iter()
            .map(|(s, a)| a.group(None, s))
            .collect(),
        windows: windows
            .into_iter()
            .map(|(second, WindowAcc(requests, ok, e, h))| {
                let h = h.unwrap_or_else(window_histogram);
                let q = |x| {
                    if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(x)
                    }
                };
                WindowRow {
                    second,
                    requests,
                    ok,
                    errors: Errors {
                        connect: 0,
                        timeout: e[1],
                        reset: e[2],
                        protocol: e[3],
                        validation: e[4],
                    },
                    p50_us: q(0.5),
                    p99_us: q(0.99),
                    histogram: encode(&h),
                }
            })
            .collect(),
    })
}

pub fn execute(args: &MergeArgs) -> Result<u8, CliError> {
    crate::out::check_outputs([
        ("--output", args.output.as_deref()),
        ("--html", args.html.as_deref()),
    ])?;
    let mut results = Vec::with_capacity(args.results.len());
    for p in &args.results {
        let name = p.display().to_string();
        let bytes = std::fs::read(p).map_err(|e| CliError::BadInput(format!("{name}: {e}")))?;
        let r: ResultIn = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::BadInput(format!("{name}: not a ringload run result ({e})")))?;
        results.push((name, r));
    }
    let merged = merge(&results).map_err(CliError::BadInput)?;
    crate::out::emit(&crate::report::render_text(&merged))?;
    crate::run::write_report(&merged, args.output.as_deref(), args.html.as_deref())?;
    Ok(if merged.valid {
        EXIT_OK
    } else {
        EXIT_INVALID_RUN
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringload_engine::{RunConfig, Stats, Target};

    fn worker(seed: u64) -> Stats {
        let mut s = Stats::new(2);
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
            }
        }
        s.lag.saturating_record(10 + seed);
        s.elapsed_s = 3.0;
        s.send_window_s = 3.0;
        s
    }

    fn report_of(s: &Stats) -> Report {
        let cfg = RunConfig::new(Target {
            addr: "127.0.0.1:1".parse().unwrap(),
            host_header: "x".into(),
        });
        let labels = ["GET /a".to_string()];
        let segments = ["canary".to_string()];
        crate::report::build(s, &cfg, &labels, &segments, "p", "http://x", &Ok(()))
    }

    fn result(s: &Stats) -> ResultIn {
        serde_json::from_value(serde_json::to_value(report_of(s)).unwrap()).unwrap()
    }

    #[test]
    fn merging_results_equals_the_result_of_the_merged_stats() {
        let (a, b) = (worker(1), worker(2));
        let merged = merge(&[("a".into(), result(&a)), ("b".into(), result(&b))]).unwrap();
        let mut both = a.clone();
        both += &b;
        let mut m = serde_json::to_value(&merged).unwrap();
        let mut d = serde_json::to_value(report_of(&both)).unwrap();
        // Rates are the sum of the workers' (rounded) rates: compared below, not here.
        for v in [&mut m, &mut d] {
            for list in ["labels", "segments"] {
                for g in v[list].as_array_mut().unwrap() {
                    g["rps"] = serde_json::Value::Null;
                }
            }
        }
        // Every count and every percentile, everywhere, is the same as from the merged stats.
        for path in [
            "/summary/requests",
            "/summary/ok",
            "/summary/failed",
            "/summary/errors",
            "/summary/latency_us",
            "/summary/service_us",
            "/summary/lag_us",
            "/summary/status",
            "/summary/histogram",
            "/labels",
            "/segments",
        ] {
            assert_eq!(m.pointer(path), d.pointer(path), "{path}");
        }
        for (mw, dw) in m["windows"]
            .as_array()
            .unwrap()
            .iter()
            .zip(d["windows"].as_array().unwrap())
        {
            for k in ["second", "requests", "ok", "errors", "p50_us", "p99_us"] {
                assert_eq!(mw[k], dw[k], "window {k}");
            }
        }
        assert_eq!(merged.windows.len(), report_of(&both).windows.len());
        // Concurrent workers: rates add up.
        assert!((merged.summary.group.rps - 2.0 * result(&a).summary.group.rps).abs() < 0.2);
    }

    #[test]
    fn forged_histogram_headers_are_refused_before_decoding() {
        let header = |len: u32, digits: u32, high: u64| {
            let mut b = Vec::new();
            b.extend_from_slice(&0x1c84_9313u32.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&digits.to_be_bytes());
            b.extend_from_slice(&1u64.to_be_bytes());
            b.extend_from_slice(&high.to_be_bytes());
            b.extend_from_slice(&1.0f64.to_be_bytes());
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let max = ringload_engine::stats::MAX_LATENCY_US;
        // A 4 GiB payload claimed by a 40-byte header; a huge range; another precision.
        for b64 in [
            header(u32::MAX, 3, max),
            header(0, 3, u64::MAX),
            header(0, 5, max),
        ] {
            let e = decode(&b64, 3, "f.json").unwrap_err();
            assert!(
                e.contains("f.json") && e.contains("not one of ringload's"),
                "{e}"
            );
        }
        assert!(decode("@@", 3, "f").unwrap_err().contains("base64"));
        assert!(decode(&"A".repeat(MAX_HISTOGRAM_B64 + 4), 3, "f").is_err());
        // A real one decodes.
        let h = ringload_engine::stats::new_histogram();
        assert!(decode(&encode(&h), 3, "f").is_ok());
    }

    #[test]
    fn a_file_that_is_not_a_run_result_is_refused() {
        let mut r = result(&worker(1));
        r.format = "ringload-compare/1".into();
        let e = merge(&[("x.json".into(), r)]).unwrap_err();
        assert!(
            e.contains("x.json") && e.contains("ringload-result/1"),
            "{e}"
        );
    }
}
