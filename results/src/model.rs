//! The result of a run (`ringload-result/1`): one serde model, written by `run`, `merge` and
//! `demo`, read back by `merge` and `report`, documented in `formats/RESULT.md` and
//! `formats/result.schema.json`.
//!
//! The JSON keeps whole histograms (HdrHistogram V2, base64) next to the percentiles, so results
//! from several runs or machines can be merged losslessly later.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The `format` of a run result; a reader refuses any other.
pub const FORMAT: &str = "ringload-result/1";

fn one_second() -> u32 {
    1
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Errors {
    /// Failed connection attempts (no request is charged for them).
    pub connect: u64,
    pub timeout: u64,
    pub reset: u64,
    pub protocol: u64,
    pub validation: u64,
    /// No token (the session's login failed), or, in a login row, a failed login.
    #[serde(default)]
    pub auth: u64,
}

impl Errors {
    /// Each class with its JSON name, in the schema's order: the one list every renderer
    /// walks, so a class added here shows in the tables and the charts alike.
    pub fn by_class(&self) -> [(&'static str, u64); 6] {
        [
            ("connect", self.connect),
            ("timeout", self.timeout),
            ("reset", self.reset),
            ("protocol", self.protocol),
            ("validation", self.validation),
            ("auth", self.auth),
        ]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auth: bool,
    /// Re-logins after a 401 on these requests.
    #[serde(default)]
    pub reauth: u64,
    /// The first distinct reasons responses failed their check (`status 503`,
    /// `x-upstream-version: stable`; for logins, why they failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offending: Vec<String>,
    /// Responses by the value of each split header (`--split`, and every header an expectation
    /// names): segments and the summary only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub split: BTreeMap<String, SplitShares>,
    /// Base64 of the HdrHistogram V2 encoding of the latency histogram (microseconds).
    pub histogram: String,
    /// Failed responses (`errors.validation`: answered, not as expected) by who answered them.
    #[serde(default)]
    pub origin: OriginCounts,
    /// Responses that said how long the upstream took (`x-envoy-upstream-service-time`,
    /// `Server-Timing`): the count of the two histograms below (0: none did).
    #[serde(default)]
    pub upstream_time_responses: u64,
    /// The upstream's own time, as those responses said.
    #[serde(default)]
    pub upstream_time_us: Percentiles,
    #[serde(default)]
    pub upstream_time_histogram: String,
    /// Per response, its service time (from the actual send) minus the upstream's time: what
    /// the network, the proxies and the connection's queue took.
    #[serde(default)]
    pub overhead_us: Percentiles,
    #[serde(default)]
    pub overhead_histogram: String,
}

/// Failed responses by who answered them (see `ringload_engine::mesh`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OriginCounts {
    /// A proxy on the way (sidecar, gateway, ingress) answered itself.
    pub proxy: u64,
    /// The upstream service answered; a proxy only relayed it.
    pub upstream: u64,
    /// Nothing in the response said.
    pub unknown: u64,
}

impl OriginCounts {
    pub fn total(&self) -> u64 {
        self.proxy
            .saturating_add(self.upstream)
            .saturating_add(self.unknown)
    }
}

impl From<&ringload_engine::Origins> for OriginCounts {
    fn from(o: &ringload_engine::Origins) -> Self {
        OriginCounts {
            proxy: o.proxy,
            upstream: o.upstream,
            unknown: o.unknown,
        }
    }
}

impl Group {
    /// How reports name the group: `LABEL [SEGMENT]`, `(auth) LABEL` for login rows, `total`
    /// for the summary.
    pub fn name(&self) -> String {
        let mut name = self.label.clone().unwrap_or_else(|| "total".into());
        if let Some(seg) = &self.segment {
            name.push_str(&format!(" [{seg}]"));
        }
        if self.auth {
            name = format!("(auth) {name}");
        }
        name
    }
}

/// How one header's values were shared among a group's responses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SplitShares {
    /// Value -> responses with it.
    pub values: BTreeMap<String, u64>,
    /// Responses with a value beyond the first 16 distinct ones.
    pub other: u64,
    /// Responses without the header.
    pub missing: u64,
}

/// Most distinct values a split keeps per header; later ones count in `other` (the engine's
/// per-group limit, kept by every sum of groups too, so that every result reads back).
pub const MAX_SPLIT_VALUES: usize = ringload_engine::stats::MAX_SPLIT_VALUES;

impl SplitShares {
    pub fn total(&self) -> u64 {
        self.values.values().sum::<u64>() + self.other + self.missing
    }

    /// Count `n` responses with `value`: a value beyond the first [`MAX_SPLIT_VALUES`] distinct
    /// ones counts in `other`.
    pub fn add(&mut self, value: &str, n: u64) {
        if let Some(c) = self.values.get_mut(value) {
            *c = c.saturating_add(n);
        } else if self.values.len() < MAX_SPLIT_VALUES {
            self.values.insert(value.to_string(), n);
        } else {
            self.other = self.other.saturating_add(n);
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    #[serde(flatten)]
    pub group: Group,
    pub resent: u64,
    pub dropped: u64,
    /// Logins sent (first, refresh or after a 401); their outcomes are in their own rows.
    /// (`reauth`, the re-logins after a 401, is in the group.)
    #[serde(default)]
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
    /// New connections per second of the run (`connections_opened` over `duration_s`).
    #[serde(default)]
    pub connections_per_s: f64,
    /// Responses each connection carried (recorded when it closed, or at the end while open).
    #[serde(default)]
    pub requests_per_connection: Percentiles,
    #[serde(default)]
    pub requests_per_connection_histogram: String,
    /// `--connections captured`: captured connections due while every connection allowed was
    /// open, which waited for one to close.
    #[serde(default)]
    pub connection_waits: u64,
    pub server_closes: u64,
    pub unsolicited_responses: u64,
    /// Time to open a TCP connection, and to complete a TLS handshake after it (https).
    #[serde(default)]
    pub connect_us: Percentiles,
    #[serde(default)]
    pub connect_histogram: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
}

/// What TLS cost and how it failed (https targets).
#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Where a result came from: enough to tell two results apart months later, or which worker of a
/// merge ran where. A run writes one; `merge` keeps every worker's (in the order given, a
/// merged file's own list in its place); each side of `compare` holds its run's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// ringload's version.
    pub tool_version: String,
    /// The command line, secrets masked (credential headers, secret query fields and body
    /// fields, URL passwords: `REDACTED`).
    pub command: Vec<String>,
    /// SHA-256 of the plan file, hex (`sha256sum` prints the same); absent for quick mode,
    /// whose plan was built from the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<String>,
    /// The plan's tags (`record --tag mesh=istio`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plan_tags: BTreeMap<String, String>,
    /// The server the requests went to.
    pub target: String,
    /// When measurement began, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_unix_ms: Option<u64>,
    /// The machine's name (`uname -n`: the pod name under Kubernetes).
    pub host: String,
    /// `uname -srm`.
    pub kernel: String,
    /// The CPU model as `/proc/cpuinfo` names it.
    pub cpu_model: String,
    /// CPUs online, and those this process could run on.
    pub cpus: usize,
    pub cpus_allowed: usize,
}

impl Provenance {
    /// Bytes of text it holds (merge charges them to its name budget).
    pub fn text_len(&self) -> usize {
        self.command.iter().map(String::len).sum::<usize>()
            + self.plan_sha256.as_ref().map_or(0, String::len)
            + self
                .plan_tags
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + self.tool_version.len()
            + self.target.len()
            + self.host.len()
            + self.kernel.len()
            + self.cpu_model.len()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format: String,
    pub tool_version: String,
    pub plan: String,
    pub run: RunInfo,
    pub valid: bool,
    pub invalid_reason: Option<String>,
    /// The run was stopped by SIGINT/SIGTERM before its end (it drained and reported).
    #[serde(default)]
    pub interrupted: bool,
    /// Where the result came from: one entry per run that made it (several after `merge`);
    /// empty in results written before provenance was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance: Vec<Provenance>,
    pub summary: Summary,
    pub labels: Vec<Group>,
    pub segments: Vec<Group>,
    /// Width of each window, seconds (1; doubled in long runs to bound memory).
    #[serde(default = "one_second")]
    pub window_s: u32,
    pub windows: Vec<WindowRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found writing the schema: summing splits over segments (or files) kept every value, so
    /// two segments of 9 values each wrote a summary of 18 that merge and report refused.
    #[test]
    fn sums_of_splits_keep_at_most_the_values_a_reader_takes() {
        let mut sum = SplitShares::default();
        for seg in 0..2 {
            for v in 0..9 {
                sum.add(&format!("v{seg}-{v}"), 10);
            }
        }
        sum.add("v0-0", 5);
        assert_eq!(sum.values.len(), MAX_SPLIT_VALUES);
        assert_eq!(sum.values["v0-0"], 15);
        assert_eq!(sum.other, 20);
        assert_eq!(sum.total(), 185);
    }
}
