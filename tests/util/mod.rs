//! A small harness for end-to-end CLI tests: run the built binary, capture its output.
#![allow(dead_code)]

pub mod nginx;

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
