//! A small harness for end-to-end CLI tests: run the built binary, capture its output.
#![allow(dead_code)]

pub mod nginx;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Bad input: exit 2, a one-line message, never a panic.
    pub fn assert_bad_input(&self, needle: &str) {
        assert_eq!(
            self.code, 2,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in {:?}",
            self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "one line: {:?}",
            self.stderr
        );
    }
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

pub fn ringload<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out: Output = Command::new(env!("CARGO_BIN_EXE_ringload"))
        .args(args)
        .output()
        .expect("run ringload");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

/// Parse a JSON file a command wrote.
pub fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Record a one-request plan from a targets line (`GET http://x/...`); returns its path.
pub fn targets_plan(dir: &Path, line: &str) -> String {
    let t = write(dir, "t.txt", format!("{line}\n"));
    let p = dir.join("p.plan");
    ringload([
        "record",
        "--targets",
        t.to_str().unwrap(),
        "-o",
        p.to_str().unwrap(),
    ])
    .assert_ok();
    p.to_str().unwrap().to_string()
}

/// Which part of `formats/result.schema.json` a document is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// A whole result file: the schema's root (a result or a comparison, by `format`).
    File,
    /// `$defs/Report`: a `run`, `merge` or `demo` result, or one side of a comparison.
    Report,
    /// `$defs/Comparison`: a `compare -o` file.
    Comparison,
}

/// The schema's validators, compiled once: the root, and the root pointed at each `$defs` entry
/// (so that an error names the path inside it rather than "not valid under oneOf").
fn validators() -> &'static [(Schema, jsonschema::Validator)] {
    static V: std::sync::OnceLock<Vec<(Schema, jsonschema::Validator)>> =
        std::sync::OnceLock::new();
    V.get_or_init(|| {
        let root: serde_json::Value =
            serde_json::from_str(include_str!("../../formats/result.schema.json"))
                .expect("formats/result.schema.json is JSON");
        let at = |def: Option<&str>| {
            let mut s = root.clone();
            if let Some(def) = def {
                let o = s.as_object_mut().unwrap();
                o.remove("oneOf");
                o.insert("$ref".into(), format!("#/$defs/{def}").into());
            }
            jsonschema::validator_for(&s)
                .unwrap_or_else(|e| panic!("formats/result.schema.json ({def:?}): {e}"))
        };
        vec![
            (Schema::File, at(None)),
            (Schema::Report, at(Some("Report"))),
            (Schema::Comparison, at(Some("Comparison"))),
        ]
    })
}

/// Where `v` breaks the schema, one line per error: the JSON path (a JSON Pointer), what is
/// wrong, and the schema keyword that says so. Empty when `v` is valid.
pub fn schema_errors(v: &serde_json::Value, what: Schema) -> Vec<String> {
    let of = |s: Schema| &validators().iter().find(|(k, _)| *k == s).unwrap().1;
    if what == Schema::File && !of(Schema::File).is_valid(v) {
        // The root's `oneOf` only says that neither applies: show the errors of the one that
        // `format` names.
        match v["format"].as_str() {
            Some("ringload-result/1") => return schema_errors(v, Schema::Report),
            Some("ringload-compare/1") => return schema_errors(v, Schema::Comparison),
            _ => {}
        }
    }
    of(what)
        .iter_errors(v)
        .map(|e| {
            let path = e.instance_path().to_string();
            // The message quotes the failing value, which may be a whole histogram.
            let mut msg = e.to_string();
            if msg.len() > 300 {
                let cut = (0..=300).rev().find(|&i| msg.is_char_boundary(i)).unwrap();
                msg.truncate(cut);
                msg.push_str("...");
            }
            format!(
                "{}: {msg} (schema {})",
                if path.is_empty() { "(root)" } else { &path },
                e.schema_path()
            )
        })
        .collect()
}

/// Panic with every schema error of `v`, each naming its JSON path.
pub fn assert_schema(v: &serde_json::Value, what: Schema) {
    let errors = schema_errors(v, what);
    assert!(
        errors.is_empty(),
        "not a valid {what:?} by formats/result.schema.json:\n  {}",
        errors.join("\n  ")
    );
}

/// A run result (`run`, `merge`, or a side of `compare`) matches `formats/result.schema.json`,
/// and its label rows add up to its summary (which a schema cannot state).
pub fn assert_result_schema(v: &serde_json::Value) {
    assert_schema(v, Schema::Report);
    let labels = v["labels"].as_array().unwrap();
    // Per-label requests add up to the summary's (login rows are their own).
    let sum: u64 = labels
        .iter()
        .filter(|l| l["auth"] != true)
        .map(|l| l["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, v["summary"]["requests"].as_u64().unwrap(), "labels[]");
}

/// A `compare -o` file matches the schema, each side as [`assert_result_schema`] checks it.
pub fn assert_compare_schema(v: &serde_json::Value) {
    assert_schema(v, Schema::Comparison);
    assert_schema(v, Schema::File);
    for side in ["baseline", "candidate"] {
        assert_result_schema(&v[side]);
    }
}

/// Run ringload and measure the most memory it held: `(run, peak RSS in KiB)` from the child's
/// own resource usage (wait4), so other processes do not count.
pub fn ringload_rss<I, S>(args: I) -> (Run, u64)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    use std::io::Read;
    // Reaped with wait4 below, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringload"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ringload");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let mut stderr = Vec::new();
    let _ = err.read_to_end(&mut stderr);
    let stdout = reader.join().expect("stdout reader");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child, which std has not
    // reaped (the Child is dropped without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (
        Run {
            code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        },
        usage.ru_maxrss as u64,
    )
}

/// A ringload command running in the background (a proxy, a recording): its standard output is
/// collected line by line; `addr` is the first `http(s)://ADDR` it printed.
pub struct Background {
    pub child: std::process::Child,
    pub addr: String,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Background {
    /// Starts `ringload args` and waits (at most 10 s) for the line naming its address.
    pub fn start<I, S>(args: I) -> Background
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringload"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("run ringload");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut seen = Vec::new();
        let addr = loop {
            let l = lines
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no address printed; output so far: {seen:?}"));
            let found = l
                .split("://")
                .nth(1)
                .map(|rest| rest.split([' ', ';']).next().unwrap_or("").to_string());
            seen.push(l);
            if let Some(a) = found {
                break a;
            }
        };
        Background {
            child,
            addr,
            lines,
            seen,
        }
    }

    /// Sends `sig` (libc::SIGINT, SIGTERM) to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// The most memory the process has held so far (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Waits (at most 30 s) for the process to exit: its exit code and every line it printed.
    pub fn finish(mut self) -> (i32, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let code = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s.code().unwrap_or(-1);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("ringload did not exit; output: {:?}", self.seen);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        while let Ok(l) = self.lines.recv_timeout(std::time::Duration::from_secs(2)) {
            self.seen.push(l);
        }
        (code, self.seen.join("\n"))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // A test that failed midway must not leave its process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
