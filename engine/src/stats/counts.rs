//! Outcome counts ([`Counts`]), for the whole run, a row or a window, and why a request failed
//! ([`ErrorClass`]).

use std::ops::AddAssign;

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
