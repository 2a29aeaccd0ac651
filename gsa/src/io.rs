//! Keep a run: designs and outputs written to and read from plain CSV, so an analysis can be
//! rerun without running the model again, and runs made elsewhere (SALib's designs, a
//! cluster) can be analysed here.
//!
//! Format: one header line of comma-separated column names, then one line per row of
//! comma-separated numbers in Rust's shortest round-trip notation (`NaN` marks a failed run);
//! lines starting with `#` are comments. NumPy reads it with
//! `np.loadtxt(path, delimiter=",", skiprows=1)` and writes it with
//! `np.savetxt(path, Y, delimiter=",", header=..., comments="")`.
//!
//! ```
//! use gsa::{analyze_sobol, evaluate, io, saltelli, Problem, Sampling, SobolOptions};
//! use gsa::testing::Ishigami;
//!
//! let problem = Ishigami::problem();
//! let design = saltelli(&problem, 256, 1, Sampling::Sobol, false)?;
//! let dir = std::env::temp_dir();
//! let (xs, ys) = (dir.join("gsa_doc_x.csv"), dir.join("gsa_doc_y.csv"));
//! io::write_csv(&xs, &problem.names(), &design.x)?;
//! let y = evaluate(&gsa::FunctionModel(&Ishigami::default()), &design.x, false);
//! io::write_csv(&ys, &["y"], &y)?;
//! // later, without running the model:
//! let (_, y_again) = io::read_csv(&ys)?;
//! let s = analyze_sobol(&problem, &y_again, &SobolOptions::default())?;
//! assert_eq!(y, y_again);
//! assert!(s.total[0][0] > 0.4);
//! # Ok::<(), gsa::Error>(())
//! ```

use std::fmt::Write as _;
use std::path::Path;

use crate::error::Error;
use crate::sobol::SobolIndices;

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Writes `rows` under the column names `header` (each row as long as the header; a row
/// that is empty, such as a failed run's, is written as `NaN`s).
///
/// # Errors
/// [`Error::DimensionMismatch`] for a row of another length; [`Error::Io`] if the file cannot
/// be written.
pub fn write_csv<S: AsRef<str>>(
    path: impl AsRef<Path>,
    header: &[S],
    rows: &[Vec<f64>],
) -> Result<(), Error> {
    let path = path.as_ref();
    let width = header.len();
    let mut text = String::with_capacity(16 * width * (rows.len() + 1));
    let names: Vec<&str> = header.iter().map(|s| s.as_ref()).collect();
    text.push_str(&names.join(","));
    text.push('\n');
    for row in rows {
        if row.is_empty() {
            text.push_str(&vec!["NaN"; width].join(","));
        } else {
            if row.len() != width {
                return Err(Error::DimensionMismatch {
                    what: "a CSV row (the header's width)",
                    expected: width,
                    got: row.len(),
                });
            }
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                let _ = write!(text, "{v:?}");
            }
        }
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| io_err(path, e))
}

/// Reads a file written by [`write_csv`] (or NumPy): the header's names and the rows. A file
/// without a header line gets names `c1, c2, ...`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Parse`] for a value that is not a
/// number or a row of another width.
pub fn read_csv(path: impl AsRef<Path>) -> Result<(Vec<String>, Vec<Vec<f64>>), Error> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    let mut header: Option<Vec<String>> = None;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: Result<Vec<f64>, _> = fields.iter().map(|f| f.parse::<f64>()).collect();
        match parsed {
            Ok(v) => {
                let width = header.as_ref().map_or(v.len(), Vec::len);
                if v.len() != width || rows.first().is_some_and(|r| r.len() != v.len()) {
                    return Err(Error::Parse {
                        path: path.display().to_string(),
                        line: n + 1,
                        reason: format!("{} values, expected {width}", v.len()),
                    });
                }
                rows.push(v);
            }
            Err(e) if header.is_none() && rows.is_empty() => {
                let _ = e;
                header = Some(fields.iter().map(|s| s.to_string()).collect());
            }
            Err(e) => {
                return Err(Error::Parse {
                    path: path.display().to_string(),
                    line: n + 1,
                    reason: format!("not a number: {e}"),
                })
            }
        }
    }
    let header = header.unwrap_or_else(|| {
        (1..=rows.first().map_or(0, Vec::len))
            .map(|i| format!("c{i}"))
            .collect()
    });
    Ok((header, rows))
}

/// Writes Sobol' indices as a table: one line per (output, input) with `S1, S1_conf, ST,
/// ST_conf`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn write_sobol_table(path: impl AsRef<Path>, s: &SobolIndices) -> Result<(), Error> {
    let path = path.as_ref();
    let mut text = String::from("output,input,S1,S1_conf,ST,ST_conf\n");
    for o in 0..s.first.len() {
        for (i, name) in s.names.iter().enumerate() {
            let _ = writeln!(
                text,
                "{o},{name},{:?},{:?},{:?},{:?}",
                s.first[o][i], s.first_conf[o][i], s.total[o][i], s.total_conf[o][i]
            );
        }
    }
    std::fs::write(path, text).map_err(|e| io_err(path, e))
}
