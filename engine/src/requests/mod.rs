//! Requests encoded to wire bytes once, before the run: the hot path only copies slices.
//!
//! Each distinct plan request becomes a head (`METHOD target HTTP/1.1`, a `Host` header for the
//! target, its headers with the run's `-H` overrides applied, a `Content-Length` when it has a
//! body or a method that expects one) plus its body, shared with the plan. Everything a response
//! needs to be judged (stats key, HEAD or not, the expectation) is precomputed next to it.
//!
//! A request with an auth slot is encoded without its token and with a [`Splice`]: the place in
//! its head where a session's token bytes go (a header line before the blank line, `; name=tok`
//! inside its `Cookie` header, or `?name=tok`/`&name=tok` after its target). Those bytes are
//! built once per token and session ([`token_inserts`]), so a slotted request costs two extra
//! slice copies, never an encoding. Login requests are encoded per profile and per `--users`
//! row, with the row's values in the login body.
//!
//! With fresh ids (`--clone`, `--fresh-ids`), a captured `x-request-id`, `traceparent`,
//! `b3`, `x-b3-traceid` or `x-b3-spanid` header is encoded with room for its ids and an
//! [`IdSlot`] per id: at every write, the ids are written over those bytes in the batch (same
//! length, so nothing moves): a new UUID for `x-request-id`, a new span id, and the trace id
//! that the captured one has in this session's lap (see `ids`). No allocation, two short
//! copies per id.
//!
//! Sizes are bounded before anything is encoded: a head may take [`MAX_HEAD`] bytes and all
//! heads together [`MAX_HEADS_TOTAL`], so a small hostile plan cannot make the engine allocate
//! gigabytes (bodies are shared with the plan, never copied here).
//!
//! ```text
//! WireRequests::encode(plan)   every head sized against the budgets (head), then per request:
//!                              its head, token splice and id slots (head), stats key, compiled
//!                              check (check); then each profile's login per --users row (logins)
//! write(r, insert)             head bytes with the token spliced in, then the body
//! write_fresh(.., ids, scope)  the same, then fresh ids over their places (fresh_ids)
//! ```
//!
//! - `head`: one request's head (request line, `Host`, headers, `-H`, length, token place), budgets
//! - `check`: expectations compiled to [`Check`]s; the response headers the decoders capture
//! - `splice`: where a session's token goes ([`Splice`]), its bytes per place ([`token_inserts`])
//! - `fresh_ids`: id headers encoded with room for fresh ids ([`IdSlot`]), written at each send
//! - `logins`: each auth profile's login encoded per `--users` row ([`LoginProfile`])
//! - `fixtures` (tests only): the plans and options the child modules' tests share

mod check;
#[cfg(test)]
mod fixtures;
mod fresh_ids;
mod head;
mod logins;
mod splice;

use std::sync::Arc;

use ringload_formats::Plan;

use crate::config::{ExpectRule, Users};
use crate::mesh::{MeshOptions, MeshReader};
use crate::stats::{KeyLayout, Row};

pub use check::{Check, Offence};
pub use fresh_ids::IdSlot;
pub use logins::LoginProfile;
pub use splice::{Splice, insert_index, token_inserts};

use head::EncodedHead;
pub use head::close_after;

/// Largest head (request line and headers) one request may encode to: far above what servers
/// accept (nginx 8-32 KiB, Envoy 60 KiB by default).
pub const MAX_HEAD: usize = 1 << 20;
/// Largest total of every encoded head of a plan.
pub const MAX_HEADS_TOTAL: usize = 256 << 20;

/// Which stats bucket a request feeds: `label * (segments + 1) + segment_or_none`; logins feed
/// `keys + profile` (their own rows, never mixed with the steps').
pub type StatsKey = u32;

/// One encoded request.
#[derive(Debug, Clone)]
pub struct WireReq {
    head: (u32, u32),
    /// Its fresh ids: `id_slots[ids.0..ids.0 + ids.1]`.
    ids: (u32, u32),
    body: Arc<[u8]>,
    pub key: StatsKey,
    /// Index into `checks`; 0 is the default check (2xx/3xx).
    pub check: u16,
    pub is_head: bool,
    timeout_us: Option<u64>,
    pub splice: Option<Splice>,
}

/// All requests of a plan, encoded.
#[derive(Debug, Clone, Default)]
pub struct WireRequests {
    heads: Vec<u8>,
    reqs: Vec<WireReq>,
    id_slots: Vec<IdSlot>,
    pub checks: Vec<Check>,
    /// Response header names the decoder must capture for the checks, splits and hops.
    pub capture_names: Vec<String>,
    /// For each capture: the value bytes kept, and whether repeated fields are joined.
    pub capture_shapes: Vec<(usize, bool)>,
    /// What the hops' fields say (failure origin, upstream time), by capture index.
    pub mesh: MeshReader,
    /// Capture indexes of the headers whose values are counted per segment (`--split`, and
    /// every header an expectation names).
    pub split_captures: Vec<usize>,
    /// The shortest per-request timeout override, microseconds.
    min_timeout_us: Option<u64>,
    /// How stats rows are numbered.
    pub layout: KeyLayout,
    pub profiles: Vec<LoginProfile>,
}

/// What encoding is told besides the plan.
#[derive(Debug, Clone, Default)]
pub struct EncodeOptions<'a> {
    /// The `Host` header value.
    pub host: &'a str,
    /// `-H 'Name: value'`: replace (or add) on every request; an override of a slot's header
    /// fills that slot for every session.
    pub headers: &'a [(String, String)],
    /// `--auth-token`: every slot gets this token, no login is sent.
    pub auth_token: Option<&'a str>,
    pub users: Option<&'a Users>,
    pub expect: &'a [ExpectRule],
    pub split: &'a [String],
    /// Write request and trace ids fresh at each send (`--clone`, `--fresh-ids`).
    pub fresh_ids: bool,
    /// `--origin-rule`, `--server-timing` (`None`: neither).
    pub mesh: Option<&'a MeshOptions>,
}

impl WireRequests {
    /// Encode every request of `plan`. Errors name the request and the problem.
    pub fn encode(plan: &Plan, o: &EncodeOptions) -> Result<WireRequests, String> {
        let layout = KeyLayout {
            labels: plan.labels.len() as u32,
            segments: plan.segments.len() as u32,
            profiles: if o.auth_token.is_none() {
                plan.auth_profiles.len() as u32
            } else {
                0
            },
        };
        let mut w = WireRequests {
            checks: vec![Check::default()],
            layout,
            ..WireRequests::default()
        };
        // Sizes first: nothing is allocated for a plan that would not fit.
        let total = head::heads_total(plan, o)?;
        w.heads.reserve(total);
        for name in o.split {
            let idx = w.capture(name);
            if !w.split_captures.contains(&idx) {
                w.split_captures.push(idx);
            }
        }
        let mesh = o.mesh.cloned().unwrap_or_default();
        w.mesh = MeshReader::new(&mesh, |name, cap, join| w.capture_with(name, cap, join));
        for r in &plan.requests {
            let slot = r
                .auth
                .map(|a| &plan.auth_profiles[a.profile as usize].send_as);
            // `--auth-token`: every slot is filled once, here, for every session.
            let fixed = o
                .auth_token
                .zip(slot)
                .map(|(t, place)| token_inserts(place, t.as_bytes()));
            let EncodedHead { head, splice, ids } = w.encode_head(r, o, slot, fixed.as_ref());
            let splice = splice.filter(|_| fixed.is_none()).map(|(at, form)| Splice {
                profile: r.auth.map_or(0, |a| a.profile as u16),
                at,
                form,
            });
            let key = layout.key(Row::Step {
                label: r.label,
                segment: r.segment,
            });
            let check = w.compile_check(plan, r, o.expect)?;
            if let Some(t) = r.timeout_us {
                w.min_timeout_us = Some(w.min_timeout_us.map_or(t, |m| m.min(t)));
            }
            w.reqs.push(WireReq {
                head,
                ids,
                body: r.body.clone(),
                key,
                check,
                is_head: &*r.method == "HEAD",
                timeout_us: r.timeout_us,
                splice,
            });
        }
        if o.auth_token.is_none() {
            w.encode_logins(plan, o)?;
        }
        Ok(w)
    }

    #[inline]
    pub fn req(&self, id: u32) -> &WireReq {
        &self.reqs[id as usize]
    }

    /// The head bytes of `r`.
    #[inline]
    pub fn head(&self, r: &WireReq) -> &[u8] {
        let (s, l) = r.head;
        &self.heads[s as usize..(s + l) as usize]
    }

    /// Append the wire bytes of `r` to `out`, with `insert` at its splice point (if any).
    #[inline]
    pub fn write(&self, r: &WireReq, insert: &[u8], out: &mut Vec<u8>) {
        let head = self.head(r);
        match r.splice {
            Some(s) if !insert.is_empty() => {
                let at = s.at as usize;
                out.extend_from_slice(&head[..at]);
                out.extend_from_slice(insert);
                out.extend_from_slice(&head[at..]);
            }
            _ => out.extend_from_slice(head),
        }
        out.extend_from_slice(&r.body);
    }

    /// The timeout of `r`, ns: its own, else the run's `default_ns`.
    #[inline]
    pub fn timeout_ns(&self, r: &WireReq, default_ns: u64) -> u64 {
        r.timeout_us
            .map_or(default_ns, |us| us.saturating_mul(1000))
    }

    /// Do some requests carry their own timeout (so a later request may time out first)?
    pub fn has_own_timeouts(&self) -> bool {
        self.min_timeout_us.is_some()
    }

    /// The shortest timeout any request can have, ns, given the run's `default`.
    pub fn min_timeout_ns(&self, default: std::time::Duration) -> u64 {
        let default = default.as_nanos() as u64;
        self.min_timeout_us
            .map_or(default, |us| default.min(us.saturating_mul(1000)))
    }
}
