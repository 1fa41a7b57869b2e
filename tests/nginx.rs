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
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
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
