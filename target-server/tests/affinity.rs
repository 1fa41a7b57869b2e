//! Executor placement respects the process's CPU affinity (taskset): unpinned executors
//! inherit it, pinned ones get one CPU each from it. Own binary: it inspects all threads.

mod common;

use common::start;
use ringload_target::TargetConfig;

/// `Cpus_allowed_list` of every executor thread (comm is truncated to 15 characters).
/// glommio's per-executor helper threads inherit the name and the placement, so they
/// are included.
fn executor_cpu_lists() -> Vec<String> {
    let mut lists = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "ringload-target" {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(line) = status.lines().find(|l| l.starts_with("Cpus_allowed_list:")) {
            lists.push(line["Cpus_allowed_list:".len()..].trim().to_owned());
        }
    }
    lists
}

fn own_cpu_list() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    line["Cpus_allowed_list:".len()..].trim().to_owned()
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a plain-data cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[test]
fn executors_stay_within_the_allowed_cpus() {
    let unpinned = start(TargetConfig {
        threads: 2,
        ..TargetConfig::default()
    });
    let lists = executor_cpu_lists();
    assert!(lists.len() >= 2, "{lists:?}");
    assert!(
        lists.iter().all(|l| *l == own_cpu_list()),
        "{lists:?} vs {}",
        own_cpu_list()
    );
    unpinned.stop().unwrap();
    // glommio's per-executor helper threads exit just after their executor, unjoined: wait
    // (bounded) until the unpinned ones are gone, or they would be counted below.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !executor_cpu_lists().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        executor_cpu_lists().is_empty(),
        "unpinned executor threads still running"
    );

    let allowed = allowed_cpus();
    let pinned = start(TargetConfig {
        threads: 2,
        pin_cpus: true,
        ..TargetConfig::default()
    });
    // Each thread pins itself once running (glommio's helper threads a little after their
    // executor is ready): wait, bounded, until every one is on a single CPU.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut lists = executor_cpu_lists();
    while lists.iter().any(|l| l.parse::<usize>().is_err()) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
        lists = executor_cpu_lists();
    }
    assert!(lists.len() >= 2, "{lists:?}");
    for l in &lists {
        let cpu: usize = l
            .parse()
            .unwrap_or_else(|_| panic!("pinned executor on {l}, not one CPU"));
        assert!(
            allowed.contains(&cpu),
            "CPU {cpu} is outside the allowed set {allowed:?}"
        );
    }
    pinned.stop().unwrap();
}
