//! What the flow answers the driver: for a client step ([`ClientStep`]: what becomes of the
//! consumed bytes, [`ClientNext`]), an upstream step ([`UpstreamStep`], [`UpstreamNext`]) and
//! the end of the client's stream ([`ClientEnd`]).

use std::time::Instant;

use super::reply::Reply;

/// What becomes of the client bytes a step consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToUpstream {
    /// Send them upstream, not before `not_before` when set (a request head held for the
    /// added latency).
    Forward { not_before: Option<Instant> },
    /// Drop them (a refused request's head).
    Drop,
}

/// What to do after a client step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNext {
    /// Call again with the bytes after the consumed ones.
    More,
    /// Nothing more can be decoded from what is there: read more client bytes.
    Read,
    /// Read nothing more from the client (its last request is in).
    Stop,
    /// The client broke a request: close both connections.
    Abort,
}

/// The outcome of [`Flow::client_bytes`](super::Flow::client_bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientStep {
    /// Bytes taken from the front of the input.
    pub consumed: usize,
    pub bytes: ToUpstream,
    pub then: ClientNext,
}

/// What to do after an upstream step. Consumed upstream bytes always go to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamNext {
    /// Call again with the bytes after the consumed ones.
    More,
    /// Read more upstream bytes.
    Read,
    /// Give the client this reply (after the consumed bytes), then close both connections.
    Reply(Reply),
    /// Close both connections (after forwarding the consumed bytes).
    Close,
}

/// The outcome of [`Flow::upstream_bytes`](super::Flow::upstream_bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamStep {
    /// Bytes taken from the front of the input; forward them to the client.
    pub consumed: usize,
    pub then: UpstreamNext,
}

/// The end of the client's stream, as the flow sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEnd {
    /// Between requests: half-close the upstream connection, keep answering.
    HalfClose,
    /// Inside a request: close both connections.
    Abort,
}
