//! A run's life: SIGINT/SIGTERM stop it early with its report and output kept (exit 130/143,
//! counts consistent with what the server saw), a second signal exits at once, `target` exits
//! the same way, the progress line on and off a terminal, `--start-at` lines workers up.

mod util;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringload_target::{TargetConfig, TargetHandle};
use util::{read_json, ringload};

fn target() -> TargetHandle {
    ringload_target::spawn(TargetConfig::default()).expect("start the target")
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ringload"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringload")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// Wait for `child` at most `limit`; its exit code and how long it took.
fn wait(child: &mut Child, limit: Duration) -> (i32, Duration) {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return (s.code().unwrap_or(-1), t.elapsed());
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigint_and_sigterm_stop_a_run_with_its_report_and_output() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let t = target();
        let dir = tempfile::tempdir().unwrap();
        let plan = util::targets_plan(dir.path(), "GET http://x/?delay=2ms");
        let out = dir.path().join("r.json");
        let url = format!("http://{}", t.local_addr());
        let mut child = spawn(&[
            "run",
            &plan,
            "--target",
            &url,
            "-d",
            "60s",
            "-c",
            "8",
            "--drain",
            "2s",
            "-o",
            out.to_str().unwrap(),
        ]);
        std::thread::sleep(Duration::from_millis(1500));
        signal(&child, sig);
        let (exit, took) = wait(&mut child, Duration::from_secs(10));
        assert_eq!(exit, code, "signal {sig}");
        assert!(
            took < Duration::from_secs(3),
            "within --drain + 1 s: {took:?}"
        );
        let mut stdout = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        assert!(stdout.contains("INTERRUPTED"), "{stdout}");
        let v = read_json(&out);
        assert_eq!(v["interrupted"], true);
        let s = &v["summary"];
        let requests = s["requests"].as_u64().unwrap();
        assert!(requests > 100, "{requests}");
        assert_eq!(s["in_flight_at_end"], 0, "drained");
        let served = t.stop().unwrap().requests;
        assert_eq!(
            served, requests,
            "every request sent was seen by the server, once"
        );
        util::assert_result_schema(&v);
    }
}

#[test]
fn a_second_signal_exits_at_once() {
    // A target that stalls: the drain would wait its whole 30 s.
    let t = ringload_target::spawn(TargetConfig {
        stall_every: Some(Duration::from_millis(1500)),
        stall_for: Duration::from_millis(1400),
        ..TargetConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/");
    let url = format!("http://{}", t.local_addr());
    let mut child = spawn(&[
        "run",
        &plan,
        "--target",
        &url,
        "-d",
        "60s",
        "-c",
        "4",
        "--drain",
        "30s",
        "--timeout",
        "60s",
    ]);
    std::thread::sleep(Duration::from_millis(1700));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGINT);
    let (exit, took) = wait(&mut child, Duration::from_secs(10));
    assert_eq!(exit, 130);
    assert!(took < Duration::from_secs(1), "{took:?}");
    t.stop().unwrap();
}

#[test]
fn the_target_exits_130_or_143_after_printing_its_counters() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let mut child = spawn(&["target", "--listen", "127.0.0.1:0"]);
        std::thread::sleep(Duration::from_millis(500));
        signal(&child, sig);
        let (exit, _) = wait(&mut child, Duration::from_secs(5));
        let mut stdout = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        assert_eq!(exit, code, "{stdout}");
        assert!(stdout.contains("served 0 requests"), "{stdout}");
    }
}

#[test]
fn progress_on_a_terminal_and_off_one() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    // Closed loop against a 10 ms answer: light, and with no schedule to fall behind.
    let plan = util::targets_plan(dir.path(), "GET http://x/?delay=10ms");
    let url = format!("http://{}", t.local_addr());
    let bin = env!("CARGO_BIN_EXE_ringload");
    // Off a terminal: a plain line every 10 s, on stderr.
    let off = std::thread::spawn({
        let (plan, url) = (plan.clone(), url.clone());
        move || ringload(["run", &plan, "--target", &url, "-d", "11s", "-c", "2"])
    });
    // On one (`script` gives the run a pseudo-terminal): a line redrawn every second.
    let cmd = format!("{bin} run {plan} --target {url} -d 4s -c 2");
    let on = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let on = String::from_utf8_lossy(&on.stdout).to_string();
    assert!(on.contains("run [") && on.contains("last second"), "{on}");
    assert!(
        on.matches("run [").count() >= 2,
        "redrawn every second: {on}"
    );
    assert!(
        on.contains('\r') || on.contains("\x1b["),
        "drawn in place: {on:?}"
    );
    let off = off.join().unwrap();
    off.assert_ok();
    let lines: Vec<&str> = off
        .stderr
        .lines()
        .filter(|l| l.starts_with("ringload: run ["))
        .collect();
    assert_eq!(lines.len(), 1, "one line per 10 s: {:?}", off.stderr);
    assert!(
        lines[0].contains("answered, p50") && lines[0].contains("p99"),
        "{}",
        lines[0]
    );
    assert!(!off.stderr.contains('\r'), "plain lines off a terminal");
    // --quiet: neither.
    let q = ringload(["run", &plan, "--target", &url, "-d", "1s", "-q"]);
    q.assert_ok();
    assert!(q.stderr.is_empty(), "{}", q.stderr);
    t.stop().unwrap();
}

#[test]
fn workers_started_apart_begin_measuring_together_at_start_at() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/");
    let url = format!("http://{}", t.local_addr());
    let start =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_secs(3))
            .to_string();
    let out = |k: usize| dir.path().join(format!("w{k}.json"));
    let mut workers = Vec::new();
    for k in 0..2 {
        let o = out(k);
        let (plan, url, start) = (plan.clone(), url.clone(), start.clone());
        workers.push(std::thread::spawn(move || {
            ringload([
                "run",
                &plan,
                "--target",
                &url,
                "-d",
                "1s",
                "-c",
                "2",
                "--start-at",
                &start,
                "-o",
                o.to_str().unwrap(),
            ])
        }));
        std::thread::sleep(Duration::from_millis(1500));
    }
    for w in workers {
        w.join().unwrap().assert_ok();
    }
    let s0 = read_json(out(0))["run"]["started_at_unix_ms"]
        .as_u64()
        .unwrap();
    let s1 = read_json(out(1))["run"]["started_at_unix_ms"]
        .as_u64()
        .unwrap();
    assert!(s0.abs_diff(s1) < 100, "{s0} vs {s1}");
    let merged = dir.path().join("m.json");
    ringload([
        "merge",
        out(0).to_str().unwrap(),
        out(1).to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ])
    .assert_ok();
    assert_eq!(read_json(&merged)["valid"], true);
    ringload(["run", &plan, "--target", &url, "--start-at", "yesterday"])
        .assert_bad_input("--start-at");
    t.stop().unwrap();
}
