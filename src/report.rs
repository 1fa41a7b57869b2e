//! Reports of a run: the terminal table people read and the JSON document scripts and CI read.
//!
//! The JSON keeps whole histograms (HdrHistogram V2, base64) next to the percentiles, so results
//! from several runs or machines can be merged losslessly later.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use ringload_engine::{Counts, LoadModel, RunConfig, Stats, Stop};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let q = |x| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(x)
            }
        };
        Percentiles {
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: if h.is_empty() { 0 } else { h.max() },
            mean: if h.is_empty() {
                0.0
            } else {
                (h.mean() * 10.0).round() / 10.0
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    /// Failed connection attempts (no request is charged for them).
    pub connect: u64,
    pub timeout: u64,
    pub reset: u64,
    pub protocol: u64,
    pub validation: u64,
    /// No token (the session's login failed), or, in a login row, a failed login.
    pub auth: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Always present in `labels[]` (null: no segment).
    pub segment: Option<String>,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub in_flight_at_end: u64,
    pub rps: f64,
    pub latency_us: Percentiles,
    pub errors: Errors,
    /// A row of logins (an auth profile's login request), never mixed into the steps' figures.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth: bool,
    /// Re-logins after a 401 on these requests.
    pub reauth: u64,
    /// The first distinct reasons responses failed their check (`status 503`,
    /// `x-upstream-version: stable`; for logins, why they failed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offending: Vec<String>,
    /// Responses by the value of each split header (`--split`, and every header an expectation
    /// names): segments and the summary only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub split: BTreeMap<String, SplitShares>,
    /// Base64 of the HdrHistogram V2 encoding of the latency histogram (microseconds).
    pub histogram: String,
}

/// How one header's values were shared among a group's responses.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SplitShares {
    /// Value -> responses with it.
    pub values: BTreeMap<String, u64>,
    /// Responses with a value beyond the first 16 distinct ones.
    pub other: u64,
    /// Responses without the header.
    pub missing: u64,
}

impl SplitShares {
    pub fn total(&self) -> u64 {
        self.values.values().sum::<u64>() + self.other + self.missing
    }

    fn add(&mut self, s: &ringload_engine::Split) {
        for (v, n) in &s.values {
            *self
                .values
                .entry(String::from_utf8_lossy(v).into_owned())
                .or_default() += n;
        }
        self.other += s.other;
        self.missing += s.missing;
    }
}

#[derive(Debug, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub group: Group,
    pub resent: u64,
    pub dropped: u64,
    /// Logins sent (first, refresh or after a 401); their outcomes are in their own rows.
    /// (`reauth`, the re-logins after a 401, is in the group.)
    pub logins: u64,
    /// From the start of measurement to the last outcome (drain included).
    pub duration_s: f64,
    /// Requests released per second of the sending window: the achieved offered rate.
    pub send_rate: f64,
    /// From the actual send (what tools without coordinated-omission correction report).
    pub service_us: Percentiles,
    /// How late requests were released compared with their intended time (open loop).
    pub lag_us: Percentiles,
    /// Base64 HdrHistogram V2 of the service and lag times, so results merge losslessly.
    pub service_histogram: String,
    pub lag_histogram: String,
    pub status: BTreeMap<String, u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connections_opened: u64,
    pub server_closes: u64,
    pub unsolicited_responses: u64,
    /// Time to open a TCP connection, and to complete a TLS handshake after it (https).
    pub connect_us: Percentiles,
    pub connect_histogram: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
}

/// What TLS cost and how it failed (https targets).
#[derive(Debug, Clone, Serialize)]
pub struct TlsSummary {
    pub handshakes: u64,
    pub handshakes_per_s: f64,
    /// Handshakes that resumed an earlier session, and their share.
    pub resumed: u64,
    pub resumed_share: f64,
    pub handshake_us: Percentiles,
    pub handshake_histogram: String,
    /// Connections that failed in TLS (no request is charged for them).
    pub errors: u64,
    /// The first distinct reasons rustls gave.
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct WindowRow {
    /// Start of the window, seconds from the start of measurement (`window_s` wide).
    pub second: usize,
    pub requests: u64,
    pub ok: u64,
    pub errors: Errors,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Base64 HdrHistogram V2 of this second's latencies (1 significant digit, see
    /// `ringload_engine::stats::WINDOW_DIGITS`; p50/p99 here are within ~6%).
    pub histogram: String,
}

#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub target: String,
    /// When measurement began (after warm-up), Unix milliseconds: lets `merge` line up the
    /// per-second windows of workers and check they ran at the same time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at_unix_ms: Option<u64>,
    pub connections: usize,
    pub pipeline: usize,
    pub threads: usize,
    pub load: String,
    pub stop: String,
    pub warmup_s: f64,
    pub timeout_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub tool_version: &'static str,
    pub plan: String,
    pub run: RunInfo,
    pub valid: bool,
    pub invalid_reason: Option<String>,
    /// The run was stopped by SIGINT/SIGTERM before its end (it drained and reported).
    pub interrupted: bool,
    pub summary: Summary,
    pub labels: Vec<Group>,
    pub segments: Vec<Group>,
    /// Width of each window, seconds (1; doubled in long runs to bound memory).
    pub window_s: u32,
    pub windows: Vec<WindowRow>,
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    match V2Serializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}

/// `n` per second over `secs`, to 0.1 (0 when no time passed).
pub fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

pub fn errors(c: &Counts, connect: u64) -> Errors {
    Errors {
        connect,
        timeout: c.timed_out,
        reset: c.errors[0],
        protocol: c.errors[1],
        validation: c.errors[2],
        auth: c.errors[3],
    }
}

fn group(
    label: Option<String>,
    segment: Option<String>,
    c: &Counts,
    h: &Histogram<u64>,
    secs: f64,
    connect: u64,
) -> Group {
    Group {
        label,
        segment,
        requests: c.requests,
        ok: c.ok,
        failed: c.failed(),
        timed_out: c.timed_out,
        in_flight_at_end: c.in_flight_at_end,
        rps: per_second(c.completed(), secs),
        latency_us: Percentiles::of(h),
        errors: errors(c, connect),
        auth: false,
        reauth: 0,
        offending: Vec::new(),
        split: BTreeMap::new(),
        histogram: encode(h),
    }
}

fn describe_load(cfg: &RunConfig) -> String {
    match &cfg.load {
        LoadModel::Closed => "closed loop".into(),
        LoadModel::Rate { rate, arrival } => {
            format!("open loop {rate} req/s ({arrival:?})").to_lowercase()
        }
        LoadModel::Replay { speed } => format!("captured timing x{speed}"),
        LoadModel::Stages { stages, .. } => format!(
            "stages {}",
            stages
                .iter()
                .map(|s| format!("{}:{}", humantime::format_duration(s.duration), s.level))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// What a report names besides the stats: the plan's labels, segments, and the label of each
/// auth profile's login (the split headers' names come with the stats).
#[derive(Debug, Clone)]
pub struct Names {
    pub labels: Vec<String>,
    pub segments: Vec<String>,
    pub logins: Vec<String>,
}

impl Names {
    pub fn of(plan: &ringload_formats::Plan) -> Names {
        Names {
            labels: plan.labels.clone(),
            segments: plan.segments.clone(),
            logins: plan
                .auth_profiles
                .iter()
                .map(|p| plan.labels[plan.requests[p.login as usize].label as usize].clone())
                .collect(),
        }
    }
}

pub fn build(
    stats: &Stats,
    cfg: &RunConfig,
    names: &Names,
    plan: &str,
    target: &str,
    validity: &Result<(), String>,
) -> Report {
    let Names {
        labels,
        segments,
        logins,
    } = names;
    let splits = &stats.split_names;
    let secs = stats.elapsed_s;
    let nseg = segments.len() + 1;
    let step_keys = labels.len() * nseg;
    let mut label_groups = Vec::new();
    let mut seg_counts: Vec<(Counts, Histogram<u64>)> = (0..nseg)
        .map(|_| (Counts::default(), ringload_engine::stats::new_histogram()))
        .collect();
    for (key, ks) in stats.keys.iter().enumerate() {
        let Some(ks) = ks else { continue };
        if key >= step_keys {
            // A login row: its own, never in a segment's or the total's figures.
            let mut g = group(
                logins.get(key - step_keys).cloned(),
                None,
                &ks.counts,
                &ks.latency,
                secs,
                0,
            );
            g.auth = true;
            g.offending = ks.offending.clone();
            label_groups.push(g);
            continue;
        }
        let (l, s) = (key / nseg, key % nseg);
        let seg_name = segments.get(s).cloned();
        let mut g = group(
            labels.get(l).cloned(),
            seg_name,
            &ks.counts,
            &ks.latency,
            secs,
            0,
        );
        g.reauth = ks.reauth;
        g.offending = ks.offending.clone();
        label_groups.push(g);
        seg_counts[s].0 += &ks.counts;
        let _ = seg_counts[s].1.add(&ks.latency);
    }
    let split_of = |seg: Option<usize>| {
        let mut m: BTreeMap<String, SplitShares> = BTreeMap::new();
        for (h, name) in splits.iter().enumerate() {
            let e = m.entry(name.clone()).or_default();
            for s in (0..nseg).filter(|s| seg.is_none_or(|x| x == *s)) {
                if let Some(sp) = stats.splits.get(s * stats.split_headers + h) {
                    e.add(sp);
                }
            }
        }
        m.retain(|_, v| v.total() > 0);
        m
    };
    let segment_groups = if segments.is_empty() {
        Vec::new()
    } else {
        seg_counts
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| c.requests > 0)
            .map(|(s, (c, h))| {
                let name = segments.get(s).cloned().unwrap_or_else(|| "(none)".into());
                let mut g = group(None, Some(name), c, h, secs, 0);
                g.split = split_of(Some(s));
                g
            })
            .collect()
    };
    let status = stats
        .status
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    Report {
        format: "ringload-result/1",
        tool_version: env!("CARGO_PKG_VERSION"),
        plan: plan.to_string(),
        run: RunInfo {
            target: target.to_string(),
            started_at_unix_ms: None,
            connections: cfg.connections,
            pipeline: cfg.pipeline,
            threads: cfg.cpus.len(),
            load: describe_load(cfg),
            stop: match cfg.stop {
                Stop::Duration(d) => format!("duration {}", humantime::format_duration(d)),
                Stop::Requests(n) => format!("{n} requests"),
            },
            warmup_s: cfg.warmup.as_secs_f64(),
            timeout_s: cfg.timeout.as_secs_f64(),
        },
        valid: validity.is_ok(),
        invalid_reason: validity.clone().err(),
        interrupted: stats.interrupted,
        summary: Summary {
            group: Group {
                reauth: stats.reauth,
                split: split_of(None),
                ..group(
                    None,
                    None,
                    &stats.counts,
                    &stats.latency,
                    secs,
                    stats.connect_errors,
                )
            },
            resent: stats.resent,
            dropped: stats.dropped,
            logins: stats.logins,
            duration_s: (secs * 1000.0).round() / 1000.0,
            send_rate: per_second(stats.counts.requests, stats.send_window_s),
            service_us: Percentiles::of(&stats.service),
            lag_us: Percentiles::of(&stats.lag),
            service_histogram: encode(&stats.service),
            lag_histogram: encode(&stats.lag),
            status,
            bytes_in: stats.bytes_in,
            bytes_out: stats.bytes_out,
            connections_opened: stats.connects,
            server_closes: stats.server_closes,
            unsolicited_responses: stats.unsolicited,
            connect_us: Percentiles::of(&stats.connect_time),
            connect_histogram: encode(&stats.connect_time),
            tls: cfg.target.tls.as_ref().map(|_| {
                let n = stats.tls_handshake.len();
                TlsSummary {
                    handshakes: n,
                    handshakes_per_s: per_second(n, secs),
                    resumed: stats.tls_resumed,
                    resumed_share: if n == 0 {
                        0.0
                    } else {
                        (stats.tls_resumed as f64 * 1000.0 / n as f64).round() / 1000.0
                    },
                    handshake_us: Percentiles::of(&stats.tls_handshake),
                    handshake_histogram: encode(&stats.tls_handshake),
                    errors: stats.tls_errors,
                    reasons: stats.tls_reasons.clone(),
                }
            }),
        },
        labels: label_groups,
        segments: segment_groups,
        window_s: stats.window_s,
        windows: stats
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| WindowRow {
                second: i * stats.window_s as usize,
                requests: w.counts.requests,
                ok: w.counts.ok,
                errors: errors(&w.counts, 0),
                p50_us: if w.latency.is_empty() {
                    0
                } else {
                    w.latency.value_at_quantile(0.5)
                },
                p99_us: if w.latency.is_empty() {
                    0
                } else {
                    w.latency.value_at_quantile(0.99)
                },
                histogram: encode(&w.latency),
            })
            .collect(),
    }
}

/// `stable 74.8% / canary-v2 25.2% of 5,012 with the header (120 without)`, largest first:
/// shares among the responses that carried the header.
pub fn split_text(s: &SplitShares) -> String {
    let with = s.total() - s.missing;
    let mut parts: Vec<(u64, String)> = s.values.iter().map(|(v, n)| (*n, v.clone())).collect();
    parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if s.other > 0 {
        parts.push((s.other, "(other values)".into()));
    }
    let mut out = parts
        .iter()
        .map(|(n, v)| format!("{v} {:.1}%", *n as f64 * 100.0 / with.max(1) as f64))
        .collect::<Vec<_>>()
        .join(" / ");
    out.push_str(&format!(" of {with} with the header"));
    if s.missing > 0 {
        out.push_str(&format!(" ({} without)", s.missing));
    }
    out
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// `reset=3 timeout=1`, or `-` when there is none.
pub fn error_text(e: &Errors) -> String {
    let parts: Vec<String> = [
        ("connect", e.connect),
        ("timeout", e.timeout),
        ("reset", e.reset),
        ("protocol", e.protocol),
        ("validation", e.validation),
        ("auth", e.auth),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k}={n}"))
    .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

fn row(out: &mut String, name: &str, g: &Group) {
    let l = &g.latency_us;
    out.push_str(&format!(
        "{:<44} {:>9} {:>10.1} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}\n",
        truncate(name, 44),
        g.requests,
        g.rps,
        format!("{:.2}", l.mean / 1000.0),
        ms(l.p50),
        ms(l.p90),
        ms(l.p95),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
        g.failed + g.timed_out,
        error_text(&g.errors)
    ));
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The terminal table.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let s = &r.summary;
    out.push_str(&format!(
        "ringload {} -> {}: {} conns x pipeline {}, {} threads, {}, {}\n",
        r.plan,
        r.run.target,
        r.run.connections,
        r.run.pipeline,
        r.run.threads,
        r.run.load,
        r.run.stop
    ));
    out.push_str(&format!(
        "{:<44} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  errors\n",
        "label [segment]",
        "count",
        "rps",
        "mean ms",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "max",
        "failed"
    ));
    for g in r.labels.iter().filter(|g| !g.auth) {
        let mut name = g.label.clone().unwrap_or_default();
        if let Some(seg) = &g.segment {
            name = format!("{name} [{seg}]");
        }
        row(&mut out, &name, g);
    }
    for g in &r.segments {
        row(
            &mut out,
            &format!("segment {}", g.segment.as_deref().unwrap_or("")),
            g,
        );
    }
    row(&mut out, "total", &s.group);
    for g in r.labels.iter().filter(|g| g.auth) {
        row(
            &mut out,
            &format!("(auth) {}", g.label.as_deref().unwrap_or("login")),
            g,
        );
    }
    if s.logins > 0 || s.group.reauth > 0 {
        out.push_str(&format!(
            "logins {} (rows marked auth, not in the total); re-logins after a 401: {}\n",
            s.logins, s.group.reauth
        ));
    }
    for g in r.labels.iter().filter(|g| !g.offending.is_empty()) {
        let mut name = g.label.clone().unwrap_or_default();
        if let Some(seg) = &g.segment {
            name = format!("{name} [{seg}]");
        }
        if g.auth {
            name = format!("(auth) {name}");
        }
        out.push_str(&format!(
            "failed checks {name}: {}\n",
            g.offending.join("; ")
        ));
    }
    let groups = r
        .segments
        .iter()
        .map(|g| (format!("segment {}", g.segment.as_deref().unwrap_or("")), g))
        .chain(r.segments.is_empty().then(|| ("all".to_string(), &s.group)));
    for (name, g) in groups {
        for (header, shares) in &g.split {
            out.push_str(&format!(
                "split {name} by {header}: {}\n",
                split_text(shares)
            ));
        }
    }
    out.push_str(&format!(
        "requests {} = ok {} + failed {} + timed out {} + in flight at end {}; resent {}; sent at {:.1}/s over {:.2} s\n",
        s.group.requests, s.group.ok, s.group.failed, s.group.timed_out, s.group.in_flight_at_end, s.resent, s.send_rate, s.duration_s
    ));
    let status: Vec<String> = s.status.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push_str(&format!(
        "status {}; service time p50 {} ms p99 {} ms (from actual send); connections opened {}, closed by server {}\n",
        if status.is_empty() { "-".into() } else { status.join(" ") },
        ms(s.service_us.p50),
        ms(s.service_us.p99),
        s.connections_opened,
        s.server_closes
    ));
    if let Some(t) = &s.tls {
        out.push_str(&format!(
            "tls: {} handshakes ({:.1}/s, {:.0}% resumed) p50 {} ms p99 {} ms after connect p50 {} ms; tls errors {}{}\n",
            t.handshakes,
            t.handshakes_per_s,
            t.resumed_share * 100.0,
            ms(t.handshake_us.p50),
            ms(t.handshake_us.p99),
            ms(s.connect_us.p50),
            t.errors,
            if t.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", t.reasons.join("; "))
            }
        ));
    }
    if s.lag_us.max > 0 {
        out.push_str(&format!(
            "schedule lag p50 {} ms p99 {} ms max {} ms\n",
            ms(s.lag_us.p50),
            ms(s.lag_us.p99),
            ms(s.lag_us.max)
        ));
    }
    if let Some(reason) = &r.invalid_reason {
        out.push_str(&format!("INVALID RUN: {reason}\n"));
    }
    if r.interrupted {
        out.push_str("INTERRUPTED: stopped early by a signal; the figures cover the time it ran\n");
    }
    out
}

/// The sum of all per-label counts must equal the summary's, or the report lies.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_empty_and_full_histograms() {
        let h = ringload_engine::stats::new_histogram();
        assert_eq!(Percentiles::of(&h).p99, 0);
        let mut h = ringload_engine::stats::new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let p = Percentiles::of(&h);
        assert_eq!((p.p50, p.p99, p.max), (500, 990, 1000));
        assert!(!encode(&h).is_empty());
    }
}
