//! The listener frame the target server and the proxy share: binding, one glommio executor
//! per thread sharing the listening socket, the readiness hand-shake, a wake pipe to wait on,
//! and stopping.
//!
//! ```text
//! Frame::bind(addr)     the listening socket (SO_REUSEADDR, non-blocking) and the wake pipe
//! Frame::spawn(..)      `threads` executors, each building its context on its own thread and
//!                       running an accept loop that hands every connection to the caller's
//!                       handler; returns once all of them are serving
//! Serving::wait(..)     blocks until the wake pipe is written to (a StopTrigger, a signal
//!                       handler, the caller's own reason) or a deadline passes
//! Serving::stop()       stops and joins the executors (dropping a Serving does it too)
//! ```
//! Each executor runs the accept loop, which spawns one task per connection (tracked by a
//! [`Gate`]), next to a control socket (one end of a `socketpair`). To stop, the
//! [`StopTrigger`] shuts the listener and the control sockets down: each executor sees EOF,
//! stops accepting, closes a semaphore every connection task races against (so they all end),
//! waits for the gate and returns, and [`Serving::stop`] joins the threads. No polling, no
//! busy-waiting. Nothing here prints or exits: errors are [`ServeError`]s.

use std::future::Future;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, future};
use glommio::ExecutorJoinHandle;
use glommio::net::TcpStream;
use glommio::sync::{Gate, Semaphore};
use socket2::{Domain, Protocol, Socket, Type};

/// How long [`Frame::spawn`] waits for an executor thread to report that it is serving.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Why the frame could not listen, start or stop; the servers wrap these in their own errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// An executor could not start; `reason` is glommio's (or the timeout's) alone, see
    /// [`crate::executor_error`] for the usual cause.
    #[error("cannot start executor {index}: {reason}")]
    Executor { index: usize, reason: String },
    /// An executor thread ended badly (it panicked).
    #[error("executor {index} failed: {reason}")]
    ExecutorFailed { index: usize, reason: String },
    #[error("{what}: {source}")]
    Setup {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Where and how the executors run.
#[derive(Debug, Clone)]
pub struct Executors<'a> {
    /// Their thread name.
    pub name: &'a str,
    /// How many (at least one).
    pub threads: usize,
    /// Bytes of io_uring memory each registers.
    pub io_memory: usize,
    /// CPUs to pin them to, round-robin; empty: unbound (they inherit the caller's affinity).
    pub pin: Vec<usize>,
}

/// A bound listening socket and a wake pipe, before any executor runs.
#[derive(Debug)]
pub struct Frame {
    listener: Socket,
    addr: SocketAddr,
    wake_rx: OwnedFd,
    wake_tx: OwnedFd,
}

impl Frame {
    /// Binds `addr` (port 0: any free port) and creates the wake pipe.
    pub fn bind(addr: SocketAddr) -> Result<Frame, ServeError> {
        let listener = bind(addr)?;
        let local = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .ok_or_else(|| ServeError::Bind {
                addr,
                source: std::io::Error::other("no local address"),
            })?;
        let (wake_rx, wake_tx) = pipe().map_err(setup("creating the wake pipe"))?;
        Ok(Frame {
            listener,
            addr: local,
            wake_rx,
            wake_tx,
        })
    }

    /// The address actually bound (the real port when `addr` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A duplicate of the wake pipe's write end: one byte written to it wakes
    /// [`Serving::wait`] (it never blocks: the pipe is non-blocking).
    pub fn wake_fd(&self) -> std::io::Result<OwnedFd> {
        self.wake_tx.try_clone()
    }

    /// Starts the executors and returns once all of them are serving. For executor `i`,
    /// `make(i)` runs here and returns what builds its context on its own thread; every
    /// accepted connection goes to `handler`, whose future is dropped when the server stops.
    /// If one executor cannot start, those that did are stopped and joined.
    pub fn spawn<C, M, B, H, F>(
        self,
        executors: &Executors<'_>,
        mut make: M,
        handler: H,
    ) -> Result<Serving, ServeError>
    where
        C: 'static,
        M: FnMut(usize) -> B,
        B: FnOnce() -> C + Send + 'static,
        H: Fn(TcpStream, Rc<C>) -> F + Clone + Send + 'static,
        F: Future<Output = ()> + 'static,
    {
        let Frame {
            listener,
            addr,
            wake_rx,
            wake_tx,
        } = self;
        let trigger_listener = listener
            .try_clone()
            .map_err(setup("duplicating the listener"))?;
        let mut controls = Vec::with_capacity(executors.threads);
        let mut spawned_executors = Vec::with_capacity(executors.threads);
        let mut failure = None;
        for index in 0..executors.threads {
            let (ours, theirs) = UnixStream::pair().map_err(setup("creating a control socket"))?;
            controls.push(ours);
            let fd: OwnedFd = listener
                .try_clone()
                .map_err(setup("duplicating the listener"))?
                .into();
            // Unbound inherits the caller's affinity (taskset); pinning picks from that set.
            let cpu = match executors.pin.len() {
                0 => None,
                n => Some(executors.pin[index % n]),
            };
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let build = make(index);
            let handler = handler.clone();
            let spawned = crate::executor(executors.name, cpu, executors.io_memory).spawn(
                move || async move {
                    executor_main(fd, theirs, build(), handler, ready_tx).await;
                },
            );
            let ex = match spawned {
                Ok(ex) => ex,
                Err(e) => {
                    failure = Some(ServeError::Executor {
                        index,
                        reason: e.to_string(),
                    });
                    break;
                }
            };
            match ready_rx.recv_timeout(READY_TIMEOUT) {
                Ok(()) => spawned_executors.push(ex),
                // The thread dropped the readiness sender without using it: the executor
                // could not be built (typically io_uring vs. the memlock limit).
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let reason = match ex.join() {
                        Err(e) => e.to_string(),
                        Ok(()) => "executor exited before serving".to_owned(),
                    };
                    failure = Some(ServeError::Executor { index, reason });
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    spawned_executors.push(ex);
                    failure = Some(ServeError::Executor {
                        index,
                        reason: "executor did not start within 10s".to_owned(),
                    });
                    break;
                }
            }
        }
        let serving = Serving {
            addr,
            executors: spawned_executors,
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
            None => Ok(serving),
            Some(e) => {
                drop(serving); // stops and joins the executors that did start
                Err(e)
            }
        }
    }
}

/// Running executors. Dropping it stops them too (ignoring errors).
#[derive(Debug)]
pub struct Serving {
    addr: SocketAddr,
    executors: Vec<ExecutorJoinHandle<()>>,
    trigger: StopTrigger,
    wake_rx: OwnedFd,
}

impl Serving {
    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle other threads can use to request shutdown.
    pub fn stop_trigger(&self) -> StopTrigger {
        self.trigger.clone()
    }

    /// Blocks until the wake pipe has a byte (a [`StopTrigger`] fired, or something wrote to
    /// [`StopTrigger::wake_fd`] or [`Frame::wake_fd`]), draining it: `Ok(true)`; or until
    /// `deadline` passes: `Ok(false)`. Signals interrupting the wait are retried.
    pub fn wait(&self, deadline: Option<Instant>) -> std::io::Result<bool> {
        loop {
            let timeout_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
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
                return Err(e);
            }
            if n > 0 {
                let mut b = [0u8; 64];
                // SAFETY: reading into a valid buffer from our non-blocking pipe.
                let _ = unsafe { libc::read(pfd.fd, b.as_mut_ptr().cast(), b.len()) };
                return Ok(true);
            }
        }
    }

    /// Stops accepting, ends every connection and joins every executor thread; the first
    /// executor that failed is the error. Calling it again does nothing more.
    pub fn stop(&mut self) -> Result<(), ServeError> {
        self.trigger.trigger();
        let mut first_err = None;
        for (index, ex) in self.executors.drain(..).enumerate() {
            if let Err(e) = ex.join() {
                first_err.get_or_insert(ServeError::ExecutorFailed {
                    index,
                    reason: e.to_string(),
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Asks running executors to stop, from any thread; cheap to clone.
///
/// Wakes [`Serving::wait`] (and the servers' waits built on it) and stops the executors; the
/// owner of the server still stops it to join the threads and collect what they counted.
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
    /// Wakes the waiter and stops the executors.
    pub fn trigger(&self) {
        let _ = self.inner.listener.shutdown(Shutdown::Both);
        for c in &self.inner.controls {
            let _ = c.shutdown(Shutdown::Both);
        }
        wake(&self.inner.wake_tx);
    }

    /// A descriptor that wakes the waiter when a byte is written to it (without stopping
    /// anything): for a signal handler such as `signal_hook::low_level::pipe`.
    pub fn wake_fd(&self) -> std::io::Result<OwnedFd> {
        self.inner.wake_tx.try_clone()
    }
}

/// The wake pipe's write end (non-blocking), e.g. for a signal handler that must not `dup`.
impl AsFd for StopTrigger {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.wake_tx.as_fd()
    }
}

/// Writes one byte to a wake pipe.
pub fn wake(fd: &impl AsFd) {
    // A full pipe already means "wake up", so the result does not matter.
    // SAFETY: writing one byte from a valid buffer to an fd we borrow.
    let _ = unsafe { libc::write(fd.as_fd().as_raw_fd(), b"w".as_ptr().cast(), 1) };
}

async fn executor_main<C, H, F>(
    listener: OwnedFd,
    control: UnixStream,
    ctx: C,
    handler: H,
    ready: mpsc::SyncSender<()>,
) where
    H: Fn(TcpStream, Rc<C>) -> F,
    F: Future<Output = ()> + 'static,
{
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
            let connection = handler(stream, ctx.clone());
            let closing = closing.clone();
            let task = gate.spawn(async move {
                let stopped = async {
                    // Errs (and so returns) once the executor closes the semaphore.
                    let _ = closing.acquire(1).await;
                };
                future::or(connection, stopped).await;
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

fn setup(what: &'static str) -> impl Fn(std::io::Error) -> ServeError {
    move |source| ServeError::Setup { what, source }
}

fn bind(addr: SocketAddr) -> Result<Socket, ServeError> {
    let err = |source| ServeError::Bind { addr, source };
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

/// A non-blocking pipe (read end, write end): a full pipe never blocks a waker (nor a signal
/// handler), and [`Serving::wait`] polls before it reads.
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds on success; we take ownership of both.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_lite::AsyncWriteExt;

    use super::*;

    #[test]
    fn serves_waits_and_stops() {
        let frame = Frame::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = frame.local_addr();
        assert_ne!(addr.port(), 0);
        let built = Arc::new(AtomicUsize::new(0));
        let executors = Executors {
            name: "serve-test",
            threads: 2,
            io_memory: 64 << 10,
            pin: Vec::new(),
        };
        let make = |index| {
            let built = built.clone();
            move || {
                built.fetch_add(1, Ordering::SeqCst);
                (index, Cell::new(0u32))
            }
        };
        let handler = |mut stream: TcpStream, ctx: Rc<(usize, Cell<u32>)>| async move {
            ctx.1.set(ctx.1.get() + 1);
            let _ = stream.write_all(b"hi").await;
            // Held open until the frame stops (the stop races every connection).
            std::future::pending::<()>().await;
        };
        let mut serving = frame.spawn(&executors, make, handler).unwrap();
        assert_eq!(built.load(Ordering::SeqCst), 2);
        assert_eq!(serving.local_addr(), addr);

        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let mut hi = [0u8; 2];
        client.read_exact(&mut hi).unwrap();
        assert_eq!(&hi, b"hi");

        let soon = Instant::now() + Duration::from_millis(20);
        assert!(!serving.wait(Some(soon)).unwrap(), "nothing woke it");
        let trigger = serving.stop_trigger();
        wake(&trigger.wake_fd().unwrap());
        assert!(
            serving.wait(None).unwrap(),
            "a byte on the wake pipe wakes it"
        );

        std::thread::spawn(move || trigger.trigger());
        assert!(serving.wait(None).unwrap(), "the trigger wakes it");
        serving.stop().unwrap();
        // The held connection was ended and the listener shut down.
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).unwrap_or(0), 0);
        assert!(std::net::TcpStream::connect(addr).is_err());
        serving.stop().unwrap();
    }
}
