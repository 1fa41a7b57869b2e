//! What the hops say about a response: who answered a failure (a proxy on the way, or the
//! upstream service behind it), and how long the upstream itself took.
//!
//! ```text
//!   captured fields (server, x-envoy-*, l5d-proxy-error, server-timing, --origin-rule headers)
//!   + the first bytes of an error body (the decoder's sniff)
//!       -> MeshReader::origin       proxy | upstream | unknown     (failed responses only)
//!       -> MeshReader::upstream_us  the upstream's own time, us    (any response that says)
//! ```
//!
//! Failure origin, first rule that speaks wins:
//! 1. `--origin-rule header:NAME[:VALUE]=proxy|upstream`, in the order given (a gateway's own
//!    marker: `header:x-kong-upstream-latency=upstream`, `header:server:kong=proxy`);
//! 2. Linkerd: its proxy marks the responses it generated with `l5d-proxy-error`;
//! 3. Envoy's own reply texts at the start of the body (`no healthy upstream`, `upstream connect
//!    error or disconnect/reset before headers`, ...: [`ENVOY_TEXTS`]), and `x-envoy-overloaded`
//!    (circuit breaking, maintenance mode): a proxy, even when an outer Envoy relayed it;
//! 4. `x-envoy-upstream-service-time`: Envoy forwarded what the upstream answered -> upstream;
//! 5. without it, `x-envoy-ratelimited` (Envoy's rate limit filter) or `server: envoy` /
//!    `istio-envoy` (Envoy writes its name onto every response, so one without a service time
//!    is Envoy's own) -> proxy;
//! 6. nginx / ingress-nginx: a 502, 503 or 504 with `server: nginx` and nginx's own error page
//!    (`<center>nginx`) -> proxy;
//! 7. otherwise unknown.
//!
//! Upstream time: `x-envoy-upstream-service-time` (integer milliseconds: what the sidecar
//! measured from sending to the app to its response head), else `Server-Timing`'s `dur=`
//! (milliseconds, fractions kept to the microsecond) of the entry named `total`, else `app`,
//! else the header's only entry; `--server-timing NAME` takes that entry and nothing else.
//!
//! Everything here reads bytes the decoder already captured: no allocation, a few comparisons
//! per response (the classifier runs for failed responses only).

use ringload_http1::Captured;

use crate::stats::MAX_LATENCY_US;
pub use crate::stats::Origin;

/// Body bytes looked at for a proxy's own error text (nginx's page names itself ~110 bytes in).
pub const BODY_SNIFF: usize = 256;

/// Bodies Envoy writes on its own local replies (each starts the body).
pub const ENVOY_TEXTS: [&[u8]; 6] = [
    b"no healthy upstream",
    b"upstream connect error or disconnect/reset before headers",
    b"upstream request timeout",
    b"upstream max stream duration reached",
    b"local_rate_limited",
    b"RBAC: access denied",
];

/// `--origin-rule header:NAME[:VALUE]=proxy|upstream`: a response carrying the header (whose
/// value starts with VALUE, ASCII case-insensitive) failed at that origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRule {
    pub header: String,
    pub value: Option<String>,
    pub origin: Origin,
}

/// Longest VALUE an origin rule may match (the bytes captured of its header).
pub const MAX_RULE_VALUE: usize = ringload_http1::CAPTURE_VALUE_CAP;

impl OriginRule {
    /// Parse `header:NAME=proxy`, `header:NAME=upstream`, `header:NAME:VALUE=proxy`.
    pub fn parse(s: &str) -> Result<OriginRule, String> {
        let rest = s
            .strip_prefix("header:")
            .ok_or("expected header:NAME=proxy|upstream (or header:NAME:VALUE=...)")?;
        let (what, origin) = rest
            .rsplit_once('=')
            .ok_or("expected =proxy or =upstream at the end")?;
        let origin = match origin.trim() {
            "proxy" => Origin::Proxy,
            "upstream" => Origin::Upstream,
            o => return Err(format!("{o:?}: the origin is proxy or upstream")),
        };
        let (name, value) = match what.split_once(':') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (what.trim(), None),
        };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("{name:?} is not a header name"));
        }
        if let Some(v) = value {
            if v.is_empty() {
                return Err("an empty VALUE (leave out :VALUE to match any)".into());
            }
            if v.len() > MAX_RULE_VALUE {
                return Err(format!(
                    "VALUE is longer than the {MAX_RULE_VALUE} bytes of a header kept"
                ));
            }
        }
        Ok(OriginRule {
            header: name.to_string(),
            value: value.map(str::to_string),
            origin,
        })
    }
}

/// What a run is told about the hops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshOptions {
    /// `--origin-rule`, tried first, in order.
    pub origin_rules: Vec<OriginRule>,
    /// `--server-timing NAME`: the upstream time is this Server-Timing entry's, and nothing
    /// else's; `None`: see the module docs.
    pub server_timing: Option<String>,
}

/// A header field the reader needs captured: name, bytes kept, joined when repeated.
pub type Field = (&'static str, usize, bool);

/// The fields every run captures for the hops (server names are short; presence is enough for
/// the markers; Server-Timing may list several entries over repeated fields).
pub const FIELDS: [Field; 6] = [
    ("server", 32, false),
    ("x-envoy-upstream-service-time", 16, false),
    ("x-envoy-overloaded", 0, false),
    ("x-envoy-ratelimited", 0, false),
    ("l5d-proxy-error", 0, false),
    ("server-timing", 128, true),
];

/// The hops' fields by capture index, compiled once per run.
#[derive(Debug, Clone, Default)]
pub struct MeshReader {
    /// Capture indexes of [`FIELDS`], in order.
    fields: [usize; 6],
    /// `--server-timing NAME`.
    timing_name: Option<Box<[u8]>>,
    /// `--origin-rule`s, in order.
    rules: Vec<Rule>,
}

/// A compiled `--origin-rule`.
#[derive(Debug, Clone)]
struct Rule {
    /// Capture index of its header.
    capture: usize,
    /// The value must start with this (ASCII case-insensitive); `None`: any value.
    prefix: Option<Box<[u8]>>,
    origin: Origin,
}

impl MeshReader {
    /// Compile `o`, asking `capture(name, cap, join)` for each field's capture index.
    pub fn new(o: &MeshOptions, mut capture: impl FnMut(&str, usize, bool) -> usize) -> Self {
        let mut fields = [0; 6];
        for (slot, (name, cap, join)) in fields.iter_mut().zip(FIELDS) {
            *slot = capture(name, cap, join);
        }
        let rules = o
            .origin_rules
            .iter()
            .map(|r| {
                let cap = r.value.as_ref().map_or(0, |_| MAX_RULE_VALUE);
                Rule {
                    capture: capture(&r.header, cap, false),
                    prefix: r.value.as_ref().map(|v| v.as_bytes().into()),
                    origin: r.origin,
                }
            })
            .collect();
        MeshReader {
            fields,
            timing_name: o.server_timing.as_ref().map(|n| n.as_bytes().into()),
            rules,
        }
    }

    /// Who answered a failed response with `status`, from its captured fields (`captured(i)`:
    /// capture `i` of this response) and the first bytes of its body (`body`).
    pub fn origin<'a>(
        &self,
        status: u16,
        captured: impl Fn(usize) -> Option<Captured<'a>>,
        body: &[u8],
    ) -> Origin {
        let [server, service_time, overloaded, ratelimited, l5d, _] = self.fields;
        let has = |i: usize| captured(i).is_some();
        for r in &self.rules {
            if let Some(c) = captured(r.capture)
                && r.prefix
                    .as_ref()
                    .is_none_or(|p| starts_with_nocase(c.value, p))
            {
                return r.origin;
            }
        }
        if has(l5d) {
            return Origin::Proxy;
        }
        let text = body.trim_ascii_start();
        if has(overloaded) || ENVOY_TEXTS.iter().any(|t| text.starts_with(t)) {
            return Origin::Proxy;
        }
        if has(service_time) {
            return Origin::Upstream;
        }
        let server = captured(server).map(|c| c.value);
        let envoy = server.is_some_and(|s| {
            starts_with_nocase(s, b"envoy") || starts_with_nocase(s, b"istio-envoy")
        });
        if has(ratelimited) || envoy {
            return Origin::Proxy;
        }
        let nginx_page = matches!(status, 502..=504)
            && server.is_some_and(|s| starts_with_nocase(s, b"nginx"))
            && contains(body, b"<center>nginx");
        if nginx_page {
            return Origin::Proxy;
        }
        Origin::Unknown
    }

    /// The upstream's own time, microseconds, if the response says (see the module docs).
    pub fn upstream_us<'a>(&self, captured: impl Fn(usize) -> Option<Captured<'a>>) -> Option<u64> {
        let [_, service_time, _, _, _, timing] = self.fields;
        if let Some(name) = &self.timing_name {
            return server_timing_us(captured(timing)?, Some(&name[..]));
        }
        if let Some(c) = captured(service_time) {
            return decimal_ms_us(c.value).filter(|_| !c.value.contains(&b'.'));
        }
        server_timing_us(captured(timing)?, None)
    }
}

fn starts_with_nocase(v: &[u8], prefix: &[u8]) -> bool {
    v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `12`, `12.5`, `0.042` milliseconds (an optional `"..."` around it) -> microseconds, digits
/// beyond the microsecond dropped; `None` for anything else or beyond an hour.
pub fn decimal_ms_us(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    let v = v
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(v);
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(p) => (&v[..p], &v[p + 1..]),
        None => (v, &b""[..]),
    };
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    if int.is_empty() || int.len() > 10 || !digits(int) || !digits(frac) {
        return None;
    }
    let mut us: u64 = 0;
    for &d in int {
        us = us * 10 + u64::from(d - b'0');
    }
    us *= 1000;
    for (i, scale) in [100, 10, 1].into_iter().enumerate() {
        us += frac.get(i).map_or(0, |&d| u64::from(d - b'0') * scale);
    }
    (us <= MAX_LATENCY_US).then_some(us)
}

/// The `dur` of one Server-Timing entry, microseconds: the entry `name` (ASCII
/// case-insensitive), or by default `total`, else `app`, else the only entry. Entries are
/// `name;param=value;...`, separated by commas; a value cut at the capture's size loses its
/// last entry (and, by default, the right to call any entry the only one).
pub fn server_timing_us(c: Captured<'_>, name: Option<&[u8]>) -> Option<u64> {
    let mut entries: &[u8] = c.value;
    if c.truncated {
        let last = entries.iter().rposition(|&b| b == b',')?;
        entries = &entries[..last];
    }
    let (mut total, mut app, mut only, mut n) = (None, None, None, 0);
    for entry in entries.split(|&b| b == b',') {
        let mut parts = entry.split(|&b| b == b';');
        let metric = parts.next().unwrap_or_default().trim_ascii();
        if metric.is_empty() {
            continue;
        }
        n += 1;
        let dur = parts.find_map(|p| {
            let (k, v) = p.split_at(p.iter().position(|&b| b == b'=')?);
            k.trim_ascii()
                .eq_ignore_ascii_case(b"dur")
                .then(|| decimal_ms_us(&v[1..]))?
        });
        match name {
            Some(want) if metric.eq_ignore_ascii_case(want) => return dur,
            Some(_) => {}
            None if metric.eq_ignore_ascii_case(b"total") => total = total.or(dur),
            None if metric.eq_ignore_ascii_case(b"app") => app = app.or(dur),
            None => only = dur,
        }
    }
    match name {
        Some(_) => None,
        None => total.or(app).or(only.filter(|_| n == 1 && !c.truncated)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader whose captures are the fields in order, then the rules' headers.
    fn reader(o: &MeshOptions) -> (MeshReader, Vec<String>) {
        let mut names: Vec<String> = Vec::new();
        let r = MeshReader::new(o, |n, _, _| match names.iter().position(|x| x == n) {
            Some(i) => i,
            None => {
                names.push(n.to_string());
                names.len() - 1
            }
        });
        (r, names)
    }

    /// The origin of a failed response with these header fields and body.
    fn origin_with(o: &MeshOptions, status: u16, headers: &[(&str, &str)], body: &str) -> Origin {
        let (r, names) = reader(o);
        let captured = |i: usize| {
            let n: &str = &names[i];
            headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(n))
                .map(|(_, v)| Captured {
                    value: v.as_bytes(),
                    truncated: false,
                })
        };
        r.origin(status, captured, body.as_bytes())
    }

    fn origin(status: u16, headers: &[(&str, &str)], body: &str) -> Origin {
        origin_with(&MeshOptions::default(), status, headers, body)
    }

    use Origin::{Proxy, Unknown, Upstream};

    #[test]
    fn envoy_local_replies_are_the_proxy_and_relayed_ones_the_upstream() {
        let envoy = ("server", "envoy");
        let ust = ("x-envoy-upstream-service-time", "12");
        // Envoy's own: no service time (whatever the body), or its texts, or its markers.
        assert_eq!(origin(503, &[envoy], "no healthy upstream"), Proxy);
        assert_eq!(origin(503, &[envoy], ""), Proxy);
        assert_eq!(origin(503, &[("server", "istio-envoy")], "x"), Proxy);
        assert_eq!(
            origin(
                503,
                &[],
                "upstream connect error or disconnect/reset before headers. reset reason: \
                 connection failure"
            ),
            Proxy,
            "the text alone says Envoy, whatever the server header"
        );
        for t in ENVOY_TEXTS {
            let t = std::str::from_utf8(t).unwrap();
            assert_eq!(origin(504, &[], &format!("\n {t}")), Proxy, "{t}");
        }
        assert_eq!(
            origin(503, &[("x-envoy-overloaded", "true")], "maintenance mode"),
            Proxy
        );
        assert_eq!(origin(429, &[("x-envoy-ratelimited", "true")], ""), Proxy);
        // Relayed: the upstream's answer, even rate limited by the app itself.
        assert_eq!(origin(503, &[envoy, ust], "{\"error\":\"db\"}"), Upstream);
        assert_eq!(
            origin(429, &[envoy, ust, ("x-envoy-ratelimited", "true")], ""),
            Upstream
        );
        assert_eq!(
            origin(500, &[ust], ""),
            Upstream,
            "Istio may drop the server"
        );
        // An inner Envoy's text relayed by an outer one is still a proxy's doing.
        assert_eq!(origin(503, &[envoy, ust], "no healthy upstream"), Proxy);
        // The text must start the body: an app quoting it is not Envoy.
        assert_eq!(
            origin(503, &[], "{\"detail\": \"no healthy upstream\"}"),
            Unknown
        );
    }

    #[test]
    fn linkerd_nginx_and_the_unknown() {
        assert_eq!(
            origin(502, &[("l5d-proxy-error", "connection refused")], ""),
            Proxy
        );
        let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                    <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>";
        assert_eq!(origin(502, &[("server", "nginx/1.22.1")], page), Proxy);
        assert_eq!(origin(504, &[("Server", "nginx")], page), Proxy);
        // nginx relays an app's 503 under its own name, without its page.
        assert_eq!(origin(503, &[("server", "nginx")], "busy"), Unknown);
        assert_eq!(
            origin(500, &[("server", "nginx")], page),
            Unknown,
            "not a gateway status"
        );
        assert_eq!(origin(502, &[("server", "Apache")], page), Unknown);
        assert_eq!(origin(503, &[], ""), Unknown);
    }

    #[test]
    fn origin_rules_come_first_in_order() {
        let o = MeshOptions {
            origin_rules: vec![
                OriginRule::parse("header:server:kong=proxy").unwrap(),
                OriginRule::parse("header:x-kong-upstream-latency=upstream").unwrap(),
                OriginRule::parse("header:l5d-proxy-error=upstream").unwrap(),
            ],
            server_timing: None,
        };
        assert_eq!(origin_with(&o, 503, &[("server", "Kong/3.4")], ""), Proxy);
        assert_eq!(
            origin_with(
                &o,
                503,
                &[("server", "kong"), ("x-kong-upstream-latency", "3")],
                ""
            ),
            Proxy,
            "first rule wins"
        );
        assert_eq!(
            origin_with(&o, 503, &[("x-kong-upstream-latency", "3")], ""),
            Upstream
        );
        assert_eq!(
            origin_with(&o, 502, &[("l5d-proxy-error", "x")], ""),
            Upstream,
            "a rule overrides the built-in ones"
        );
        assert_eq!(origin_with(&o, 503, &[("server", "nginx")], ""), Unknown);
    }

    #[test]
    fn origin_rules_parse_or_say_why_not() {
        assert_eq!(
            OriginRule::parse("header:X-Gw-Error=proxy").unwrap(),
            OriginRule {
                header: "X-Gw-Error".into(),
                value: None,
                origin: Proxy
            }
        );
        let r = OriginRule::parse("header:server:a=b=upstream").unwrap();
        assert_eq!((r.value.as_deref(), r.origin), (Some("a=b"), Upstream));
        for (bad, why) in [
            ("x-gw=proxy", "expected header:"),
            ("header:x-gw", "=proxy"),
            ("header:x-gw=client", "proxy or upstream"),
            ("header:=proxy", "not a header name"),
            ("header:x gw=proxy", "not a header name"),
            ("header:x-gw:=proxy", "empty VALUE"),
        ] {
            let e = OriginRule::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let long = format!("header:server:{}=proxy", "v".repeat(MAX_RULE_VALUE + 1));
        assert!(OriginRule::parse(&long).unwrap_err().contains("longer"));
    }

    fn cap(v: &str, truncated: bool) -> Captured<'_> {
        Captured {
            value: v.as_bytes(),
            truncated,
        }
    }

    #[test]
    fn durations_in_milliseconds_become_microseconds() {
        for (v, want) in [
            ("5", Some(5_000)),
            ("0", Some(0)),
            ("12.5", Some(12_500)),
            ("0.0427", Some(42)),
            ("\"3.25\"", Some(3_250)),
            ("007", Some(7_000)),
            ("3600000", Some(MAX_LATENCY_US)),
            ("3600001", None),
            ("99999999999", None),
            ("-1", None),
            ("1e3", None),
            ("", None),
            (".5", None),
            ("1.2.3", None),
        ] {
            assert_eq!(decimal_ms_us(v.as_bytes()), want, "{v:?}");
        }
    }

    #[test]
    fn server_timing_entries_by_name_or_by_default() {
        let st =
            |v: &str, name: Option<&str>| server_timing_us(cap(v, false), name.map(str::as_bytes));
        let many = r#"cache;desc="Cache Read";dur=23.2, db;dur=53, app;dur=47.2"#;
        assert_eq!(st(many, Some("db")), Some(53_000));
        assert_eq!(st(many, Some("DB")), Some(53_000));
        assert_eq!(st(many, Some("cache")), Some(23_200));
        assert_eq!(st(many, Some("edge")), None);
        assert_eq!(st(many, None), Some(47_200), "app by default");
        assert_eq!(
            st("app;dur=5, total;dur=9", None),
            Some(9_000),
            "total first"
        );
        assert_eq!(st("edge;dur=4.5", None), Some(4_500), "the only entry");
        assert_eq!(
            st("db;dur=53, cache;dur=2", None),
            None,
            "never a part of the time by guess"
        );
        assert_eq!(st("app", None), None, "no dur");
        assert_eq!(st("app;desc=x", Some("app")), None);
        assert_eq!(st(" app ; dur = 7 ", None), Some(7_000));
        // Cut at the capture's size: the last entry may be cut, so it is not read.
        assert_eq!(
            server_timing_us(cap("db;dur=53, app;dur=4", true), None),
            None
        );
        assert_eq!(
            server_timing_us(cap("app;dur=4, db;dur=5", true), None),
            Some(4_000)
        );
        assert_eq!(server_timing_us(cap("app;dur=4", true), None), None);
    }

    #[test]
    fn upstream_time_from_envoy_first_unless_an_entry_is_named() {
        let at = |o: &MeshOptions, headers: &[(&str, &str)]| {
            let (r, names) = reader(o);
            r.upstream_us(|i| {
                headers
                    .iter()
                    .find(|(h, _)| *h == names[i])
                    .map(|(_, v)| cap(v, false))
            })
        };
        let both = [
            ("x-envoy-upstream-service-time", "4"),
            ("server-timing", "app;dur=3.5"),
        ];
        let none = MeshOptions::default();
        assert_eq!(at(&none, &both), Some(4_000));
        assert_eq!(at(&none, &both[1..]), Some(3_500));
        assert_eq!(at(&none, &[]), None);
        assert_eq!(
            at(&none, &[("x-envoy-upstream-service-time", "4.5")]),
            None,
            "Envoy writes whole milliseconds"
        );
        let named = MeshOptions {
            server_timing: Some("app".into()),
            ..MeshOptions::default()
        };
        assert_eq!(at(&named, &both), Some(3_500));
        assert_eq!(at(&named, &both[..1]), None, "only the named entry counts");
    }
}
