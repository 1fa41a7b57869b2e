//! What the hops said, as counted (`mesh` reads it from responses): who answered a failed
//! response ([`Origin`]), failed responses by origin ([`Origins`]), and
//! the upstream's own time and the rest of the service time ([`UpstreamTimes`]).

use std::ops::AddAssign;

use hdrhistogram::Histogram;

use super::{MAX_LATENCY_US, new_histogram};

/// Who answered a failed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A proxy on the way (sidecar, gateway, ingress) answered it itself.
    Proxy,
    /// The upstream service answered it (a proxy only relayed it).
    Upstream,
    /// Nothing in the response says.
    Unknown,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Proxy => "proxy",
            Origin::Upstream => "upstream",
            Origin::Unknown => "unknown",
        }
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
    pub(super) fn count(&mut self, o: Origin) {
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
