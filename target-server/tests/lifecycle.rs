//! Start/stop lifecycle: stop() joins every thread (none leaked) even with open
//! connections. Kept in its own test binary so no other test's threads skew the count.

mod common;

use std::time::{Duration, Instant};

use common::{Client, start};
use ringload_target::TargetConfig;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .count()
}

#[test]
fn stop_closes_connections_and_leaks_no_threads() {
    let baseline = thread_count();
    for threads in [1, 2] {
        let server = start(TargetConfig {
            threads,
            ..TargetConfig::default()
        });
        assert!(
            thread_count() > baseline,
            "executors run on their own threads"
        );
        let addr = server.local_addr();
        let mut idle = Client::connect(addr);
        assert_eq!(idle.get("/").status, 200);
        // A connection whose answer is still pending when stop() is called.
        let mut waiting = Client::connect(addr);
        waiting.send(b"GET /?delay=30s HTTP/1.1\r\nHost: t\r\n\r\n");

        let t = Instant::now();
        let stats = server.stop().expect("clean stop");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "stop took {:?}",
            t.elapsed()
        );
        assert_eq!(stats.requests, 1);
        assert_eq!(stats.active_connections, 0);
        assert!(idle.closed_by_server());
        assert!(waiting.closed_by_server());
        assert!(
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "still listening"
        );

        // glommio's helper thread exits right after its executor is dropped; allow a
        // bounded moment for it to be reaped.
        let deadline = Instant::now() + Duration::from_secs(3);
        while thread_count() > baseline && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            thread_count(),
            baseline,
            "threads leaked with threads={threads}"
        );
    }
}
