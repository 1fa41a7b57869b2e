//! `ringload compare`: a baseline target and the same target behind a proxy that adds a known
//! delay; the overhead found must be that delay, consistent over rounds; gates and bad input.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use util::{assert_compare_schema, ringload, targets_plan};

/// A TCP proxy to `upstream` that holds every chunk from the client for `delay` before passing
/// it on (responses go back untouched). It accepts for 60 s, then stops.
fn delaying_proxy(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            let Ok((client, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            client.set_nonblocking(false).unwrap();
            client.set_nodelay(true).unwrap();
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            server.set_nodelay(true).unwrap();
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    std::thread::sleep(delay);
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_in, &mut c_out);
                let _ = c_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn a_proxy_adding_3ms_shows_as_3ms_of_consistent_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let plan = targets_plan(dir.path(), "GET http://x/api/items");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let proxy = delaying_proxy(t.local_addr(), Duration::from_millis(3));
    let out = dir.path().join("c.json");
    let (base, cand) = (
        format!("http://{}", t.local_addr()),
        format!("http://{proxy}"),
    );
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &base,
        "--candidate",
        &cand,
        "--rounds",
        "6",
        "-d",
        "300ms",
        "-c",
        "2",
        "--threads",
        "1",
        "--fail-on",
        "p50-overhead>1ms",
        "--fail-on",
        "p99-overhead>10s",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("THRESHOLD FAILED: p50-overhead>1ms (measured +")
            && r.stdout
                .contains("threshold passed: p99-overhead>10s (measured +")
            && !r.stdout.contains("FAILED: p99-overhead>10s"),
        "{}",
        r.stdout
    );
    let v = util::read_json(&out);
    assert_eq!(v["format"], "ringload-compare/1");
    assert_eq!(v["valid"], true);
    let p50 = &v["overhead"][0];
    assert_eq!(p50["percentile"], "p50");
    let o = p50["overhead_us"].as_f64().unwrap();
    // The proxy sleeps 3 ms per request (plus a thread hop); the sleep cannot be shorter.
    assert!((3000.0..15000.0).contains(&o), "p50 overhead {o} us");
    assert_eq!(p50["consistent"], true, "{p50}");
    assert_eq!(v["overhead"].as_array().unwrap().len(), 5);
    let rounds = v["per_round"].as_array().unwrap();
    assert_eq!(rounds.len(), 6);
    let firsts: Vec<bool> = rounds
        .iter()
        .map(|r| r["baseline_first"].as_bool().unwrap())
        .collect();
    assert_eq!(firsts, [true, false, true, false, true, false]);
    assert_compare_schema(&v);
    for side in ["baseline", "candidate"] {
        let s = &v[side]["summary"];
        assert!(s["requests"].as_u64().unwrap() > 0, "{side}");
        assert_eq!(s["failed"], 0, "{side}");
    }
    assert_eq!(v["baseline"]["run"]["target"], base.as_str());
    assert_eq!(v["candidate"]["run"]["target"], cand.as_str());
}

#[test]
fn the_same_target_twice_shows_no_median_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let plan = targets_plan(dir.path(), "GET http://x/");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    let out = dir.path().join("c.json");
    let html = dir.path().join("c.html");
    let r = ringload([
        "compare",
        &plan,
        "--html",
        html.to_str().unwrap(),
        "--baseline",
        &url,
        "--candidate",
        &url,
        "--rounds",
        "6",
        "-d",
        "200ms",
        "-c",
        "2",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    // Percentiles, the percentile spectrum of both sides, p50 and p99 per round.
    assert_eq!(page.matches("<svg").count(), 3, "three charts");
    assert!(page.contains("Percentile spectrum, all rounds merged"));
    assert!(page.contains("Overhead per percentile") && page.contains(&url));
    assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
    let v = util::read_json(&out);
    // A/A: whatever the sign test says about a tail, the median is far below a millisecond.
    let o = v["overhead"][0]["overhead_us"].as_f64().unwrap();
    assert!(o.abs() < 1000.0, "A/A p50 overhead {o} us");
}

#[test]
fn compare_refuses_bad_input_and_names_an_unreachable_side() {
    let dir = tempfile::tempdir().unwrap();
    let plan = targets_plan(dir.path(), "GET http://x/");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    let base = ["compare", &plan, "--baseline", &url, "--threads", "1"];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        ringload(a)
    };
    with(&["--candidate", &url, "--rounds", "1"]).assert_bad_input("--rounds");
    with(&["--candidate", &url, "--fail-on", "p99-overhead<2ms"])
        .assert_bad_input("an overhead gate is PNN-overhead>LIMIT");
    with(&["--candidate", "ftp://127.0.0.1:1"])
        .assert_bad_input("--candidate \"ftp://127.0.0.1:1\": the scheme must be http or https");
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = with(&[
        "--candidate",
        &format!("http://{closed}"),
        "--rounds",
        "2",
        "-d",
        "200ms",
        "-c",
        "1",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&closed.to_string()) && r.stderr.contains("refused"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_candidate_that_never_answers_makes_the_comparison_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let plan = targets_plan(dir.path(), "GET http://x/");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    // Accepts and reads, never answers: every request times out, no latency is recorded.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(64).flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &format!("http://{}", t.local_addr()),
        "--candidate",
        &format!("http://{silent}"),
        "--rounds",
        "2",
        "-d",
        "200ms",
        "-c",
        "1",
        "--threads",
        "1",
        "--timeout",
        "100ms",
        "--fail-on",
        "p99-overhead>1s",
    ]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("INVALID RUN") && r.stdout.contains("no request was answered"),
        "{}",
        r.stdout
    );
}
