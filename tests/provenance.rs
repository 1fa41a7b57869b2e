//! Provenance in every result (#16): the plan file's SHA-256 (as `sha256sum` prints it) and
//! tags, the command line with its secrets masked, this machine, the target and the start;
//! `compare` keeps both sides' and `merge` every worker's (tests/merge.rs).

mod util;

use util::{assert_compare_schema, assert_result_schema, read_json, ringload, write};

/// `sha256sum FILE`'s digest: an implementation other than ours.
fn sha256sum(path: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils)");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn a_run_names_its_plan_command_machine_and_start_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let targets = write(dir.path(), "t.txt", "GET http://x/api/items\n");
    let plan = dir.path().join("p.plan");
    let plan = plan.to_str().unwrap();
    ringload([
        "record",
        "--targets",
        targets.to_str().unwrap(),
        "--tag",
        "mesh=istio",
        "--tag",
        "env=staging",
        "-o",
        plan,
    ])
    .assert_ok();
    let sum = sha256sum(plan);
    let inspect = ringload(["inspect", plan]);
    inspect.assert_ok();
    assert!(
        inspect.stdout.contains(&format!("sha256      {sum}\n")),
        "{}",
        inspect.stdout
    );
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    let out = dir.path().join("r.json");
    let before = now_ms();
    let r = ringload([
        "run",
        plan,
        "--target",
        &url,
        "-H",
        "Authorization: Bearer s3cr3t-token",
        "--header=X-Api-Key: k3y-s3cr3t",
        "-H",
        "x-user-segment: beta-testers",
        "-n",
        "200",
        "-c",
        "2",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("s3cr3t"), "a secret reached the result");
    assert!(!r.stdout.contains("s3cr3t"), "{}", r.stdout);
    let v = read_json(&out);
    assert_result_schema(&v);
    let p = v["provenance"].as_array().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    let p = &p[0];
    assert_eq!(p["plan_sha256"], sum.as_str());
    assert_eq!(
        p["plan_tags"],
        serde_json::json!({"mesh": "istio", "env": "staging"})
    );
    assert_eq!(p["target"], url.as_str());
    assert_eq!(p["tool_version"], env!("CARGO_PKG_VERSION"));
    let command: Vec<&str> = p["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        command[1..],
        [
            "run",
            plan,
            "--target",
            &url,
            "-H",
            "Authorization: REDACTED",
            "--header=X-Api-Key: REDACTED",
            "-H",
            "x-user-segment: beta-testers",
            "-n",
            "200",
            "-c",
            "2",
            "--threads",
            "1",
            "-o",
            out.to_str().unwrap(),
        ]
    );
    assert!(command[0].ends_with("ringload"), "{command:?}");
    let started = p["started_at_unix_ms"].as_u64().unwrap();
    assert!((before..=now_ms()).contains(&started), "{started}");
    assert_eq!(p["started_at_unix_ms"], v["run"]["started_at_unix_ms"]);
    assert!(p["kernel"].as_str().unwrap().starts_with("Linux "), "{p}");
    assert!(!p["host"].as_str().unwrap().is_empty(), "{p}");
    assert!(!p["cpu_model"].as_str().unwrap().is_empty(), "{p}");
    let (cpus, allowed) = (
        p["cpus"].as_u64().unwrap(),
        p["cpus_allowed"].as_u64().unwrap(),
    );
    assert!(cpus >= 1 && (1..=cpus).contains(&allowed), "{p}");
    // The table says where it came from; the saved result re-rendered says the same.
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("provenance: ringload "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(
        line.contains(&sum[..16]) && line.contains("tags env=staging,mesh=istio"),
        "{line}"
    );
    let again = ringload(["report", out.to_str().unwrap()]);
    again.assert_ok();
    assert!(again.stdout.contains(line), "{}", again.stdout);
    let html = dir.path().join("r.html");
    ringload([
        "report",
        out.to_str().unwrap(),
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
    ])
    .assert_ok();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<h2>Provenance</h2>") && page.contains(&sum),
        "provenance table"
    );
}

#[test]
fn quick_mode_has_no_plan_file_and_masks_the_urls_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!(
        "http://{}/api/items?api_key=k3y-s3cr3t&page=2",
        t.local_addr()
    );
    let out = dir.path().join("q.json");
    let r = ringload([
        "run",
        &url,
        "-n",
        "50",
        "-c",
        "1",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("k3y-s3cr3t"), "a secret reached the result");
    assert!(!r.stdout.contains("k3y-s3cr3t"), "{}", r.stdout);
    let v = read_json(&out);
    assert_result_schema(&v);
    let p = &v["provenance"][0];
    assert!(p.get("plan_sha256").is_none(), "{p}");
    assert!(p.get("plan_tags").is_none(), "{p}");
    let masked = url.replace("k3y-s3cr3t", "REDACTED");
    assert_eq!(p["command"][2], masked.as_str());
    assert_eq!(v["plan"], masked.as_str());
}

#[test]
fn each_side_of_a_comparison_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let plan = util::targets_plan(dir.path(), "GET http://x/api/items");
    let sum = sha256sum(&plan);
    let (a, b) = (
        ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap(),
        ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap(),
    );
    let (base, cand) = (
        format!("http://{}", a.local_addr()),
        format!("http://{}", b.local_addr()),
    );
    let out = dir.path().join("c.json");
    let r = ringload([
        "compare",
        &plan,
        "--baseline",
        &base,
        "--candidate",
        &cand,
        "--rounds",
        "2",
        "-n",
        "100",
        "-c",
        "1",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    r.assert_ok();
    let v = read_json(&out);
    assert_compare_schema(&v);
    for (side, target) in [("baseline", &base), ("candidate", &cand)] {
        let p = v[side]["provenance"].as_array().unwrap();
        assert_eq!(p.len(), 1, "{side}: {p:?}");
        assert_eq!(p[0]["target"], target.as_str(), "{side}");
        assert_eq!(p[0]["plan_sha256"], sum.as_str(), "{side}");
        assert_eq!(p[0]["command"][1], "compare", "{side}");
    }
    assert_eq!(
        r.stdout.matches("provenance: ringload ").count(),
        2,
        "{}",
        r.stdout
    );
}
