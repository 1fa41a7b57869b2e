//! From an engine's [`Stats`] to a [`Report`]: counts per label x segment, per segment and in
//! total, percentiles from whole histograms, per-window rows, connection and TLS costs, and what
//! the hops said (failure origins, upstream time and overhead).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use ringload_engine::{Counts, LoadModel, Origins, Row, RunConfig, Stats, Stop, UpstreamTimes};

use crate::histogram::encode;
use crate::model::*;

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
        origin: OriginCounts::default(),
        upstream_time_responses: 0,
        upstream_time_us: Percentiles::default(),
        upstream_time_histogram: encode(&ringload_engine::stats::new_histogram()),
        overhead_us: Percentiles::default(),
        overhead_histogram: encode(&ringload_engine::stats::new_histogram()),
    }
}

/// `g` with what the hops said: failure origins, and the upstream times if any response said.
fn with_hops(mut g: Group, origins: &Origins, times: Option<&UpstreamTimes>) -> Group {
    g.origin = origins.into();
    if let Some(t) = times {
        g.upstream_time_responses = t.upstream.len();
        g.upstream_time_us = Percentiles::of(&t.upstream);
        g.upstream_time_histogram = encode(&t.upstream);
        g.overhead_us = Percentiles::of(&t.overhead);
        g.overhead_histogram = encode(&t.overhead);
    }
    g
}

fn describe_load(cfg: &RunConfig) -> String {
    let mut load = describe_model(cfg);
    if cfg.shape == ringload_engine::Shape::Captured {
        load.push_str(&format!(
            ", captured connections (at most {} open)",
            cfg.connections
        ));
    }
    if let Some(c) = &cfg.cloning {
        load.push_str(&format!(
            ", {} clone{}{}",
            c.copies,
            if c.copies == 1 { "" } else { "s" },
            if c.fresh_ids { " with fresh ids" } else { "" }
        ));
    }
    load
}

fn describe_model(cfg: &RunConfig) -> String {
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

/// Add an engine's header split counts (raw value bytes) into a result's shares.
fn add_split(e: &mut SplitShares, s: &ringload_engine::Split) {
    for (v, n) in &s.values {
        e.add(&String::from_utf8_lossy(v), *n);
    }
    e.other += s.other;
    e.missing += s.missing;
}

/// One segment's steps added up.
struct SegmentAcc {
    counts: Counts,
    latency: Histogram<u64>,
    origins: Origins,
    times: Option<Box<UpstreamTimes>>,
}

impl Default for SegmentAcc {
    fn default() -> Self {
        SegmentAcc {
            counts: Counts::default(),
            latency: ringload_engine::stats::new_histogram(),
            origins: Origins::default(),
            times: None,
        }
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
    let mut label_groups = Vec::new();
    let mut seg_counts: Vec<SegmentAcc> = (0..nseg).map(|_| SegmentAcc::default()).collect();
    for (key, ks) in stats.keys.iter().enumerate() {
        let Some(ks) = ks else { continue };
        match stats.layout.row(key as u32) {
            Row::Login { profile } => {
                // A login row: its own, never in a segment's or the total's figures.
                let mut g = group(
                    logins.get(profile as usize).cloned(),
                    None,
                    &ks.counts,
                    &ks.latency,
                    secs,
                    0,
                );
                g.auth = true;
                g.offending = ks.offending.clone();
                label_groups.push(g);
            }
            Row::Step { label, segment } => {
                let slot = segment.map_or(nseg - 1, |s| s as usize);
                let mut g = group(
                    labels.get(label as usize).cloned(),
                    segment.and_then(|s| segments.get(s as usize).cloned()),
                    &ks.counts,
                    &ks.latency,
                    secs,
                    0,
                );
                g.reauth = ks.reauth;
                g.offending = ks.offending.clone();
                label_groups.push(with_hops(g, &ks.origins, ks.upstream.as_deref()));
                let acc = &mut seg_counts[slot];
                acc.counts += &ks.counts;
                let _ = acc.latency.add(&ks.latency);
                acc.origins += &ks.origins;
                ringload_engine::stats::add_times(&mut acc.times, &ks.upstream);
            }
        }
    }
    let split_of = |seg: Option<usize>| {
        let mut m: BTreeMap<String, SplitShares> = BTreeMap::new();
        for (h, name) in splits.iter().enumerate() {
            let e = m.entry(name.clone()).or_default();
            for s in (0..nseg).filter(|s| seg.is_none_or(|x| x == *s)) {
                if let Some(sp) = stats.splits.get(s * stats.split_headers + h) {
                    add_split(e, sp);
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
            .filter(|(_, a)| a.counts.requests > 0)
            .map(|(s, a)| {
                let name = segments.get(s).cloned().unwrap_or_else(|| "(none)".into());
                let mut g = group(None, Some(name), &a.counts, &a.latency, secs, 0);
                g.split = split_of(Some(s));
                with_hops(g, &a.origins, a.times.as_deref())
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
        format: FORMAT.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
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
        provenance: Vec::new(),
        summary: Summary {
            group: with_hops(
                Group {
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
                &stats.origins,
                stats.upstream.as_deref(),
            ),
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
            connections_per_s: per_second(stats.connects, secs),
            requests_per_connection: Percentiles::of(&stats.conn_requests),
            requests_per_connection_histogram: encode(&stats.conn_requests),
            connection_waits: stats.conn_waits,
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
                errors: errors(&w.counts, w.connect_errors),
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
