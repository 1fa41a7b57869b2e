//! What a flow reports besides its steps: [`FlowCounts`], summed into the proxy's counters,
//! and the reasons a request was not recorded (`SKIP_*`).

/// Why a request was not recorded (the recording's skip reasons).
pub const SKIP_BIG_BODY: &str = "request body over the recording cap (forwarded, not recorded)";
pub const SKIP_NOT_PATH: &str = "request with a non-path target (OPTIONS *)";
pub const SKIP_REFUSED: &str = "request refused by the proxy (upgrade, CONNECT, malformed)";
pub const SKIP_CUT: &str = "request cut off: the client closed or broke it mid-message";
pub const SKIP_UNANSWERED: &str =
    "request not answered (the upstream failed, closed or timed out, or the proxy stopped)";

/// What one flow did, summed into the proxy's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// Request heads read.
    pub requests: u64,
    /// Requests forwarded upstream.
    pub forwarded: u64,
    /// Whole responses from the upstream.
    pub answered: u64,
    /// Requests the proxy answered itself (upgrade, CONNECT, malformed).
    pub refused: u64,
    /// Upstream failures: invalid response, closed before answering, timeout, unsolicited bytes.
    pub upstream_errors: u64,
    /// Exchanges cut mid-message by either side.
    pub cut: u64,
}

impl std::ops::AddAssign for FlowCounts {
    fn add_assign(&mut self, o: FlowCounts) {
        self.requests += o.requests;
        self.forwarded += o.forwarded;
        self.answered += o.answered;
        self.refused += o.refused;
        self.upstream_errors += o.upstream_errors;
        self.cut += o.cut;
    }
}
