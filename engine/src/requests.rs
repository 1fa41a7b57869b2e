//! Requests encoded to wire bytes once, before the run: the hot path only copies slices.
//!
//! Each distinct plan request becomes `METHOD target HTTP/1.1`, a `Host` header for the target
//! (unless the plan's own is kept), its headers, a `Content-Length` when it has a body (or a
//! method that expects one), and the body. Everything a response needs to be judged (stats key,
//! HEAD or not, the expectation) is precomputed next to it.

use ringload_formats::{Plan, StatusRule};

/// Which stats bucket a request feeds: `label * (segments + 1) + segment_or_none`.
pub type StatsKey = u32;

/// Compiled expectation: status rules and required header values (by capture index).
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub status: Vec<StatusRule>,
    pub headers: Vec<(usize, Vec<Vec<u8>>)>,
}

impl Check {
    /// Does a response with `status` and the decoder's captures pass?
    pub fn passes<'a>(&self, status: u16, captured: impl Fn(usize) -> Option<&'a [u8]>) -> bool {
        let status_ok = if self.status.is_empty() {
            (200..400).contains(&status)
        } else {
            self.status.iter().any(|r| r.matches(status))
        };
        status_ok
            && self.headers.iter().all(|(i, allowed)| {
                captured(*i).is_some_and(|v| allowed.iter().any(|a| a.as_slice() == v))
            })
    }
}

/// All requests of a plan, encoded.
#[derive(Debug, Clone, Default)]
pub struct WireRequests {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    pub head: Vec<bool>,
    pub key: Vec<StatsKey>,
    /// Index into `checks`; 0 is the default check (2xx/3xx).
    pub check: Vec<u16>,
    pub checks: Vec<Check>,
    /// Response header names the decoder must capture for the checks.
    pub capture_names: Vec<String>,
    /// Per-request timeout override, microseconds.
    pub timeout_us: Vec<Option<u64>>,
    /// The shortest per-request timeout override, microseconds.
    min_timeout_us: Option<u64>,
    pub keys: usize,
}

impl WireRequests {
    /// Encode every request of `plan` for a target whose Host header is `host`.
    pub fn encode(plan: &Plan, host: &str) -> Result<WireRequests, String> {
        let mut w = WireRequests {
            checks: vec![Check::default()],
            keys: plan.labels.len() * (plan.segments.len() + 1),
            ..WireRequests::default()
        };
        let nseg = plan.segments.len() as u32;
        for r in &plan.requests {
            let start = w.bytes.len();
            w.bytes.extend_from_slice(r.method.as_bytes());
            w.bytes.push(b' ');
            w.bytes.extend_from_slice(r.target.as_bytes());
            w.bytes.extend_from_slice(b" HTTP/1.1\r\nHost: ");
            w.bytes.extend_from_slice(host.as_bytes());
            w.bytes.extend_from_slice(b"\r\n");
            for (n, v) in &r.headers {
                if n.eq_ignore_ascii_case("host") || n.eq_ignore_ascii_case("content-length") {
                    continue;
                }
                w.bytes.extend_from_slice(n.as_bytes());
                w.bytes.extend_from_slice(b": ");
                w.bytes.extend_from_slice(v.as_bytes());
                w.bytes.extend_from_slice(b"\r\n");
            }
            let wants_body = matches!(&*r.method, "POST" | "PUT" | "PATCH");
            if !r.body.is_empty() || wants_body {
                w.bytes
                    .extend_from_slice(format!("Content-Length: {}\r\n", r.body.len()).as_bytes());
            }
            w.bytes.extend_from_slice(b"\r\n");
            w.bytes.extend_from_slice(&r.body);
            let len = w.bytes.len() - start;
            if w.bytes.len() > u32::MAX as usize {
                return Err("encoded requests exceed 4 GiB".into());
            }
            w.spans.push((start as u32, len as u32));
            w.head.push(&*r.method == "HEAD");
            w.key.push(r.label * (nseg + 1) + r.segment.unwrap_or(nseg));
            w.timeout_us.push(r.timeout_us);
            if let Some(t) = r.timeout_us {
                w.min_timeout_us = Some(w.min_timeout_us.map_or(t, |m| m.min(t)));
            }
            let check = match &r.expect {
                None => 0,
                Some(e) => {
                    let headers = e
                        .headers
                        .iter()
                        .map(|(name, values)| {
                            let idx = match w
                                .capture_names
                                .iter()
                                .position(|n| n.eq_ignore_ascii_case(name))
                            {
                                Some(i) => i,
                                None => {
                                    w.capture_names.push(name.to_string());
                                    w.capture_names.len() - 1
                                }
                            };
                            (idx, values.iter().map(|v| v.as_bytes().to_vec()).collect())
                        })
                        .collect();
                    w.checks.push(Check {
                        status: e.status.clone(),
                        headers,
                    });
                    if w.checks.len() > u16::MAX as usize {
                        return Err("more than 65535 distinct expectations".into());
                    }
                    (w.checks.len() - 1) as u16
                }
            };
            w.check.push(check);
        }
        Ok(w)
    }

    /// The wire bytes of request `id`.
    #[inline]
    pub fn bytes(&self, id: u32) -> &[u8] {
        let (s, l) = self.spans[id as usize];
        &self.bytes[s as usize..(s + l) as usize]
    }

    /// The timeout of request `id`, ns: its own, else the run's `default_ns`.
    #[inline]
    pub fn timeout_ns(&self, id: u32, default_ns: u64) -> u64 {
        self.timeout_us[id as usize].map_or(default_ns, |us| us.saturating_mul(1000))
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

    /// Largest encoded request, for sizing send buffers.
    pub fn max_len(&self) -> usize {
        self.spans.iter().map(|s| s.1 as usize).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringload_formats::{Expectation, Metadata, PlanBuilder, Request};

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
        let w = WireRequests::encode(&b.finish(), "shop.local:8080").unwrap();
        assert_eq!(
            w.bytes(0),
            b"POST /a?b=1 HTTP/1.1\r\nHost: shop.local:8080\r\nx-a: 1\r\nContent-Length: 2\r\n\r\nhi"
        );
        assert_eq!(
            w.bytes(1),
            b"HEAD / HTTP/1.1\r\nHost: shop.local:8080\r\n\r\n"
        );
        assert_eq!((w.head[0], w.head[1]), (false, true));
        assert_eq!((w.key[0], w.key[1]), (0, 1));
        assert_eq!(w.capture_names, vec!["X-Upstream-Version".to_string()]);
        let c = &w.checks[w.check[0] as usize];
        assert!(c.passes(201, |_| Some(b"stable".as_slice())));
        assert!(!c.passes(201, |_| Some(b"canary".as_slice())));
        assert!(!c.passes(200, |_| Some(b"stable".as_slice())));
        assert!(w.checks[0].passes(302, |_| None));
        assert!(!w.checks[0].passes(503, |_| None));
    }
}
