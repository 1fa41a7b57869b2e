//! Result files as the CLI writes them match `formats/result.schema.json`: a run with segments,
//! logins, a header split and failed checks, a merge of two workers, a whole comparison, an
//! https run, a result shown again by `report --format json`; and the schema refuses a result
//! with a field missing, a wrong type or an unknown key, so these checks cannot pass vacuously.

mod util;

use std::path::{Path, PathBuf};

use ringload_target::{ShopConfig, TargetConfig, TargetHandle};
use serde_json::Value;
use util::{Schema, assert_compare_schema, assert_result_schema, read_json, ringload};

/// The shop, its canary answering a version the plan does not expect (failed checks).
fn shop() -> TargetHandle {
    ringload_target::spawn(TargetConfig {
        shop: Some(ShopConfig {
            canary_version: "canary-v3".into(),
            ..ShopConfig::default()
        }),
        ..TargetConfig::default()
    })
    .expect("start the shop")
}

/// The captured shoppers (logins minted at replay), in a canary and a stable segment, the
/// captured `x-upstream-version` expected: every optional part of a result gets written.
fn canary_plan(dir: &Path) -> String {
    let pcap = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorder/tests/fixtures/shop_shoppers.pcap")
        .display()
        .to_string();
    let plan = dir.join("canary.plan").display().to_string();
    ringload([
        "record",
        "--pcap",
        &pcap,
        "--exclude",
        "user_id=u-(2044|3310)",
        "--segment",
        "canary=x-user-segment:beta-testers",
        "--default-segment",
        "stable",
        "--expect-header",
        "x-upstream-version",
        "--label-rule",
        "^GET /api/v1/recommendations.*=GET /api/v1/recommendations",
        "-o",
        &plan,
    ])
    .assert_ok();
    plan
}

/// The result has the parts that are written only sometimes, so the schema saw them.
fn assert_has_optional_parts(v: &Value) {
    let labels = v["labels"].as_array().unwrap();
    assert!(labels.iter().any(|l| l["auth"] == true), "a login row");
    assert!(
        labels.iter().any(|l| l["offending"].is_array()),
        "a row with failed checks"
    );
    assert!(!v["segments"].as_array().unwrap().is_empty(), "segments");
    assert!(v["summary"]["split"].is_object(), "a header split");
    assert!(v["summary"]["logins"].as_u64().unwrap() > 0, "logins");
}

#[test]
fn a_run_and_a_merge_of_two_workers_match_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let plan = canary_plan(dir.path());
    let t = shop();
    let url = format!("http://{}", t.local_addr());
    // Two workers at the same time, each on its half of the sessions.
    let workers: Vec<_> = (0..2)
        .map(|k| {
            let out = dir.path().join(format!("w{k}.json")).display().to_string();
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_ringload"))
                .args(["run", &plan, "--target", &url, "-c", "2", "-t", "1"])
                .args(["-n", "200", "--worker", &format!("{k}/2"), "-o", &out])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let mut files = Vec::new();
    for (mut child, out) in workers {
        assert!(child.wait().unwrap().success());
        let v = read_json(&out);
        assert!(v["run"]["started_at_unix_ms"].is_u64());
        assert_result_schema(&v);
        util::assert_schema(&v, Schema::File);
        files.push(out);
    }
    let merged = dir.path().join("m.json");
    ringload([
        "merge",
        &files[0],
        &files[1],
        "-o",
        merged.to_str().unwrap(),
    ])
    .assert_ok();
    let m = read_json(&merged);
    assert_result_schema(&m);
    util::assert_schema(&m, Schema::File);
    assert_has_optional_parts(&m);
    t.stop().unwrap();
}

/// Regression: the sides of a comparison lost the plan's row layout (labels misnamed or
/// missing, every segment `(none)`, logins counted as steps) as soon as the plan had segments.
#[test]
fn a_comparison_of_a_plan_with_segments_and_logins_matches_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let plan = canary_plan(dir.path());
    let (base, cand) = (shop(), shop());
    let (b, c) = (
        format!("http://{}", base.local_addr()),
        format!("http://{}", cand.local_addr()),
    );
    let out = dir.path().join("c.json");
    ringload([
        "compare",
        &plan,
        "--baseline",
        &b,
        "--candidate",
        &c,
        "--rounds",
        "2",
        "-n",
        "200",
        "-c",
        "2",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ])
    .assert_ok();
    let v = read_json(&out);
    assert_compare_schema(&v);
    for side in ["baseline", "candidate"] {
        assert_has_optional_parts(&v[side]);
    }
    base.stop().unwrap();
    cand.stop().unwrap();
}

#[test]
fn an_https_run_matches_the_schema_with_its_tls_summary() {
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/ok");
    let ca = util::tls::Ca::new(dir.path(), "ca");
    let t = util::tls::target(&ca.server("srv", &["localhost"]), None);
    let url = format!("https://localhost:{}", t.local_addr().port());
    let out = dir.path().join("r.json");
    ringload([
        "run",
        &plan,
        "--target",
        &url,
        "--cacert",
        ca.cert(),
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "200",
        "-o",
        out.to_str().unwrap(),
    ])
    .assert_ok();
    let v = read_json(&out);
    assert!(v["summary"]["tls"]["handshakes"].as_u64().unwrap() > 0);
    assert_result_schema(&v);
}

/// `v` breaks the schema at `path` (a JSON Pointer), in an error that says `needle`.
fn errors_at(v: &Value, what: Schema, path: &str, needle: &str) {
    let errors = util::schema_errors(v, what);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(needle)),
        "expected an error at {path} about {needle:?}, got {errors:#?}"
    );
}

#[test]
fn the_schema_refuses_a_missing_field_a_wrong_type_and_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/");
    let t = ringload_target::spawn(TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    let out = dir.path().join("r.json");
    let r = out.to_str().unwrap();
    ringload([
        "run", &plan, "--target", &url, "-c", "2", "-t", "1", "-n", "200", "-o", r,
    ])
    .assert_ok();
    t.stop().unwrap();
    let good = read_json(&out);
    assert_result_schema(&good);
    // Read back and written again, it is still one.
    let again = dir.path().join("again.json");
    ringload([
        "report",
        r,
        "--format",
        "json",
        "-o",
        again.to_str().unwrap(),
    ])
    .assert_ok();
    assert_result_schema(&read_json(&again));

    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let v = broken(&|v| {
        v["summary"].as_object_mut().unwrap().remove("requests");
    });
    errors_at(
        &v,
        Schema::Report,
        "/summary",
        "\"requests\" is a required property",
    );
    errors_at(&v, Schema::File, "/summary", "\"requests\"");
    let v = broken(&|v| v["labels"][0]["ok"] = "12".into());
    errors_at(
        &v,
        Schema::Report,
        "/labels/0/ok",
        "is not of type \"integer\"",
    );
    let v = broken(&|v| v["summary"]["bytes_in"] = 1.5.into());
    errors_at(&v, Schema::Report, "/summary/bytes_in", "integer");
    let v = broken(&|v| v["summary"]["requests"] = (-1).into());
    errors_at(&v, Schema::Report, "/summary/requests", "minimum");
    let v = broken(&|v| v["summary"]["latency"] = 1.into());
    errors_at(&v, Schema::Report, "/summary", "latency");
    let v = broken(&|v| v["run"]["threds"] = 1.into());
    errors_at(&v, Schema::Report, "/run", "threds");
    let v = broken(&|v| v["labels"][0]["histogram"] = "not a histogram".into());
    errors_at(&v, Schema::Report, "/labels/0/histogram", "does not match");
    let v = broken(&|v| {
        v["labels"][0].as_object_mut().unwrap().remove("origin");
    });
    errors_at(&v, Schema::Report, "/labels/0", "\"origin\" is a required");
    let v = broken(&|v| v["summary"]["origin"]["proxy"] = (-1).into());
    errors_at(&v, Schema::Report, "/summary/origin/proxy", "minimum");
    let v = broken(&|v| v["summary"]["overhead_histogram"] = "".into());
    errors_at(
        &v,
        Schema::Report,
        "/summary/overhead_histogram",
        "does not match",
    );
    let v = broken(&|v| v["invalid_reason"] = "late".into());
    errors_at(&v, Schema::Report, "/invalid_reason", "null");
    let v = broken(&|v| v["format"] = "ringload-compare/1".into());
    assert!(!util::schema_errors(&v, Schema::File).is_empty());
    let v = broken(&|v| v["format"] = "ringload-result/2".into());
    assert!(!util::schema_errors(&v, Schema::File).is_empty());
}

/// Every field of every object the schema defines says what it means.
#[test]
fn every_field_of_the_schema_is_described() {
    fn walk(s: &Value, at: &str, missing: &mut Vec<String>) {
        match s {
            Value::Object(o) => {
                if let Some(Value::Object(props)) = o.get("properties") {
                    for (k, p) in props {
                        // `false`: a field that part of the schema forbids.
                        if p.is_object() && !p.get("description").is_some_and(Value::is_string) {
                            missing.push(format!("{at}/properties/{k}"));
                        }
                    }
                }
                // Conditions restate fields described where they are defined.
                for (k, v) in o
                    .iter()
                    .filter(|(k, _)| !["if", "then", "else"].contains(&k.as_str()))
                {
                    walk(v, &format!("{at}/{k}"), missing);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{at}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let schema: Value =
        serde_json::from_str(include_str!("../formats/result.schema.json")).unwrap();
    let mut missing = Vec::new();
    walk(&schema, "#", &mut missing);
    assert!(missing.is_empty(), "no description: {missing:#?}");
    for def in schema["$defs"].as_object().unwrap().values() {
        assert!(def["description"].is_string(), "{def}");
    }
}
