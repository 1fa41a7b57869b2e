//! What a thread-per-core io_uring process needs from the machine it runs on, shared by the
//! engine (one executor per CPU, each with a private ring), the target server and the proxy:
//!
//! ```text
//! allowed_cpus()        the affinity mask (taskset, cgroup cpusets): where executors may go
//! check_io_uring()      one probe before any executor: a blocked io_uring explained (seccomp
//!                       profiles of Docker/containerd/Kubernetes, gVisor, sysctl, memlock)
//! raise_open_files(n)   soft NOFILE limit to the hard one, or why n connections cannot open
//! executor(...)         a glommio executor builder pinned where asked, and executor_error()
//!                       naming io_memory against the locked-memory limit when it fails
//! facts()               the kernel, CPU model and counts a result records (its provenance)
//! serve::Frame          the servers' listener frame (target and proxy): bind, N executors
//!                       sharing the socket with a per-connection handler, wait, StopTrigger
//! ```
//! Nothing here changes process state on its own: callers decide when (the CLI before a run).

use std::io;

mod facts;
pub mod serve;
pub use facts::{Facts, facts};

use glommio::{LocalExecutorBuilder, Placement};

/// The CPUs this process may run on (its affinity mask, which `taskset` sets); empty when
/// the mask cannot be read.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills the set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Can this process create an io_uring (`with_flags`: with `SINGLE_ISSUER | DEFER_TASKRUN`,
/// as the engine's rings are; without, as glommio's are)? Checked once before executors start, so that a blocked io_uring
/// is reported with its likely cause instead of as a failed executor.
pub fn check_io_uring(with_flags: bool) -> Result<(), String> {
    // On a thread of its own: tearing a ring down queues kernel task work on the thread that
    // made it, which interrupts that thread's next blocking call with a timeout (EINTR).
    let probe = move || {
        let mut b: io_uring::Builder = io_uring::IoUring::builder();
        if with_flags {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        b.build(8).map(drop).map_err(|e| ring_error(&e, with_flags))
    };
    std::thread::Builder::new()
        .name("ringload-probe".into())
        .spawn(probe)
        .map_err(|e| format!("cannot start a thread: {e}"))?
        .join()
        .unwrap_or_else(|_| Err("the io_uring probe failed".into()))
}

/// What a failed `io_uring_setup` most likely means, and what to do about it.
pub fn ring_error(e: &io::Error, with_flags: bool) -> String {
    match e.raw_os_error() {
        Some(libc::ENOMEM) => format!(
            "{e}: the locked-memory limit is too low (raise `ulimit -l`, currently {}; in \
             Kubernetes add the IPC_LOCK capability)",
            memlock_limit()
        ),
        Some(libc::EPERM) => format!(
            "{e}: io_uring is not allowed here: a seccomp profile blocks it (Docker's and \
             containerd's default profiles do: run with `--security-opt seccomp=unconfined` or a \
             profile allowing io_uring_setup/io_uring_enter/io_uring_register; in Kubernetes \
             `securityContext.seccompProfile.type: Unconfined` or a Localhost profile), or \
             `sysctl kernel.io_uring_disabled` is set (it must be 0, or 1 with the caller in \
             `kernel.io_uring_group`); the locked-memory limit is {}",
            memlock_limit()
        ),
        Some(libc::ENOSYS) => format!(
            "{e}: io_uring is not available: the kernel lacks it (Linux 6.1 or newer needed) or a \
             sandbox hides it (gVisor does not implement it: use runc)"
        ),
        Some(libc::EINVAL) if with_flags => format!(
            "{e}: the kernel lacks IORING_SETUP_SINGLE_ISSUER/DEFER_TASKRUN (Linux 6.1 or newer needed)"
        ),
        _ => e.to_string(),
    }
}

/// The RLIMIT_MEMLOCK soft limit, for error messages.
pub fn memlock_limit() -> String {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } != 0 {
        return "unknown".into();
    }
    if r.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        format!("{} KiB", r.rlim_cur / 1024)
    }
}

/// A glommio executor builder named `name`, on `cpu` (or wherever the affinity mask allows
/// when `None`), registering `io_memory` bytes for io_uring.
pub fn executor(name: &str, cpu: Option<usize>, io_memory: usize) -> LocalExecutorBuilder {
    let placement = match cpu {
        Some(c) => Placement::Fixed(c),
        None => Placement::Unbound,
    };
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(io_memory)
}

/// Why an executor could not start, with what usually causes it: its registered io_memory
/// against the locked-memory limit.
pub fn executor_error(reason: impl std::fmt::Display, io_memory: usize) -> String {
    format!(
        "{reason} (io_memory {} KiB per executor; locked-memory limit {}: raise `ulimit -l`, in \
         Kubernetes add the IPC_LOCK capability, or lower io_memory)",
        io_memory >> 10,
        memlock_limit()
    )
}

/// Open files a run needs besides its connections (rings, event fds, the plan, outputs).
const SPARE_FILES: u64 = 64;

/// Raise the soft open-files limit to the hard one; `Err` (with the numbers and the fix) when
/// `connections` still cannot all be opened.
pub fn raise_open_files(connections: usize) -> Result<(), String> {
    let need = connections as u64 + SPARE_FILES;
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return Ok(());
        }
        if r.rlim_cur < r.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
    }
    if r.rlim_cur != libc::RLIM_INFINITY && need > r.rlim_cur {
        return Err(format!(
            "--connections {connections} needs about {need} open files, but this process may \
             open {} (its hard limit): raise the limit (`ulimit -n`, systemd LimitNOFILE=, \
             `docker run --ulimit nofile=65536:65536`) or use fewer connections",
            r.rlim_cur
        ));
    }
    Ok(())
}

/// What a connect error usually means and what to do, for the errors users meet at scale.
pub fn connect_hint(errno: i32) -> Option<&'static str> {
    match errno {
        libc::EMFILE | libc::ENFILE => Some(
            "out of file descriptors: raise the open-files limit (`ulimit -n`) or use fewer \
             connections",
        ),
        libc::EADDRNOTAVAIL => Some(
            "out of local ports for this target address: spread connections over more local \
             addresses with --source-ip (e.g. 127.0.0.1-127.0.0.8 on loopback) or widen \
             net.ipv4.ip_local_port_range",
        ),
        libc::ECONNREFUSED => Some("nothing listens there: is the target up?"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_explained() {
        let e = executor_error("Cannot allocate memory", 256 << 10);
        assert!(
            e.contains("io_memory 256 KiB") && e.contains("ulimit -l"),
            "{e}"
        );
        let eperm = ring_error(&io::Error::from_raw_os_error(libc::EPERM), true);
        assert!(
            eperm.contains("seccomp") && eperm.contains("Unconfined"),
            "{eperm}"
        );
        let enosys = ring_error(&io::Error::from_raw_os_error(libc::ENOSYS), false);
        assert!(enosys.contains("gVisor"), "{enosys}");
        let emfile = connect_hint(libc::EMFILE).unwrap();
        assert!(emfile.contains("ulimit -n"));
    }

    #[test]
    fn this_process_has_cpus_and_io_uring() {
        assert!(!allowed_cpus().is_empty());
        // The test machines allow io_uring (the tests of the engine need it anyway).
        check_io_uring(true).unwrap();
    }
}
