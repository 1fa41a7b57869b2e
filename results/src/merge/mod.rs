//! `ringload merge`: results of runs that went on at the same time (shards of one plan on many
//! workers, `run --shard K/N`) merged into one, losslessly: counts add up, and every latency
//! figure comes from the sum of the workers' whole histograms (never from averaging
//! percentiles), per label x segment, per segment, per second, for service time and lag.
//!
//! Rates add up (the workers sent at the same time); the duration is the longest worker's.
//!
//! Files are read one at a time, twice: first each one's start and duration (checked, so that
//! the per-second windows can be lined up and a bad file named before any histogram is read),
//! then everything else, added into accumulators that keep histograms as their non-zero
//! buckets (`sparse`). Memory is bounded by budgets over all files together, refused with a
//! message naming the budget (see `formats/RESULT.md`): file size, label groups, seconds,
//! histogram buckets, names.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ResultsError;
use crate::histogram::encode;
use crate::json::parse_json;
use crate::model::{
    Errors, FORMAT, Group, OriginCounts, Percentiles, Report, RunInfo, SplitShares, Summary,
    TlsSummary, WindowRow,
};
use crate::sparse::Sparse;
use ringload_engine::stats::{MAX_OFFENDING, MAX_SPLIT_VALUES};

/// Most split headers a group may hold.
const MAX_SPLIT_HEADERS: usize = 64;
/// Widest window a result may use (a power of two, seconds).
const MAX_WINDOW_S: u32 = 1 << 20;

fn one_second() -> u32 {
    1
}

/// What the first pass reads of a file: its kind, start, duration and window width.
#[derive(Debug, Deserialize)]
struct HeadIn {
    format: String,
    run: HeadRunIn,
    summary: HeadSummary,
    #[serde(default = "one_second")]
    window_s: u32,
}

#[derive(Debug, Deserialize)]
struct HeadRunIn {
    #[serde(default)]
    started_at_unix_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct HeadSummary {
    duration_s: f64,
}

/// Most label x segment and segment groups one result may hold.
pub const MAX_GROUPS: usize = 10_000;
/// Most distinct groups over all files together (each holds a merged histogram).
pub const MAX_TOTAL_GROUPS: usize = 20_000;
/// Most seconds a result, or the merged one, may span (two days: a run lasts at most one,
/// workers start apart by less than that when they ran together).
pub const MAX_WINDOWS: usize = 2 * 86_400;
/// Most non-zero histogram buckets held over all merged histograms (16 bytes each: 64 MiB).
pub const MAX_BUCKETS: usize = 4 << 20;
/// Most bytes of label, segment, target and plan names held over all files.
pub const MAX_NAME_BYTES: usize = 16 << 20;
/// Most status codes in one result.
const MAX_STATUS: usize = 1000;
/// A result's start before this (2020-01-01) or after 2100 is not a time a run took place.
const EARLIEST_START_MS: u64 = 1_577_836_800_000;
const LATEST_START_MS: u64 = 4_102_444_800_000;
/// Longest duration a result may state (a day of sending and a day of drain, with room).
const MAX_DURATION_S: f64 = 7.0 * 86_400.0;

/// Budgets over all files, charged as accumulators grow.
#[derive(Default)]
struct Budget {
    buckets: usize,
    names: usize,
}

impl Budget {
    fn buckets(&mut self, before: usize, after: usize, name: &str) -> Result<(), String> {
        self.buckets = (self.buckets + after).saturating_sub(before);
        if self.buckets > MAX_BUCKETS {
            return Err(format!(
                "{name}: the merged histograms would hold more than {MAX_BUCKETS} buckets \
                 ({} MiB, the merge budget)",
                (MAX_BUCKETS * 16) >> 20
            ));
        }
        Ok(())
    }

    fn name(&mut self, bytes: usize, name: &str) -> Result<(), String> {
        self.names = self.names.saturating_add(bytes);
        if self.names > MAX_NAME_BYTES {
            return Err(format!(
                "{name}: label, segment, target and plan names over {} MiB in all files \
                 (the merge budget)",
                MAX_NAME_BYTES >> 20
            ));
        }
        Ok(())
    }
}

/// Add a histogram (`what`: its JSON path in `name`) into `dst`, charging the budget.
fn add_histogram(
    dst: &mut Sparse,
    b64: &str,
    digits: u8,
    name: &str,
    what: &str,
    budget: &mut Budget,
) -> Result<(), String> {
    let h = Sparse::decode(b64, digits).map_err(|e| format!("{name}: {what}: {e}"))?;
    let before = dst.len();
    dst.add(&h).map_err(|e| format!("{name}: {what}: {e}"))?;
    budget.buckets(before, dst.len(), name)
}

/// A number a result states must be finite and not negative.
fn check_number(v: f64, name: &str, what: &str) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name}: {what}: {v} is not a finite number >= 0"))
    }
}

#[derive(Default)]
struct Acc {
    requests: u64,
    ok: u64,
    failed: u64,
    timed_out: u64,
    in_flight_at_end: u64,
    rps: f64,
    errors: [u64; 6],
    reauth: u64,
    offending: Vec<String>,
    split: BTreeMap<String, SplitShares>,
    hist: Sparse,
    origin: OriginCounts,
    /// The upstream's own time and the overhead (see `Group::upstream_time_us`).
    upstream: Sparse,
    overhead: Sparse,
}

impl Acc {
    fn take(
        &mut self,
        g: &Group,
        name: &str,
        what: &str,
        budget: &mut Budget,
    ) -> Result<(), String> {
        check_number(g.rps, name, &format!("{what}.rps"))?;
        for (a, b) in [
            (&mut self.requests, g.requests),
            (&mut self.ok, g.ok),
            (&mut self.failed, g.failed),
            (&mut self.timed_out, g.timed_out),
            (&mut self.in_flight_at_end, g.in_flight_at_end),
        ] {
            *a = a.saturating_add(b);
        }
        self.rps += g.rps;
        let e = &g.errors;
        for (a, b) in self.errors.iter_mut().zip([
            e.connect,
            e.timeout,
            e.reset,
            e.protocol,
            e.validation,
            e.auth,
        ]) {
            *a = a.saturating_add(b);
        }
        self.reauth = self.reauth.saturating_add(g.reauth);
        for o in g.offending.iter().take(MAX_OFFENDING) {
            if self.offending.len() < MAX_OFFENDING && !self.offending.contains(o) {
                budget.name(o.len(), name)?;
                self.offending.push(o.clone());
            }
        }
        if g.split.len() > MAX_SPLIT_HEADERS {
            return Err(format!(
                "{name}: {what}.split: more than {MAX_SPLIT_HEADERS} headers"
            ));
        }
        for (h, sp) in &g.split {
            if sp.values.len() > MAX_SPLIT_VALUES {
                return Err(format!(
                    "{name}: {what}.split.{h}: more than {MAX_SPLIT_VALUES} values"
                ));
            }
            let e = self.split.entry(h.clone()).or_default();
            for (v, n) in &sp.values {
                if !e.values.contains_key(v) && e.values.len() < MAX_SPLIT_VALUES {
                    budget.name(h.len() + v.len(), name)?;
                }
                e.add(v, *n);
            }
            e.other = e.other.saturating_add(sp.other);
            e.missing = e.missing.saturating_add(sp.missing);
        }
        let o = &g.origin;
        for (a, b) in [
            (&mut self.origin.proxy, o.proxy),
            (&mut self.origin.upstream, o.upstream),
            (&mut self.origin.unknown, o.unknown),
        ] {
            *a = a.saturating_add(b);
        }
        // Results written before upstream times have none (empty: skipped).
        for (dst, b64, field) in [
            (
                &mut self.upstream,
                &g.upstream_time_histogram,
                "upstream_time_histogram",
            ),
            (
                &mut self.overhead,
                &g.overhead_histogram,
                "overhead_histogram",
            ),
        ] {
            if !b64.is_empty() {
                add_histogram(dst, b64, 3, name, &format!("{what}.{field}"), budget)?;
            }
        }
        add_histogram(
            &mut self.hist,
            &g.histogram,
            3,
            name,
            &format!("{what}.histogram"),
            budget,
        )
    }

    fn group(self, label: Option<String>, segment: Option<String>) -> Group {
        let h = self.hist.histogram(3);
        let (upstream, overhead) = (self.upstream.histogram(3), self.overhead.histogram(3));
        let [connect, timeout, reset, protocol, validation, auth] = self.errors;
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
                auth,
            },
            auth: false,
            reauth: self.reauth,
            offending: self.offending,
            split: self.split,
            histogram: encode(&h),
            origin: self.origin,
            upstream_time_responses: upstream.len(),
            upstream_time_us: Percentiles::of(&upstream),
            upstream_time_histogram: encode(&upstream),
            overhead_us: Percentiles::of(&overhead),
            overhead_histogram: encode(&overhead),
        }
    }
}

/// One second of the run, summed over workers: requests, ok, errors (as `Acc`), latency.
#[derive(Default)]
struct WindowAcc(u64, u64, [u64; 6], Sparse);

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
    /// The accumulator of `key`; `None` when it is new and `room` says no more may be added.
    fn entry(&mut self, key: K, room: bool) -> Option<&mut Acc> {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None if !room => return None,
            None => {
                self.items.push((key.clone(), Acc::default()));
                self.index.insert(key, self.items.len() - 1);
                self.items.len() - 1
            }
        };
        Some(&mut self.items[i].1)
    }
}

/// How the files line up in time, from their starts and durations (first pass).
struct Timeline {
    /// Seconds to add to each file's windows.
    shifts: Vec<usize>,
    first_start: Option<u64>,
    /// Why the merged result is invalid (workers that did not run together), if it is.
    invalid: Option<String>,
}

fn timeline(heads: &[(String, HeadIn)]) -> Result<Timeline, ResultsError> {
    for (name, h) in heads {
        let bad = |why: String| ResultsError::Invalid(format!("{name}: {why}"));
        if h.format != FORMAT {
            return Err(bad(format!(
                "format: {:?} is not a ringload run result ({FORMAT})",
                h.format
            )));
        }
        let d = h.summary.duration_s;
        if !(d.is_finite() && (0.0..=MAX_DURATION_S).contains(&d)) {
            return Err(bad(format!(
                "summary.duration_s: {d} is not a duration from 0 to {MAX_DURATION_S} s"
            )));
        }
        if !h.window_s.is_power_of_two() || h.window_s > MAX_WINDOW_S {
            return Err(bad(format!(
                "window_s: {} is not a power of two up to {MAX_WINDOW_S}",
                h.window_s
            )));
        }
        if let Some(s) = h.run.started_at_unix_ms
            && !(EARLIEST_START_MS..=LATEST_START_MS).contains(&s)
        {
            return Err(bad(format!(
                "run.started_at_unix_ms: {s} is not a time a run took place (Unix \
                 milliseconds between 2020 and 2100)"
            )));
        }
    }
    let starts: Option<Vec<u64>> = heads.iter().map(|h| h.1.run.started_at_unix_ms).collect();
    let Some(starts) = starts else {
        return Ok(Timeline {
            shifts: vec![0; heads.len()],
            first_start: None,
            invalid: None,
        });
    };
    let first = starts.iter().min().copied().unwrap_or(0);
    let ends: Vec<u64> = heads
        .iter()
        .zip(&starts)
        .map(|(h, s)| s + (h.1.summary.duration_s * 1000.0) as u64)
        .collect();
    let latest_start = starts.iter().max().copied().unwrap_or(0);
    let earliest_end = ends.iter().min().copied().unwrap_or(0);
    if latest_start >= earliest_end {
        // Their windows would not line up into one run: keep them as they are.
        return Ok(Timeline {
            shifts: vec![0; heads.len()],
            first_start: Some(first),
            invalid: Some(format!(
                "the workers did not run at the same time (one started {:.1} s after another \
                 ended): their rates do not add up",
                (latest_start - earliest_end) as f64 / 1e3
            )),
        });
    }
    Ok(Timeline {
        shifts: starts
            .iter()
            .map(|s| ((s - first + 500) / 1000) as usize)
            .collect(),
        first_start: Some(first),
        invalid: None,
    })
}

/// Everything summed so far.
#[derive(Default)]
struct Merger {
    budget: Budget,
    files: usize,
    summary: Acc,
    /// In the order the first result lists them (then any new ones in their order).
    labels: Ordered<(Option<String>, Option<String>, bool)>,
    /// Width of the merged windows: the widest any file used (long runs widen theirs).
    window_s: u32,
    segments: Ordered<Option<String>>,
    windows: BTreeMap<usize, WindowAcc>,
    service: Sparse,
    lag: Sparse,
    status: BTreeMap<String, u64>,
    resent: u64,
    dropped: u64,
    logins: u64,
    send_rate: f64,
    duration: f64,
    interrupted: bool,
    /// Every file's provenance, in the order given.
    provenance: Vec<crate::model::Provenance>,
    /// Connection and TLS costs, summed like the latencies.
    connect: Sparse,
    tls: Option<(u64, u64, Sparse, Vec<String>)>,
    /// Requests per connection, and captured connections that waited for one.
    per_conn: Sparse,
    conn_waits: u64,
    bytes_in: u64,
    bytes_out: u64,
    opened: u64,
    closes: u64,
    unsolicited: u64,
    connections: usize,
    threads: usize,
    targets: Vec<String>,
    invalid: Vec<String>,
    /// What the merged result takes from the first file.
    first: Option<First>,
}

/// The first file's plan and run description, which the merged result keeps.
#[derive(Default)]
struct First {
    plan: String,
    pipeline: usize,
    load: String,
    stop: String,
    warmup_s: f64,
    timeout_s: f64,
}

impl Merger {
    /// Add one parsed file, whose windows start `shift` seconds after the first file's.
    fn add(&mut self, name: &str, r: Report, shift: usize) -> Result<(), String> {
        let budget = &mut self.budget;
        if r.format != FORMAT {
            return Err(format!(
                "{name}: format: {:?} is not a ringload run result ({FORMAT})",
                r.format
            ));
        }
        let groups = r.labels.len() + r.segments.len();
        if groups > MAX_GROUPS {
            return Err(format!(
                "{name}: labels and segments: {groups} groups, more than the {MAX_GROUPS} a \
                 result may hold (merge budget)"
            ));
        }
        if r.windows.len() > MAX_WINDOWS {
            return Err(format!(
                "{name}: windows: {} seconds, more than the {MAX_WINDOWS} a result may hold \
                 (merge budget)",
                r.windows.len()
            ));
        }
        if r.summary.status.len() > MAX_STATUS {
            return Err(format!(
                "{name}: summary.status: more than {MAX_STATUS} codes"
            ));
        }
        let s = &r.summary;
        check_number(s.send_rate, name, "summary.send_rate")?;
        check_number(r.run.warmup_s, name, "run.warmup_s")?;
        check_number(r.run.timeout_s, name, "run.timeout_s")?;
        self.summary.take(&s.group, name, "summary", budget)?;
        for (i, g) in r.labels.iter().enumerate() {
            let room = self.labels.items.len() + self.segments.items.len() < MAX_TOTAL_GROUPS;
            let key = (g.label.clone(), g.segment.clone(), g.auth);
            let new = !self.labels.index.contains_key(&key);
            let Some(acc) = self.labels.entry(key, room) else {
                return Err(too_many_groups(name));
            };
            acc.take(g, name, &format!("labels[{i}]"), budget)?;
            if new {
                let n = g.label.as_ref().map_or(0, String::len)
                    + g.segment.as_ref().map_or(0, String::len);
                budget.name(n, name)?;
            }
        }
        for (i, g) in r.segments.iter().enumerate() {
            let room = self.labels.items.len() + self.segments.items.len() < MAX_TOTAL_GROUPS;
            let new = !self.segments.index.contains_key(&g.segment);
            let Some(acc) = self.segments.entry(g.segment.clone(), room) else {
                return Err(too_many_groups(name));
            };
            acc.take(g, name, &format!("segments[{i}]"), budget)?;
            if new {
                budget.name(g.segment.as_ref().map_or(0, String::len), name)?;
            }
        }
        let width = self.window_s as usize;
        for (i, w) in r.windows.iter().enumerate() {
            // Windows of every file in the widest width any of them used.
            let second = w.second.saturating_add(shift) / width * width;
            if w.second >= MAX_WINDOWS {
                return Err(format!(
                    "{name}: windows[{i}].second: {} is beyond the {MAX_WINDOWS} seconds a \
                     result may span",
                    w.second
                ));
            }
            if second >= MAX_WINDOWS {
                return Err(format!(
                    "{name}: windows[{i}].second: {} is {second} s after the first worker \
                     started, beyond the {MAX_WINDOWS} seconds a merged result may span",
                    w.second
                ));
            }
            let e = self.windows.entry(second).or_default();
            e.0 = e.0.saturating_add(w.requests);
            e.1 = e.1.saturating_add(w.ok);
            let we = &w.errors;
            for (a, b) in e.2.iter_mut().zip([
                we.connect,
                we.timeout,
                we.reset,
                we.protocol,
                we.validation,
                we.auth,
            ]) {
                *a = a.saturating_add(b);
            }
            add_histogram(
                &mut e.3,
                &w.histogram,
                ringload_engine::stats::WINDOW_DIGITS,
                name,
                &format!("windows[{i}].histogram"),
                budget,
            )?;
        }
        add_histogram(
            &mut self.service,
            &s.service_histogram,
            3,
            name,
            "summary.service_histogram",
            budget,
        )?;
        add_histogram(
            &mut self.lag,
            &s.lag_histogram,
            3,
            name,
            "summary.lag_histogram",
            budget,
        )?;
        for (k, v) in &s.status {
            if !k.parse::<u16>().is_ok_and(|c| (100..=999).contains(&c)) {
                return Err(format!(
                    "{name}: summary.status: {k:?} is not an HTTP status code"
                ));
            }
            let e = self.status.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
        if !s.requests_per_connection_histogram.is_empty() {
            add_histogram(
                &mut self.per_conn,
                &s.requests_per_connection_histogram,
                3,
                name,
                "summary.requests_per_connection_histogram",
                budget,
            )?;
        }
        if !s.connect_histogram.is_empty() {
            add_histogram(
                &mut self.connect,
                &s.connect_histogram,
                3,
                name,
                "summary.connect_histogram",
                budget,
            )?;
        }
        if let Some(t) = &s.tls {
            let acc = self
                .tls
                .get_or_insert_with(|| (0, 0, Sparse::default(), Vec::new()));
            acc.0 = acc.0.saturating_add(t.resumed);
            acc.1 = acc.1.saturating_add(t.errors);
            add_histogram(
                &mut acc.2,
                &t.handshake_histogram,
                3,
                name,
                "summary.tls.handshake_histogram",
                budget,
            )?;
            for reason in t.reasons.iter().take(MAX_OFFENDING) {
                if acc.3.len() < MAX_OFFENDING && !acc.3.contains(reason) {
                    budget.name(reason.len(), name)?;
                    acc.3.push(reason.clone());
                }
            }
        }
        self.interrupted |= r.interrupted;
        for p in &r.provenance {
            budget.name(p.text_len(), name)?;
        }
        self.provenance.extend(r.provenance.iter().cloned());
        for (a, b) in [
            (&mut self.resent, s.resent),
            (&mut self.dropped, s.dropped),
            (&mut self.logins, s.logins),
            (&mut self.bytes_in, s.bytes_in),
            (&mut self.bytes_out, s.bytes_out),
            (&mut self.opened, s.connections_opened),
            (&mut self.conn_waits, s.connection_waits),
            (&mut self.closes, s.server_closes),
            (&mut self.unsolicited, s.unsolicited_responses),
        ] {
            *a = a.saturating_add(b);
        }
        self.send_rate += s.send_rate;
        self.duration = self.duration.max(s.duration_s);
        self.connections = self.connections.saturating_add(r.run.connections);
        self.threads = self.threads.saturating_add(r.run.threads);
        if !self.targets.contains(&r.run.target) {
            budget.name(r.run.target.len(), name)?;
            self.targets.push(r.run.target.clone());
        }
        if !r.valid {
            self.invalid.push(format!(
                "{name}: {}",
                r.invalid_reason.as_deref().unwrap_or("invalid")
            ));
        }
        if self.first.is_none() {
            budget.name(r.plan.len() + r.run.load.len() + r.run.stop.len(), name)?;
            self.first = Some(First {
                plan: r.plan,
                pipeline: r.run.pipeline,
                load: r.run.load,
                stop: r.run.stop,
                warmup_s: r.run.warmup_s,
                timeout_s: r.run.timeout_s,
            });
        }
        self.files += 1;
        Ok(())
    }

    fn finish(self, timeline: Timeline) -> Report {
        let First {
            plan,
            pipeline,
            load,
            stop,
            warmup_s,
            timeout_s,
        } = self.first.unwrap_or_default();
        let mut invalid = self.invalid;
        if let Some(why) = timeline.invalid {
            invalid.insert(0, why);
        }
        let service = self.service.histogram(3);
        let lag = self.lag.histogram(3);
        let connect = self.connect.histogram(3);
        let per_conn = self.per_conn.histogram(3);
        Report {
            format: FORMAT.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            plan,
            run: RunInfo {
                target: self.targets.join(" "),
                started_at_unix_ms: timeline.first_start,
                connections: self.connections,
                pipeline,
                threads: self.threads,
                load: format!("{load} (x{} workers)", self.files),
                stop,
                warmup_s,
                timeout_s,
            },
            valid: invalid.is_empty(),
            invalid_reason: (!invalid.is_empty()).then(|| invalid.join("; ")),
            interrupted: self.interrupted,
            provenance: self.provenance,
            summary: Summary {
                group: self.summary.group(None, None),
                resent: self.resent,
                dropped: self.dropped,
                logins: self.logins,
                duration_s: self.duration,
                send_rate: (self.send_rate * 10.0).round() / 10.0,
                service_us: Percentiles::of(&service),
                lag_us: Percentiles::of(&lag),
                service_histogram: encode(&service),
                lag_histogram: encode(&lag),
                status: self.status,
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
                connections_opened: self.opened,
                connections_per_s: crate::build::per_second(self.opened, self.duration),
                requests_per_connection: Percentiles::of(&per_conn),
                requests_per_connection_histogram: encode(&per_conn),
                connection_waits: self.conn_waits,
                server_closes: self.closes,
                unsolicited_responses: self.unsolicited,
                connect_us: Percentiles::of(&connect),
                connect_histogram: encode(&connect),
                tls: self.tls.map(|(resumed, errors, h, reasons)| {
                    let h = h.histogram(3);
                    let n = h.len();
                    TlsSummary {
                        handshakes: n,
                        handshakes_per_s: crate::build::per_second(n, self.duration),
                        resumed,
                        resumed_share: if n == 0 {
                            0.0
                        } else {
                            (resumed as f64 * 1000.0 / n as f64).round() / 1000.0
                        },
                        handshake_us: Percentiles::of(&h),
                        handshake_histogram: encode(&h),
                        errors,
                        reasons,
                    }
                }),
            },
            labels: self
                .labels
                .items
                .into_iter()
                .map(|((l, s, auth), a)| Group {
                    auth,
                    ..a.group(l, s)
                })
                .collect(),
            segments: self
                .segments
                .items
                .into_iter()
                .map(|(s, a)| a.group(None, s))
                .collect(),
            window_s: self.window_s,
            windows: self
                .windows
                .into_iter()
                .map(|(second, WindowAcc(requests, ok, e, h))| {
                    let h = h.histogram(ringload_engine::stats::WINDOW_DIGITS);
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
                            connect: e[0],
                            timeout: e[1],
                            reset: e[2],
                            protocol: e[3],
                            validation: e[4],
                            auth: e[5],
                        },
                        p50_us: q(0.5),
                        p99_us: q(0.99),
                        histogram: encode(&h),
                    }
                })
                .collect(),
        }
    }
}

fn too_many_groups(name: &str) -> String {
    format!(
        "{name}: the files hold more than {MAX_TOTAL_GROUPS} distinct label and segment groups \
         together (the merge budget)"
    )
}

/// Merge the results named `names`, reading file `i`'s bytes with `read(i)` (twice: once for
/// its start and duration, once for the rest), one file at a time. Public for the fuzz target.
pub fn merge_with(
    names: &[String],
    mut read: impl FnMut(usize) -> Result<Vec<u8>, ResultsError>,
) -> Result<Report, ResultsError> {
    let mut heads = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let head: HeadIn = parse_json(name, &read(i)?)?;
        heads.push((name.clone(), head));
    }
    let timeline = timeline(&heads)?;
    let window_s = heads.iter().map(|h| h.1.window_s).max().unwrap_or(1);
    drop(heads);
    let mut m = Merger {
        window_s,
        ..Merger::default()
    };
    for (i, name) in names.iter().enumerate() {
        let r: Report = parse_json(name, &read(i)?)?;
        m.add(name, r, timeline.shifts[i])
            .map_err(ResultsError::Invalid)?;
    }
    Ok(m.finish(timeline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{report_of, worker};
    use ringload_engine::Stats;

    fn json(s: &Stats) -> Vec<u8> {
        serde_json::to_vec(&report_of(s)).unwrap()
    }

    fn merge(files: &[(&str, Vec<u8>)]) -> Result<Report, String> {
        let names: Vec<String> = files.iter().map(|f| f.0.to_string()).collect();
        merge_with(&names, |i| Ok(files[i].1.clone())).map_err(|e| e.to_string())
    }

    #[test]
    fn merging_results_equals_the_result_of_the_merged_stats() {
        let (a, b) = (worker(1), worker(2));
        let merged = merge(&[("a", json(&a)), ("b", json(&b))]).unwrap();
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
            "/summary/origin",
            "/summary/upstream_time_responses",
            "/summary/upstream_time_us",
            "/summary/upstream_time_histogram",
            "/summary/overhead_us",
            "/summary/overhead_histogram",
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
        // The hops' figures were there to merge: origins in every row, and upstream times.
        let s = &merged.summary.group;
        assert!(s.origin.proxy > 0 && s.origin.upstream > 0 && s.origin.unknown > 0);
        assert_eq!(s.origin.total(), s.errors.validation);
        assert_eq!(
            s.upstream_time_responses,
            a.upstream.as_ref().unwrap().upstream.len()
                + b.upstream.as_ref().unwrap().upstream.len()
        );
        for g in merged.labels.iter().chain(&merged.segments) {
            assert_eq!(g.origin.total(), g.errors.validation);
            assert!(g.upstream_time_responses > 0 && g.overhead_us.p50 > 0);
        }
        // Concurrent workers: rates add up.
        assert!((merged.summary.group.rps - 2.0 * report_of(&a).summary.group.rps).abs() < 0.2);
    }

    /// Found by fuzzing (`fuzz/regressions/result/json-key-with-line-break.json`): the JSON
    /// path of an error holds the file's keys, line breaks included.
    #[test]
    fn a_json_key_with_a_line_break_stays_on_one_line() {
        let json = br#"{"format": "ringload-result/1",
                        "summary": {"duration_s": 1, "status": {"a\nb": -1}}, "run": {}}"#;
        let e = merge(&[("k.json", json.to_vec())]).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.starts_with("k.json: summary.status.a\\nb: invalid value: integer `-1`"),
            "{e}"
        );
        let long = format!(
            r#"{{"format": "ringload-result/1",
                "summary": {{"duration_s": 1, "status": {{"{}": -1}}}}, "run": {{}}}}"#,
            "k".repeat(500)
        );
        let e = merge(&[("k.json", long.into_bytes())]).unwrap_err();
        let path = format!("summary.status.{}", "k".repeat(500));
        assert!(
            e.contains(&format!("k.json: {}...: invalid", &path[..100])),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_run_result_is_refused() {
        let mut r = serde_json::to_value(report_of(&worker(1))).unwrap();
        r["format"] = "ringload-compare/1".into();
        let r = serde_json::to_vec(&r).unwrap();
        let e = merge(&[("x.json", r.clone()), ("y.json", r)]).unwrap_err();
        assert!(
            e.contains("x.json: format:") && e.contains("ringload-result/1"),
            "{e}"
        );
    }
}
