//! Executor plumbing: binding, one glommio executor per thread sharing the listening
//! socket, readiness hand-shake, stop, and signal waiting.
//!
//! Layout per executor thread: an accept loop spawns one task per connection (tracked by
//! a [`Gate`]); a control socket (one end of a `socketpair`) is watched next to it. To
//! stop, the handle shuts its end down: the executor sees EOF, stops accepting, closes a
//! semaphore every connection task waits on (so they all finish), waits for the gate and
//! returns, and the handle joins the thread. No polling, no busy-waiting.

use std::cell::RefCell;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, future};
use glommio::ExecutorJoinHandle;
use glommio::sync::{Gate, Semaphore};
use rand::SeedableRng;
use rand::rngs::StdRng;
use socket2::{Domain, Protocol, Socket, Type};

use crate::conn::ExecutorCtx;
use crate::shop::{Shop, ShopStats};
use crate::stall::StallSchedule;
use crate::stats::{Counters, Stats};
use crate::{TargetConfig, TargetError};

/// How long `spawn` waits for an executor thread to report that it is serving.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// A running target server. Dropping it stops the server too (ignoring errors).
#[derive(Debug)]
pub struct TargetHandle {
    addr: SocketAddr,
    counters: Arc<Counters>,
    shop: Option<Arc<Shop>>,
    executors: Vec<ExecutorJoinHandle<()>>,
    trigger: StopTrigger,
    wake_rx: OwnedFd,
}

/// Asks a running server to stop from any thread; cheap to clone.
///
/// Wakes [`TargetHandle::wait_for_shutdown`] and stops the executors; the owner of the
/// handle still calls [`TargetHandle::stop`] to join the threads and collect stats.
#[derive(Debug, Clone)]
pub struct StopTrigger {
    inner: Arc<TriggerInner>,
}

#[derive(Debug)]
struct TriggerInner {
    controls: Vec<UnixStream>,
    wake_tx: OwnedFd,
    /// A duplicate of the listening socket. Shutting it down refuses new connections at
    /// once and completes the executors' in-flight io_uring accepts; merely closing the
    /// fds would leave the socket listening until the kernel tears the rings down.
    listener: Socket,
}

impl StopTrigger {
    pub fn trigger(&self) {
        let _ = self.inner.listener.shutdown(Shutdown::Both);
        for c in &self.inner.controls {
            let _ = c.shutdown(Shutdown::Both);
        }
        // A full pipe already means "wake up", so the result does not matter.
        // SAFETY: writing one byte from a valid buffer to an fd we own.
        let _ = unsafe { libc::write(self.inner.wake_tx.as_raw_fd(), b"t".as_ptr().cast(), 1) };
    }
}

impl TargetHandle {
    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
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
        self.trigger.clone()
    }

    /// Stops accepting, closes all connections, joins every executor thread and returns
    /// the final counters.
    pub fn stop(mut self) -> Result<Stats, TargetError> {
        self.shutdown()?;
        Ok(self.counters.snapshot())
    }

    /// Blocks until SIGINT/SIGTERM arrives or a [`StopTrigger`] fires, then stops the
    /// server like [`stop`](Self::stop). Installs the signal handlers only for the
    /// duration of the call; only one waiter per process at a time.
    pub fn wait_for_shutdown(self) -> Result<Stats, TargetError> {
        let guard = SignalGuard::install(self.trigger.inner.wake_tx.as_raw_fd())?;
        let waited = wait_readable(&self.wake_rx);
        drop(guard);
        waited.map_err(|e| TargetError::Setup {
            what: "waiting for a shutdown signal",
            source: e,
        })?;
        self.stop()
    }

    fn shutdown(&mut self) -> Result<(), TargetError> {
        self.trigger.trigger();
        let mut first_err = None;
        for (index, ex) in self.executors.drain(..).enumerate() {
            if let Err(e) = ex.join() {
                first_err.get_or_insert(TargetError::ExecutorFailed {
                    index,
                    reason: e.to_string(),
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for TargetHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Binds, starts `cfg.threads` executors and returns once all of them are serving.
pub(crate) fn spawn(cfg: &TargetConfig) -> Result<TargetHandle, TargetError> {
    let listener = bind(cfg.listen)?;
    let addr = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| TargetError::Bind {
            addr: cfg.listen,
            source: std::io::Error::other("no local address"),
        })?;
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
    let cpus = ringload_host::allowed_cpus();
    let setup = |what| move |source| TargetError::Setup { what, source };

    let (wake_rx, wake_tx) = pipe().map_err(setup("creating the wake pipe"))?;
    let trigger_listener = listener
        .try_clone()
        .map_err(setup("duplicating the listener"))?;
    let mut controls = Vec::with_capacity(cfg.threads);
    let mut executors = Vec::with_capacity(cfg.threads);
    let mut failure = None;
    for index in 0..cfg.threads {
        let (ours, theirs) = UnixStream::pair().map_err(setup("creating a control socket"))?;
        controls.push(ours);
        let fd: OwnedFd = listener
            .try_clone()
            .map_err(setup("duplicating the listener"))?
            .into();
        // Unbound inherits the caller's affinity (taskset); pinning picks from that set.
        let cpu = match cfg.pin_cpus {
            true if !cpus.is_empty() => Some(cpus[index % cpus.len()]),
            _ => None,
        };
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (counters, max_head, shop) = (counters.clone(), cfg.max_head_bytes, shop.clone());
        let tls = tls.clone();
        let spawned = ringload_host::executor("ringload-target", cpu, cfg.io_memory).spawn(
            move || async move {
                let ctx = ExecutorCtx {
                    counters,
                    stall,
                    rng: RefCell::new(StdRng::from_entropy()),
                    max_head,
                    shop,
                    tls,
                };
                executor_main(fd, theirs, ctx, ready_tx).await;
            },
        );
        let ex = match spawned {
            Ok(ex) => ex,
            Err(e) => {
                failure = Some(executor_error(cfg, index, e.to_string()));
                break;
            }
        };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(()) => executors.push(ex),
            // The thread dropped the readiness sender without using it: the executor
            // could not be built (typically io_uring vs. the memlock limit).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let reason = match ex.join() {
                    Err(e) => e.to_string(),
                    Ok(()) => "executor exited before serving".to_owned(),
                };
                failure = Some(executor_error(cfg, index, reason));
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                executors.push(ex);
                failure = Some(executor_error(
                    cfg,
                    index,
                    "executor did not start within 10s".to_owned(),
                ));
                break;
            }
        }
    }
    let handle = TargetHandle {
        addr,
        counters,
        shop,
        executors,
        trigger: StopTrigger {
            inner: Arc::new(TriggerInner {
                controls,
                wake_tx,
                listener: trigger_listener,
            }),
        },
        wake_rx,
    };
    match failure {
        None => Ok(handle),
        Some(e) => {
            drop(handle); // stops and joins the executors that did start
            Err(e)
        }
    }
}

async fn executor_main(
    listener: OwnedFd,
    control: UnixStream,
    ctx: ExecutorCtx,
    ready: mpsc::SyncSender<()>,
) {
    // SAFETY: both fds are owned by us and ownership moves into the glommio wrappers.
    let listener = unsafe { glommio::net::TcpListener::from_raw_fd(listener.into_raw_fd()) };
    let mut control = unsafe { glommio::net::UnixStream::from_raw_fd(control.into_raw_fd()) };
    let ctx = Rc::new(ctx);
    let closing = Rc::new(Semaphore::new(0));
    let gate = Gate::new();
    let _ = ready.send(());

    let accept = async {
        loop {
            let stream = match listener.accept().await {
                Ok(s) => s,
                Err(_) => {
                    glommio::timer::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let (ctx, closing) = (ctx.clone(), closing.clone());
            let task = gate.spawn(async move {
                let _open = OpenConnection::new(&ctx.counters);
                let stopped = async {
                    // Errs (and so returns) once the executor closes the semaphore.
                    let _ = closing.acquire(1).await;
                };
                future::or(crate::conn::accept(stream, ctx.clone()), stopped).await;
            });
            if let Ok(task) = task {
                task.detach();
            }
        }
    };
    let stop = async {
        let mut buf = [0u8; 16];
        while let Ok(n) = control.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    future::or(accept, stop).await;
    closing.close();
    let _ = gate.close().await;
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

fn bind(addr: SocketAddr) -> Result<Socket, TargetError> {
    let err = |source| TargetError::Bind { addr, source };
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    sock.set_reuse_address(true).map_err(err)?;
    sock.bind(&addr.into()).map_err(err)?;
    sock.listen(1024).map_err(err)?;
    // Several executors accept on this one socket; glommio toggles O_NONBLOCK around
    // its opportunistic accept, and a socket that is non-blocking from the start keeps
    // one executor's toggle from leaving another's accept blocking.
    sock.set_nonblocking(true).map_err(err)?;
    Ok(sock)
}

fn executor_error(cfg: &TargetConfig, index: usize, reason: String) -> TargetError {
    TargetError::Executor {
        index,
        reason: ringload_host::executor_error(reason, cfg.io_memory),
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds on success; we take ownership of both.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Blocks until `fd` has a byte to read (retrying on EINTR).
fn wait_readable(fd: &OwnedFd) -> std::io::Result<()> {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading into a valid one-byte buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if n >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
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
