//! Sharded runs merged: `run --shard K/N` replays every N-th session, `merge` adds the results
//! up losslessly; bad shards and bad files are refused.

mod util;

use util::{assert_result_schema, read_json, ringload, write};

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
    // Two workers at the same time, each on its shard.
    let shard_run = |k: usize, extra: &[&str]| {
        let out = dir.path().join(format!("r{k}.json"));
        let mut args: Vec<String> = [
            "run",
            plan,
            "--target",
            &url,
            "-c",
            "2",
            "--threads",
            "1",
            "-o",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(["--shard".into(), format!("{k}/2")]);
        args.extend(extra.iter().map(|s| s.to_string()));
        (args, out.to_str().unwrap().to_string())
    };
    let workers: Vec<_> = (0..2)
        .map(|k| {
            let (args, out) = shard_run(k, &["-d", "1s"]);
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_ringload"))
                .args(&args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let mut files = Vec::new();
    for (mut child, out) in workers {
        assert!(child.wait().unwrap().success());
        files.push(out);
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
    let m = read_json(&merged);
    assert_result_schema(&m);
    let (a, b) = (read_json(&files[0]), read_json(&files[1]));
    // Every worker's provenance, in the order the files were given.
    assert_eq!(m["provenance"][0], a["provenance"][0]);
    assert_eq!(m["provenance"][1], b["provenance"][0]);
    assert_eq!(m["provenance"].as_array().unwrap().len(), 2);
    assert_eq!(a["provenance"][0]["command"][11], "--shard");
    assert_eq!(a["provenance"][0]["command"][12], "0/2");
    let n = |v: &serde_json::Value, k: &str| v["summary"][k].as_u64().unwrap();
    let total = n(&a, "requests") + n(&b, "requests");
    assert!(total > 100, "{total}");
    assert_eq!(n(&m, "requests"), total);
    assert_eq!(n(&m, "ok"), n(&a, "ok") + n(&b, "ok"));
    assert_eq!(m["summary"]["status"]["200"], total);
    // Both labels, each from both shards.
    let labels = m["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 2, "{labels:?}");
    let by_label: u64 = labels.iter().map(|g| g["requests"].as_u64().unwrap()).sum();
    assert_eq!(by_label, total);
    // Each label came from both shards (each shard replays both paths).
    for g in labels {
        let one = |v: &serde_json::Value| {
            v["labels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["label"] == g["label"])
                .map_or(0, |x| x["requests"].as_u64().unwrap())
        };
        assert_eq!(g["requests"].as_u64().unwrap(), one(&a) + one(&b));
    }
    // Merged percentiles lie within the shards' extremes.
    let p = |v: &serde_json::Value, k: &str| v["summary"]["latency_us"][k].as_u64().unwrap();
    assert!(p(&m, "max") == p(&a, "max").max(p(&b, "max")));
    assert!(p(&m, "p50") >= p(&a, "p50").min(p(&b, "p50")));
    assert!(p(&m, "p50") <= p(&a, "p50").max(p(&b, "p50")));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    assert!(r.stdout.contains("total"), "{}", r.stdout);

    // The same shards one after the other: not concurrent workers, so the merge is invalid.
    for k in 0..2 {
        let (args, _) = shard_run(k, &["-n", "200"]);
        ringload(&args).assert_ok();
    }
    let r = ringload(
        [&files[0], &files[1]]
            .iter()
            .fold(vec!["merge".to_string()], |mut v, f| {
                v.push(f.to_string());
                v
            }),
    );
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("did not run at the same time"),
        "{}",
        r.stdout
    );

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
