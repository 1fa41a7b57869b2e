//! Against a real nginx: keep-alive limits that close connections mid-pipeline lose nothing.

mod util;

use util::nginx::Nginx;
use util::ringload;

#[test]
fn nginx_keepalive_limit_mid_pipeline_loses_no_request() {
    let ng = Nginx::start(
        "keepalive_requests 100; keepalive_timeout 30s;",
        "location = /ok { default_type text/plain; return 200 \"ok\"; }",
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/ok");
    let out = dir.path().join("r.json");
    let r = ringload([
        "run",
        &plan,
        "--target",
        &ng.url(),
        "-c",
        "4",
        "-p",
        "16",
        "--threads",
        "1",
        "-n",
        "20000",
        "--timeout",
        "5s",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let v = util::read_json(&out);
    util::assert_result_schema(&v);
    let s = &v["summary"];
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(n("requests"), 20000, "{s}");
    assert_eq!(n("ok"), 20000, "{}", r.stdout);
    assert_eq!(n("failed") + n("timed_out") + n("in_flight_at_end"), 0);
    assert!(
        n("resent") > 0,
        "nginx closed every 100 requests under 16 pipelined: {}",
        r.stdout
    );
    assert!(n("server_closes") >= 20000 / 100 - 4, "{}", r.stdout);
    assert_eq!(s["status"]["200"], 20000);
    assert!(s["histogram"].as_str().unwrap().len() > 10);
    assert!(v["valid"].as_bool().unwrap());
}

/// nginx as a gateway in front of the built-in target (keep-alive upstream, as gateways run):
/// `compare` sees the extra hop as a positive median p50 overhead.
#[test]
fn compare_measures_an_nginx_gateway_hop() {
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let gw = Nginx::start(
        &format!(
            "upstream app {{ server {}; keepalive 16; }}",
            t.local_addr()
        ),
        "location / { proxy_pass http://app; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }",
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/api/products");
    let out = dir.path().join("c.json");
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &format!("http://{}", t.local_addr()),
        "--candidate",
        &gw.url(),
        "--rounds",
        "6",
        "-d",
        "300ms",
        "-c",
        "2",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    println!("{}", r.stdout);
    let v = util::read_json(&out);
    // The hop costs tens of microseconds at p50 on loopback: the median over rounds shows it
    // (a single noisy round may not, so the sign test is not asserted here).
    let p50 = &v["overhead"][0];
    assert!(p50["overhead_us"].as_f64().unwrap() > 0.0, "{}", r.stdout);
    for side in ["baseline", "candidate"] {
        let s = &v[side]["summary"];
        assert_eq!(s["failed"], 0, "{side}: {s}");
        assert_eq!(s["status"]["200"], s["requests"], "{side}: {s}");
    }
}
