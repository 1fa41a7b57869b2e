//! Executor plumbing: binding, one glommio executor per thread sharing the listening socket,
//! the readiness hand-shake, waiting (a pipe that a stop, a reached request limit or a signal
//! handler writes to) and stopping.
//!
//! Each executor runs an accept loop that spawns one task per connection (tracked by a
//! [`Gate`]) next to a control socket. To stop, the handle shuts the listener and the control
//! sockets down: each executor sees EOF, stops accepting, closes a semaphore every connection
//! task races against (so they end, counting what they did), waits for the gate and returns.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, future};
use glommio::sync::{Gate, Semaphore};
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, Socket, Type};

use crate::flow::FlowConfig;
use crate::recording::Recording;
use crate::shared::{ExecutorCtx, Shared, wake};
use crate::stats::Counters;
use crate::{ProxyConfig, ProxyError, ProxyStats};

/// How long `spawn` waits for an executor thread to report that it is serving.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Why [`ProxyHandle::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// A [`StopTrigger`] fired (or a signal handler wrote to [`StopTrigger::wake_fd`]).
    Woken,
    /// The recording reached its request limit.
    Limit,
    /// The deadline passed.
    Deadline,
}

/// Asks a running proxy to stop waiting and stop, from any thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct StopTrigger {
    inner: Arc<TriggerInner>,
}

#[derive(Debug)]
struct TriggerInner {
    controls: Vec<UnixStream>,
    wake_tx: OwnedFd,
    /// A duplicate of the listening socket: shutting it down refuses new connections at once
    /// and completes the executors' pending accepts.
    listener: Socket,
}

impl StopTrigger {
    /// Wakes [`ProxyHandle::wait`] and stops the executors.
    pub fn trigger(&self) {
        let _ = self.inner.listener.shutdown(Shutdown::Both);
        for c in &self.inner.controls {
            let _ = c.shutdown(Shutdown::Both);
        }
        wake(&self.inner.wake_tx);
    }

    /// A descriptor that wakes [`ProxyHandle::wait`] when a byte is written to it (without
    /// stopping anything): for a signal handler such as `signal_hook::low_level::pipe`.
    pub fn wake_fd(&self) -> std::io::Result<OwnedFd> {
        self.inner.wake_tx.try_clone()
    }
}

/// What a stopped proxy leaves: its counters and, when recording, the capture.
#[derive(Debug)]
pub struct Stopped {
    pub stats: ProxyStats,
    pub capture: Option<ringload_recorder::Capture>,
}

/// A running proxy. Dropping it stops it too (ignoring errors and the recording).
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    executors: Vec<ExecutorJoinHandle<()>>,
    trigger: StopTrigger,
    wake_rx: OwnedFd,
    description: String,
}

impl ProxyHandle {
    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters so far (connections still open add theirs when they end).
    pub fn stats(&self) -> ProxyStats {
        self.shared.counters.snapshot()
    }

    /// Exchanges recorded so far (0 when not recording).
    pub fn recorded(&self) -> u64 {
        self.shared
            .recording
            .as_ref()
            .and_then(|r| r.lock().ok().map(|r| r.len()))
            .unwrap_or(0)
    }

    pub fn stop_trigger(&self) -> StopTrigger {
        self.trigger.clone()
    }

    /// Blocks until a [`StopTrigger`] fires or [`StopTrigger::wake_fd`] is written to, the
    /// recording reaches its limit, or `deadline` passes.
    pub fn wait(&self, deadline: Option<Instant>) -> Result<Ended, ProxyError> {
        loop {
            if self.shared.limit.load(Ordering::SeqCst) {
                return Ok(Ended::Limit);
            }
            let timeout_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Ended::Deadline);
                    }
                    left.as_millis().clamp(1, i32::MAX as u128) as i32
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.wake_rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ProxyError::Setup {
                    what: "waiting for the proxy to stop",
                    source: e,
                });
            }
            if n > 0 {
                let mut b = [0u8; 64];
                // SAFETY: reading into a valid buffer from our non-blocking pipe.
                let _ = unsafe { libc::read(pfd.fd, b.as_mut_ptr().cast(), b.len()) };
                return Ok(if self.shared.limit.load(Ordering::SeqCst) {
                    Ended::Limit
                } else {
                    Ended::Woken
                });
            }
        }
    }

    /// Stops accepting, ends every connection, joins the executors; returns the counters and
    /// the capture (when recording).
    pub fn stop(mut self) -> Result<Stopped, ProxyError> {
        self.shutdown()?;
        let capture = self.shared.recording.as_ref().map(|r| {
            let rec = match r.lock() {
                Ok(mut g) => std::mem::replace(&mut *g, Recording::new(None)),
                Err(p) => std::mem::replace(&mut *p.into_inner(), Recording::new(None)),
            };
            rec.into_capture(
                self.description.clone(),
                std::path::PathBuf::from(format!("proxy on {}", self.addr)),
            )
        });
        Ok(Stopped {
            stats: self.shared.counters.snapshot(),
            capture,
        })
    }

    fn shutdown(&mut self) -> Result<(), ProxyError> {
        self.trigger.trigger();
        let mut first_err = None;
        for (index, ex) in self.executors.drain(..).enumerate() {
            if let Err(e) = ex.join() {
                first_err.get_or_insert(ProxyError::ExecutorFailed {
                    index,
                    reason: e.to_string(),
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

pub(crate) fn spawn(cfg: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    let listener = bind(cfg.listen)?;
    let addr = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| ProxyError::Bind {
            addr: cfg.listen,
            source: std::io::Error::other("no local address"),
        })?;
    let setup = |what| move |source| ProxyError::Setup { what, source };
    let (wake_rx, wake_tx) = pipe().map_err(setup("creating the wake pipe"))?;
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        recording: cfg
            .record
            .map(|r| Mutex::new(Recording::new(r.max_requests))),
        connections: AtomicU64::new(0),
        limit: AtomicBool::new(false),
        wake_tx: wake_tx
            .try_clone()
            .map_err(setup("duplicating the wake pipe"))?,
    });
    let flow = FlowConfig {
        record: cfg.record.is_some(),
        max_body: cfg.record.map_or(0, |r| r.max_body),
        added_latency: cfg.added_latency,
        scheme: if cfg.tls.is_some() { "https" } else { "http" },
        ..FlowConfig::default()
    };
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
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let shared = shared.clone();
        let (upstream, timeout) = (cfg.upstream, cfg.upstream_timeout);
        let connector = cfg.upstream_tls.clone();
        let acceptor = cfg.tls.clone();
        let spawned = LocalExecutorBuilder::new(Placement::Unbound)
            .name("ringload-proxy")
            .io_memory(cfg.io_memory)
            .spawn(move || async move {
                let ctx = ExecutorCtx {
                    flow,
                    upstream,
                    connector: connector.map(|t| (t.config.into(), t.server_name)),
                    acceptor: acceptor.map(Into::into),
                    upstream_timeout: timeout,
                    shared,
                };
                executor_main(fd, theirs, ctx, ready_tx).await;
            });
        let ex = match spawned {
            Ok(ex) => ex,
            Err(e) => {
                failure = Some(executor_error(&cfg, index, e.to_string()));
                break;
            }
        };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(()) => executors.push(ex),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let reason = match ex.join() {
                    Err(e) => e.to_string(),
                    Ok(()) => "executor exited before serving".to_owned(),
                };
                failure = Some(executor_error(&cfg, index, reason));
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                executors.push(ex);
                failure = Some(executor_error(
                    &cfg,
                    index,
                    "executor did not start within 10s".to_owned(),
                ));
                break;
            }
        }
    }
    let handle = ProxyHandle {
        addr,
        shared,
        executors,
        trigger: StopTrigger {
            inner: Arc::new(TriggerInner {
                controls,
                wake_tx,
                listener: trigger_listener,
            }),
        },
        wake_rx,
        description: cfg.description,
    };
    match failure {
        None => Ok(handle),
        Some(e) => {
            drop(handle);
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
            ctx.shared.counters.connection();
            let (ctx, closing) = (ctx.clone(), closing.clone());
            let task = gate.spawn(async move {
                let stopped = async {
                    // Errs (and so returns) once the executor closes the semaphore.
                    let _ = closing.acquire(1).await;
                };
                future::or(crate::conn::serve(stream, ctx), stopped).await;
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

fn bind(addr: SocketAddr) -> Result<Socket, ProxyError> {
    let err = |source| ProxyError::Bind { addr, source };
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    sock.set_reuse_address(true).map_err(err)?;
    sock.bind(&addr.into()).map_err(err)?;
    sock.listen(1024).map_err(err)?;
    // Several executors accept on this socket; glommio toggles O_NONBLOCK around its
    // opportunistic accept, so start non-blocking (as the target server does).
    sock.set_nonblocking(true).map_err(err)?;
    Ok(sock)
}

fn executor_error(cfg: &ProxyConfig, index: usize, reason: String) -> ProxyError {
    ProxyError::Executor {
        index,
        reason,
        io_memory: cfg.io_memory,
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds on success; we take ownership of both.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
