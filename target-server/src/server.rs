//! The target server on [`ringload_host::serve`]'s listener frame (binding, one glommio
//! executor per thread sharing the listening socket, readiness hand-shake, stop): its
//! per-executor context, per-connection accounting, and signal waiting.
//!
//! Each executor builds an `ExecutorCtx` on its own thread; the frame's accept loop hands
//! every connection to `conn::accept`, counted as open for as long as it lives. To stop, the
//! [`StopTrigger`] (the frame's) shuts the listener and the executors' control sockets down:
//! they stop accepting, end their connections and return, and the handle joins them.
//! [`TargetHandle::wait_for_shutdown`] waits on the frame's wake pipe, which the SIGINT/SIGTERM
//! handlers installed here write to.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use ringload_host::serve::{Executors, Frame, ServeError, Serving};

use crate::conn::ExecutorCtx;
use crate::shop::{Shop, ShopStats};
use crate::stall::StallSchedule;
use crate::stats::{Counters, Stats};
use crate::{TargetConfig, TargetError};

/// Asks a running server to stop from any thread; cheap to clone.
///
/// Wakes [`TargetHandle::wait_for_shutdown`] and stops the executors; the owner of the
/// handle still calls [`TargetHandle::stop`] to join the threads and collect stats.
pub use ringload_host::serve::StopTrigger;

/// A running target server. Dropping it stops the server too (ignoring errors).
#[derive(Debug)]
pub struct TargetHandle {
    counters: Arc<Counters>,
    shop: Option<Arc<Shop>>,
    serving: Serving,
    io_memory: usize,
}

impl TargetHandle {
    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The shop's counters so far (`None` without [`crate::TargetConfig::shop`]).
    pub fn shop_stats(&self) -> Option<ShopStats> {
        self.shop.as_ref().map(|s| s.stats())
    }

    /// A handle other threads can use to request shutdown.
    pub fn stop_trigger(&self) -> StopTrigger {
        self.serving.stop_trigger()
    }

    /// Stops accepting, closes all connections, joins every executor thread and returns
    /// the final counters.
    pub fn stop(mut self) -> Result<Stats, TargetError> {
        self.serving
            .stop()
            .map_err(|e| target_error(e, self.io_memory))?;
        Ok(self.counters.snapshot())
    }

    /// Blocks until SIGINT/SIGTERM arrives or a [`StopTrigger`] fires, then stops the
    /// server like [`stop`](Self::stop). Installs the signal handlers only for the
    /// duration of the call; only one waiter per process at a time.
    pub fn wait_for_shutdown(self) -> Result<Stats, TargetError> {
        let trigger = self.serving.stop_trigger();
        let guard = SignalGuard::install(trigger.as_fd().as_raw_fd())?;
        let waited = self.serving.wait(None);
        drop(guard);
        waited.map_err(|e| TargetError::Setup {
            what: "waiting for a shutdown signal",
            source: e,
        })?;
        self.stop()
    }
}

/// Binds, starts `cfg.threads` executors and returns once all of them are serving.
pub(crate) fn spawn(cfg: &TargetConfig) -> Result<TargetHandle, TargetError> {
    let frame = Frame::bind(cfg.listen).map_err(|e| target_error(e, cfg.io_memory))?;
    let counters = Arc::new(Counters::new());
    let shop = cfg
        .shop
        .clone()
        .map(|c| Arc::new(Shop::new(c, &mut StdRng::from_entropy())));
    let tls = match &cfg.tls {
        Some(t) => Some(futures_rustls::TlsAcceptor::from(
            crate::tls::server_config(t).map_err(TargetError::Tls)?,
        )),
        None => None,
    };
    let stall = StallSchedule::new(Instant::now(), cfg.stall_every, cfg.stall_for);
    // A blocked io_uring (seccomp, gVisor, sysctl) explained once, before any executor.
    ringload_host::check_io_uring(false).map_err(TargetError::Unavailable)?;
    let executors = Executors {
        name: "ringload-target",
        threads: cfg.threads,
        io_memory: cfg.io_memory,
        pin: match cfg.pin_cpus {
            true => ringload_host::allowed_cpus(),
            false => Vec::new(),
        },
    };
    let max_head = cfg.max_head_bytes;
    let make = |_| {
        let (counters, shop, tls) = (counters.clone(), shop.clone(), tls.clone());
        move || ExecutorCtx {
            counters,
            stall,
            rng: RefCell::new(StdRng::from_entropy()),
            max_head,
            shop,
            tls,
        }
    };
    let serving = frame
        .spawn(&executors, make, serve_connection)
        .map_err(|e| target_error(e, cfg.io_memory))?;
    Ok(TargetHandle {
        counters,
        shop,
        serving,
        io_memory: cfg.io_memory,
    })
}

/// One accepted connection, counted as open for as long as it lives.
async fn serve_connection(stream: glommio::net::TcpStream, ctx: Rc<ExecutorCtx>) {
    let _open = OpenConnection::new(&ctx.counters);
    crate::conn::accept(stream, ctx.clone()).await;
}

/// Counts a connection as active for as long as it lives.
struct OpenConnection<'a>(&'a Counters);

impl<'a> OpenConnection<'a> {
    fn new(c: &'a Counters) -> Self {
        c.connection_opened();
        OpenConnection(c)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

/// The frame's error as the target's; a failed start names io_memory against the
/// locked-memory limit.
fn target_error(e: ServeError, io_memory: usize) -> TargetError {
    match e {
        ServeError::Bind { addr, source } => TargetError::Bind { addr, source },
        ServeError::Executor { index, reason } => TargetError::Executor {
            index,
            reason: ringload_host::executor_error(reason, io_memory),
        },
        ServeError::ExecutorFailed { index, reason } => {
            TargetError::ExecutorFailed { index, reason }
        }
        ServeError::Setup { what, source } => TargetError::Setup { what, source },
        // ServeError is non_exhaustive; whatever it adds is a setup failure here.
        other => TargetError::Setup {
            what: "serving",
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// Where the signal handler writes; -1 when no waiter is installed.
static SIGNAL_WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// The first stopping signal received (0: none): the CLI exits with 128 + it.
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signal that stopped the server, if one did (SIGINT = 2, SIGTERM = 15).
pub fn stopped_by_signal() -> Option<i32> {
    match LAST_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // A second signal while stopping: leave at once.
    if LAST_SIGNAL.swap(sig, Ordering::SeqCst) != 0 {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(128 + sig) };
    }
    let fd = SIGNAL_WAKE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the fd outlives the installed handler.
        let _ = unsafe { libc::write(fd, b"s".as_ptr().cast(), 1) };
    }
}

/// SIGINT/SIGTERM handlers writing to a wake pipe; restores the previous ones on drop.
struct SignalGuard {
    old: [(libc::c_int, libc::sigaction); 2],
}

impl SignalGuard {
    fn install(wake_fd: i32) -> Result<SignalGuard, TargetError> {
        if SIGNAL_WAKE_FD
            .compare_exchange(-1, wake_fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(TargetError::Setup {
                what: "installing signal handlers",
                source: std::io::Error::other(
                    "another target server is already waiting for signals",
                ),
            });
        }
        // SAFETY: sigaction structs are plain data; the handler only calls write(2).
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            new.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut new.sa_mask);
            let mut guard = SignalGuard {
                old: [
                    (libc::SIGINT, std::mem::zeroed()),
                    (libc::SIGTERM, std::mem::zeroed()),
                ],
            };
            for (sig, old) in &mut guard.old {
                if libc::sigaction(*sig, &new, old) != 0 {
                    let source = std::io::Error::last_os_error();
                    drop(guard);
                    return Err(TargetError::Setup {
                        what: "installing signal handlers",
                        source,
                    });
                }
            }
            Ok(guard)
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, old) in &self.old {
            // SAFETY: restoring the action saved at install time (zeroed = SIG_DFL if
            // install failed before saving it).
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
        SIGNAL_WAKE_FD.store(-1, Ordering::SeqCst);
    }
}
