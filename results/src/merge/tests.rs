//! Merging results: the merged result equals the result of the merged stats, and bad files
//! are named.

use super::*;
use crate::testing::{report_of, worker};
use ringload_engine::Stats;

fn json(s: &Stats) -> Vec<u8> {
    serde_json::to_vec(&report_of(s)).unwrap()
}

fn merge(files: &[(&str, Vec<u8>)]) -> Result<Report, String> {
    let names: Vec<String> = files.iter().map(|f| f.0.to_string()).collect();
    merge_with(&names, |i| Ok(files[i].1.clone())).map_err(|e| e.to_string())
}

#[test]
fn merging_results_equals_the_result_of_the_merged_stats() {
    let (a, b) = (worker(1), worker(2));
    let merged = merge(&[("a", json(&a)), ("b", json(&b))]).unwrap();
    let mut both = a.clone();
    both += &b;
    let mut m = serde_json::to_value(&merged).unwrap();
    let mut d = serde_json::to_value(report_of(&both)).unwrap();
    // Rates are the sum of the workers' (rounded) rates: compared below, not here.
    for v in [&mut m, &mut d] {
        for list in ["labels", "segments"] {
            for g in v[list].as_array_mut().unwrap() {
                g["rps"] = serde_json::Value::Null;
            }
        }
    }
    // Every count and every percentile, everywhere, is the same as from the merged stats.
    for path in [
        "/summary/requests",
        "/summary/ok",
        "/summary/failed",
        "/summary/errors",
        "/summary/latency_us",
        "/summary/service_us",
        "/summary/lag_us",
        "/summary/status",
        "/summary/histogram",
        "/summary/origin",
        "/summary/upstream_time_responses",
        "/summary/upstream_time_us",
        "/summary/upstream_time_histogram",
        "/summary/overhead_us",
        "/summary/overhead_histogram",
        "/labels",
        "/segments",
    ] {
        assert_eq!(m.pointer(path), d.pointer(path), "{path}");
    }
    for (mw, dw) in m["windows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(d["windows"].as_array().unwrap())
    {
        for k in ["second", "requests", "ok", "errors", "p50_us", "p99_us"] {
            assert_eq!(mw[k], dw[k], "window {k}");
        }
    }
    assert_eq!(merged.windows.len(), report_of(&both).windows.len());
    // The hops' figures were there to merge: origins in every row, and upstream times.
    let s = &merged.summary.group;
    assert!(s.origin.proxy > 0 && s.origin.upstream > 0 && s.origin.unknown > 0);
    assert_eq!(s.origin.total(), s.errors.validation);
    assert_eq!(
        s.upstream_time_responses,
        a.upstream.as_ref().unwrap().upstream.len() + b.upstream.as_ref().unwrap().upstream.len()
    );
    for g in merged.labels.iter().chain(&merged.segments) {
        assert_eq!(g.origin.total(), g.errors.validation);
        assert!(g.upstream_time_responses > 0 && g.overhead_us.p50 > 0);
    }
    // Concurrent workers: rates add up.
    assert!((merged.summary.group.rps - 2.0 * report_of(&a).summary.group.rps).abs() < 0.2);
}

/// Found by fuzzing (`fuzz/regressions/result/json-key-with-line-break.json`): the JSON
/// path of an error holds the file's keys, line breaks included.
#[test]
fn a_json_key_with_a_line_break_stays_on_one_line() {
    let json = br#"{"format": "ringload-result/1",
                    "summary": {"duration_s": 1, "status": {"a\nb": -1}}, "run": {}}"#;
    let e = merge(&[("k.json", json.to_vec())]).unwrap_err();
    assert!(!e.contains('\n'), "{e}");
    assert!(
        e.starts_with("k.json: summary.status.a\\nb: invalid value: integer `-1`"),
        "{e}"
    );
    let long = format!(
        r#"{{"format": "ringload-result/1",
            "summary": {{"duration_s": 1, "status": {{"{}": -1}}}}, "run": {{}}}}"#,
        "k".repeat(500)
    );
    let e = merge(&[("k.json", long.into_bytes())]).unwrap_err();
    let path = format!("summary.status.{}", "k".repeat(500));
    assert!(
        e.contains(&format!("k.json: {}...: invalid", &path[..100])),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_a_run_result_is_refused() {
    let mut r = serde_json::to_value(report_of(&worker(1))).unwrap();
    r["format"] = "ringload-compare/1".into();
    let r = serde_json::to_vec(&r).unwrap();
    let e = merge(&[("x.json", r.clone()), ("y.json", r)]).unwrap_err();
    assert!(
        e.contains("x.json: format:") && e.contains("ringload-result/1"),
        "{e}"
    );
}
