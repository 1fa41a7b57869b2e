//! A memlock limit too small for io_uring must give a clear error, not a panic. Own
//! binary: it lowers this process's RLIMIT_MEMLOCK.

use ringload_target::{TargetConfig, TargetError};

#[test]
fn tiny_memlock_limit_is_a_clear_error() {
    // SAFETY: plain getrlimit/setrlimit on our own process.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim), 0);
        lim.rlim_cur = 64 * 1024;
        assert_eq!(libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim), 0);
    }
    let err = ringload_target::spawn(TargetConfig::default()).expect_err("executor cannot start");
    assert!(
        matches!(err, TargetError::Executor { index: 0, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("ulimit -l") && msg.contains("64 KiB"), "{msg}");
}
