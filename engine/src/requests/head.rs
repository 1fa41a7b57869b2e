//! One request's head encoded into the shared `heads` buffer (request line, `Host`, its headers
//! with the `-H` overrides, `Content-Length`, the token's place, room for fresh ids), and the
//! size budget every head is checked against before any is encoded.

use ringload_formats::{Plan, Request, TokenPlace};

use super::fresh_ids::{REQUEST_ID_PLACEHOLDER, id_header};
use super::splice::{InsertForm, insert_index};
use super::{EncodeOptions, MAX_HEAD, MAX_HEADS_TOTAL, WireRequests};

/// Where `encode_head` put a head in `heads`, its token's place, and its ids' slots.
pub(super) struct EncodedHead {
    pub(super) head: (u32, u32),
    pub(super) splice: Option<(u32, InsertForm)>,
    pub(super) ids: (u32, u32),
}

/// The bytes every head of `plan` encodes to, refused beyond [`MAX_HEAD`] for one head or
/// [`MAX_HEADS_TOTAL`] for all of them.
pub(super) fn heads_total(plan: &Plan, o: &EncodeOptions) -> Result<usize, String> {
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
    Ok(total)
}

impl WireRequests {
    /// Append the head of `r` to `heads`; where a token goes when `slot` says one does. With
    /// `fixed` inserts (`--auth-token`), the token is written there at once.
    pub(super) fn encode_head(
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
}

/// Headers the engine writes itself: `Host`, framing (the recorder already dropped hop-by-hop
/// headers; `Connection: close` is added at the write, see [`close_after`]).
fn skipped(n: &str) -> bool {
    n.eq_ignore_ascii_case("host") || n.eq_ignore_ascii_case("content-length")
}

fn header(b: &mut Vec<u8>, n: &str, v: &str) {
    b.extend_from_slice(n.as_bytes());
    b.extend_from_slice(b": ");
    b.extend_from_slice(v.as_bytes());
    b.extend_from_slice(b"\r\n");
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

/// The header line that asks the server to close after its answer.
const CONNECTION_CLOSE: &[u8] = b"Connection: close\r\n";

/// Mark the request written into `out` from `start` as the connection's last: a
/// `Connection: close` line before the blank line of its head, so the server answers and closes
/// first, as a client that means to close should say (RFC 9112, 9.6); the server then keeps the
/// TIME_WAIT, not the client's ephemeral port. Once per connection: the body moves by 19 bytes.
pub fn close_after(out: &mut Vec<u8>, start: usize) {
    let Some(end) = out[start..].windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let at = start + end + 2;
    out.splice(at..at, CONNECTION_CLOSE.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::fixtures::{bytes, opts};
    use ringload_formats::{Expectation, Metadata, PlanBuilder, StatusRule};
    use std::sync::Arc;

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

    #[test]
    fn close_after_adds_the_line_before_the_blank_line_of_the_request_at_start() {
        let mut out = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
        let start = out.len();
        out.extend_from_slice(
            b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n\r\n\r\nbody",
        );
        close_after(&mut out, start);
        assert_eq!(
            &out[..],
            &b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\nConnection: close\r\n\r\n\r\n\r\nbody"[..]
        );
    }
}
