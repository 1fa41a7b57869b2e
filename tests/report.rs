//! Quick mode (`ringload run URL... -H`), `ringload report` re-rendering saved results (text,
//! JSON, Locust CSV, HdrHistogram interval log, HTML) and gating them.

mod util;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use util::nginx::Nginx;
use util::{read_json, ringload};

fn target() -> (ringload_target::TargetHandle, String) {
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    (t, url)
}

/// The wrk/oha habit: `ringload run URL -c 64 -d 5s -H 'x-a: b'`, against nginx, which logs
/// every request's method, path, `x-a` header, content type and body.
#[test]
fn quick_mode_sends_what_the_command_line_says() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("seen.log");
    let ng = Nginx::start(
        "log_format seen '$request_method $uri x-a=$http_x_a ct=$content_type len=$content_length';",
        &format!(
            "access_log {} seen; location = /ok {{ return 200 'ok'; }} \
             location = /sink {{ return 200 'ok'; }}",
            log.display()
        ),
    );
    let out = dir.path().join("r.json");
    let r = ringload([
        "run",
        &format!("{}/ok", ng.url()),
        "-c",
        "64",
        "-d",
        "5s",
        "-H",
        "x-a: b",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let v = read_json(&out);
    let requests = v["summary"]["requests"].as_u64().unwrap();
    assert!(requests > 1000, "{requests}");
    assert_eq!(v["summary"]["ok"], requests, "{}", r.stdout);
    assert_eq!(v["labels"][0]["label"], "GET /ok");
    assert_eq!(v["run"]["connections"], 64);
    let seen = std::fs::read_to_string(&log).unwrap();
    // Every request the run counted reached nginx once, with the header.
    assert_eq!(seen.lines().count() as u64, requests);
    assert!(
        seen.lines().all(|l| l.starts_with("GET /ok x-a=b ")),
        "{}",
        seen.lines()
            .find(|l| !l.starts_with("GET /ok x-a=b "))
            .unwrap()
    );
    let before = seen.lines().count();

    // A body from a file, its content type, two URLs in turn; a body makes a POST.
    let body = util::write(dir.path(), "body.json", "{\"sku\":\"A-1\"}");
    let r = ringload([
        "run",
        &format!("{}/sink", ng.url()),
        &format!("{}/ok?x=1", ng.url()),
        "--body",
        &format!("@{}", body.display()),
        "--content-type",
        "application/json",
        "-n",
        "100",
        "-c",
        "2",
        "-q",
    ]);
    r.assert_ok();
    assert!(r.stdout.contains("POST /sink"), "{}", r.stdout);
    assert!(r.stdout.contains("POST /ok"), "{}", r.stdout);
    let seen = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = seen.lines().skip(before).collect();
    assert_eq!(lines.len(), 100, "{seen}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("POST /sink "))
            .count(),
        50
    );
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with(" ct=application/json len=13")),
        "{lines:?}"
    );

    // What quick mode refuses, before any load.
    let ok = format!("{}/ok", ng.url());
    ringload(["run", &ok, "http://127.0.0.2:9/x", "-n", "1"])
        .assert_bad_input("every URL must name the same server");
    ringload(["run", &ok, "--target", &ok, "-n", "1"]).assert_bad_input("--target is for plan");
    ringload(["run", &ok, "--body", "@/nonexistent", "-n", "1"])
        .assert_bad_input("--body @/nonexistent");
    ringload(["run", &ok, "-m", "GE T", "-n", "1"]).assert_bad_input("--method");
    let plan = util::targets_plan(dir.path(), "GET http://x/");
    ringload(["run", &plan, "-n", "1"]).assert_bad_input("a plan needs --target URL");
    ringload(["run", &plan, "--target", &ok, "--body", "x", "-n", "1"])
        .assert_bad_input("--method, --body and --content-type are for URLs");
}

/// An interval log read back: untagged intervals (start, histogram) in order, tagged ones by tag.
type Log = (Vec<(f64, Histogram<u64>)>, BTreeMap<String, Histogram<u64>>);

fn read_log(bytes: &[u8]) -> Log {
    let mut untagged = Vec::new();
    let mut tagged = BTreeMap::new();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        if let LogEntry::Interval(h) = entry.expect("a well-formed log") {
            let raw = base64_decode(h.encoded_histogram());
            let hist: Histogram<u64> = de.deserialize(&mut raw.as_slice()).unwrap();
            match h.tag() {
                Some(t) => {
                    tagged.insert(t.as_str().to_string(), hist);
                }
                None => untagged.push((h.start_timestamp().as_secs_f64(), hist)),
            }
        }
    }
    (untagged, tagged)
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn decode_result_histogram(b64: &serde_json::Value) -> Histogram<u64> {
    Deserializer::new()
        .deserialize(&mut base64_decode(b64.as_str().unwrap()).as_slice())
        .unwrap()
}

/// A run with two labels, one failing 20% of its answers, saved and shown again as CSV and as
/// an HdrHistogram log; both read back to the same counts and histograms as the JSON.
#[test]
fn csv_and_interval_log_read_back_to_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, url) = target();
    let out = dir.path().join("r.json");
    ringload([
        "run",
        &format!("{url}/ok?delay=1ms"),
        &format!("{url}/flaky?status=503:20"),
        "-c",
        "4",
        "--threads",
        "1",
        "-d",
        "2s",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ])
    .assert_ok();
    let v = read_json(&out);

    let r = ringload(["report", out.to_str().unwrap(), "--format", "csv"]);
    r.assert_ok();
    let mut rd = csv::Reader::from_reader(r.stdout.as_bytes());
    let head: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    for col in [
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Requests/s",
        "Failures/s",
        "50%",
        "99.99%",
        "100%",
        "Segment",
    ] {
        assert!(head.contains(&col.to_string()), "{col} in {head:?}");
    }
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "two labels and the total: {}", r.stdout);
    let labels = v["labels"].as_array().unwrap();
    for (row, g) in rows.iter().zip(labels) {
        let label = g["label"].as_str().unwrap();
        assert_eq!(
            format!("{} {}", &row[col("Type")], &row[col("Name")]),
            label
        );
        assert_eq!(row[col("Request Count")], g["requests"].to_string());
        let failures = g["failed"].as_u64().unwrap() + g["timed_out"].as_u64().unwrap();
        assert_eq!(row[col("Failure Count")], failures.to_string());
        let ms = |x: &serde_json::Value| format!("{:.3}", x.as_f64().unwrap() / 1e3);
        assert_eq!(
            row[col("Median Response Time")],
            ms(&g["latency_us"]["p50"])
        );
        assert_eq!(row[col("99%")], ms(&g["latency_us"]["p99"]));
        assert_eq!(row[col("100%")], ms(&g["latency_us"]["max"]));
    }
    let flaky = &rows[labels
        .iter()
        .position(|g| g["label"] == "GET /flaky")
        .unwrap()];
    let f: u64 = flaky[col("Failure Count")].parse().unwrap();
    let n: u64 = flaky[col("Request Count")].parse().unwrap();
    assert!(f * 100 > n * 10 && f * 100 < n * 30, "{f} of {n}");
    let total = &rows[2];
    assert_eq!(&total[col("Name")], "Aggregated");
    assert_eq!(
        total[col("Request Count")],
        v["summary"]["requests"].to_string()
    );

    let log = dir.path().join("r.hlog");
    ringload([
        "report",
        out.to_str().unwrap(),
        "--format",
        "hdr",
        "-o",
        log.to_str().unwrap(),
    ])
    .assert_ok();
    let (untagged, tagged) = read_log(&std::fs::read(&log).unwrap());
    let windows = v["windows"].as_array().unwrap();
    assert_eq!(untagged.len(), windows.len());
    for ((start, h), w) in untagged.iter().zip(windows) {
        assert_eq!(*start, w["second"].as_f64().unwrap());
        let want = decode_result_histogram(&w["histogram"]);
        assert_eq!(h.len(), want.len());
        assert_eq!(h.value_at_quantile(0.99), want.value_at_quantile(0.99));
    }
    let in_windows: u64 = untagged.iter().map(|(_, h)| h.len()).sum();
    assert_eq!(
        in_windows,
        decode_result_histogram(&v["summary"]["histogram"]).len()
    );
    assert_eq!(tagged.len(), 2, "{:?}", tagged.keys());
    for g in labels {
        let tag = g["label"].as_str().unwrap().replace(' ', "_");
        let h = &tagged[&tag];
        let want = decode_result_histogram(&g["histogram"]);
        assert_eq!(h.len(), want.len(), "{tag}");
        assert_eq!(h.value_at_quantile(0.999), want.value_at_quantile(0.999));
    }
}

/// `report` on a merged result shows what `merge` showed and wrote, and gates it.
#[test]
fn report_of_a_merged_result_equals_merges_own_output() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, url) = target();
    let outs: Vec<_> = (0..2)
        .map(|k| dir.path().join(format!("w{k}.json")))
        .collect();
    let children: Vec<_> = outs
        .iter()
        .map(|o| {
            std::process::Command::new(env!("CARGO_BIN_EXE_ringload"))
                .args(["run", &format!("{url}/a"), &format!("{url}/b?delay=2ms")])
                .args(["-c", "2", "--threads", "1", "-d", "1s", "-q", "-o"])
                .arg(o)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let merged = dir.path().join("m.json");
    let html = dir.path().join("m.html");
    let m = ringload([
        "merge",
        outs[0].to_str().unwrap(),
        outs[1].to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    m.assert_ok();
    let file = merged.to_str().unwrap();
    let text = ringload(["report", file]);
    text.assert_ok();
    assert_eq!(text.stdout, m.stdout);
    let json = ringload(["report", file, "--format", "json"]);
    assert_eq!(json.stdout, std::fs::read_to_string(&merged).unwrap());
    let page = ringload(["report", file, "--format", "html"]);
    assert_eq!(page.stdout, std::fs::read_to_string(&html).unwrap());

    // Gates on the merged result: one scoped to a label fails with its measured value, the
    // others pass and say so; exit 3.
    let g = ringload([
        "report",
        file,
        "--fail-on",
        "label=GET /b:p50>1ms",
        "--fail-on",
        "label=GET /b:p50>1s",
        "--fail-on",
        "error-rate>1%",
    ]);
    assert_eq!(g.code, 3, "{}\n{}", g.stdout, g.stderr);
    assert!(
        g.stdout
            .contains("THRESHOLD FAILED: label=GET /b:p50>1ms (measured "),
        "{}",
        g.stdout
    );
    assert!(
        g.stdout
            .contains("threshold passed: label=GET /b:p50>1s (measured ")
    );
    assert!(
        g.stdout
            .contains("threshold passed: error-rate>1% (measured 0.000%)")
    );
    // The same gate on merge itself.
    let g = ringload([
        "merge",
        outs[0].to_str().unwrap(),
        outs[1].to_str().unwrap(),
        "--fail-on",
        "label=GET /b:p50>1ms",
    ]);
    assert_eq!(g.code, 3, "{}", g.stdout);
    let nothing = ringload(["report", file, "--fail-on", "segment=canary:p50>1s"]);
    assert_eq!(nothing.code, 3);
    assert!(nothing.stdout.contains("(no such segment in the result)"));

    // What report refuses.
    let notes = util::write(
        dir.path(),
        "notes.json",
        "{\"format\": \"something-else/1\"}",
    );
    ringload(["report", notes.to_str().unwrap()])
        .assert_bad_input("is neither a run result (ringload-result/1) nor a comparison");
    ringload(["report", file, "--fail-on", "p99-overhead>1ms"])
        .assert_bad_input("overhead gates are for compare");
    ringload(["report", "/nonexistent.json"]).assert_bad_input("/nonexistent.json");
}

/// A comparison saved with `compare -o` shows again as compare printed it.
#[test]
fn report_of_a_comparison_equals_compares_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, url) = target();
    let plan = util::targets_plan(dir.path(), "GET http://x/ok");
    let out = dir.path().join("c.json");
    let c = ringload([
        "compare",
        &plan,
        "--baseline",
        &url,
        "--candidate",
        &url,
        "--rounds",
        "2",
        "-d",
        "200ms",
        "-c",
        "2",
        "--threads",
        "1",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    c.assert_ok();
    let file = out.to_str().unwrap();
    let r = ringload(["report", file]);
    r.assert_ok();
    assert_eq!(r.stdout, c.stdout);
    ringload(["report", file, "--format", "csv"])
        .assert_bad_input("a comparison has no single run");
    let g = ringload(["report", file, "--fail-on", "p50-overhead>1h"]);
    g.assert_ok();
    assert!(g.stdout.contains("threshold passed: p50-overhead>1h"));
}
