//! Output files (`-o`, `--html`) that cannot be written are refused before any work starts
//! (exit 2, the option and the path named), and nothing is left behind.

mod util;

use std::time::{Duration, Instant};

use util::ringload;

#[test]
fn unwritable_outputs_are_refused_before_the_load_starts() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/");
    let d = dir.path().to_str().unwrap();
    let missing = format!("{d}/no/such/dir/r.json");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    // A 30 s load that must not start.
    let started = Instant::now();
    ringload(["run", &p, "--target", &url, "-d", "30s", "-o", &missing]).assert_bad_input(
        &format!("--output {missing}: directory {d}/no/such/dir: No such file or directory"),
    );
    ringload(["run", &p, "--target", &url, "-d", "30s", "--html", d])
        .assert_bad_input(&format!("--html {d}: is a directory"));
    ringload([
        "compare",
        &p,
        "--baseline",
        &url,
        "--candidate",
        &url,
        "-d",
        "30s",
        "-o",
        &missing,
    ])
    .assert_bad_input("--output");
    ringload(["demo", "--html", &missing]).assert_bad_input("--html");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A file under a regular file.
    let under_file = format!("{p}/r.json");
    ringload(["run", &p, "--target", &url, "-o", &under_file])
        .assert_bad_input("cannot be written: Not a directory");
    // Nothing was left in the directory (no probe, no empty result).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["p.plan", "t.txt"]);
}

#[test]
fn record_and_merge_check_their_outputs_before_reading_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none/x.plan");
    let missing = missing.to_str().unwrap();
    let t = util::write(dir.path(), "t.txt", "GET http://x/\n");
    ringload(["record", "--targets", t.to_str().unwrap(), "-o", missing])
        .assert_bad_input(&format!("--output {missing}: directory"));
    // The inputs do not even exist: the output is looked at first.
    ringload(["merge", "a.json", "b.json", "--html", missing])
        .assert_bad_input(&format!("--html {missing}: directory"));
}
