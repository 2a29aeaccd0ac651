//! Measurement helpers: median timing, peak RSS, machine notes.

use std::hint::black_box;
use std::time::Instant;

use crate::Value;

/// Timings of repeated runs, in milliseconds.
#[derive(Clone, Debug)]
pub struct Timing {
    /// The median.
    pub median: f64,
    /// The fastest run.
    pub min: f64,
    /// The slowest run.
    pub max: f64,
    /// Number of timed runs (after the warm-up).
    pub runs: usize,
    /// Runs during which the thread waited on the run queue (was preempted by another process),
    /// as far as /proc/thread-self/schedstat tells; 0 where it is not available.
    pub preempted: usize,
    /// The median over the runs that were not preempted (NaN if every run was): on a shared,
    /// loaded machine this is the figure that does not depend on the scheduler.
    pub quiet_median: f64,
}

impl Timing {
    /// From the individual run times (ms); `times` must be non-empty.
    pub fn from_times(times: Vec<f64>) -> Self {
        let n = times.len();
        Self::from_runs(times, vec![false; n])
    }

    /// From the run times (ms) and whether each run was preempted; `times` must be non-empty.
    pub fn from_runs(times: Vec<f64>, preempted: Vec<bool>) -> Self {
        assert!(!times.is_empty(), "Timing: no runs");
        assert_eq!(times.len(), preempted.len());
        let quiet: Vec<f64> = times
            .iter()
            .zip(&preempted)
            .filter(|(_, &p)| !p)
            .map(|(&t, _)| t)
            .collect();
        let mut sorted = times;
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        Timing {
            median: median(&sorted),
            min: sorted[0],
            max: sorted[n - 1],
            runs: n,
            preempted: preempted.iter().filter(|&&p| p).count(),
            quiet_median: if quiet.is_empty() {
                f64::NAN
            } else {
                let mut q = quiet;
                q.sort_by(f64::total_cmp);
                median(&q)
            },
        }
    }

    /// Extra result fields `{prefix}_min`, `{prefix}_max`, `{prefix}_runs`.
    pub fn extras(&self, prefix: &str) -> Vec<(String, Value)> {
        vec![
            (
                format!("{prefix}_min"),
                Value::Num {
                    v: self.min,
                    decimals: 4,
                },
            ),
            (
                format!("{prefix}_max"),
                Value::Num {
                    v: self.max,
                    decimals: 4,
                },
            ),
            (format!("{prefix}_runs"), Value::Int(self.runs as u64)),
            (
                format!("{prefix}_quiet_median"),
                Value::Num {
                    v: self.quiet_median,
                    decimals: 4,
                },
            ),
            (
                format!("{prefix}_preempted"),
                Value::Int(self.preempted as u64),
            ),
        ]
    }
}

/// The median of sorted, non-empty values.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// Nanoseconds this thread has spent waiting on a run queue (the second field of
/// /proc/thread-self/schedstat); `None` where that is not available.
pub fn run_queue_wait_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
}

/// Default number of timed runs per figure (the median of these is reported).
pub const RUNS: usize = 21;
/// Default number of untimed warm-up runs.
pub const WARMUP: usize = 3;

/// Runs `f` `warmup` times untimed, then `runs` times timed; returns the timings and the result
/// of the last run.
pub fn time_runs<R>(warmup: usize, runs: usize, mut f: impl FnMut() -> R) -> (Timing, R) {
    assert!(runs > 0, "time_runs: runs must be positive");
    for _ in 0..warmup {
        black_box(f());
    }
    let mut times = Vec::with_capacity(runs);
    let mut preempted = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let w0 = run_queue_wait_ns();
        let t0 = Instant::now();
        let r = black_box(f());
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        let w1 = run_queue_wait_ns();
        preempted.push(matches!((w0, w1), (Some(a), Some(b)) if b > a));
        last = Some(r);
    }
    (Timing::from_runs(times, preempted), last.expect("runs > 0"))
}

/// [`time_runs`] with [`WARMUP`] and [`RUNS`] (or `WENGERT_SUITE_RUNS` if set).
pub fn time_default<R>(f: impl FnMut() -> R) -> (Timing, R) {
    let runs = std::env::var("WENGERT_SUITE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r: &usize| r >= 1)
        .unwrap_or(RUNS);
    time_runs(WARMUP, runs, f)
}

fn proc_status_kb(key: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Peak resident set size of this process so far (VmHWM), in MB (10^6 bytes); NaN where
/// /proc is not available.
pub fn peak_rss_mb() -> f64 {
    proc_status_kb("VmHWM:").map_or(f64::NAN, |kb| kb * 1024.0 / 1e6)
}

/// Current resident set size (VmRSS), in MB (10^6 bytes); NaN where /proc is not available.
pub fn rss_mb() -> f64 {
    proc_status_kb("VmRSS:").map_or(f64::NAN, |kb| kb * 1024.0 / 1e6)
}

/// Minor and major page faults of this process so far (fields 10 and 12 of /proc/self/stat);
/// `None` where /proc is not available.
pub fn page_faults() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing paren.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field k is f[k - 3].
    Some((f.get(7)?.parse().ok()?, f.get(9)?.parse().ok()?))
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Notes on the machine and environment, as `(key, value)` pairs: CPU model, logical CPUs,
/// load average, the allocator variables of BENCHMARKS.md ("Measuring").
pub fn machine_notes() -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "unset".into());
    vec![
        ("cpu".into(), cpu),
        ("logical_cpus".into(), cpus.to_string()),
        ("loadavg".into(), load),
        (
            "MALLOC_MMAP_THRESHOLD_".into(),
            env("MALLOC_MMAP_THRESHOLD_"),
        ),
        (
            "MALLOC_TRIM_THRESHOLD_".into(),
            env("MALLOC_TRIM_THRESHOLD_"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        let t = Timing::from_times(vec![3.0, 1.0, 2.0]);
        assert_eq!((t.median, t.min, t.max, t.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(Timing::from_times(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
        let t = Timing::from_runs(vec![9.0, 1.0, 2.0], vec![true, false, false]);
        assert_eq!((t.median, t.quiet_median, t.preempted), (2.0, 1.5, 1));
        let t = Timing::from_runs(vec![9.0], vec![true]);
        assert!(t.quiet_median.is_nan());
    }

    #[test]
    fn date_format() {
        let d = utc_now();
        assert_eq!(d.len(), 20);
        assert!(d.starts_with("20") && d.ends_with('Z'));
    }

    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mb() > 0.0 && rss_mb() > 0.0);
            assert!(peak_rss_mb() >= rss_mb() * 0.99);
            let (minor, _) = page_faults().unwrap();
            let v = vec![1u8; 1 << 22];
            std::hint::black_box(&v);
            assert!(page_faults().unwrap().0 > minor);
        }
    }
}
