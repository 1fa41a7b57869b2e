//! `merge` holds memory in proportion to what it merges, not to the number of files: 20 results
//! of 10,000 label groups each merge under 512 MB, or are refused naming the budget.

mod util;

use util::{ringload_rss, write};

/// A real result (`demo -o`) grown to `groups` label groups (plus its 2 segments), named
/// `{prefix} GET /api/{i}`.
fn result_with_groups(prefix: &str, groups: usize) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../fuzz/seeds/result/demo-3s.json")).unwrap();
    let template = v["labels"][1].clone();
    let labels: Vec<serde_json::Value> = (0..groups - 2)
        .map(|i| {
            let mut g = template.clone();
            g["label"] = format!("{prefix} GET /api/{i}").into();
            g
        })
        .collect();
    v["labels"] = labels.into();
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn twenty_results_of_ten_thousand_groups_merge_under_512_mb_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The same 10,000 groups in every file (20 workers of one plan): merged.
    let same = write(dir.path(), "same.json", result_with_groups("same", 10_000));
    let same = same.to_str().unwrap();
    let out = dir.path().join("merged.json");
    let mut args = vec!["merge", "-o", out.to_str().unwrap()];
    args.extend(std::iter::repeat_n(same, 20));
    let started = std::time::Instant::now();
    let (r, rss_kib) = ringload_rss(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    eprintln!(
        "20 x 10,000 groups: peak RSS {} MiB in {:.1}s",
        rss_kib >> 10,
        started.elapsed().as_secs_f64()
    );
    assert!(rss_kib < 512 << 10, "peak RSS {} MiB", rss_kib >> 10);
    let merged = util::read_json(&out);
    assert_eq!(merged["labels"].as_array().unwrap().len(), 9_998);
    let one: serde_json::Value = serde_json::from_slice(&std::fs::read(same).unwrap()).unwrap();
    assert_eq!(
        merged["labels"][7]["requests"].as_u64().unwrap(),
        20 * one["labels"][7]["requests"].as_u64().unwrap()
    );
    // 10,000 different groups in each file: refused, naming the budget, within bounded memory.
    let files: Vec<String> = (0..20)
        .map(|k| {
            let p = write(
                dir.path(),
                &format!("w{k}.json"),
                result_with_groups(&format!("w{k}"), 10_000),
            );
            p.to_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec!["merge".to_string()];
    args.extend(files);
    let (r, rss_kib) = ringload_rss(&args);
    r.assert_bad_input("the merge budget");
    eprintln!(
        "20 x 10,000 distinct groups: {} ({} MiB)",
        r.stderr.trim(),
        rss_kib >> 10
    );
    assert!(rss_kib < 512 << 10, "peak RSS {} MiB", rss_kib >> 10);
}
