//! `--html`: one self-contained page, with everything a plan holds escaped.

mod util;

use util::ringload;

#[test]
fn the_html_report_is_self_contained_and_escapes_what_plans_hold() {
    let dir = tempfile::tempdir().unwrap();
    // A recorded path that would run as a script if pasted into the page unescaped.
    let p = util::targets_plan(dir.path(), "GET http://x/<script>alert(1)</script>");
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let html = dir.path().join("r.html");
    ringload([
        "run",
        &p,
        "--target",
        &format!("http://{}", t.local_addr()),
        "-c",
        "2",
        "--threads",
        "1",
        "-d",
        "1200ms",
        "--html",
        html.to_str().unwrap(),
    ])
    .assert_ok();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "label escaped"
    );
    assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
    // Percentiles, the percentile spectrum, requests per second and latency per second; no
    // failures, so no failures chart but a line saying so.
    assert_eq!(page.matches("<svg").count(), 4);
    assert!(page.contains("Percentile spectrum per label"));
    assert!(page.contains("by error class: no failures"));
    // The page's totals are the run's.
    assert!(page.contains("requests "), "{page}");
    let bad = ringload([
        "run",
        &p,
        "--target",
        &format!("http://{}", t.local_addr()),
        "-n",
        "5",
        "--threads",
        "1",
        "-c",
        "1",
        "--html",
        dir.path().join("missing/dir/r.html").to_str().unwrap(),
    ]);
    // Refused before the load (exit 2), not after it (see tests/output_paths.rs).
    bad.assert_bad_input("missing/dir/r.html");
}
