//! Is it the mesh? A real nginx in front of the built-in target answers like the hops of a mesh
//! would: Envoy's own 503 texts, `x-envoy-overloaded`, a Linkerd `l5d-proxy-error` 502, nginx's
//! own 502 page (upstream down), a gateway's marker known by `--origin-rule`, the application's
//! 503s relayed with and without `x-envoy-upstream-service-time`, and successes carrying the
//! upstream's time (nginx's `$upstream_header_time`, as Envoy's header and as Server-Timing)
//! from an app that takes 5 ms (and says so itself: `server-timing: app;dur=5.000`). Origins
//! are counted exactly per label; the upstream time is within 1 ms of the app's delay and the
//! overhead is the rest; `compare` shows both sides' app time and overhead.

mod util;

use serde_json::Value;
use util::nginx::Nginx;
use util::{assert_compare_schema, assert_result_schema, read_json, ringload};

/// Who answers each path: (path, origin of its failures; `None`: it succeeds).
const PATHS: [(&str, Option<&str>); 11] = [
    ("/no-healthy", Some("proxy")),
    ("/connect-error", Some("proxy")),
    ("/overloaded", Some("proxy")),
    ("/linkerd", Some("proxy")),
    ("/upstream-down", Some("proxy")),
    ("/gateway", Some("proxy")),
    ("/app-fails-relayed", Some("upstream")),
    ("/app-fails", Some("unknown")),
    ("/ok", None),
    ("/ok-server-timing", None),
    ("/ok-silent", None),
];

/// nginx as the mesh's proxy in front of `app` (the built-in target).
fn mesh(app: std::net::SocketAddr) -> Nginx {
    // nginx knows the upstream's header time in seconds with millisecond digits ("0.005"):
    // written as whole milliseconds ("0005"), as Envoy writes its service time.
    let http = format!(
        "upstream app {{ server {app}; keepalive 16; }}\n\
         upstream dead {{ server 127.0.0.1:1; }}\n\
         map $upstream_header_time $upstream_ms {{ \"~^(?<s>[0-9]+)\\.(?<ms>[0-9]{{3}})$\" \"$s$ms\"; default \"\"; }}"
    );
    let proxy = "proxy_http_version 1.1; proxy_set_header Connection \"\";";
    let server = format!(
        "default_type text/plain;\n\
         location = /no-healthy {{ return 503 'no healthy upstream'; }}\n\
         location = /connect-error {{ return 503 'upstream connect error or disconnect/reset before headers. reset reason: connection failure'; }}\n\
         location = /overloaded {{ add_header x-envoy-overloaded true always; return 503; }}\n\
         location = /linkerd {{ add_header l5d-proxy-error 'connect timed out after 1s' always; return 502 'proxy error'; }}\n\
         location = /upstream-down {{ proxy_pass http://dead; }}\n\
         location = /gateway {{ add_header x-gw-error no-route always; return 503 'no route'; }}\n\
         location = /app-fails-relayed {{ {proxy} proxy_pass http://app/api?status=503; add_header x-envoy-upstream-service-time $upstream_ms always; }}\n\
         location = /app-fails {{ {proxy} proxy_pass http://app/api?status=503; }}\n\
         location = /ok {{ {proxy} proxy_pass http://app/api?delay=5ms; add_header x-envoy-upstream-service-time $upstream_ms; }}\n\
         location = /ok-server-timing {{ {proxy} proxy_pass http://app/api?delay=5ms; add_header Server-Timing 'db;dur=0.1'; add_header Server-Timing 'app;dur=$upstream_ms'; }}\n\
         location = /ok-silent {{ {proxy} proxy_pass http://app/api?delay=5ms; proxy_hide_header Server-Timing; }}\n"
    );
    Nginx::start(&http, &server)
}

fn targets(dir: &std::path::Path) -> String {
    let t: String = PATHS
        .iter()
        .map(|(p, _)| format!("GET http://mesh.local{p}\n\n"))
        .collect();
    let file = util::write(dir, "mesh.txt", t);
    let plan = dir.join("mesh.plan").display().to_string();
    ringload(["record", "--targets", file.to_str().unwrap(), "-o", &plan]).assert_ok();
    plan
}

/// The `labels[]` row of `GET {path}`.
fn label_row<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let label = format!("GET {path}");
    v["labels"]
        .as_array()?
        .iter()
        .find(|g| g["label"] == label.as_str())
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[test]
fn origins_are_counted_exactly_and_the_upstream_time_is_the_apps() {
    let app = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let ng = mesh(app.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let plan = targets(dir.path());
    let out = dir.path().join("r.json");
    let r = ringload([
        "run",
        &plan,
        "--target",
        &ng.url(),
        "-c",
        "4",
        "--threads",
        "1",
        "-n",
        "1100",
        "--origin-rule",
        "header:x-gw-error=proxy",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    println!("{}", r.stdout);
    let v = read_json(&out);
    assert_result_schema(&v);
    let s = &v["summary"];
    assert_eq!(n(s, "requests"), 1100);
    let mut want = [0u64; 3];
    for (path, origin) in PATHS {
        let label = format!("GET {path}");
        let row = label_row(&v, path).unwrap_or_else(|| panic!("{label}: {}", r.stdout));
        let requests = n(row, "requests");
        assert!(requests > 0, "{label}");
        let o = &row["origin"];
        let got = [n(o, "proxy"), n(o, "upstream"), n(o, "unknown")];
        let mut expect = [0; 3];
        if let Some(origin) = origin {
            let i = ["proxy", "upstream", "unknown"]
                .iter()
                .position(|x| *x == origin)
                .unwrap();
            expect[i] = requests;
            assert_eq!(n(&row["errors"], "validation"), requests, "{label}");
        } else {
            assert_eq!(n(row, "ok"), requests, "{label}");
        }
        assert_eq!(
            got,
            expect,
            "{label}: {}\n{}",
            row["origin"],
            ng.error_log()
        );
        for (w, g) in want.iter_mut().zip(expect) {
            *w += g;
        }
        // Only responses that said how long the upstream took are timed.
        let timed = n(row, "upstream_time_responses");
        let says = matches!(path, "/ok" | "/ok-server-timing" | "/app-fails-relayed");
        assert_eq!(timed, if says { requests } else { 0 }, "{label}");
        if matches!(path, "/ok" | "/ok-server-timing") {
            // The app sleeps 5 ms: nginx saw it take that (its clock has millisecond steps),
            // and the rest of each response's time is the proxy's and the network's.
            let up = n(&row["upstream_time_us"], "p50");
            assert!(
                (5_000..=6_000).contains(&up),
                "{label}: upstream p50 {up} us"
            );
            let over = n(&row["overhead_us"], "p50");
            let lat = n(&row["latency_us"], "p50");
            assert!(over > 0 && over < 5_000, "{label}: overhead p50 {over} us");
            assert!(
                (up + over).abs_diff(lat) <= 1_000,
                "{label}: upstream {up} + overhead {over} us is its latency {lat} us"
            );
        }
    }
    let o = &s["origin"];
    assert_eq!([n(o, "proxy"), n(o, "upstream"), n(o, "unknown")], want);
    assert_eq!(want.iter().sum::<u64>(), n(&s["errors"], "validation"));
    assert_eq!(
        n(s, "upstream_time_responses"),
        ["/ok", "/ok-server-timing", "/app-fails-relayed"]
            .iter()
            .map(|p| label_row(&v, p).map_or(0, |g| n(g, "requests")))
            .sum::<u64>()
    );
    // The text says it too.
    assert!(
        r.stdout.contains(&format!(
            "failed responses by origin: proxy {}, upstream {}, unknown {}",
            want[0], want[1], want[2]
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("where the time went: "), "{}", r.stdout);
    // The same result merged with itself: origins and upstream times add up.
    let merged = dir.path().join("m.json");
    ringload([
        "merge",
        out.to_str().unwrap(),
        out.to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ])
    .assert_ok();
    let m = read_json(&merged);
    assert_result_schema(&m);
    assert_eq!(m["summary"]["origin"]["proxy"], 2 * want[0]);
    assert_eq!(
        n(&m["summary"], "upstream_time_responses"),
        2 * n(s, "upstream_time_responses")
    );
    assert_eq!(m["summary"]["upstream_time_us"], s["upstream_time_us"]);
}

#[test]
fn compare_shows_the_app_time_and_the_overhead_of_both_sides() {
    // Baseline: the app directly; candidate: through the proxy. Both sides' responses carry the
    // app's own Server-Timing (the proxy passes it on): the app's 5 ms on both sides, and the
    // proxy's cost in the overhead.
    let app = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let ng = mesh(app.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/ok");
    // The baseline answers /ok with the same 5 ms: the target's own knob, as a header.
    let out = dir.path().join("c.json");
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &format!("http://{}", app.local_addr()),
        "--candidate",
        &ng.url(),
        "-H",
        "x-ringload-delay: 5ms",
        "--server-timing",
        "app",
        "--rounds",
        "2",
        "-n",
        "100",
        "-c",
        "2",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    println!("{}", r.stdout);
    let v = read_json(&out);
    assert_compare_schema(&v);
    for side in ["baseline", "candidate"] {
        let s = &v[side]["summary"];
        assert_eq!(n(s, "upstream_time_responses"), 200, "{side}");
        let up = n(&s["upstream_time_us"], "p50");
        assert!(
            (5_000..=5_010).contains(&up),
            "{side}: the app said 5 ms: {up}"
        );
    }
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("where the time went (responses that said"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(lines[at].contains("baseline 200 of 200, candidate 200 of 200"));
    let p50: Vec<&str> = lines[at + 3].split_whitespace().collect();
    assert_eq!(
        (p50[0], p50[4], p50[5], p50[6]),
        ("p50", "5.00", "5.00", "+0.00")
    );
    // The service time's change is the overhead's, give or take the percentiles' rounding.
    let change = |s: &str| s.parse::<f64>().unwrap();
    assert!(
        (change(p50[3]) - change(p50[9])).abs() <= 0.2,
        "service change {} vs overhead change {}",
        p50[3],
        p50[9]
    );
}
