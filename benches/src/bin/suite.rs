//! The workload suite (shared/BENCHMARKS.md):
//!
//! ```text
//! cargo run --release -p wengert-benches --bin suite -- [W1 ...] [W1:hand-written ...]
//! ```
//!
//! No argument: every implemented workload. Each method of each workload runs in a process of
//! its own (the suite re-executes itself with `--child`), so the peak RSS of a line is that
//! method's alone. Prints one line per method and writes the same figures, with the timing spread
//! and machine notes, to `target/suite/results.json` (or the path after `--json`).
//!
//! Options: `--in-process` runs every method in this process (peak RSS is then cumulative);
//! the environment variable `WENGERT_SUITE_RUNS` sets the number of timed runs (default 21).
//! Run with `MALLOC_MMAP_THRESHOLD_=1e8 MALLOC_TRIM_THRESHOLD_=1e9`, as the peers were.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use wengert_benches::measure::{machine_notes, utc_now};
use wengert_benches::workloads;
use wengert_benches::{json_string, ResultLine, Value, Workload};

/// Marks the wire line a child sends to the parent on stdout.
const WIRE: &str = "@@suite-result\t";

fn usage() -> String {
    let names: Vec<_> = workloads::all()
        .iter()
        .map(|w| {
            let m: Vec<_> = w.methods.iter().map(|m| m.name).collect();
            format!("{} ({})", w.name, m.join(", "))
        })
        .collect();
    format!(
        "usage: suite [--in-process] [--json PATH] [WORKLOAD[:METHOD] ...]\nimplemented: {}",
        names.join("; ")
    )
}

/// (workload, method name) pairs selected by the arguments.
fn select(args: &[String]) -> Result<Vec<(Workload, Vec<&'static str>)>, String> {
    if args.is_empty() {
        return Ok(workloads::all()
            .into_iter()
            .map(|w| {
                let m = w.methods.iter().map(|m| m.name).collect();
                (w, m)
            })
            .collect());
    }
    let mut out: Vec<(Workload, Vec<&'static str>)> = Vec::new();
    for a in args {
        let (wname, mname) = match a.split_once(':') {
            Some((w, m)) => (w, Some(m)),
            None => (a.as_str(), None),
        };
        let w = workloads::find(wname)
            .ok_or_else(|| format!("unknown or unimplemented workload {wname:?}"))?;
        let methods: Vec<&'static str> = match mname {
            None => w.methods.iter().map(|m| m.name).collect(),
            Some(m) => vec![
                w.methods
                    .iter()
                    .find(|x| x.name == m)
                    .ok_or_else(|| format!("workload {} has no method {m:?}", w.name))?
                    .name,
            ],
        };
        match out.iter_mut().find(|(x, _)| x.name == w.name) {
            Some((_, ms)) => ms.extend(methods),
            None => out.push((w, methods)),
        }
    }
    Ok(out)
}

fn run_method(w: &Workload, method: &str) -> ResultLine {
    let m = w
        .methods
        .iter()
        .find(|m| m.name == method)
        .expect("method selected from this workload");
    (m.run)()
}

/// Runs one method in a child process; `None` if it failed (its stderr is passed through).
fn run_child(workload: &str, method: &str) -> Option<ResultLine> {
    let exe = std::env::current_exe().ok()?;
    let mut child = Command::new(exe)
        .args(["--child", workload, method])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    let mut result = None;
    for l in BufReader::new(child.stdout.take()?).lines() {
        let l = l.ok()?;
        match l.strip_prefix(WIRE) {
            Some(wire) => result = ResultLine::from_wire(wire),
            None => println!("{l}"),
        }
    }
    let status = child.wait().ok()?;
    if !status.success() {
        eprintln!("suite: {workload} {method} failed: {status}");
        return None;
    }
    result
}

fn default_json_path() -> PathBuf {
    // The binary lives in <target>/<profile>/suite.
    std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("suite")
        .join("results.json")
}

fn write_json(path: &PathBuf, date: &str, lines: &[ResultLine], failed: &[String]) {
    let mut s = String::from("{\n");
    s.push_str(&format!("  \"date\": {},\n", json_string(date)));
    s.push_str("  \"machine\": {");
    let notes: Vec<_> = machine_notes()
        .iter()
        .map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)))
        .collect();
    s.push_str(&notes.join(", "));
    s.push_str("},\n");
    let cmd: Vec<_> = std::env::args().map(|a| json_string(&a)).collect();
    s.push_str(&format!("  \"command\": [{}],\n", cmd.join(", ")));
    let failed: Vec<_> = failed.iter().map(|f| json_string(f)).collect();
    s.push_str(&format!("  \"failed\": [{}],\n", failed.join(", ")));
    s.push_str("  \"results\": [\n");
    let rows: Vec<_> = lines
        .iter()
        .map(|l| format!("    {}", l.to_json()))
        .collect();
    s.push_str(&rows.join(",\n"));
    s.push_str("\n  ]\n}\n");
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, s)
    };
    match write() {
        Ok(()) => eprintln!("suite: wrote {}", path.display()),
        Err(e) => eprintln!("suite: could not write {}: {e}", path.display()),
    }
}

/// Warns about the allocator variables of BENCHMARKS.md ("Measuring"): unset, or spelled so
/// that glibc misreads them (it parses the value as a plain integer and stops at the first
/// non-digit, so `1e8` means 1 byte: every large block is then mmapped and trimmed again).
fn check_malloc_env() {
    for (key, want) in [
        ("MALLOC_MMAP_THRESHOLD_", "100000000"),
        ("MALLOC_TRIM_THRESHOLD_", "1000000000"),
    ] {
        match std::env::var(key) {
            Err(_) => eprintln!(
                "suite: note: {key} is not set; the peers were timed with it (BENCHMARKS.md, \
                 Measuring): {key}={want}"
            ),
            Ok(v) if !v.chars().all(|c| c.is_ascii_digit()) || v.is_empty() => eprintln!(
                "suite: WARNING: {key}={v} is not a plain integer; glibc reads only its leading \
                 digits (1e8 -> 1), which makes large allocations slower, not faster. \
                 Use {key}={want}"
            ),
            Ok(_) => {}
        }
    }
}

/// On stderr: for each timing of `line` whose runs were often preempted by other processes,
/// how many, and the median over the runs that were not.
fn note_preemption(line: &ResultLine) {
    for (k, v) in &line.extra {
        let (Some(prefix), Value::Int(p)) = (k.strip_suffix("_preempted"), v) else {
            continue;
        };
        let runs = match line.get(&format!("{prefix}_runs")) {
            Some(Value::Int(r)) => *r,
            _ => continue,
        };
        if *p * 4 > runs {
            let quiet = match line.get(&format!("{prefix}_quiet_median")) {
                Some(Value::Num { v, .. }) if v.is_finite() => format!("{v:.4}"),
                _ => "n/a".into(),
            };
            eprintln!(
                "suite: note: {} {}: {p}/{runs} timed runs of {prefix} were preempted (loaded \
                 machine); median of the others: {quiet}",
                line.workload, line.method
            );
        }
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();

    if args.first().map(String::as_str) == Some("--child") {
        let (Some(w), Some(m)) = (args.get(1), args.get(2)) else {
            eprintln!("suite --child WORKLOAD METHOD");
            return ExitCode::FAILURE;
        };
        let Some(w) = workloads::find(w) else {
            eprintln!("suite --child: unknown workload {w}");
            return ExitCode::FAILURE;
        };
        let line = run_method(&w, m);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{WIRE}{}", line.to_wire());
        return ExitCode::SUCCESS;
    }

    let mut in_process = false;
    let mut json_path = default_json_path();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--in-process" => {
                in_process = true;
                args.remove(i);
            }
            "--json" if i + 1 < args.len() => {
                json_path = PathBuf::from(args.remove(i + 1));
                args.remove(i);
            }
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            a if a.starts_with('-') => {
                eprintln!("suite: unknown option {a}\n{}", usage());
                return ExitCode::FAILURE;
            }
            _ => i += 1,
        }
    }
    let selected = match select(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("suite: {e}\n{}", usage());
            return ExitCode::FAILURE;
        }
    };
    check_malloc_env();

    let date = utc_now();
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for (w, methods) in &selected {
        for m in methods {
            let r = if in_process {
                Some(run_method(w, m))
            } else {
                run_child(w.name, m)
            };
            match r {
                Some(l) => {
                    println!("{l}");
                    note_preemption(&l);
                    let _ = std::io::stdout().flush();
                    lines.push(l);
                }
                None => {
                    println!("{} {m} FAILED", w.name);
                    failed.push(format!("{}:{m}", w.name));
                }
            }
        }
    }
    write_json(&json_path, &date, &lines, &failed);
    let mismatches: Vec<_> = lines
        .iter()
        .filter(|l| l.fields.iter().any(|(k, _)| k.starts_with("MISMATCH")))
        .map(|l| format!("{} {}", l.workload, l.method))
        .collect();
    if !mismatches.is_empty() {
        eprintln!(
            "suite: MISMATCH against the reference values in: {}",
            mismatches.join(", ")
        );
    }
    if failed.is_empty() && mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
