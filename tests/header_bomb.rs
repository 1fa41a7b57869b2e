//! A plan whose few long strings are named many times (the header bomb of issue #12: 1 MiB
//! strings as the name and value of 100 headers) costs memory once per distinct string, not
//! once per use: `inspect` and `run` stay under 64 MB, or `run` refuses the plan naming it.

mod util;

use ringload_formats::{Metadata, PlanBuilder, Request, Session, Step, Text, write_plan};
use util::{ringload, ringload_rss};

/// Three requests, each with its own 1 MiB string as the name and value of 100 headers: a
/// 3.1 MB plan whose requests would be 600 MiB written out.
fn header_bomb(path: &std::path::Path) {
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /bomb");
    let mut steps = Vec::new();
    for i in 0..3u8 {
        let big: Text = String::from(char::from(b'a' + i)).repeat(1 << 20).into();
        let id = b.request(Request {
            method: "GET".into(),
            target: format!("/bomb/{i}").into(),
            headers: (0..100).map(|_| (big.clone(), big.clone())).collect(),
            label,
            ..Request::default()
        });
        steps.push(Step {
            request: id,
            offset_us: u64::from(i),
            connection: 0,
        });
    }
    b.session(Session { steps });
    write_plan(std::fs::File::create(path).unwrap(), &b.finish()).unwrap();
}

const LIMIT_KIB: u64 = 64 << 10;

#[test]
fn inspecting_the_header_bomb_stays_under_64_mb() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("bomb.plan");
    header_bomb(&plan);
    let size = std::fs::metadata(&plan).unwrap().len();
    assert!((3_000_000..3_300_000).contains(&size), "{size} bytes");
    for json in [false, true] {
        let mut args = vec!["inspect", plan.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let (r, rss) = ringload_rss(&args);
        r.assert_ok();
        eprintln!(
            "inspect{}: peak RSS {} KiB",
            if json { " --json" } else { "" },
            rss
        );
        assert!(rss < LIMIT_KIB, "inspect took {} MiB", rss >> 10);
    }
}

#[test]
fn running_the_header_bomb_stays_under_64_mb_or_is_refused_naming_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("bomb.plan");
    header_bomb(&plan);
    let plan = plan.to_str().unwrap();
    let t = ringload_target::spawn(ringload_target::TargetConfig::default()).unwrap();
    let url = format!("http://{}", t.local_addr());
    let (r, rss) = ringload_rss([
        "run", plan, "--target", &url, "-n", "5", "-c", "1", "-t", "1",
    ]);
    eprintln!(
        "run -n 5: exit {}, peak RSS {} KiB: {}",
        r.code,
        rss,
        r.stderr.trim()
    );
    assert!(rss < LIMIT_KIB, "run took {} MiB", rss >> 10);
    match r.code {
        0 => {}
        2 => {
            // One line naming the plan file, the request and the budget.
            r.assert_bad_input(plan);
            assert!(r.stderr.contains("request 0"), "{}", r.stderr);
            assert!(r.stderr.contains("budget"), "{}", r.stderr);
        }
        c => panic!("exit {c}: {}", r.stderr),
    }
    // Nothing else changed: the plan still inspects.
    ringload(["inspect", plan]).assert_ok();
}
