//! `ringload demo --quick`: every step runs and says what it shows, the recorded plan and the
//! HTML report land in --out-dir, and nothing it started (target, recording proxy, sidecar)
//! is left listening.

mod util;

use std::time::{Duration, Instant};

use util::ringload;

#[test]
fn the_quick_demo_runs_every_step_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let r = ringload(["demo", "--quick", "--out-dir", dir.path().to_str().unwrap()]);
    r.assert_ok();
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    for (n, what) in [
        (1, "target:"),
        (2, "record:"),
        (3, "closed loop:"),
        (4, "open loop:"),
        (5, "sidecar:"),
        (6, "report:"),
        (7, "cleanup:"),
    ] {
        let line = format!("demo [{n}/7] {what}");
        let found = r.stdout.lines().find(|l| l.starts_with(&line));
        let found = found.unwrap_or_else(|| panic!("missing {line:?} in\n{}", r.stdout));
        assert!(found.contains("shows"), "{found}");
    }
    for needle in [
        // What the recording found.
        "virtual users sent",
        "canary checks passed 6/6",
        "exchanges recorded",
        "GET /api/v1/products/:id",
        "auth profile POST /auth/realms/shop/protocol/openid-connect/token",
        "expect x-upstream-version in canary: {canary-v2}",
        // The replays, the checks and the split.
        "GET /api/v1/recommendations [canary]",
        "segment stable",
        "logins",
        "split segment canary by x-upstream-version: canary-v2 100.0%",
        // The comparison's table.
        "range over rounds",
        "p99",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            r.stdout
        );
    }
    let html = std::fs::read_to_string(dir.path().join("demo-report.html")).unwrap();
    assert_eq!(html.matches("<body>").count(), 1);
    assert!(html.contains("<svg") && html.contains("GET /api/v1/recommendations"));
    assert!(html.contains("overhead"), "the comparison is in the page");
    let plan = dir.path().join("demo.plan");
    let i = ringload(["inspect", plan.to_str().unwrap()]);
    i.assert_ok();
    // Every address the demo printed is closed now.
    let addrs: Vec<&str> = r
        .stdout
        .split("http://")
        .skip(1)
        .map(|s| {
            s.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
                .next()
                .unwrap()
        })
        .filter(|a| a.contains(':'))
        .collect();
    assert!(addrs.len() >= 3, "{addrs:?}");
    for a in addrs {
        let a = a.trim_end_matches(':');
        assert!(
            std::net::TcpStream::connect(a).is_err(),
            "{a} still listening after the demo"
        );
    }
}
