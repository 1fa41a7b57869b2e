//! Run-time failures that are not the target's fault get a clear message, never a panic.

mod util;

use std::os::unix::process::CommandExt;
use std::process::Command;

use util::ringload;

#[test]
fn a_low_locked_memory_limit_names_ulimit() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringload"));
    cmd.args([
        "run",
        &p,
        "--target",
        "http://127.0.0.1:9",
        "-c",
        "1",
        "-d",
        "1s",
        "--threads",
        "1",
    ]);
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limit.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 << 10,
                rlim_max: 64 << 10,
            };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ulimit -l") && err.contains("64 KiB"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cpus_outside_the_affinity_mask_and_tls_options_without_https_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    ringload([
        "run",
        &p,
        "--target",
        "http://127.0.0.1:9",
        "--cpus",
        "4000",
    ])
    .assert_bad_input("--cpus: CPU 4000 is not available");
    ringload(["run", &p, "--target", "http://127.0.0.1:9", "--insecure"])
        .assert_bad_input("need an https:// target");
    ringload(["run", &p, "--target", "127.0.0.1:9"]).assert_bad_input("--target");
    ringload(["run", &p, "--target", "http://127.0.0.1:9", "--rate=-5"]).assert_bad_input("rate");
    ringload([
        "run",
        &p,
        "--target",
        "http://127.0.0.1:9",
        "--stages",
        "10s",
    ])
    .assert_bad_input("--stages");
    ringload(["run", &p, "--target", "http://127.0.0.1:9", "-p", "0"]).assert_bad_input("pipeline");
}

#[test]
fn an_unreachable_target_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let r = ringload([
        "run",
        &p,
        "--target",
        &url,
        "-c",
        "2",
        "-d",
        "500ms",
        "--threads",
        "1",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("no connection")
            && r.stderr.contains("attempts failed")
            && r.stderr.contains("refused"),
        "{}",
        r.stderr
    );
    // A request budget has no end of its own: the give-up time ends it, report kept.
    let r = ringload([
        "run",
        &p,
        "--target",
        &url,
        "-n",
        "10",
        "--give-up-after",
        "300ms",
        "--threads",
        "1",
        "-c",
        "2",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("stopped: no connection") && r.stderr.contains("300ms"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("connect=") && r.stdout.contains("INVALID RUN: stopped early"),
        "{}",
        r.stdout
    );
    let r = ringload(["run", &p, "--target", &url, "--give-up-after", "0s"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--give-up-after"), "{}", r.stderr);
}

#[test]
fn replaying_a_plan_without_timing_and_bounded_stages() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    ringload(["run", &p, "--target", &url, "--speed", "2000", "-d", "1s"])
        .assert_bad_input("no captured timing");
    // Stages end the run even with a request count larger than they send.
    let started = std::time::Instant::now();
    let r = ringload([
        "run",
        &p,
        "--target",
        &url,
        "--stages",
        "1s:10",
        "-n",
        "50",
        "--threads",
        "1",
    ]);
    r.assert_ok();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        r.stdout.contains("requests 5 ")
            || r.stdout.contains("requests 4 ")
            || r.stdout.contains("requests 6 "),
        "{}",
        r.stdout
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringload"))
        .args(["inspect", &p])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
}
