//! What the hops say, in memory: a simulated mesh answers like Envoy (its own 503s, relayed
//! application 503s with `x-envoy-upstream-service-time`), Linkerd (`l5d-proxy-error`), nginx
//! (its own 502 page) and a gateway known only by an `--origin-rule`; every failed response is
//! counted under its origin per label x segment, timeouts and resets stay in their classes, and
//! the upstream time and overhead are exact on the virtual clock.

use super::*;
use crate::mesh::{MeshOptions, OriginRule};
use crate::stats::{ErrorClass, KeyStats, Origins, Row};

/// One label per path, `/linkerd` in segment `canary`, one session stepping through them.
fn mesh_plan(paths: &[&str]) -> Plan {
    let mut b = PlanBuilder::new(Metadata::default());
    let canary = b.segment("canary");
    let steps = paths
        .iter()
        .map(|p| {
            let label = b.label(&format!("GET {p}"));
            Step {
                request: b.request(Request {
                    method: "GET".into(),
                    target: (*p).into(),
                    label,
                    segment: (*p == "/linkerd").then_some(canary),
                    ..Request::default()
                }),
                offset_us: 0,
                connection: 0,
            }
        })
        .collect();
    b.session(Session { steps });
    b.finish()
}

fn response(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    r.into_bytes()
}

const PATHS: [&str; 10] = [
    "/envoy-local",
    "/envoy-connect",
    "/envoy-overloaded",
    "/app-503",
    "/linkerd",
    "/nginx-502",
    "/gateway",
    "/plain-503",
    "/ok",
    "/server-timing",
];

/// The simulated mesh: what each path answers, after 5 ms (the app's delay on `/ok`).
fn mesh() -> Server {
    let nginx_page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
        <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n\
        </body>\r\n</html>\r\n";
    Box::new(move |seen, _| {
        let bytes = match seen.target.as_str() {
            // Envoy's own replies: `server: envoy`, no upstream service time, its texts.
            "/envoy-local" => response(
                "503 Service Unavailable",
                &["content-type: text/plain", "server: envoy"],
                "no healthy upstream",
            ),
            "/envoy-connect" => {
                // Chunked, the text cut across chunks.
                let (a, b) = (
                    "upstream connect error or disco",
                    "nnect/reset before headers. reset reason: connection failure",
                );
                format!(
                    "HTTP/1.1 503 Service Unavailable\r\nserver: envoy\r\n\
                     transfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                    a.len(),
                    b.len()
                )
                .into_bytes()
            }
            "/envoy-overloaded" => response(
                "503 Service Unavailable",
                &["x-envoy-overloaded: true", "server: envoy"],
                "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            ),
            // The application's 503, relayed by Envoy.
            "/app-503" => response(
                "503 Service Unavailable",
                &["server: envoy", "x-envoy-upstream-service-time: 4"],
                "{\"error\":\"db down\"}",
            ),
            "/linkerd" => response(
                "502 Bad Gateway",
                &["l5d-proxy-error: connect timed out after 1s"],
                "",
            ),
            "/nginx-502" => response("502 Bad Gateway", &["Server: nginx/1.22.1"], nginx_page),
            "/gateway" => response("503 Service Unavailable", &["x-gw-error: no route"], ""),
            "/plain-503" => response("503 Service Unavailable", &[], "busy"),
            "/ok" => response(
                "200 OK",
                &["server: envoy", "x-envoy-upstream-service-time: 3"],
                "ok",
            ),
            "/server-timing" => response(
                "200 OK",
                &["Server-Timing: db;dur=1.5", "server-timing: app;dur=4.25"],
                "ok",
            ),
            "/stall" => return Reply::Stall,
            "/reset" => return Reply::Reset { delay: MS },
            t => panic!("unexpected {t}"),
        };
        Reply::Bytes {
            delay: 5 * MS,
            bytes,
        }
    })
}

/// The stats row of a path (its label, in its segment).
fn row(s: &Stats, plan: &Plan, path: &str) -> KeyStats {
    let label = plan
        .labels
        .iter()
        .position(|l| *l == format!("GET {path}"))
        .unwrap() as u32;
    let segment = (path == "/linkerd").then_some(0);
    let key = s.layout.key(Row::Step { label, segment });
    s.keys[key as usize].as_deref().cloned().unwrap()
}

fn origins(proxy: u64, upstream: u64, unknown: u64) -> Origins {
    Origins {
        proxy,
        upstream,
        unknown,
    }
}

#[test]
fn failed_responses_are_counted_by_who_answered_them() {
    let plan = mesh_plan(&PATHS);
    let setup = Setup {
        budget: Some(200),
        connections: 3,
        mesh: MeshOptions {
            origin_rules: vec![OriginRule::parse("header:x-gw-error=proxy").unwrap()],
            server_timing: None,
        },
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, mesh());
    let s = sim.run(60 * S);
    assert_accounted(&s);
    assert_eq!(s.counts.requests, 200);
    let v = ErrorClass::Validation as usize;
    let want = [
        ("/envoy-local", origins(1, 0, 0)),
        ("/envoy-connect", origins(1, 0, 0)),
        ("/envoy-overloaded", origins(1, 0, 0)),
        ("/app-503", origins(0, 1, 0)),
        ("/linkerd", origins(1, 0, 0)),
        ("/nginx-502", origins(1, 0, 0)),
        ("/gateway", origins(1, 0, 0)),
        ("/plain-503", origins(0, 0, 1)),
        ("/ok", origins(0, 0, 0)),
        ("/server-timing", origins(0, 0, 0)),
    ];
    let mut total = Origins::default();
    for (path, unit) in want {
        let k = row(&s, &plan, path);
        let n = k.counts.requests;
        assert_eq!(n, 20, "{path}: each step is sent in turn");
        let failed = n * (unit != Origins::default()) as u64;
        assert_eq!(k.counts.errors[v], failed, "{path}");
        let expect = origins(unit.proxy * n, unit.upstream * n, unit.unknown * n);
        assert_eq!(k.origins, expect, "{path}");
        total += &expect;
    }
    assert_eq!(s.origins, total);
    assert_eq!(
        s.origins.proxy + s.origins.upstream + s.origins.unknown,
        s.counts.errors[v],
        "every answered failure has one origin"
    );
    // Without the rule, the gateway's 503s are of unknown origin.
    let mut sim = Sim::new(
        &mesh_plan(&["/gateway"]),
        Setup {
            budget: Some(10),
            ..Setup::default()
        },
        mesh(),
    );
    assert_eq!(sim.run(60 * S).origins, origins(0, 0, 10));
}

#[test]
fn timeouts_and_resets_keep_their_classes_and_have_no_origin() {
    let plan = mesh_plan(&["/stall", "/reset", "/envoy-local"]);
    let setup = Setup {
        budget: Some(30),
        timeout: Duration::from_millis(50),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, mesh());
    let s = sim.run(60 * S);
    assert_accounted(&s);
    let c = s.counts;
    assert!(
        c.timed_out > 0 && c.errors[ErrorClass::Reset as usize] > 0,
        "{c:?}"
    );
    assert_eq!(c.errors[ErrorClass::Validation as usize], 10);
    assert_eq!(s.origins, origins(10, 0, 0));
}

#[test]
fn upstream_time_and_overhead_are_exact_on_the_virtual_clock() {
    // Every answer takes 5 ms from its send: Envoy says its upstream took 3 ms (overhead 2 ms),
    // Server-Timing says `app` took 4.25 ms (overhead 0.75 ms); 503s relayed by Envoy say 4 ms.
    let plan = mesh_plan(&["/ok", "/server-timing", "/app-503", "/plain-503"]);
    let setup = Setup {
        budget: Some(40),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, mesh());
    let s = sim.run(60 * S);
    // Each histogram holds `n` values, all of them `v` (to its precision).
    let all_at =
        |h: &hdrhistogram::Histogram<u64>, n: u64, v: u64| h.len() == n && h.count_at(v) == n;
    let times = |path: &str, up: u64, over: u64| {
        let t = row(&s, &plan, path).upstream.expect(path);
        assert!(all_at(&t.upstream, 10, up), "{path}: {:?}", t.upstream);
        assert!(all_at(&t.overhead, 10, over), "{path}: {:?}", t.overhead);
    };
    times("/ok", 3_000, 2_000);
    times("/server-timing", 4_250, 750);
    times("/app-503", 4_000, 1_000);
    assert!(
        row(&s, &plan, "/plain-503").upstream.is_none(),
        "it said nothing"
    );
    let all = s.upstream.as_ref().unwrap();
    assert_eq!(all.upstream.len(), 30, "only the responses that said count");
    // Named, only that entry counts: Envoy's header is not read.
    let setup = Setup {
        budget: Some(40),
        mesh: MeshOptions {
            origin_rules: Vec::new(),
            server_timing: Some("db".into()),
        },
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, mesh());
    let s = sim.run(60 * S);
    let all = s.upstream.as_ref().unwrap();
    assert!(all_at(&all.upstream, 10, 1_500) && all_at(&all.overhead, 10, 3_500));
}

#[test]
fn only_the_first_bytes_of_a_body_are_looked_at() {
    // nginx's page naming itself at byte 200 is nginx's; the same page behind 300 bytes of a
    // longer title is not looked at that far (an app's page, as far as ringload can tell), and a
    // megabyte of body costs no more than its first bytes.
    let page = |pad: usize| {
        format!(
            "<html><head><title>{}</title></head><body><hr><center>nginx</center>{}",
            "t".repeat(pad),
            "x".repeat(1 << 20)
        )
    };
    let server: Server = Box::new(move |seen, _| {
        let pad = if seen.target == "/near" { 150 } else { 300 };
        Reply::Bytes {
            delay: MS,
            bytes: response("502 Bad Gateway", &["server: nginx"], &page(pad)),
        }
    });
    let plan = mesh_plan(&["/near", "/far"]);
    let setup = Setup {
        budget: Some(20),
        ..Setup::default()
    };
    let mut sim = Sim::new(&plan, setup, server);
    let s = sim.run(60 * S);
    assert_eq!(row(&s, &plan, "/near").origins, origins(10, 0, 0));
    assert_eq!(row(&s, &plan, "/far").origins, origins(0, 0, 10));
    // `<center>nginx` ends at byte 207 of the near page and starts at byte 344 of the far one.
    const { assert!(44 + 150 + 13 <= crate::mesh::BODY_SNIFF && 44 + 300 >= crate::mesh::BODY_SNIFF) };
}
