//! Measurements of one executor, merged across executors (and machines) with `+=`.
//!
//! Latency is kept as whole HdrHistograms (microseconds, 3 significant digits), never as a list
//! of samples: histograms merge losslessly, percentiles do not. Three views:
//! - `latency`: from the request's *intended* send time to its response (what a user waited,
//!   including queueing when the generator or the target falls behind: no coordinated omission);
//! - `service`: from the actual send to the response (the uncorrected view others report);
//! - `lag`: how late each request was sent compared with its intended time.
//!
//! What the hops said is counted beside (see `mesh`): failed responses by origin (proxy,
//! upstream, unknown), and, for responses that carried the upstream's own time, that time and
//! the rest of the service time (the overhead) in histograms of their own.
//!
//! Accounting: every request the engine decides to send ends in exactly one outcome, so
//! `requests == ok + failed() + timed_out + in_flight_at_end` after a run.
//!
//! The shard reports each event (`sent`, `answered`, `error`, `timed_out`, `in_flight_at_end`,
//! logins, connects, TLS) once; each updates the run's totals, its row (per label x segment or
//! auth profile) and the window of its second. Executors' stats are then merged with `+=`.
//!
//! - `counts`: outcome counts ([`Counts`]) and why a request failed ([`ErrorClass`])
//! - `layout`: how stats rows are numbered ([`KeyLayout`], [`Row`])
//! - `keys`: one row's stats ([`KeyStats`]): counts, latency, offending values, logins, re-logins
//! - `windows`: the per-second time series ([`Window`]), widened as a long run goes on
//! - `splits`: responses of a segment counted by the value of a header ([`Split`])
//! - `hops`: what the hops said: failed responses by origin, upstream time and overhead

mod counts;
mod hops;
mod keys;
mod layout;
mod splits;
mod windows;

use std::ops::AddAssign;

use hdrhistogram::Histogram;

pub use counts::{Counts, ERROR_CLASSES, ErrorClass, N_ERROR_CLASSES};
pub use hops::{Origin, Origins, UpstreamTimes, add_times};
pub use keys::{KeyStats, MAX_OFFENDING};
pub use layout::{KeyLayout, Row};
pub use splits::{MAX_SPLIT_VALUES, Split};
pub use windows::{MAX_WINDOWS, WINDOW_DIGITS, Window, new_window_histogram};

/// Highest latency a histogram holds (one hour, microseconds); larger values are clamped.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static bounds are valid")
}

/// Everything one executor measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// What each row of `keys` counts.
    pub layout: KeyLayout,
    pub counts: Counts,
    /// Re-transmissions after a connection closed under pipelined requests (not an outcome).
    pub resent: u64,
    /// Open loop: requests not sent because too many were already waiting (run invalid).
    pub dropped: u64,
    pub keys: Vec<Option<Box<KeyStats>>>,
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub lag: Histogram<u64>,
    /// Responses by status code (index = status, 0..=999).
    pub status: Vec<u64>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub connects: u64,
    pub connect_errors: u64,
    /// The OS error number of the last failed connect attempt (a timeout is ETIMEDOUT).
    pub last_connect_error: Option<i32>,
    /// An executor stopped early: it could open no connection for the give-up time.
    pub gave_up: bool,
    /// The run was interrupted (SIGINT/SIGTERM): it stopped sending early and drained.
    pub interrupted: bool,
    /// Connections the server closed (Connection: close or EOF).
    pub server_closes: u64,
    /// Response bytes that arrived with no request in flight (the connection is closed).
    pub unsolicited: u64,
    /// Time windows of `window_s` seconds from the start of measurement.
    pub windows: Vec<Window>,
    /// Width of each window, seconds: 1, doubled as a long run coarsens its windows.
    pub window_s: u32,
    /// Measured wall time of the sending phase (max over executors when merged), seconds.
    pub elapsed_s: f64,
    /// Measured time during which requests were released (the sending window), seconds.
    pub send_window_s: f64,
    /// Logins sent (first or refresh, measured or not); their outcomes are in their own rows.
    pub logins: u64,
    /// Re-logins after a 401.
    pub reauth: u64,
    /// Per segment (`segments + 1` slots, the last for none) and split header:
    /// `splits[segment * split_headers + header]`.
    pub splits: Vec<Split>,
    pub split_headers: usize,
    /// The split headers' names, in counting order.
    pub split_names: Vec<String>,
    /// Time to open a TCP connection (connect submitted to connected), microseconds.
    pub connect_time: Histogram<u64>,
    /// TLS handshakes completed, and how long each took after the TCP connect, microseconds.
    pub tls_handshake: Histogram<u64>,
    /// Handshakes that resumed an earlier session.
    pub tls_resumed: u64,
    /// Connections that failed in TLS (handshake refused, certificate rejected, bad records);
    /// like failed connects, no request is charged for them.
    pub tls_errors: u64,
    /// The first distinct TLS failure reasons (at most `MAX_OFFENDING`).
    pub tls_reasons: Vec<String>,
    /// Responses each connection carried, recorded when it closed (or at the end, for those
    /// still open): the shape a gateway sees (one per connection, or thousands).
    pub conn_requests: Histogram<u64>,
    /// Captured connections that were due while every connection allowed was open, and waited
    /// for one to close.
    pub conn_waits: u64,
    /// Failed responses by origin (steps only).
    pub origins: Origins,
    /// Upstream time and overhead of every step response that said (steps only).
    pub upstream: Option<Box<UpstreamTimes>>,
}

impl Stats {
    /// Stats of a run whose rows are laid out as `layout` says.
    pub fn with_layout(layout: KeyLayout) -> Self {
        let mut s = Stats::new(layout.len());
        s.layout = layout;
        s
    }

    /// Stats with `keys` rows of one label each and no segment (tests, merges of plain rows).
    pub fn new(keys: usize) -> Self {
        Stats {
            layout: KeyLayout {
                labels: keys as u32,
                segments: 0,
                profiles: 0,
            },
            counts: Counts::default(),
            resent: 0,
            dropped: 0,
            keys: (0..keys).map(|_| None).collect(),
            latency: new_histogram(),
            service: new_histogram(),
            lag: new_histogram(),
            status: vec![0; 1000],
            bytes_out: 0,
            bytes_in: 0,
            connects: 0,
            connect_errors: 0,
            last_connect_error: None,
            gave_up: false,
            interrupted: false,
            server_closes: 0,
            unsolicited: 0,
            windows: Vec::new(),
            window_s: 1,
            elapsed_s: 0.0,
            send_window_s: 0.0,
            logins: 0,
            reauth: 0,
            splits: Vec::new(),
            split_headers: 0,
            split_names: Vec::new(),
            connect_time: new_histogram(),
            tls_handshake: new_histogram(),
            tls_resumed: 0,
            tls_errors: 0,
            tls_reasons: Vec::new(),
            conn_requests: new_histogram(),
            conn_waits: 0,
            origins: Origins::default(),
            upstream: None,
        }
    }

    /// A connection that answered `n` requests closed (or the run ended with it open).
    pub fn connection_done(&mut self, n: u64) {
        self.conn_requests.saturating_record(n.min(MAX_LATENCY_US));
    }

    /// A TCP connect took `us`.
    pub fn connected(&mut self, us: u64) {
        self.connect_time
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// A TLS handshake completed after `us`.
    pub fn handshake(&mut self, us: u64, resumed: bool) {
        self.tls_handshake
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
        self.tls_resumed += u64::from(resumed);
    }

    /// A connection failed in TLS, for `reason`.
    pub fn tls_failed(&mut self, reason: impl FnOnce() -> String) {
        self.tls_errors += 1;
        if self.tls_reasons.len() < MAX_OFFENDING {
            let r = reason();
            if !self.tls_reasons.contains(&r) {
                self.tls_reasons.push(r);
            }
        }
    }

    /// A request was handed to a connection for the first time.
    #[inline]
    pub fn sent(&mut self, key: u32, second: usize) {
        self.counts.requests += 1;
        self.key(key).counts.requests += 1;
        self.window(second).counts.requests += 1;
    }

    /// A response completed the request. `latency_us` from the intended time, `service_us` from
    /// the (last) send.
    #[inline]
    pub fn answered(
        &mut self,
        key: u32,
        second: usize,
        status: u16,
        passed: bool,
        latency_us: u64,
        service_us: u64,
    ) {
        let lat = latency_us.clamp(1, MAX_LATENCY_US);
        self.latency.saturating_record(lat);
        self.service
            .saturating_record(service_us.clamp(1, MAX_LATENCY_US));
        if let Some(s) = self.status.get_mut(status as usize) {
            *s += 1;
        }
        // One lookup each for the key and the window: this runs for every response.
        let (ok, bad) = (u64::from(passed), u64::from(!passed));
        let v = ErrorClass::Validation as usize;
        let k = self.key(key);
        k.latency.saturating_record(lat);
        k.counts.ok += ok;
        k.counts.errors[v] += bad;
        let w = self.window(second);
        w.latency.saturating_record(lat);
        w.counts.ok += ok;
        w.counts.errors[v] += bad;
        self.counts.ok += ok;
        self.counts.errors[v] += bad;
    }

    /// A response of `key` that failed its check came from `origin` (after `answered`).
    #[inline]
    pub fn origin(&mut self, key: u32, origin: Origin) {
        self.origins.count(origin);
        self.key(key).origins.count(origin);
    }

    /// A response of `key` said its upstream took `upstream_us` of its `service_us` (from the
    /// actual send). The histograms are created at the first such response.
    #[inline]
    pub fn upstream_time(&mut self, key: u32, upstream_us: u64, service_us: u64) {
        self.upstream
            .get_or_insert_with(Box::default)
            .record(upstream_us, service_us);
        self.key(key)
            .upstream
            .get_or_insert_with(Box::default)
            .record(upstream_us, service_us);
    }

    /// The request failed without a usable response.
    #[inline]
    pub fn error(&mut self, key: u32, second: usize, class: ErrorClass) {
        let c = class as usize;
        self.counts.errors[c] += 1;
        self.key(key).counts.errors[c] += 1;
        self.window(second).counts.errors[c] += 1;
    }

    #[inline]
    pub fn timed_out(&mut self, key: u32, second: usize) {
        self.counts.timed_out += 1;
        self.key(key).counts.timed_out += 1;
        self.window(second).counts.timed_out += 1;
    }

    pub fn in_flight_at_end(&mut self, key: u32) {
        self.counts.in_flight_at_end += 1;
        self.key(key).counts.in_flight_at_end += 1;
    }
}

impl AddAssign<&Stats> for Stats {
    fn add_assign(&mut self, o: &Stats) {
        self.counts += &o.counts;
        self.resent += o.resent;
        self.dropped += o.dropped;
        if self.keys.len() < o.keys.len() {
            self.keys.resize_with(o.keys.len(), || None);
            self.layout = o.layout;
        }
        for (a, b) in self.keys.iter_mut().zip(&o.keys) {
            if let Some(b) = b {
                let a = a.get_or_insert_with(|| Box::new(KeyStats::new()));
                a.counts += &b.counts;
                a.latency.add(&b.latency).expect("same bounds");
                a.reauth += b.reauth;
                for o in &b.offending {
                    a.offend(o);
                }
                a.origins += &b.origins;
                add_times(&mut a.upstream, &b.upstream);
            }
        }
        self.latency.add(&o.latency).expect("same bounds");
        self.service.add(&o.service).expect("same bounds");
        self.lag.add(&o.lag).expect("same bounds");
        for (a, b) in self.status.iter_mut().zip(&o.status) {
            *a += b;
        }
        self.bytes_out += o.bytes_out;
        self.bytes_in += o.bytes_in;
        self.connects += o.connects;
        self.connect_errors += o.connect_errors;
        self.last_connect_error = o.last_connect_error.or(self.last_connect_error);
        self.gave_up |= o.gave_up;
        self.interrupted |= o.interrupted;
        self.server_closes += o.server_closes;
        self.unsolicited += o.unsolicited;
        self.widen_to(o.window_s);
        for (i, w) in o.windows.iter().enumerate() {
            let mine = self.window(i * o.window_s as usize);
            mine.counts += &w.counts;
            mine.latency.add(&w.latency).expect("same bounds");
            mine.connect_errors += w.connect_errors;
        }
        self.elapsed_s = self.elapsed_s.max(o.elapsed_s);
        self.send_window_s = self.send_window_s.max(o.send_window_s);
        self.logins += o.logins;
        self.reauth += o.reauth;
        if self.splits.len() < o.splits.len() {
            self.splits.resize(o.splits.len(), Split::default());
            self.split_headers = o.split_headers;
        }
        if self.split_names.is_empty() {
            self.split_names = o.split_names.clone();
        }
        self.connect_time.add(&o.connect_time).expect("same bounds");
        self.tls_handshake
            .add(&o.tls_handshake)
            .expect("same bounds");
        self.tls_resumed += o.tls_resumed;
        self.tls_errors += o.tls_errors;
        self.conn_requests
            .add(&o.conn_requests)
            .expect("same bounds");
        self.conn_waits += o.conn_waits;
        for r in &o.tls_reasons {
            if self.tls_reasons.len() < MAX_OFFENDING && !self.tls_reasons.contains(r) {
                self.tls_reasons.push(r.clone());
            }
        }
        for (a, b) in self.splits.iter_mut().zip(&o.splits) {
            a.add(b);
        }
        self.origins += &o.origins;
        add_times(&mut self.upstream, &o.upstream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_lossless_and_counts_add_up() {
        let mut a = Stats::new(2);
        let mut b = Stats::new(2);
        for i in 0..100u64 {
            a.sent(0, 0);
            a.answered(0, 0, 200, true, 100 + i, 90);
        }
        b.sent(1, 1);
        b.answered(1, 1, 503, false, 5000, 5000);
        b.sent(1, 1);
        b.timed_out(1, 1);
        b.sent(1, 2);
        b.in_flight_at_end(1);
        let mut m = Stats::new(2);
        m += &a;
        m += &b;
        let c = m.counts;
        assert_eq!(c.requests, 103);
        assert_eq!(
            c.requests,
            c.ok + c.failed() + c.timed_out + c.in_flight_at_end
        );
        assert_eq!(c.errors[ErrorClass::Validation as usize], 1);
        assert_eq!(m.latency.len(), 101);
        assert_eq!(m.latency.max(), 5003); // 3 significant digits
        assert_eq!(m.status[200], 100);
        assert_eq!(m.windows.len(), 3);
        assert_eq!(m.keys[1].as_ref().unwrap().counts.timed_out, 1);
    }
}
