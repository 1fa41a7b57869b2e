//! The accumulators: `Acc` sums the groups (label x segment, segment, summary) of every
//! file, `WindowAcc` one second of the run, `Ordered` keeps accumulators by key in the
//! order they were first seen.

use std::collections::BTreeMap;

use super::budget::{Budget, MAX_SPLIT_HEADERS, add_histogram, check_number};
use crate::histogram::encode;
use crate::model::{Errors, Group, OriginCounts, Percentiles, SplitShares};
use crate::sparse::Sparse;
use ringload_engine::stats::{MAX_OFFENDING, MAX_SPLIT_VALUES};

#[derive(Default)]
pub(super) struct Acc {
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
    pub(super) fn take(
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

    pub(super) fn group(self, label: Option<String>, segment: Option<String>) -> Group {
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
pub(super) struct WindowAcc(
    pub(super) u64,
    pub(super) u64,
    pub(super) [u64; 6],
    pub(super) Sparse,
);

/// Accumulators by key, in first-seen order.
pub(super) struct Ordered<K> {
    pub(super) index: std::collections::HashMap<K, usize>,
    pub(super) items: Vec<(K, Acc)>,
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
    pub(super) fn entry(&mut self, key: K, room: bool) -> Option<&mut Acc> {
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
