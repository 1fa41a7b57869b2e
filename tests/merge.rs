//! Sharded runs merged: `run --shard K/N` replays every N-th session, `merge` adds the results
//! up losslessly; bad shards and bad files are refused.

mod util;

use util::{assert_result_schema, ringload, write};

#[test]
fn two_shards_merge_into_one_result() {
    let dir = tempfile::tempdir().unwrap();
    // Four clients, two requests each: four sessions with `--session-by client-ip`.
    let mut log = String::new();
    for ip in 1..=4 {
        for path in ["/api/items", "/api/cart"] {
            log.push_str(&format!(
                "10.0.0.{ip} - - [26/Nov/2026:10:00:0{ip} +0000] \"GET {path} HTTP/1.1\" 200 2 \"-\" \"curl/8\"\n"
            ));
        }
    }
    let log = write(dir.path(), "access.log", log);
    let plan = dir.path().join("p.plan");
    ringload([
        "record",
        "--access-log",
        log.to_str().unwrap(),
        "--session-by",
        "client-ip",
        "-o",
        plan.to_str().unwrap(),
    ])
    .assert_ok();
    let plan = plan.to_str().unwrap();
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    let mut files = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("r{k}.json"));
        ringload([
            "run",
            plan,
            "--target",
            &url,
            "--shard",
            &format!("{k}/2"),
            "-n",
            "300",
            "-c",
            "2",
            "--threads",
            "1",
            "-o",
            out.to_str().unwrap(),
        ])
        .assert_ok();
        files.push(out.to_str().unwrap().to_string());
    }
    let merged = dir.path().join("m.json");
    let html = dir.path().join("m.html");
    let r = ringload([
        "merge",
        &files[0],
        &files[1],
        "-o",
        merged.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    r.assert_ok();
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let m = read(merged.to_str().unwrap());
    assert_result_schema(&m);
    let (a, b) = (read(&files[0]), read(&files[1]));
    let n = |v: &serde_json::Value, k: &str| v["summary"][k].as_u64().unwrap();
    assert_eq!(n(&m, "requests"), 600);
    assert_eq!(n(&m, "ok"), n(&a, "ok") + n(&b, "ok"));
    assert_eq!(m["summary"]["status"]["200"], 600);
    // Both labels, each from both shards.
    let labels = m["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 2, "{labels:?}");
    let total: u64 = labels.iter().map(|g| g["requests"].as_u64().unwrap()).sum();
    assert_eq!(total, 600);
    // Merged percentiles lie within the shards' extremes.
    let p = |v: &serde_json::Value, k: &str| v["summary"]["latency_us"][k].as_u64().unwrap();
    assert!(p(&m, "max") == p(&a, "max").max(p(&b, "max")));
    assert!(p(&m, "p50") >= p(&a, "p50").min(p(&b, "p50")));
    assert!(p(&m, "p50") <= p(&a, "p50").max(p(&b, "p50")));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    assert!(r.stdout.contains("total"), "{}", r.stdout);

    // A shard that gets no session, a bad shard spec, a file that is not a result.
    let run_shard = |s: &str| {
        ringload([
            "run",
            plan,
            "--target",
            &url,
            "--shard",
            s,
            "-n",
            "1",
            "-c",
            "1",
            "--threads",
            "1",
        ])
    };
    run_shard("5/8").assert_bad_input("gets none");
    run_shard("2/2").assert_bad_input("0 <= K < N");
    run_shard("x").assert_bad_input("K/N");
    let junk = write(dir.path(), "junk.json", "{\"format\": \"x\"}");
    ringload(["merge", &files[0], junk.to_str().unwrap()]).assert_bad_input("junk.json");
}
