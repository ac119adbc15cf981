//! A short, uninstrumented fuzz run for the normal test suite.
//!
//! Each cargo-fuzz target keeps its property in a `check(data: &[u8])` function of its own
//! file (`<crate>/fuzz/checks/<target>.rs`); the libFuzzer binary and a `#[test]` both call it.
//! [`run`] feeds that function the seeds and then inputs mutated from them (bit flips, byte
//! insertions and deletions, repeated ranges, dictionary words, splices of two seeds) until
//! its time budget is spent. It has no coverage feedback — that is what `scripts/fuzz` is
//! for — but it catches a property that no longer holds on inputs near the seeds within
//! seconds, on every test run.
//!
//! The run is reproducible: the random sequence is fixed unless `FLOVYN_FUZZ_SMOKE_SEED` is
//! set. `FLOVYN_FUZZ_SMOKE_SECONDS` sets the budget (default 5, at most 30). A failing input
//! is written to `target/fuzz-smoke/<target>-<hash>` and named in the panic message, so it
//! can be replayed with `cargo +nightly fuzz run <target> <file>` or added as a seed.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What one run did, for the test to assert on and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Inputs given to the check, seeds included.
    pub inputs: u64,
}

/// Feeds `check` every seed, then mutated inputs until the budget is spent.
///
/// `target` names the fuzz target (for the failure file); `dictionary` holds words worth
/// inserting (keywords, delimiters). Panics, naming the saved input, when `check` panics.
pub fn run(target: &str, seeds: &[&[u8]], dictionary: &[&[u8]], check: impl Fn(&[u8])) -> Report {
    assert!(!seeds.is_empty(), "a smoke run needs at least one seed");
    let budget = budget();
    let mut rng = Rng::new(seed());
    let mut inputs = 0u64;
    for seed in seeds {
        call(target, seed, &check);
        inputs += 1;
    }
    let started = Instant::now();
    let mut input = Vec::new();
    while started.elapsed() < budget {
        // Checking the clock on every input would dominate for fast checks.
        for _ in 0..64 {
            input.clear();
            input.extend_from_slice(seeds[rng.below(seeds.len())]);
            let rounds = 1 + rng.below(8);
            for _ in 0..rounds {
                mutate(&mut input, &mut rng, seeds, dictionary);
            }
            call(target, &input, &check);
            inputs += 1;
        }
    }
    eprintln!(
        "fuzz smoke `{target}`: {inputs} inputs in {:.1?}",
        started.elapsed()
    );
    Report { inputs }
}

fn budget() -> Duration {
    let seconds = std::env::var("FLOVYN_FUZZ_SMOKE_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(5.0)
        .min(30.0);
    Duration::from_secs_f64(seconds)
}

fn seed() -> u64 {
    std::env::var("FLOVYN_FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f10f_2026)
}

fn call(target: &str, input: &[u8], check: &impl Fn(&[u8])) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(input))) {
        let file = save(target, input);
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!(
            "fuzz target `{target}` failed on {:?}: {why}\ninput saved to {}",
            String::from_utf8_lossy(input),
            file.display()
        );
    }
}

fn save(target: &str, input: &[u8]) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    input.hash(&mut hasher);
    // CARGO_TARGET_DIR when set (CI sets it), the temp dir otherwise.
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("fuzz-smoke");
    let file = dir.join(format!("{target}-{:016x}", hasher.finish()));
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(&file, input);
    }
    file
}

fn mutate(input: &mut Vec<u8>, rng: &mut Rng, seeds: &[&[u8]], dictionary: &[&[u8]]) {
    match rng.below(7) {
        // Flip one bit.
        0 if !input.is_empty() => {
            let at = rng.below(input.len());
            input[at] ^= 1 << rng.below(8);
        }
        // Replace a byte with an interesting one.
        1 if !input.is_empty() => {
            const BYTES: &[u8] = b"\0\x7f\xff/{}*_-.\"'`[]();=\n\t \\%";
            let at = rng.below(input.len());
            input[at] = BYTES[rng.below(BYTES.len())];
        }
        // Delete a range.
        2 if !input.is_empty() => {
            let at = rng.below(input.len());
            let len = 1 + rng.below((input.len() - at).min(16));
            input.drain(at..at + len);
        }
        // Repeat a range.
        3 if !input.is_empty() && input.len() < 4096 => {
            let at = rng.below(input.len());
            let len = 1 + rng.below((input.len() - at).min(32));
            let copy = input[at..at + len].to_vec();
            let to = rng.below(input.len() + 1);
            input.splice(
                to..to,
                copy.into_iter().cycle().take(len * (1 + rng.below(4))),
            );
        }
        // Insert a dictionary word.
        4 if !dictionary.is_empty() => {
            let word = dictionary[rng.below(dictionary.len())];
            let to = rng.below(input.len() + 1);
            input.splice(to..to, word.iter().copied());
        }
        // Splice: this input's head, another seed's tail.
        5 => {
            let other = seeds[rng.below(seeds.len())];
            let cut = rng.below(input.len() + 1);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        // Insert a random byte (also the fallback for an empty input).
        _ => {
            let to = rng.below(input.len() + 1);
            input.insert(to, rng.next() as u8);
        }
    }
}

/// xorshift64*: small, fast and reproducible; quality is not the point here.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_check_is_reported_with_its_input() {
        let result = catch_unwind(|| {
            run("demo", &[b"abc"], &[b"x"], |data| {
                assert!(!data.contains(&b'x'), "found an x");
            })
        });
        let message = *result
            .expect_err("the check fails once an x is inserted")
            .downcast::<String>()
            .unwrap();
        assert!(
            message.contains("fuzz target `demo` failed on"),
            "{message}"
        );
        assert!(message.contains("found an x"), "{message}");
        assert!(message.contains("fuzz-smoke/demo-"), "{message}");
    }

    #[test]
    fn mutations_reach_beyond_the_seeds() {
        let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let report = run("spread", &[b"/tokens/{id}"], &[b"{x}"], |data| {
            seen.borrow_mut().insert(data.to_vec());
        });
        assert!(report.inputs > 1_000, "{report:?}");
        assert!(
            seen.borrow().len() > 500,
            "only {} distinct inputs",
            seen.borrow().len()
        );
    }
}
