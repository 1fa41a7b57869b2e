//! Absurd rates, durations and counts are refused at once (exit 2, one line naming the option
//! and the allowed range) instead of spinning; a rate the machine cannot keep ends on time with
//! its dropped requests counted; malformed target URLs are named as such, not as DNS failures.

mod util;

use std::time::{Duration, Instant};

use util::{ringload, write};

/// Runs ringload, asserting it ends within `limit`.
fn timed(args: &[&str], limit: Duration) -> util::Run {
    let started = Instant::now();
    let r = ringload(args);
    let took = started.elapsed();
    assert!(took < limit, "{args:?} took {took:?}: {}", r.stderr);
    r
}

#[test]
fn absurd_rates_end_within_two_seconds_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    let base = [
        "run", &p, "--target", &url, "-c", "2", "-t", "1", "-d", "1s",
    ];
    for (extra, needle) in [
        (
            &["--rate", "1e9"][..],
            "--rate 1000000000: between 0 (excluded) and 100000000 requests/s",
        ),
        (&["--rate", "1e12"], "--rate 1e12: between 0 (excluded)"),
        (&["--rate", "1e30"], "--rate 1e30: between 0 (excluded)"),
        (&["--rate", "NaN"], "--rate NaN: between 0 (excluded)"),
        (
            &["--stages", "1s:1e30"],
            "--stages: \"1s:1e30\" has a rate outside 0..=100000000 requests/s",
        ),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        timed(&args, Duration::from_secs(2)).assert_bad_input(needle);
    }
}

#[test]
fn durations_counts_and_stages_beyond_the_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", &p, "--target", "http://127.0.0.1:9"];
        args.extend_from_slice(extra);
        timed(&args, Duration::from_secs(2))
    };
    run(&["-d", "25h"]).assert_bad_input("--duration 25h: at most 24h");
    run(&["--warmup", "23h", "-d", "2h"])
        .assert_bad_input("--warmup 23h plus --duration 2h: at most 24h together");
    run(&["-n", "10000000000000"])
        .assert_bad_input("--requests 10000000000000: between 1 and 1000000000000");
    run(&["--stages", "20h:1,20h:1"]).assert_bad_input("--stages: 40h in total, at most 24h");
    let many: Vec<String> = (0..1001).map(|_| "1s:1".to_string()).collect();
    run(&["--stages", &many.join(",")]).assert_bad_input("--stages: 1001 stages, at most 1000");
    run(&["--timeout", "25h"]).assert_bad_input("--timeout 25h: at most 24h");
    run(&["--drain", "100days"]).assert_bad_input("--drain 2400h: at most 24h");
    run(&["--spin", "2s"]).assert_bad_input("--spin 2s: at most 1s");
    run(&["--coalesce", "2s"]).assert_bad_input("--coalesce 2s: at most 1s");
    run(&["-c", "0"]).assert_bad_input("--connections 0: between 1 and 100000");
    run(&["-p", "5000"]).assert_bad_input("--pipeline 5000: between 1 and 1024");
    timed(
        &["demo", "--duration", "1000000000years"],
        Duration::from_secs(2),
    )
    .assert_bad_input("--duration");
    timed(&["demo", "--rate", "1e9"], Duration::from_secs(2)).assert_bad_input("--rate");
}

#[test]
fn a_replay_speed_beyond_the_largest_rate_is_refused_naming_the_plan_speed() {
    let dir = tempfile::tempdir().unwrap();
    // Two requests 1 s apart: replayed at speed 1e9, that is 1e9 requests/s.
    let log = write(
        dir.path(),
        "a.log",
        "10.0.0.1 - - [26/Nov/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 2 \"-\" \"c\"\n\
         10.0.0.1 - - [26/Nov/2026:10:00:01 +0000] \"GET /b HTTP/1.1\" 200 2 \"-\" \"c\"\n",
    );
    let plan = dir.path().join("timed.plan");
    let plan = plan.to_str().unwrap();
    ringload(["record", "--access-log", log.to_str().unwrap(), "-o", plan]).assert_ok();
    timed(
        &[
            "run",
            plan,
            "--target",
            "http://127.0.0.1:9",
            "--speed",
            "1e9",
        ],
        Duration::from_secs(2),
    )
    .assert_bad_input("--speed 1000000000: the plan would be sent at");
    // A plan without timing cannot be replayed: its file is named.
    let flat = util::targets_plan(dir.path(), "GET http://x/");
    timed(
        &[
            "run",
            &flat,
            "--target",
            "http://127.0.0.1:9",
            "--speed",
            "2",
        ],
        Duration::from_secs(2),
    )
    .assert_bad_input(&format!("{flat}: the plan has no captured timing"));
}

#[test]
fn a_rate_the_machine_cannot_keep_ends_on_time_and_counts_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    // 1 s at 10^7 requests/s on two connections: millions dropped, counted in constant time
    // per loop turn; the run ends after its second and the drain.
    let r = timed(
        &[
            "run", &p, "--target", &url, "-c", "2", "-t", "1", "-d", "1s", "--rate", "1e7",
            "--drain", "100ms",
        ],
        Duration::from_secs(3),
    );
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    let dropped: u64 = r
        .stdout
        .split(" requests dropped")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no dropped count in {}", r.stdout));
    assert!(dropped > 5_000_000 && dropped < 10_000_000, "{dropped}");
}

#[test]
fn malformed_target_urls_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let run = |flag: &str, url: &str| {
        if flag == "--target" {
            ringload(["run", &p, "--target", url, "-d", "1s"])
        } else {
            let other = if flag == "--baseline" {
                "--candidate"
            } else {
                "--baseline"
            };
            ringload(["compare", &p, flag, url, other, "http://127.0.0.1:9"])
        }
    };
    run("--target", "http://[::1")
        .assert_bad_input("--target \"http://[::1\": an IPv6 address needs its closing ']'");
    run("--target", "http://user:pw@127.0.0.1:9")
        .assert_bad_input("user info (user@host) is not supported");
    run("--target", "http://::1:9").assert_bad_input("an IPv6 address goes in brackets");
    run("--target", "http://127.0.0.1:99999")
        .assert_bad_input("port \"99999\" is not a number from 1 to 65535");
    run("--target", "http://127.0.0.1:+9").assert_bad_input("port \"+9\"");
    run("--target", "http://bad host/").assert_bad_input(
        "--target \"http://bad host/\": the host holds spaces or control characters",
    );
    run("--candidate", "ftp://x")
        .assert_bad_input("--candidate \"ftp://x\": the scheme must be http or https, not \"ftp\"");
    run("--baseline", "http://[zz]")
        .assert_bad_input("--baseline \"http://[zz]\": [zz] is not an IPv6 address");
}

#[test]
fn an_empty_plan_is_refused_by_name_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.plan");
    let plan = ringload_formats::PlanBuilder::new(ringload_formats::Metadata::default()).finish();
    ringload_formats::write_plan(std::fs::File::create(&empty).unwrap(), &plan).unwrap();
    let e = empty.to_str().unwrap();
    let needle = format!("{e}: the plan has no steps");
    ringload(["inspect", e]).assert_bad_input(&needle);
    ringload(["run", e, "--target", "http://127.0.0.1:9"]).assert_bad_input(&needle);
    ringload([
        "compare",
        e,
        "--baseline",
        "http://127.0.0.1:9",
        "--candidate",
        "http://127.0.0.1:9",
    ])
    .assert_bad_input(&needle);
}
