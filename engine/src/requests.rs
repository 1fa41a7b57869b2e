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

use std::sync::Arc;

use ringload_formats::{Plan, Request, StatusRule, TokenLocation, TokenPlace};

use crate::config::{ExpectRule, ExpectScope, Users};
use crate::ids::IdGen;
use crate::mesh::{MeshOptions, MeshReader};
use crate::stats::{KeyLayout, Row};

/// Largest head (request line and headers) one request may encode to: far above what servers
/// accept (nginx 8-32 KiB, Envoy 60 KiB by default).
pub const MAX_HEAD: usize = 1 << 20;
/// Largest total of every encoded head of a plan.
pub const MAX_HEADS_TOTAL: usize = 256 << 20;

/// Which stats bucket a request feeds: `label * (segments + 1) + segment_or_none`; logins feed
/// `keys + profile` (their own rows, never mixed with the steps').
pub type StatsKey = u32;

/// Compiled expectation: status rules and required header values (by capture index).
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub status: Vec<StatusRule>,
    pub headers: Vec<(usize, Vec<Vec<u8>>)>,
}

/// Why a response failed its check, for the report's first offending values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence<'a> {
    Status(u16),
    /// Capture index, and the value seen (`None`: the header was missing).
    Header(usize, Option<&'a [u8]>),
}

impl Check {
    /// Does a response with `status` and the decoder's captures pass?
    #[cfg(test)]
    pub fn passes<'a>(&self, status: u16, captured: impl Fn(usize) -> Option<&'a [u8]>) -> bool {
        self.offence(status, captured).is_none()
    }

    /// The first thing a response breaks, if any.
    pub fn offence<'a>(
        &self,
        status: u16,
        captured: impl Fn(usize) -> Option<&'a [u8]>,
    ) -> Option<Offence<'a>> {
        let status_ok = if self.status.is_empty() {
            (200..400).contains(&status)
        } else {
            self.status.iter().any(|r| r.matches(status))
        };
        if !status_ok {
            return Some(Offence::Status(status));
        }
        self.headers.iter().find_map(|(i, allowed)| {
            let v = captured(*i);
            match v {
                Some(v) if allowed.iter().any(|a| a.as_slice() == v) => None,
                _ => Some(Offence::Header(*i, v)),
            }
        })
    }
}

/// Where a slotted request's token goes in its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    pub profile: u16,
    /// Byte offset in the head.
    pub at: u32,
    pub form: InsertForm,
}

/// The shape of the token bytes spliced in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum InsertForm {
    /// A whole header line before the blank line (`Authorization: Bearer t\r\n`, or a new
    /// `Cookie: name=t\r\n`).
    HeaderLine = 0,
    /// `; name=t` at the end of the request's own `Cookie` header.
    CookiePair = 1,
    /// `?name=t` after a target without a query.
    QueryFirst = 2,
    /// `&name=t` after a target with a query.
    QueryMore = 3,
}

/// Where one id goes in a head, written fresh at each send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSlot {
    /// Byte offset of its first character in the head.
    pub at: u32,
    pub kind: IdKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// 36 characters: a new UUID per send (`x-request-id`).
    Request,
    /// 16 or 32 hex digits: the trace id that captured trace `captured` (a hash of its id) has
    /// in the session's lap.
    Trace { len: u8, captured: u64 },
    /// 16 hex digits: a new span id per send.
    Span,
}

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

/// What the engine needs of an auth profile at replay.
#[derive(Debug, Clone)]
pub struct LoginProfile {
    pub token_at: TokenLocation,
    pub place: TokenPlace,
    pub expires_at: Option<String>,
    pub expires_in_s: Option<u64>,
    /// Stats key of this profile's login row.
    pub key: StatsKey,
    /// The login request encoded once per `--users` row (one entry without `--users`).
    pub logins: Vec<WireReq>,
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

/// Where `encode_head` put a head in `heads`, its token's place, and its ids' slots.
struct EncodedHead {
    head: (u32, u32),
    splice: Option<(u32, InsertForm)>,
    ids: (u32, u32),
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
        let mut total = 0usize;
        for (i, r) in plan.requests.iter().enumerate() {
            let n = head_len(r, o);
            if n > MAX_HEAD {
                return Err(format!(
                    "request {i} ({} {}) encodes to a {n}-byte head, beyond the budget of \
                     {MAX_HEAD} bytes a request head may take (servers refuse far less)",
                    r.method,
                    shorten(&r.target)
                ));
            }
            total += n;
        }
        if total > MAX_HEADS_TOTAL {
            return Err(format!(
                "the plan's requests encode to {total} bytes of heads, beyond the budget of {MAX_HEADS_TOTAL}"
            ));
        }
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
            for (pi, p) in plan.auth_profiles.iter().enumerate() {
                let login = &plan.requests[p.login as usize];
                let rows: Vec<Option<&[String]>> = match o.users {
                    Some(u) => u.rows.iter().map(|r| Some(r.as_slice())).collect(),
                    None => vec![None],
                };
                let mut logins = Vec::with_capacity(rows.len());
                for row in rows {
                    let body: Arc<[u8]> = match (row, o.users) {
                        (Some(row), Some(u)) => fill_login_body(login, &u.columns, row)
                            .map_err(|e| format!("auth profile {:?}: {e}", p.name))?
                            .into(),
                        _ => login.body.clone(),
                    };
                    let mut r = login.clone();
                    r.body = body;
                    let EncodedHead { head, ids, .. } = w.encode_head(&r, o, None, None);
                    logins.push(WireReq {
                        head,
                        ids,
                        body: r.body.clone(),
                        key: layout.key(Row::Login { profile: pi as u32 }),
                        check: 0,
                        is_head: false,
                        timeout_us: login.timeout_us,
                        splice: None,
                    });
                }
                w.profiles.push(LoginProfile {
                    token_at: p.token_at.clone(),
                    place: p.send_as.clone(),
                    expires_at: p.expires_at.clone(),
                    expires_in_s: p.expires_in_s,
                    key: layout.key(Row::Login { profile: pi as u32 }),
                    logins,
                });
            }
        }
        Ok(w)
    }

    /// The capture index of `name` (its first value, up to the decoder's default size).
    fn capture(&mut self, name: &str) -> usize {
        self.capture_with(name, ringload_http1::CAPTURE_VALUE_CAP, false)
    }

    /// The capture index of `name`, keeping at least `cap` bytes (joined when repeated if any
    /// user of it asks).
    fn capture_with(&mut self, name: &str, cap: usize, join: bool) -> usize {
        match self
            .capture_names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                let shape = &mut self.capture_shapes[i];
                shape.0 = shape.0.max(cap);
                shape.1 |= join;
                i
            }
            None => {
                self.capture_names.push(name.to_string());
                self.capture_shapes.push((cap, join));
                self.capture_names.len() - 1
            }
        }
    }

    /// What the decoders must capture, by index.
    pub fn capture_specs(&self) -> Vec<ringload_http1::CaptureSpec<'_>> {
        self.capture_names
            .iter()
            .zip(&self.capture_shapes)
            .map(|(name, &(cap, join))| ringload_http1::CaptureSpec { name, cap, join })
            .collect()
    }

    /// Append the head of `r` to `heads`; where a token goes when `slot` says one does. With
    /// `fixed` inserts (`--auth-token`), the token is written there at once.
    fn encode_head(
        &mut self,
        r: &Request,
        o: &EncodeOptions,
        slot: Option<&TokenPlace>,
        fixed: Option<&[Vec<u8>; 2]>,
    ) -> EncodedHead {
        let b = &mut self.heads;
        let start = b.len();
        let first_id = self.id_slots.len() as u32;
        let overridden = |n: &str| o.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
        // A `-H` override of the slot's own header fills the slot for everyone.
        let slot =
            slot.filter(|p| !matches!(p, TokenPlace::Header { name, .. } if overridden(name)));
        b.extend_from_slice(r.method.as_bytes());
        b.push(b' ');
        b.extend_from_slice(r.target.as_bytes());
        let mut splice = None;
        let mut mark = |b: &mut Vec<u8>, form: InsertForm| {
            splice = Some(((b.len() - start) as u32, form));
            if let Some(f) = fixed {
                b.extend_from_slice(&f[insert_index(form)]);
            }
        };
        if let Some(TokenPlace::Query(_)) = slot {
            let form = if r.target.contains('?') {
                InsertForm::QueryMore
            } else {
                InsertForm::QueryFirst
            };
            mark(b, form);
        }
        b.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        b.extend_from_slice(o.host.as_bytes());
        b.extend_from_slice(b"\r\n");
        let cookie_slot = matches!(slot, Some(TokenPlace::Cookie(_)));
        let mut cookie: Option<&str> = None;
        for (n, v) in &r.headers {
            if skipped(n) || overridden(n) {
                continue;
            }
            if cookie_slot && n.eq_ignore_ascii_case("cookie") && cookie.is_none() {
                // Written last, so the token's pair can be appended to it.
                cookie = Some(v);
                continue;
            }
            if o.fresh_ids {
                let at = (b.len() - start + n.len() + 2) as u32;
                if let Some(placeholder) = id_header(n, v, at, &mut self.id_slots) {
                    header(b, n, placeholder);
                    continue;
                }
            }
            header(b, n, v);
        }
        for (n, v) in o.headers {
            header(b, n, v);
        }
        let wants_body = matches!(&*r.method, "POST" | "PUT" | "PATCH");
        if !r.body.is_empty() || wants_body {
            b.extend_from_slice(format!("Content-Length: {}\r\n", r.body.len()).as_bytes());
        }
        if let Some(v) = cookie {
            b.extend_from_slice(b"Cookie: ");
            b.extend_from_slice(v.as_bytes());
            mark(b, InsertForm::CookiePair);
            b.extend_from_slice(b"\r\n");
        } else if matches!(
            slot,
            Some(TokenPlace::Header { .. } | TokenPlace::Cookie(_))
        ) {
            mark(b, InsertForm::HeaderLine);
        }
        b.extend_from_slice(b"\r\n");
        EncodedHead {
            head: (start as u32, (b.len() - start) as u32),
            splice,
            ids: (first_id, self.id_slots.len() as u32 - first_id),
        }
    }

    fn compile_check(
        &mut self,
        plan: &Plan,
        r: &Request,
        rules: &[ExpectRule],
    ) -> Result<u16, String> {
        let label = &plan.labels[r.label as usize];
        let segment = r.segment.map(|s| plan.segments[s as usize].as_str());
        let applies = |rule: &ExpectRule| match &rule.scope {
            ExpectScope::All => true,
            ExpectScope::Label(l) => l == label,
            ExpectScope::Segment(s) => Some(s.as_str()) == segment,
        };
        let mut status: Vec<StatusRule> = r
            .expect
            .as_ref()
            .map(|e| e.status.clone())
            .unwrap_or_default();
        let mut headers: Vec<(String, Vec<String>)> = r
            .expect
            .as_ref()
            .map(|e| {
                e.headers
                    .iter()
                    .map(|(n, vs)| (n.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                    .collect()
            })
            .unwrap_or_default();
        for rule in rules.iter().filter(|r| applies(r)) {
            if let Some(s) = &rule.status {
                status = s.clone();
            }
            if let Some((name, values)) = &rule.header {
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                headers.push((name.clone(), values.clone()));
            }
        }
        if status.is_empty() && headers.is_empty() {
            return Ok(0);
        }
        let headers = headers
            .into_iter()
            .map(|(n, vs)| {
                let idx = self.capture(&n);
                if !self.split_captures.contains(&idx) {
                    self.split_captures.push(idx);
                }
                (idx, vs.into_iter().map(String::into_bytes).collect())
            })
            .collect();
        self.checks.push(Check { status, headers });
        if self.checks.len() > u16::MAX as usize {
            return Err("more than 65535 distinct expectations".into());
        }
        Ok((self.checks.len() - 1) as u16)
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

    /// [`WireRequests::write`], then `r`'s ids written fresh over their places (`scope`: the
    /// session's lap, see `ids::scope`).
    #[inline]
    pub fn write_fresh(
        &self,
        r: &WireReq,
        insert: &[u8],
        ids: &mut IdGen,
        scope: u64,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        self.write(r, insert, out);
        let (first, n) = r.ids;
        if n == 0 {
            return;
        }
        // Ids after the token's splice point moved by its length.
        let shift = |at: u32| match r.splice {
            Some(s) if !insert.is_empty() && at >= s.at => insert.len(),
            _ => 0,
        };
        for slot in &self.id_slots[first as usize..(first + n) as usize] {
            let at = start + slot.at as usize + shift(slot.at);
            match slot.kind {
                IdKind::Request => ids.request_id(&mut out[at..at + 36]),
                IdKind::Span => ids.span_id(&mut out[at..at + 16]),
                IdKind::Trace { len, captured } => {
                    ids.trace_id(scope, captured, &mut out[at..at + len as usize])
                }
            }
        }
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

/// Headers the engine writes itself (or never): `Host`, framing, hop-by-hop.
fn skipped(n: &str) -> bool {
    n.eq_ignore_ascii_case("host") || n.eq_ignore_ascii_case("content-length")
}

fn header(b: &mut Vec<u8>, n: &str, v: &str) {
    b.extend_from_slice(n.as_bytes());
    b.extend_from_slice(b": ");
    b.extend_from_slice(v.as_bytes());
    b.extend_from_slice(b"\r\n");
}

/// Placeholder of a fresh `x-request-id` (a UUID's length).
const REQUEST_ID_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000000";

/// With fresh ids: if header `n: v` carries ids, note where they go (`at`: the value's offset
/// in the head) and return the value to encode (the captured one, or a placeholder of the right
/// length); `None` if it carries none this engine rewrites (the header is sent as captured).
fn id_header<'v>(n: &str, v: &'v str, at: u32, slots: &mut Vec<IdSlot>) -> Option<&'v str> {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let trace = |s: &str| (s.len() == 16 || s.len() == 32) && hex(s);
    let trace_slot = |at: u32, id: &str| IdSlot {
        at,
        kind: IdKind::Trace {
            len: id.len() as u8,
            captured: crate::ids::hash(id.as_bytes()),
        },
    };
    let span = |at: u32| IdSlot {
        at,
        kind: IdKind::Span,
    };
    let is = |name: &str| n.eq_ignore_ascii_case(name);
    if is("x-request-id") {
        slots.push(IdSlot {
            at,
            kind: IdKind::Request,
        });
        return Some(REQUEST_ID_PLACEHOLDER);
    }
    if is("traceparent") {
        // version "-" trace-id (32) "-" parent-id (16) "-" flags (W3C Trace Context).
        let p: Vec<&str> = v.split('-').collect();
        if p.len() >= 4
            && p[0].len() == 2
            && p[1].len() == 32
            && hex(p[1])
            && p[2].len() == 16
            && hex(p[2])
        {
            slots.push(trace_slot(at + 3, p[1]));
            slots.push(span(at + 36));
            return Some(v);
        }
        return None;
    }
    if is("x-b3-traceid") && trace(v) {
        slots.push(trace_slot(at, v));
        return Some(v);
    }
    if is("x-b3-spanid") && v.len() == 16 && hex(v) {
        slots.push(span(at));
        return Some(v);
    }
    if is("b3") {
        // trace "-" span ["-" sampled ["-" parent]] (B3 single header).
        let mut p = v.split('-');
        if let (Some(t), Some(s)) = (p.next(), p.next())
            && trace(t)
            && s.len() == 16
            && hex(s)
        {
            slots.push(trace_slot(at, t));
            slots.push(span(at + t.len() as u32 + 1));
            return Some(v);
        }
    }
    None
}

/// The encoded head length of `r`, without encoding it (an upper bound within a few bytes).
fn head_len(r: &Request, o: &EncodeOptions) -> usize {
    let mut n =
        r.method.len() + 1 + r.target.len() + " HTTP/1.1\r\nHost: \r\n".len() + o.host.len();
    for (h, v) in &r.headers {
        n = n.saturating_add(h.len() + v.len() + 4);
        if o.fresh_ids && h.eq_ignore_ascii_case("x-request-id") {
            n = n.saturating_add(REQUEST_ID_PLACEHOLDER.len());
        }
    }
    for (h, v) in o.headers {
        n = n.saturating_add(h.len() + v.len() + 4);
    }
    let token = o.auth_token.map_or(0, |t| 3 * t.len() + 64);
    n + token + "Content-Length: 18446744073709551615\r\n\r\n".len()
}

fn shorten(s: &str) -> String {
    if s.len() <= 60 {
        s.to_string()
    } else {
        let mut end = 60;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

/// The token bytes to splice for each [`InsertForm`] a profile's place can take.
pub fn token_inserts(place: &TokenPlace, token: &[u8]) -> [Vec<u8>; 2] {
    match place {
        TokenPlace::Header { name, prefix } => {
            let mut line = Vec::with_capacity(name.len() + prefix.len() + token.len() + 4);
            line.extend_from_slice(name.as_bytes());
            line.extend_from_slice(b": ");
            line.extend_from_slice(prefix.as_bytes());
            line.extend_from_slice(token);
            line.extend_from_slice(b"\r\n");
            [line, Vec::new()]
        }
        TokenPlace::Cookie(name) => {
            let mut line = b"Cookie: ".to_vec();
            line.extend_from_slice(name.as_bytes());
            line.push(b'=');
            line.extend_from_slice(token);
            line.extend_from_slice(b"\r\n");
            let mut pair = b"; ".to_vec();
            pair.extend_from_slice(name.as_bytes());
            pair.push(b'=');
            pair.extend_from_slice(token);
            [line, pair]
        }
        TokenPlace::Query(name) => {
            let enc: String = form_urlencoded::byte_serialize(token).collect();
            let param = |sep: u8| {
                let mut p = vec![sep];
                p.extend(form_urlencoded::byte_serialize(name.as_bytes()).flat_map(str::bytes));
                p.push(b'=');
                p.extend_from_slice(enc.as_bytes());
                p
            };
            [param(b'?'), param(b'&')]
        }
    }
}

/// Which of [`token_inserts`]' two entries a splice form uses.
#[inline]
pub fn insert_index(form: InsertForm) -> usize {
    match form {
        InsertForm::HeaderLine | InsertForm::QueryFirst => 0,
        InsertForm::CookiePair | InsertForm::QueryMore => 1,
    }
}

/// The login body of `login` with a `--users` row's values in the fields its columns name
/// (form-urlencoded or top-level JSON fields).
fn fill_login_body(login: &Request, columns: &[String], row: &[String]) -> Result<Vec<u8>, String> {
    let content_type = login
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let value_of = |field: &str| {
        columns
            .iter()
            .position(|c| c == field)
            .map(|i| row[i].as_str())
    };
    if content_type.contains("json") || login.body.first() == Some(&b'{') {
        let mut v: serde_json::Value = serde_json::from_slice(&login.body)
            .map_err(|e| format!("the login body is not JSON ({e})"))?;
        let obj = v
            .as_object_mut()
            .ok_or("the login body is not a JSON object")?;
        for c in columns {
            match obj.get_mut(c) {
                Some(slot) => *slot = serde_json::Value::String(value_of(c).unwrap_or("").into()),
                None => {
                    return Err(format!(
                        "--users column {c:?} is not a field of the login body (fields: {})",
                        obj.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        return serde_json::to_vec(&v).map_err(|e| e.to_string());
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&login.body).into_owned().collect();
    for c in columns {
        if !pairs.iter().any(|(k, _)| k == c) {
            return Err(format!(
                "--users column {c:?} is not a field of the login body (fields: {})",
                pairs
                    .iter()
                    .map(|p| p.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        ser.append_pair(k, value_of(k).unwrap_or(v));
    }
    Ok(ser.finish().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringload_formats::{AuthProfile, AuthSlot, Expectation, Metadata, PlanBuilder};

    fn opts(host: &str) -> EncodeOptions<'_> {
        EncodeOptions {
            host,
            ..EncodeOptions::default()
        }
    }

    fn bytes(w: &WireRequests, id: u32, insert: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        w.write(w.req(id), insert, &mut out);
        out
    }

    #[test]
    fn encodes_host_headers_and_length() {
        let mut b = PlanBuilder::new(Metadata::default());
        let l = b.label("x");
        let s = b.segment("canary");
        b.request(Request {
            method: "POST".into(),
            target: "/a?b=1".into(),
            headers: vec![("Host".into(), "old".into()), ("x-a".into(), "1".into())],
            body: b"hi".as_slice().into(),
            label: l,
            segment: Some(s),
            expect: Some(Expectation {
                status: vec![StatusRule::Exact(201)],
                headers: vec![("X-Upstream-Version".into(), vec!["stable".into()])],
            }),
            ..Request::default()
        });
        b.request(Request {
            method: "HEAD".into(),
            target: "/".into(),
            label: l,
            ..Request::default()
        });
        let w = WireRequests::encode(&b.finish(), &opts("shop.local:8080")).unwrap();
        assert_eq!(
            bytes(&w, 0, b""),
            b"POST /a?b=1 HTTP/1.1\r\nHost: shop.local:8080\r\nx-a: 1\r\nContent-Length: 2\r\n\r\nhi"
        );
        assert_eq!(
            bytes(&w, 1, b""),
            b"HEAD / HTTP/1.1\r\nHost: shop.local:8080\r\n\r\n"
        );
        assert_eq!((w.req(0).is_head, w.req(1).is_head), (false, true));
        assert_eq!((w.req(0).key, w.req(1).key), (0, 1));
        // The hops' fields first (every run reads them), then the expectation's.
        let mesh: Vec<&str> = crate::mesh::FIELDS.iter().map(|f| f.0).collect();
        assert_eq!(w.capture_names[..mesh.len()], mesh);
        assert_eq!(w.capture_names[mesh.len()..], ["X-Upstream-Version"]);
        let c = &w.checks[w.req(0).check as usize];
        assert_eq!(c.headers[0].0, mesh.len(), "by its capture index");
        assert!(c.passes(201, |_| Some(b"stable".as_slice())));
        assert!(!c.passes(201, |_| Some(b"canary".as_slice())));
        assert!(!c.passes(200, |_| Some(b"stable".as_slice())));
        assert!(w.checks[0].passes(302, |_| None));
        assert!(!w.checks[0].passes(503, |_| None));
    }

    /// A plan with one profile whose token goes to `place`, and one slotted request.
    fn slotted(place: TokenPlace, target: &str, headers: Vec<(&str, &str)>) -> Plan {
        let mut b = PlanBuilder::new(Metadata::default());
        let l = b.label("x");
        let login = b.request(Request {
            method: "POST".into(),
            target: "/login".into(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: b"username=a&password=b&grant_type=password"
                .as_slice()
                .into(),
            label: l,
            ..Request::default()
        });
        let profile = b.auth_profile(AuthProfile {
            name: "p".into(),
            login,
            token_at: TokenLocation::JsonPointer("/access_token".into()),
            send_as: place,
            expires_at: None,
            expires_in_s: None,
            user_fields: vec!["username".into(), "password".into()],
        });
        b.request(Request {
            method: "GET".into(),
            target: target.into(),
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
            label: l,
            auth: Some(AuthSlot { profile }),
            ..Request::default()
        });
        b.finish()
    }

    fn spliced(place: TokenPlace, target: &str, headers: Vec<(&str, &str)>) -> String {
        let plan = slotted(place.clone(), target, headers);
        let w = WireRequests::encode(&plan, &opts("h")).unwrap();
        let r = w.req(1);
        let ins = token_inserts(&place, b"t/1");
        let insert = &ins[insert_index(r.splice.unwrap().form)];
        String::from_utf8(bytes(&w, 1, insert)).unwrap()
    }

    #[test]
    fn tokens_are_spliced_where_the_profile_says() {
        let bearer = TokenPlace::Header {
            name: "Authorization".into(),
            prefix: "Bearer ".into(),
        };
        assert_eq!(
            spliced(bearer, "/a", vec![("accept", "*/*")]),
            "GET /a HTTP/1.1\r\nHost: h\r\naccept: */*\r\nAuthorization: Bearer t/1\r\n\r\n"
        );
        let cookie = TokenPlace::Cookie("sid".into());
        assert_eq!(
            spliced(
                cookie.clone(),
                "/a",
                vec![("Cookie", "theme=dark"), ("x", "1")]
            ),
            "GET /a HTTP/1.1\r\nHost: h\r\nx: 1\r\nCookie: theme=dark; sid=t/1\r\n\r\n"
        );
        assert_eq!(
            spliced(cookie, "/a", vec![]),
            "GET /a HTTP/1.1\r\nHost: h\r\nCookie: sid=t/1\r\n\r\n"
        );
        let query = TokenPlace::Query("access_token".into());
        assert_eq!(
            spliced(query.clone(), "/a?x=1", vec![]),
            "GET /a?x=1&access_token=t%2F1 HTTP/1.1\r\nHost: h\r\n\r\n"
        );
        assert_eq!(
            spliced(query, "/a", vec![]),
            "GET /a?access_token=t%2F1 HTTP/1.1\r\nHost: h\r\n\r\n"
        );
    }

    #[test]
    fn users_rows_fill_the_login_body_and_unknown_columns_are_refused() {
        let plan = slotted(TokenPlace::Cookie("sid".into()), "/a", vec![]);
        let users = Users {
            columns: vec!["username".into(), "password".into()],
            rows: vec![
                vec!["ann".into(), "p w".into()],
                vec!["bob".into(), "x&y".into()],
            ],
        };
        let o = EncodeOptions {
            users: Some(&users),
            ..opts("h")
        };
        let w = WireRequests::encode(&plan, &o).unwrap();
        let logins = &w.profiles[0].logins;
        assert_eq!(logins.len(), 2);
        let text = |r: &WireReq| {
            let mut out = Vec::new();
            w.write(r, b"", &mut out);
            String::from_utf8(out).unwrap()
        };
        assert!(
            text(&logins[0]).ends_with("\r\n\r\nusername=ann&password=p+w&grant_type=password")
        );
        assert!(
            text(&logins[1]).contains("Content-Length: 47\r\n\r\nusername=bob&password=x%26y&")
        );
        assert_eq!(w.layout.row(logins[0].key), Row::Login { profile: 0 });
        let bad = Users {
            columns: vec!["email".into()],
            rows: vec![vec!["a@b".into()]],
        };
        let e = WireRequests::encode(
            &plan,
            &EncodeOptions {
                users: Some(&bad),
                ..opts("h")
            },
        )
        .unwrap_err();
        assert!(
            e.contains("\"email\" is not a field of the login body"),
            "{e}"
        );
    }

    #[test]
    fn fresh_ids_are_written_over_their_places_at_each_send() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut plan = slotted(
            TokenPlace::Query("access_token".into()),
            "/a",
            vec![
                ("x-request-id", "abc"),
                ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
                ("b3", "80f198ee56343ba8-e457b5a2e4d86bd1-1"),
                ("x-b3-traceid", trace),
                ("x-b3-spanid", "e457b5a2e4d86bd1"),
                ("x-other", "kept"),
            ],
        );
        plan.requests[1]
            .headers
            .push(("x-b3-sampled".into(), "1".into()));
        let o = EncodeOptions {
            fresh_ids: true,
            ..opts("h")
        };
        let w = WireRequests::encode(&plan, &o).unwrap();
        let r = w.req(1);
        let ins = token_inserts(&plan.auth_profiles[0].send_as, b"tok");
        let insert = &ins[insert_index(r.splice.unwrap().form)];
        let mut ids = IdGen::new(3, 0);
        let send = |ids: &mut IdGen, scope: u64| {
            let mut out = b"previous batch bytes".to_vec();
            w.write_fresh(r, insert, ids, scope, &mut out);
            String::from_utf8(out[20..].to_vec()).unwrap()
        };
        let header = |text: &str, name: &str| {
            text.split("\r\n")
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap()
                .to_string()
        };
        let a = send(&mut ids, 1);
        let b = send(&mut ids, 1);
        let c = send(&mut ids, 2);
        assert!(a.starts_with("GET /a?access_token=tok HTTP/1.1\r\n"), "{a}");
        assert_eq!(header(&a, "x-other"), "kept");
        let rid = header(&a, "x-request-id");
        assert_eq!((rid.len(), &rid[14..15]), (36, "4"), "{rid}");
        assert_ne!(rid, header(&b, "x-request-id"), "a new request id per send");
        let tp = header(&a, "traceparent");
        assert!(
            tp.starts_with("00-") && tp.ends_with("-01") && tp.len() == 55,
            "{tp}"
        );
        let (tp_trace, tp_span) = (&tp[3..35], &tp[36..52]);
        assert_ne!(tp_trace, trace);
        assert_eq!(
            tp_trace,
            &header(&b, "traceparent")[3..35],
            "one trace in one scope"
        );
        assert_ne!(
            tp_span,
            &header(&b, "traceparent")[36..52],
            "a new span per send"
        );
        assert_ne!(
            tp_trace,
            &header(&c, "traceparent")[3..35],
            "another scope, another trace"
        );
        assert_eq!(
            header(&a, "x-b3-traceid"),
            tp_trace,
            "the same captured trace, the same new one"
        );
        assert_ne!(header(&a, "x-b3-spanid"), "e457b5a2e4d86bd1");
        let b3 = header(&a, "b3");
        assert!(
            b3.ends_with("-1") && b3.len() == 35 && !b3.starts_with("80f198ee56343ba8"),
            "{b3}"
        );
        assert_eq!(header(&a, "x-b3-sampled"), "1");
        // Without fresh ids the headers go as captured.
        let w = WireRequests::encode(&plan, &opts("h")).unwrap();
        let mut out = Vec::new();
        w.write_fresh(w.req(1), insert, &mut ids, 1, &mut out);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("x-request-id: abc\r\n")
        );
    }

    #[test]
    fn a_head_beyond_the_budget_is_refused_before_it_is_encoded() {
        let big: Arc<str> = "x".repeat(1 << 20).into();
        let mut b = PlanBuilder::new(Metadata::default());
        let l = b.label("x");
        b.request(Request {
            method: "GET".into(),
            target: "/".into(),
            headers: vec![(big.clone(), big); 100],
            label: l,
            ..Request::default()
        });
        let e = WireRequests::encode(&b.finish(), &opts("h")).unwrap_err();
        assert!(e.starts_with("request 0 (GET /) encodes to a 209"), "{e}");
        assert!(e.contains("budget"), "{e}");
    }
}
