//! How the benchmarks measure and report: the timing loop, the `Row` of a
//! benchmark beside its baseline and their ratio, the process's peak
//! resident set (from `/proc`), and the number and duration formats the
//! printed Markdown tables use.

use std::time::{Duration, Instant};

/// Runs `f` repeatedly for at least `min` and returns the mean time per run.
pub(crate) fn time_it(min: Duration, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < min || n < 3 {
        f();
        n += 1;
    }
    start.elapsed() / n
}

pub(crate) struct Row {
    pub(crate) what: String,
    pub(crate) ours: Duration,
    pub(crate) baseline_what: String,
    pub(crate) baseline: Duration,
}

impl Row {
    /// Rate of ours relative to the baseline: above 1 means faster.
    pub(crate) fn ratio(&self) -> f64 {
        self.baseline.as_secs_f64() / self.ours.as_secs_f64()
    }
}

/// The median, least and greatest of `values` (per-round ratios).
pub(crate) fn median_min_max(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let Some((&min, &max)) = v.first().zip(v.last()) else {
        return (f64::NAN, f64::NAN, f64::NAN);
    };
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    };
    (median, min, max)
}

/// Resets this process's peak resident set (Linux: `5` to clear_refs) and
/// returns the resident set now, in bytes; `peak_since` then gives how far
/// the peak rose above it.
pub(crate) fn reset_peak() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    proc_status_kb("self", "VmRSS") * 1024
}

pub(crate) fn peak_since(start: u64) -> u64 {
    (proc_status_kb("self", "VmHWM") * 1024).saturating_sub(start)
}

/// A field of `/proc/<process>/status` in kB (`process` is `self` or a pid).
pub(crate) fn proc_status_kb(process: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// 10000000 -> "10,000,000".
pub(crate) fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}
