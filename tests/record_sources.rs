//! Every committed real-tool fixture records to a plan with exactly the requests an independent
//! tool counted (see recorder/tests/fixtures/README.md), and a pcap plan replays cleanly.

mod util;

use std::path::PathBuf;

use util::ringload;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorder/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn record(args: &[&str], dir: &std::path::Path) -> (String, serde_json::Value) {
    let plan = dir
        .join(format!("{}.plan", args.len()))
        .display()
        .to_string();
    let mut all: Vec<&str> = vec!["record"];
    all.extend_from_slice(args);
    all.extend(["-o", &plan]);
    ringload(&all).assert_ok();
    let i = ringload(["inspect", &plan, "--json"]);
    i.assert_ok();
    (plan, serde_json::from_str(&i.stdout).unwrap())
}

#[test]
fn each_fixture_records_its_independently_counted_requests() {
    let dir = tempfile::tempdir().unwrap();
    // (source flag, file, extra args, count by tshark / jq / awk)
    let cases: [(&str, &str, &[&str], u64); 6] = [
        ("--pcap", "curl_keepalive_chunked_pipelined.pcap", &[], 9),
        ("--pcap", "dumpcap_any.pcapng", &[], 7),
        ("--pcap", "tcpdump_any_sll2.pcap", &[], 2),
        ("--har", "chromium_playwright.har", &[], 8),
        ("--access-log", "nginx_combined.log", &[], 27),
        (
            "--access-log",
            "nginx_json.log",
            &["--log-format", "nginx-json"],
            27,
        ),
    ];
    for (flag, file, extra, count) in cases {
        let f = fixture(file);
        let mut args = vec![flag, f.as_str()];
        args.extend_from_slice(extra);
        let sub = dir.path().join(file);
        std::fs::create_dir_all(&sub).unwrap();
        let (_, v) = record(&args, &sub);
        assert_eq!(v["steps"], count, "{file}: {v}");
        if flag == "--access-log" {
            let notes = v["notes"].to_string();
            assert!(notes.contains("bodies absent"), "{file}: {notes}");
        }
    }
}

#[test]
fn a_pcap_plan_replays_with_no_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, _) = record(
        &["--pcap", &fixture("curl_keepalive_chunked_pipelined.pcap")],
        dir.path(),
    );
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://{}", t.local_addr());
    ringload([
        "run",
        &plan,
        "--target",
        &url,
        "-c",
        "2",
        "-n",
        "90",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ])
    .assert_ok();
    let v = util::read_json(&out);
    let s = &v["summary"];
    assert_eq!(s["requests"], 90);
    assert_eq!(s["errors"]["protocol"], 0);
    assert_eq!(s["ok"], 90, "{s}");
}

#[test]
fn bad_capture_files_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.plan");
    let o = out.to_str().unwrap();
    let junk = util::write(dir.path(), "junk.har", "{ not json");
    ringload(["record", "--har", junk.to_str().unwrap(), "-o", o]).assert_bad_input("junk.har");
    let pcap = std::fs::read(fixture("curl_keepalive_chunked_pipelined.pcap")).unwrap();
    let cut = util::write(dir.path(), "cut.pcap", &pcap[..10]);
    ringload(["record", "--pcap", cut.to_str().unwrap(), "-o", o]).assert_bad_input("cut.pcap");
    let log = util::write(dir.path(), "bad.log", "this is not an access log line\n");
    ringload(["record", "--access-log", log.to_str().unwrap(), "-o", o])
        .assert_bad_input("bad.log: line 1");
    ringload([
        "record",
        "--access-log",
        log.to_str().unwrap(),
        "--log-format",
        "apache",
        "-o",
        o,
    ])
    .assert_bad_input("--log-format");
}
