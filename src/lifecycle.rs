//! A run's life as the terminal and the orchestrator see it: the first SIGINT/SIGTERM stops
//! sending and drains (the report and output files are still written, marked interrupted,
//! and ringload exits 130/143), a second one exits at once; a progress line while it runs
//! (refreshed every second on a terminal, a plain line every 10 s elsewhere, so CI logs and
//! `kubectl logs` show life; none with `--quiet`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ringload_engine::live::{Live, Progress};

use crate::error::CliError;

/// The first interrupting signal's number (0: none yet).
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Install the handlers: the first signal sets the flag, a second one exits at once.
    pub fn install() -> Result<Interrupt, CliError> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let flag = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        let err = |e: std::io::Error| CliError::Runtime(format!("installing signal handlers: {e}"));
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as the earlier signal left it.
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flag.clone())
                .map_err(err)?;
            signal_hook::flag::register_usize(sig, signal.clone(), sig as usize).map_err(err)?;
            signal_hook::flag::register(sig, flag.clone()).map_err(err)?;
        }
        Ok(Interrupt { flag, signal })
    }

    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// The exit code of an interrupted run (130 for SIGINT, 143 for SIGTERM), if it was.
    pub fn exit_code(&self) -> Option<u8> {
        match self.signal.load(Ordering::Relaxed) {
            0 => None,
            s => Some((128 + s).min(255) as u8),
        }
    }
}

/// How a progress line knows where the run is going.
#[derive(Debug, Clone, Copy)]
pub enum Extent {
    Seconds(f64),
    Requests(u64),
}

/// A thread printing the live figures until dropped.
pub struct ProgressLine {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    /// Start reporting `live` (on stderr); `None` when `quiet`.
    pub fn start(
        live: Arc<Live>,
        extent: Extent,
        what: String,
        quiet: bool,
    ) -> Option<ProgressLine> {
        if quiet {
            return None;
        }
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let tty = std::io::stderr().is_terminal();
        let thread = std::thread::Builder::new()
            .name("ringload-progress".into())
            .spawn(move || report(&live, extent, &what, tty, &d))
            .ok()?;
        Some(ProgressLine {
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn report(live: &Live, extent: Extent, what: &str, tty: bool, done: &AtomicBool) {
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(2),
        );
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    });
    let every = Duration::from_secs(if tty { 1 } else { 10 });
    let mut next = std::time::Instant::now() + every;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if std::time::Instant::now() < next {
            continue;
        }
        next += every;
        let line = line(&live.read(), extent, what);
        match &bar {
            Some(b) => b.set_message(line),
            None => eprintln!("ringload: {line}"),
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

fn line(p: &Progress, extent: Extent, what: &str) -> String {
    let Some(elapsed) = p.elapsed_s else {
        return format!("{what}: connecting / warming up");
    };
    let of = match extent {
        Extent::Seconds(s) => format!("{elapsed:.0}s/{s:.0}s"),
        Extent::Requests(n) => format!("{}/{n} requests", p.counts.requests),
    };
    let c = &p.counts;
    let mut errors: Vec<String> = ringload_engine::ERROR_CLASSES
        .iter()
        .filter(|k| c.errors[**k as usize] > 0)
        .map(|k| format!("{}={}", k.name(), c.errors[*k as usize]))
        .collect();
    if c.timed_out > 0 {
        errors.push(format!("timeout={}", c.timed_out));
    }
    if p.connect_errors > 0 {
        errors.push(format!("connect={}", p.connect_errors));
    }
    let last = if p.last_second_done == 0 {
        "last second: -".to_string()
    } else {
        format!(
            "last second {} answered, p50 {:.2} ms p99 {:.2} ms",
            p.last_second_done,
            p.p50_us as f64 / 1e3,
            p.p99_us as f64 / 1e3
        )
    };
    let mut s = format!(
        "{what} [{of}] {} requests, {last}; errors {}",
        c.requests,
        if errors.is_empty() {
            "-".into()
        } else {
            errors.join(" ")
        }
    );
    if p.lag_p99_us > 0 {
        s.push_str(&format!("  lag p99 {:.2} ms", p.lag_p99_us as f64 / 1e3));
    }
    s
}
