//! Blocking shutdown paths: a StopTrigger from another thread, and SIGTERM delivered to
//! the process while `wait_for_shutdown` has its handlers installed. Signals are
//! process-wide, so these live in their own binary and run one after the other.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Client, start_default};

static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn stop_trigger_ends_wait_for_shutdown() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = start_default();
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.get("/").status, 200);
    let trigger = server.stop_trigger();
    let t = Instant::now();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        trigger.trigger();
    });
    let stats = server.wait_for_shutdown().expect("clean shutdown");
    killer.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(stats.requests, 1);
}

fn sigterm_handler_installed() -> bool {
    // SAFETY: querying the current action only.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut old);
        old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN
    }
}

#[test]
fn sigterm_ends_wait_for_shutdown_and_restores_handler() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(!sigterm_handler_installed());
    let server = start_default();
    let sender = std::thread::spawn(|| {
        // Only signal once the handler is in place, or the default action would kill us.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sigterm_handler_installed() {
            assert!(Instant::now() < deadline, "handler never installed");
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: sending a signal to our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    });
    server.wait_for_shutdown().expect("clean shutdown");
    sender.join().unwrap();
    assert!(
        !sigterm_handler_installed(),
        "previous SIGTERM action restored"
    );
}
