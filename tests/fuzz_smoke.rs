//! The fuzz targets on stable Rust: every target of `ringload::fuzz` gets its seeds
//! (`fuzz/seeds.list`), its regressions (`fuzz/regressions/TARGET/`) and random mutations of
//! them, for a bounded time. `scripts/test` runs it briefly (under a minute in all);
//! `scripts/fuzz` runs it for longer when no nightly cargo-fuzz is available
//! (`RINGLOAD_FUZZ_SECONDS` per target, `RINGLOAD_FUZZ_TARGETS` a comma-separated subset).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Per target, when not told otherwise: the smoke in CI.
const SMOKE: Duration = Duration::from_millis(2500);
/// Largest input tried.
const MAX_LEN: usize = 64 << 10;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Seed files of `target`: the list's and the regressions'.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let list = std::fs::read_to_string(root().join("fuzz/seeds.list")).expect("fuzz/seeds.list");
    let mut files: Vec<PathBuf> = list
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(target)).then(|| it.next().map(|p| root().join(p)))?
        })
        .collect();
    if let Ok(dir) = std::fs::read_dir(root().join("fuzz/regressions").join(target)) {
        files.extend(dir.map(|e| e.expect("regression file").path()));
    }
    files
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// xorshift64*: reproducible mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the parsers: separators, quotes, digits, boundaries.
const INTERESTING: &[u8] = b"\0\r\n \t\"\\:;,/?#[]{}-+.0129@%=\xff\x7f\x80";

/// One to eight edits of `input` (flips, interesting bytes, inserts, deletes, duplicated or
/// spliced ranges, cuts), the kinds a coverage-blind mutator still reaches far with.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let n = b.len();
        match rng.below(8) {
            0 if n > 0 => {
                let i = rng.below(n);
                b[i] ^= 1 << rng.below(8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                b[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(n + 1);
                b.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if n > 0 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(64));
                b.drain(i..i + len);
            }
            4 if n > 0 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(256));
                let chunk = b[i..i + len].to_vec();
                let at = rng.below(n + 1);
                b.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let i = rng.below(other.len());
                let len = 1 + rng.below((other.len() - i).min(256));
                let at = rng.below(n + 1);
                b.splice(at..at, other[i..i + len].iter().copied());
            }
            6 => b.truncate(rng.below(n + 1)),
            _ if n > 0 => {
                // A number made extreme.
                let i = rng.below(n);
                let big: &[u8] = match rng.below(3) {
                    0 => b"18446744073709551615",
                    1 => b"-1",
                    _ => b"4294967296",
                };
                b.splice(i..i, big.iter().copied());
            }
            _ => {}
        }
    }
    b.truncate(MAX_LEN);
    b
}

fn budget() -> Duration {
    std::env::var("RINGLOAD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(SMOKE, Duration::from_secs)
}

fn selected(name: &str) -> bool {
    std::env::var("RINGLOAD_FUZZ_TARGETS")
        .map_or(true, |list| list.split(',').any(|t| t.trim() == name))
}

/// Feed `target` its seeds, then mutations until its time is up; on a panic, the input is
/// saved under target/fuzz-smoke/ and the panic goes on.
fn smoke(target: &ringload::fuzz::Target) {
    let seeds = seeds(target.name);
    assert!(!seeds.is_empty(), "{}: no seeds", target.name);
    let save = |input: &[u8]| {
        let dir = root().join("target/fuzz-smoke").join(target.name);
        let _ = std::fs::create_dir_all(&dir);
        let p: &Path = &dir.join(format!("crash-{}", input.len()));
        let _ = std::fs::write(p, input);
        eprintln!("{}: failing input saved to {}", target.name, p.display());
    };
    let run = |input: &[u8]| {
        if std::panic::catch_unwind(|| (target.run)(input)).is_err() {
            save(input);
            panic!("{}: the entry panicked", target.name);
        }
    };
    for s in &seeds {
        run(s);
    }
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.name.len() as u64);
    let (mut n, mut corpus) = (0u64, seeds.clone());
    while started.elapsed() < budget() {
        let a = &corpus[rng.below(corpus.len())];
        let b = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, a, b);
        run(&input);
        // Keep some mutants, so edits pile up (a poor man's corpus).
        if rng.below(16) == 0 && corpus.len() < 256 {
            corpus.push(input);
        }
        n += 1;
    }
    eprintln!(
        "{}: {} seeds, {n} mutations in {:.1}s",
        target.name,
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn every_fuzz_target_survives_its_seeds_and_mutations() {
    let names: Vec<&str> = ringload::fuzz::TARGETS.iter().map(|t| t.name).collect();
    // Every target has a cargo-fuzz binary of the same name.
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    for name in &names {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no target {name}"
        );
    }
    for t in ringload::fuzz::TARGETS.iter().filter(|t| selected(t.name)) {
        smoke(t);
    }
}
