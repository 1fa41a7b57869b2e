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

use std::ops::AddAssign;

use hdrhistogram::Histogram;

use crate::mesh::Origin;

/// Highest latency a histogram holds (one hour, microseconds); larger values are clamped.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Why a request failed. Timeouts are counted apart, and failed connection attempts are
/// counted per attempt (`Stats::connect_errors`): no request is charged for them, since a
/// request waits for a connection rather than failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The connection was reset or closed in the middle of the request's response, or the
    /// request could not be re-sent any more.
    Reset = 0,
    /// The response was malformed (framing, limits).
    Protocol = 1,
    /// The response did not meet the request's expectation (status, headers).
    Validation = 2,
    /// No token: the session's login failed (wrong password, an error status, no token in its
    /// response, a timeout), so its slotted requests were not sent; a login's own failure.
    Auth = 3,
}

/// Number of error classes (the length of `Counts::errors`).
pub const N_ERROR_CLASSES: usize = 4;

pub const ERROR_CLASSES: [ErrorClass; N_ERROR_CLASSES] = [
    ErrorClass::Reset,
    ErrorClass::Protocol,
    ErrorClass::Validation,
    ErrorClass::Auth,
];

impl ErrorClass {
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Reset => "reset",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Validation => "validation",
            ErrorClass::Auth => "auth",
        }
    }
}

/// Most time windows kept (an hour at one second each); beyond, windows widen (see
/// `Stats::window`).
pub const MAX_WINDOWS: usize = 3600;

/// Significant digits of the per-second window histograms: 1 keeps each at ~3.7 KiB (464
/// counters; 2 digits would take ~26 KiB, 2 GiB per executor for a 24 h soak) while per-second
/// p50/p99 stay within ~6%. Whole-run figures use `new_histogram` (3 digits).
pub const WINDOW_DIGITS: u8 = 1;

/// A per-second window's latency histogram.
pub fn new_window_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, WINDOW_DIGITS).expect("static bounds are valid")
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static bounds are valid")
}

/// What one stats row counts: the requests of a label in a segment (or in none), or the
/// logins of an auth profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    Step { label: u32, segment: Option<u32> },
    Login { profile: u32 },
}

/// How rows are numbered: the steps' `label * (segments + 1) + segment` (the last slot for no
/// segment), then one per auth profile. The engine indexes its rows by this number; readers
/// ask [`KeyLayout::row`] what a number means instead of doing the arithmetic themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyLayout {
    pub labels: u32,
    pub segments: u32,
    pub profiles: u32,
}

impl KeyLayout {
    /// Rows in all.
    pub fn len(&self) -> usize {
        self.labels as usize * (self.segments as usize + 1) + self.profiles as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of `row`.
    pub fn key(&self, row: Row) -> u32 {
        match row {
            Row::Step { label, segment } => {
                label * (self.segments + 1) + segment.unwrap_or(self.segments)
            }
            Row::Login { profile } => self.labels * (self.segments + 1) + profile,
        }
    }

    /// What row `key` is.
    pub fn row(&self, key: u32) -> Row {
        let steps = self.labels * (self.segments + 1);
        if key >= steps {
            return Row::Login {
                profile: key - steps,
            };
        }
        let (label, s) = (key / (self.segments + 1), key % (self.segments + 1));
        Row::Step {
            label,
            segment: (s < self.segments).then_some(s),
        }
    }

    /// The segment slot of a step row (`segments` for none), for per-segment counters.
    pub fn segment_slot(&self, key: u32) -> usize {
        (key % (self.segments + 1)) as usize
    }
}

/// Outcome counts, for the whole run or one (label, segment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub ok: u64,
    pub errors: [u64; N_ERROR_CLASSES],
    pub timed_out: u64,
    pub in_flight_at_end: u64,
}

impl Counts {
    pub fn failed(&self) -> u64 {
        self.errors.iter().sum()
    }
    /// Requests whose fate is known: answered, failed or timed out.
    pub fn completed(&self) -> u64 {
        self.ok + self.failed() + self.timed_out
    }
}

impl AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.ok += o.ok;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        self.timed_out += o.timed_out;
        self.in_flight_at_end += o.in_flight_at_end;
    }
}

/// Failed responses (the `validation` class: answered, but not as expected) by who answered
/// them; their sum is that class's count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origins {
    pub proxy: u64,
    pub upstream: u64,
    pub unknown: u64,
}

impl Origins {
    #[inline]
    fn count(&mut self, o: Origin) {
        match o {
            Origin::Proxy => self.proxy += 1,
            Origin::Upstream => self.upstream += 1,
            Origin::Unknown => self.unknown += 1,
        }
    }
}

impl AddAssign<&Origins> for Origins {
    fn add_assign(&mut self, o: &Origins) {
        self.proxy += o.proxy;
        self.upstream += o.upstream;
        self.unknown += o.unknown;
    }
}

/// Where the time of the responses that said how long the upstream took went: the upstream's
/// own time, and the rest of each one's service time (network, proxies, queueing on the
/// connection), microseconds. Their counts are the responses that said.
#[derive(Debug, Clone)]
pub struct UpstreamTimes {
    pub upstream: Histogram<u64>,
    pub overhead: Histogram<u64>,
}

impl UpstreamTimes {
    pub fn new() -> Self {
        UpstreamTimes {
            upstream: new_histogram(),
            overhead: new_histogram(),
        }
    }

    /// A response whose upstream took `upstream_us` of its `service_us`.
    #[inline]
    pub fn record(&mut self, upstream_us: u64, service_us: u64) {
        self.upstream
            .saturating_record(upstream_us.clamp(1, MAX_LATENCY_US));
        self.overhead.saturating_record(
            service_us
                .saturating_sub(upstream_us)
                .clamp(1, MAX_LATENCY_US),
        );
    }

    pub fn add(&mut self, o: &UpstreamTimes) {
        self.upstream.add(&o.upstream).expect("same bounds");
        self.overhead.add(&o.overhead).expect("same bounds");
    }
}

impl Default for UpstreamTimes {
    fn default() -> Self {
        UpstreamTimes::new()
    }
}

/// Add `b` into `a`, creating `a` on the first times to add.
pub fn add_times(a: &mut Option<Box<UpstreamTimes>>, b: &Option<Box<UpstreamTimes>>) {
    if let Some(b) = b {
        a.get_or_insert_with(Box::default).add(b);
    }
}

/// First offending values kept per (label, segment): enough to see what broke, bounded.
pub const MAX_OFFENDING: usize = 5;

/// Stats of one (label, segment), or of one auth profile's logins.
#[derive(Debug, Clone)]
pub struct KeyStats {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    /// Re-logins after a 401 on this row's requests.
    pub reauth: u64,
    /// The first distinct reasons responses failed their check (`status 503`,
    /// `x-upstream-version: stable`), at most [`MAX_OFFENDING`].
    pub offending: Vec<String>,
    /// Failed responses by origin.
    pub origins: Origins,
    /// Upstream time and overhead, from the first response that said.
    pub upstream: Option<Box<UpstreamTimes>>,
}

impl KeyStats {
    fn new() -> Self {
        KeyStats {
            counts: Counts::default(),
            latency: new_histogram(),
            reauth: 0,
            offending: Vec::new(),
            origins: Origins::default(),
            upstream: None,
        }
    }

    /// Keep `what` if it is new and there is room (allocating only then: a failing response
    /// of a kind already kept costs a comparison).
    fn offend(&mut self, what: &str) {
        if self.offending.len() < MAX_OFFENDING && !self.offending.iter().any(|o| o == what) {
            self.offending.push(what.to_string());
        }
    }
}

/// Distinct values kept per split counter; more are counted as `other`.
pub const MAX_SPLIT_VALUES: usize = 16;

/// Responses of one segment counted by the value of one header (a canary split).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Value and count, in order of first appearance.
    pub values: Vec<(Vec<u8>, u64)>,
    /// Responses with a value beyond the first [`MAX_SPLIT_VALUES`].
    pub other: u64,
    /// Responses without the header.
    pub missing: u64,
}

impl Split {
    #[inline]
    fn count(&mut self, value: Option<&[u8]>) {
        let Some(v) = value else {
            self.missing += 1;
            return;
        };
        if let Some(e) = self.values.iter_mut().find(|e| e.0 == v) {
            e.1 += 1;
        } else if self.values.len() < MAX_SPLIT_VALUES {
            self.values.push((v.to_vec(), 1));
        } else {
            self.other += 1;
        }
    }

    pub fn add(&mut self, o: &Split) {
        for (v, n) in &o.values {
            if let Some(e) = self.values.iter_mut().find(|e| &e.0 == v) {
                e.1 += n;
            } else if self.values.len() < MAX_SPLIT_VALUES {
                self.values.push((v.clone(), *n));
            } else {
                self.other += n;
            }
        }
        self.other += o.other;
        self.missing += o.missing;
    }
}

/// One second of the run (after warm-up), for time series.
#[derive(Debug, Clone)]
pub struct Window {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    /// Failed connection attempts in this window (no request is charged for them).
    pub connect_errors: u64,
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

    /// Count responses per segment (`segments` + none) by `headers` header values.
    pub fn with_splits(mut self, segments: usize, headers: usize) -> Self {
        self.split_headers = headers;
        self.splits = vec![Split::default(); (segments + 1) * headers];
        self
    }

    /// A response of `segment` (its slot; the last is none) had `value` for split header `h`.
    #[inline]
    pub fn split(&mut self, segment: usize, h: usize, value: Option<&[u8]>) {
        if let Some(s) = self.splits.get_mut(segment * self.split_headers + h) {
            s.count(value);
        }
    }

    /// Remember why a response of `key` failed its check (only the first few are kept).
    pub fn offending(&mut self, key: u32, what: &str) {
        self.key(key).offend(what);
    }

    /// A 401 on a request of `key` led to a re-login.
    pub fn reauthed(&mut self, key: u32) {
        self.reauth += 1;
        self.key(key).reauth += 1;
    }

    /// A login (of the row `key`) was sent; its outcome follows as for any request, but only
    /// in its own row, never in the run's totals.
    pub fn login_sent(&mut self, key: u32) {
        self.logins += 1;
        self.key(key).counts.requests += 1;
    }

    /// A login's outcome: in its row only.
    pub fn login_done(&mut self, key: u32, ok: bool, timed_out: bool, latency_us: Option<u64>) {
        let k = self.key(key);
        if let Some(l) = latency_us {
            k.latency.saturating_record(l.clamp(1, MAX_LATENCY_US));
        }
        if timed_out {
            k.counts.timed_out += 1;
        } else if ok {
            k.counts.ok += 1;
        } else {
            k.counts.errors[ErrorClass::Auth as usize] += 1;
        }
    }

    /// A login still without an outcome at the end.
    pub fn login_in_flight_at_end(&mut self, key: u32) {
        self.key(key).counts.in_flight_at_end += 1;
    }

    fn key(&mut self, key: u32) -> &mut KeyStats {
        let slot = &mut self.keys[key as usize];
        slot.get_or_insert_with(|| Box::new(KeyStats::new()))
    }

    /// The window holding `second` of the run. Windows are `window_s` seconds wide: one second
    /// while the run is short; when more than [`MAX_WINDOWS`] would be needed, neighbouring
    /// windows are merged in pairs and the width doubles, so a day at any rate keeps at most
    /// `MAX_WINDOWS` small histograms (~13 MiB per executor) instead of one per second.
    #[inline]
    fn window(&mut self, second: usize) -> &mut Window {
        let mut i = second / self.window_s as usize;
        while i >= MAX_WINDOWS {
            self.coarsen();
            i = second / self.window_s as usize;
        }
        while self.windows.len() <= i {
            self.windows.push(Window {
                counts: Counts::default(),
                latency: new_window_histogram(),
                connect_errors: 0,
            });
        }
        &mut self.windows[i]
    }

    /// Count a failed connection attempt, in the window of `second` when it happened while
    /// measuring.
    pub fn connect_failed(&mut self, second: Option<usize>) {
        self.connect_errors += 1;
        if let Some(s) = second {
            self.window(s).connect_errors += 1;
        }
    }

    /// Merge windows in pairs: twice as wide, half as many.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.windows);
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.counts += &b.counts;
                a.latency.add(&b.latency).expect("same bounds");
                a.connect_errors += b.connect_errors;
            }
            self.windows.push(a);
        }
        self.window_s *= 2;
    }

    /// The window holding `second`, if it exists.
    pub fn window_of(&self, second: usize) -> Option<&Window> {
        self.windows.get(second / self.window_s as usize)
    }

    /// Make `self`'s windows at least `window_s` wide (to add windows of that width).
    fn widen_to(&mut self, window_s: u32) {
        while self.window_s < window_s {
            self.coarsen();
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
    fn a_second_of_run_time_costs_a_few_kib() {
        let h = new_window_histogram();
        assert!(
            h.distinct_values() <= 512,
            "{} counters",
            h.distinct_values()
        );
        let mut h = h;
        h.record(6_500).unwrap();
        let p = h.value_at_quantile(0.99) as f64;
        assert!((p / 6_500.0 - 1.0).abs() < 0.07, "{p}");
    }

    /// A day of run time at 50,000 requests/s keeps a few MiB of windows, not one histogram per
    /// second (simulated: the windows a day of responses would fill, without running a day).
    #[test]
    fn a_day_of_windows_stays_within_its_budget() {
        let mut s = Stats::new(1);
        for second in 0..86_400usize {
            // A few latencies per second are enough to touch every window like real traffic.
            for lat in [180, 240, 900, 12_000] {
                s.answered(0, second, 200, true, lat, lat);
            }
        }
        assert!(
            s.windows.len() <= MAX_WINDOWS,
            "{} windows",
            s.windows.len()
        );
        assert_eq!(s.window_s, 32, "86,400 s in windows of 32 s");
        let bytes: usize = s
            .windows
            .iter()
            .map(|w| w.latency.distinct_values() * std::mem::size_of::<u64>() + 128)
            .sum();
        assert!(bytes < 64 << 20, "{bytes} bytes of windows");
        assert!(bytes < 16 << 20, "{bytes} bytes of windows");
        let total: u64 = s.windows.iter().map(|w| w.counts.ok).sum();
        assert_eq!(total, 86_400 * 4, "coarsening loses no response");
        // Merging a 1 s-window result into a coarse one widens it to match.
        let mut short = Stats::new(1);
        short.answered(0, 70, 200, true, 100, 100);
        let mut m = Stats::new(1);
        m += &s;
        m += &short;
        assert_eq!(m.window_s, 32);
        assert_eq!(
            m.windows[2].counts.ok,
            4 * 32 + 1,
            "second 70 is in window 64..96"
        );
    }

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
