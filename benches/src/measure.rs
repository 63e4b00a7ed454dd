//! Side-by-side measurement the benches share: wall-clock rounds run interleaved
//! (A B, B A, A B, …) with the median ratio and its spread, and instructions per
//! operation counted under valgrind's callgrind.
//!
//! Instruction counts: a bench binary started as `BIN --instructions VARIANT N` sets up,
//! then runs `N` operations of `VARIANT` inside [`callgrind_measured_section`] and exits;
//! [`count_instructions`] starts the binary that way under
//! `valgrind --tool=callgrind --toggle-collect=*callgrind_measured_section*` (so nothing
//! of the set-up is counted) for two values of `N` and reports the difference per
//! operation, which also cancels what the loop itself costs once.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The flag that selects the instruction-count mode.
pub const INSTRUCTIONS_FLAG: &str = "--instructions";

/// Per-operation times of two variants, one pair per round.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Seconds per operation of the first variant, by round.
    pub a: Vec<f64>,
    /// Seconds per operation of the second variant, by round.
    pub b: Vec<f64>,
}

/// Median and spread of a sample.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The 25th percentile.
    pub p25: f64,
    /// The 75th percentile.
    pub p75: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// The median and spread of `values` (which need not be sorted).
///
/// # Panics
/// When `values` is empty.
#[must_use]
pub fn spread(values: &[f64]) -> Spread {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = q * (v.len() - 1) as f64;
        let (lo, hi) = (i.floor() as usize, i.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (i - lo as f64)
    };
    Spread {
        median: at(0.5),
        p25: at(0.25),
        p75: at(0.75),
        min: v[0],
        max: v[v.len() - 1],
    }
}

impl Comparison {
    /// Per-round ratios of the second variant's time to the first's: how many times the
    /// first variant's throughput is the second's.
    #[must_use]
    pub fn ratios(&self) -> Vec<f64> {
        self.a.iter().zip(&self.b).map(|(a, b)| b / a).collect()
    }

    /// One line: both medians (time per operation and operations per second) and the
    /// median ratio with its interquartile range and extremes.
    #[must_use]
    pub fn line(&self, a: &str, b: &str) -> String {
        let (sa, sb, r) = (spread(&self.a), spread(&self.b), spread(&self.ratios()));
        format!(
            "{a}: {} ({:.0}/s) | {b}: {} ({:.0}/s) | {a} is {:.3}x {b}'s throughput \
             (median of {} interleaved rounds; IQR {:.3}-{:.3}, range {:.3}-{:.3})",
            show(sa.median),
            1.0 / sa.median,
            show(sb.median),
            1.0 / sb.median,
            r.median,
            self.a.len(),
            r.p25,
            r.p75,
            r.min,
            r.max,
        )
    }
}

fn show(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.3} µs/op", seconds * 1e6)
    } else {
        format!("{:.3} ms/op", seconds * 1e3)
    }
}

/// Runs `a` and `b` (each given a number of operations to perform) alternately for
/// `rounds` rounds of `batch` operations, swapping which goes first every round, after
/// one warm-up batch each.
pub fn interleaved(
    rounds: usize,
    batch: u64,
    mut a: impl FnMut(u64),
    mut b: impl FnMut(u64),
) -> Comparison {
    a(batch);
    b(batch);
    let time = |f: &mut dyn FnMut(u64)| {
        let start = Instant::now();
        f(batch);
        start.elapsed().as_secs_f64() / batch as f64
    };
    let mut out = Comparison {
        a: Vec::with_capacity(rounds),
        b: Vec::with_capacity(rounds),
    };
    for round in 0..rounds {
        if round % 2 == 0 {
            out.a.push(time(&mut a));
            out.b.push(time(&mut b));
        } else {
            out.b.push(time(&mut b));
            out.a.push(time(&mut a));
        }
    }
    out
}

/// The `(variant, operations)` this process was started with in instruction-count mode.
#[must_use]
pub fn instructions_mode() -> Option<(String, u64)> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == INSTRUCTIONS_FLAG)?;
    let variant = args.get(i + 1)?.clone();
    let n = args.get(i + 2)?.parse().ok()?;
    Some((variant, n))
}

/// Runs `op` `n` times; the only code callgrind counts in instruction-count mode. For
/// async operations, call it once around `block_on` of the whole loop (an async fn's
/// body would be inlined into the executor, out of callgrind's sight).
#[inline(never)]
pub fn callgrind_measured_section(n: u64, mut op: impl FnMut()) {
    for _ in 0..n {
        op();
    }
    std::hint::black_box(());
}

/// Where valgrind is, if installed.
#[must_use]
pub fn valgrind() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VALGRIND") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("valgrind"))
            .find(|p| p.is_file())
    })
}

/// Instructions per operation of each variant, counted by running this binary under
/// callgrind with `n1` and then `n2` operations (`n2 > n1`): `(I(n2) - I(n1)) / (n2 - n1)`.
/// `extra` are arguments the binary needs besides `--instructions VARIANT N`.
///
/// # Errors
/// When valgrind is missing or a run fails.
pub fn count_instructions(
    variants: &[&str],
    n1: u64,
    n2: u64,
    extra: &[&str],
) -> Result<Vec<(String, f64)>, String> {
    let valgrind = valgrind().ok_or("valgrind is not installed (apt-get install valgrind)")?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for variant in variants {
        let mut counts = [0u64; 2];
        for (slot, n) in counts.iter_mut().zip([n1, n2]) {
            // A variant may name a group (`RS256/raw`): one file name, not a path.
            let log = std::env::temp_dir().join(format!(
                "callgrind-{}-{}-{n}.log",
                std::process::id(),
                variant.replace('/', "-")
            ));
            let status = Command::new(&valgrind)
                .arg("--tool=callgrind")
                .arg("--toggle-collect=*callgrind_measured_section*")
                .arg("--callgrind-out-file=/dev/null")
                .arg(format!("--log-file={}", log.display()))
                .arg(&exe)
                .args(extra)
                .args([INSTRUCTIONS_FLAG, variant, &n.to_string()])
                .status()
                .map_err(|e| format!("valgrind did not start: {e}"))?;
            let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&log);
            if !status.success() {
                return Err(format!("{variant} with {n} operations failed:\n{text}"));
            }
            *slot = text
                .lines()
                .find_map(|l| l.split("Collected :").nth(1))
                .and_then(|c| c.trim().parse().ok())
                .ok_or_else(|| format!("no instruction count in callgrind's log:\n{text}"))?;
        }
        out.push((
            (*variant).to_owned(),
            counts[1].saturating_sub(counts[0]) as f64 / (n2 - n1) as f64,
        ));
    }
    Ok(out)
}

/// How long a bench may run each side: shorter when `BENCH_QUICK` is set
/// (`cargo xtask bench quick`).
#[must_use]
pub fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some()
}
