//! What this machine allows a run: io_uring (a seccomp profile or sandbox may block it), open
//! files for the connections, and what a failed connect's OS error means. Called explicitly by
//! the caller before a run (the engine never changes process limits on its own).

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
