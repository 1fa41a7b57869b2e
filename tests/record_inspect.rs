//! `record --targets` and `inspect`, end to end, including every bad-input case.

mod util;

use std::os::unix::fs::PermissionsExt;

use util::{ringload, write};

const TARGETS: &str = "\
# products, with the canary header on one request
GET http://shop.local/api/v1/products?category=electronics&page=1
x-request-source: ringload

GET http://shop.local/api/v1/products/SKU-100045
x-user-segment: beta-testers

GET http://shop.local/api/v1/products/SKU-100046

POST http://shop.local/api/v1/cart/items
Content-Type: application/json
@cart.json
";

#[test]
fn targets_round_trip_through_record_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "cart.json", br#"{"sku":"SKU-100045","qty":1}"#);
    let t = write(dir.path(), "t.txt", TARGETS);
    let plan = dir.path().join("p.plan");
    let r = ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
        "--segment",
        "canary=x-user-segment:beta-testers",
        "--tag",
        "mesh=istio",
    ]);
    r.assert_ok();
    assert!(r.stdout.contains("recorded 4 steps"), "{}", r.stdout);
    let i = ringload(["inspect", plan.to_str().unwrap(), "--json"]);
    i.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&i.stdout).unwrap();
    assert_eq!(v["steps"], 4);
    assert_eq!(v["sessions"], 1);
    assert_eq!(v["distinct_requests"], 4);
    assert_eq!(v["requests_with_body"], 1);
    let labels: Vec<(String, u64)> = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        labels.contains(&("GET /api/v1/products/:id".into(), 2)),
        "{labels:?}"
    );
    assert!(
        labels.contains(&("POST /api/v1/cart/items".into(), 1)),
        "{labels:?}"
    );
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs[0]["name"], "canary");
    assert_eq!(segs[0]["count"], 1);
    assert_eq!(v["tags"]["mesh"], "istio");
    assert_eq!(v["authority"], "shop.local");
    let bps = v["bytes_per_step"].as_f64().unwrap();
    assert!(bps > 0.0 && (bps * 4.0).round() as u64 == v["bytes"].as_u64().unwrap());
    assert_eq!(v["holds_secrets"], false);
    // Human table too.
    let t = ringload(["inspect", plan.to_str().unwrap()]);
    t.assert_ok();
    assert!(t.stdout.contains("GET /api/v1/products/:id"));
}

#[test]
fn plans_with_credentials_are_private_unless_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.txt",
        "GET http://h/orders\nAuthorization: Bearer abc.def\n",
    );
    let plan = dir.path().join("s.plan");
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
    ])
    .assert_ok();
    let mode = std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let v: serde_json::Value =
        serde_json::from_str(&ringload(["inspect", plan.to_str().unwrap(), "--json"]).stdout)
            .unwrap();
    assert_eq!(v["holds_secrets"], true);
    let red = dir.path().join("r.plan");
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        red.to_str().unwrap(),
        "--redact",
    ])
    .assert_ok();
    let v: serde_json::Value =
        serde_json::from_str(&ringload(["inspect", red.to_str().unwrap(), "--json"]).stdout)
            .unwrap();
    assert_eq!(v["holds_secrets"], false);
    assert_eq!(v["redacted"], true);
}

#[test]
fn bad_plan_files_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.txt", "GET http://h/a\n\nGET http://h/b\n");
    let plan = dir.path().join("p.plan");
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
    ])
    .assert_ok();
    let good = std::fs::read(&plan).unwrap();
    let inspect = |name: &str, bytes: &[u8]| {
        let p = write(dir.path(), name, bytes);
        ringload(["inspect", p.to_str().unwrap()])
    };
    inspect("trunc.plan", &good[..good.len() - 3]).assert_bad_input("trunc.plan: truncated");
    let mut magic = good.clone();
    magic[0] = b'Z';
    inspect("magic.plan", &magic).assert_bad_input("not a ringload plan");
    let mut future = good.clone();
    future[8] = 9;
    inspect("future.plan", &future).assert_bad_input("unknown format version 9");
    let mut flipped = good.clone();
    let mid = good.len() / 2;
    flipped[mid] ^= 0xff;
    inspect("flip.plan", &flipped).assert_bad_input("checksum mismatch");
    let mut huge = good.clone();
    huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    inspect("huge.plan", &huge).assert_bad_input("larger than");
    ringload(["inspect", dir.path().join("missing.plan").to_str().unwrap()])
        .assert_bad_input("missing.plan");
}

#[test]
fn malformed_targets_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.plan");
    let t = write(
        dir.path(),
        "bad.txt",
        "GET http://h/a\nX-Ok: 1\nthis is not a header\n",
    );
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
    .assert_bad_input("bad.txt: line 3");
    let t = write(dir.path(), "nobody.txt", "POST http://h/a\n@nope.json\n");
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
    .assert_bad_input("line 2: body file");
    ringload([
        "record",
        "--targets",
        "/nonexistent/t.txt",
        "-o",
        out.to_str().unwrap(),
    ])
    .assert_bad_input("/nonexistent/t.txt");
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--segment",
        "nope",
    ])
    .assert_bad_input("--segment");
    assert!(!out.exists());
}

#[test]
fn usage_errors_exit_2() {
    let r = ringload(["record"]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("panicked"));
    let r = ringload(["frobnicate"]);
    assert_eq!(r.code, 2);
    let h = ringload(["--help"]);
    h.assert_ok();
    assert!(h.stdout.contains("Exit codes"));
}
