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
fn cpus_outside_the_affinity_mask_and_https_are_bad_input() {
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
    ringload(["run", &p, "--target", "https://127.0.0.1:9"]).assert_bad_input("https");
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
