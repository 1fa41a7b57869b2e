//! Plan compactness and codec speed: 1,000,000 steps drawn from 1,000 distinct requests.
//! Target: <= 16 bytes per step on disk, encode and decode < 1 s each (release).
//! Run: `cargo bench --bench plan_codec`.

use std::time::Instant;

use ringload_formats::{Metadata, PlanBuilder, Request, Session, Step, read_plan, write_plan};

fn main() {
    let mut b = PlanBuilder::new(Metadata {
        tool_version: "bench".into(),
        source_kind: "synthetic".into(),
        ..Metadata::default()
    });
    let labels: Vec<u32> = (0..50)
        .map(|i| b.label(&format!("GET /api/v1/r{i}/:id")))
        .collect();
    let canary = b.segment("canary");
    let ids: Vec<u32> = (0..1000u32)
        .map(|i| {
            b.request(Request {
                method: if i % 10 == 0 { "POST" } else { "GET" }.into(),
                target: format!("/api/v1/r{}/SKU-{}?page={}", i % 50, 100_000 + i, i % 7).into(),
                headers: vec![
                    ("accept".into(), "application/json".into()),
                    ("x-request-source".into(), "ringload".into()),
                    (
                        "x-user-segment".into(),
                        if i % 5 == 0 { "beta-testers" } else { "all" }.into(),
                    ),
                ],
                body: if i % 10 == 0 {
                    format!("{{\"sku\":{i},\"qty\":1}}").into_bytes().into()
                } else {
                    Default::default()
                },
                label: labels[(i % 50) as usize],
                segment: (i % 5 == 0).then_some(canary),
                ..Request::default()
            })
        })
        .collect();
    // 2,000 sessions of 500 steps; a cheap LCG picks requests and think times.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    for s in 0..2000u64 {
        let mut t = next() % 1_000_000;
        let steps = (0..500)
            .map(|_| {
                t += next() % 20_000;
                Step {
                    request: ids[(next() % 1000) as usize],
                    offset_us: t,
                    connection: s,
                }
            })
            .collect();
        b.session(Session { steps });
    }
    let plan = b.finish();
    let steps = plan.step_count();

    let t0 = Instant::now();
    let mut bytes = Vec::with_capacity(16 << 20);
    write_plan(&mut bytes, &plan).unwrap();
    let enc = t0.elapsed();
    let t0 = Instant::now();
    let back = read_plan(&bytes[..]).unwrap();
    let dec = t0.elapsed();
    assert_eq!(back.step_count(), steps);
    let per_step = bytes.len() as f64 / steps as f64;
    println!(
        "plan_codec: {steps} steps, {} distinct requests: {} bytes = {per_step:.2} bytes/step (target <= 16); encode {:.0} ms, decode {:.0} ms (target < 1000 each)",
        back.requests.len(),
        bytes.len(),
        enc.as_secs_f64() * 1e3,
        dec.as_secs_f64() * 1e3
    );
}
