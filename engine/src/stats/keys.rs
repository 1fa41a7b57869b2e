//! One row's stats ([`KeyStats`]: a label x segment, or an auth profile's logins), the first
//! offending values kept per row, and the events only rows count (logins, re-logins).

use hdrhistogram::Histogram;

use super::counts::{Counts, ErrorClass};
use super::hops::{Origins, UpstreamTimes};
use super::{MAX_LATENCY_US, Stats, new_histogram};

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
    pub(super) fn new() -> Self {
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
    pub(super) fn offend(&mut self, what: &str) {
        if self.offending.len() < MAX_OFFENDING && !self.offending.iter().any(|o| o == what) {
            self.offending.push(what.to_string());
        }
    }
}

impl Stats {
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

    pub(super) fn key(&mut self, key: u32) -> &mut KeyStats {
        let slot = &mut self.keys[key as usize];
        slot.get_or_insert_with(|| Box::new(KeyStats::new()))
    }
}
