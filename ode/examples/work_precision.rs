//! Work-precision on Robertson to t = 1e11: our stiff solvers (`Method::Bdf`, `Method::Rodas4`)
//! against SciPy's `solve_ivp` (BDF, Radau, LSODA), the peer's numbers read from the JSON file
//! written by `benches/peers/robertson_work_precision_scipy.py`.
//!
//! Problem and accuracy measure are those of `ode/tests/it/stiff_bdf.rs`: k = (0.04, 3e7, 1e4),
//! y0 = (1, 0, 0), one save time t = 1e11, `atol_i = (1e-10, 1e-14, 1e-10) * rtol` (scaled to
//! the final sizes of the components), and significant correct digits
//! `-log10(|y_i - ref_i| / |ref_i|)` against the published reference (Test Set for IVP
//! Solvers, ROBER); a configuration's accuracy is the minimum over y1, y2, y3 (capped at 16
//! when a component is exact).
//!
//! Timing protocol (the same in the Python peer): one untimed warm-up solve; if it took more
//! than 2 s the configuration is skipped (and said so); otherwise timed solves until 51 runs
//! or 1 s of timed work, at least 3 runs; the median wall time is reported.
//!
//! ```text
//! python3 benches/peers/robertson_work_precision_scipy.py --out target/work_precision_scipy.json
//! cargo run --release -p ode --example work_precision -- target/work_precision_scipy.json
//! ```
//!
//! Prints one row per (method, rtol), a side-by-side table, the fastest time reaching a given
//! number of digits per method, and writes the plot (log10 time vs digits, one line per
//! method) to `target/work_precision.svg` (`$CARGO_TARGET_DIR` if set; `--svg PATH` to
//! choose), printing its path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use ode::problems::Robertson;
use ode::{Method, Options};
use plotters::prelude::*;

/// Reference at t = 1e11 (Test Set for IVP Solvers, problem ROBER, Mazzia & Magherini).
#[allow(clippy::excessive_precision)] // the published digits
const ROBER_1E11: [f64; 3] = [
    0.2083340149701255e-7,
    0.8333360770334713e-13,
    0.9999999791665050,
];
const T_END: f64 = 1e11;
const RTOLS: [f64; 7] = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10];
/// A configuration whose warm-up solve takes longer than this is skipped.
const SKIP_S: f64 = 2.0;
const MAX_RUNS: usize = 51;
const MIN_RUNS: usize = 3;
const TIMED_BUDGET_S: f64 = 1.0;
const DIGITS_CAP: f64 = 16.0;

/// Significant correct digits, as in `ode/tests/it/stiff_bdf.rs`.
fn digits(a: f64, b: f64) -> f64 {
    -((a - b).abs() / b.abs()).log10()
}

fn min_digits(y: &[f64]) -> f64 {
    (0..3)
        .map(|i| digits(y[i], ROBER_1E11[i]).min(DIGITS_CAP))
        .fold(f64::INFINITY, f64::min)
}

/// One (solver, rtol) result.
#[derive(Clone, Debug)]
struct Row {
    solver: String,
    rtol: f64,
    /// Median wall time of one solve in ms; `None` when skipped or failed.
    time_ms: Option<f64>,
    runs: usize,
    digits: Option<f64>,
    steps: Option<usize>,
    /// Free-form counters (rhs, Jacobians, LUs) or the reason for a skip.
    note: String,
}

fn options(method: Method, rtol: f64) -> Options {
    Options {
        method,
        rtol,
        atol: 1e-4 * rtol,
        atol_components: Some(vec![1e-10 * rtol, 1e-14 * rtol, 1e-10 * rtol]),
        max_steps: 1_000_000,
        ..Default::default()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn run_ours(method: Method, rtol: f64) -> Row {
    let name = format!("ours {method:?}");
    let opts = options(method, rtol);
    let solve = || {
        ode::stiff::solve_with_stats(
            &Robertson,
            &Robertson::Y0,
            &Robertson::K,
            0.0,
            &[T_END],
            &opts,
        )
    };
    let t0 = Instant::now();
    let warm = solve();
    let warm_s = t0.elapsed().as_secs_f64();
    let (sol, st) = match warm {
        Ok(r) => r,
        Err(e) => {
            return Row {
                solver: name,
                rtol,
                time_ms: None,
                runs: 0,
                digits: None,
                steps: None,
                note: format!("failed: {e}"),
            }
        }
    };
    let d = min_digits(&sol.y[0]);
    let note = format!(
        "rej {} rhs {} jac {} lu {}",
        sol.stats.rejected, sol.stats.rhs_evals, st.jac_evals, st.factorisations
    );
    if warm_s > SKIP_S {
        return Row {
            solver: name,
            rtol,
            time_ms: None,
            runs: 0,
            digits: Some(d),
            steps: Some(sol.stats.steps),
            note: format!("skipped: warm-up solve {warm_s:.1} s > {SKIP_S} s"),
        };
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MAX_RUNS
        && (times.len() < MIN_RUNS || start.elapsed().as_secs_f64() < TIMED_BUDGET_S)
    {
        let t = Instant::now();
        let r = solve();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(r.ok());
    }
    Row {
        solver: name,
        rtol,
        runs: times.len(),
        time_ms: Some(median(times)),
        digits: Some(d),
        steps: Some(sol.stats.steps),
        note,
    }
}

// ---- a small JSON reader (the example has no JSON dependency) ----

#[derive(Clone, Debug)]
enum Json {
    Null,
    Bool,
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn get(&self, k: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(k),
            _ => None,
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            Json::Num(x) => Some(*x),
            _ => None,
        }
    }
    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("JSON: {what} at byte {}", self.i))
    }
    fn lit(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("bad literal")
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'n') => self.lit("null", Json::Null),
            Some(b't') => self.lit("true", Json::Bool),
            Some(b'f') => self.lit("false", Json::Bool),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(v));
                        }
                        _ => return self.err("expected , or ]"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected a key");
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected :");
                    }
                    self.i += 1;
                    let v = self.value()?;
                    m.insert(k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => return self.err("expected , or }"),
                    }
                }
            }
            Some(_) => {
                let st = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let txt = std::str::from_utf8(&self.s[st..self.i]).unwrap_or("");
                txt.parse::<f64>()
                    .map(Json::Num)
                    .or_else(|_| self.err("bad number"))
            }
        }
    }
    /// A string without escapes other than `\"`, `\\`, `\/` (all the peer writes).
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    if let Some(&e) = self.s.get(self.i) {
                        out.push(e);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        self.err("unterminated string")
    }
}

/// Reads the peer's rows and its description (`{"peer": ..., "rows": [...]}`).
fn read_peer(path: &str) -> Result<(String, Vec<Row>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let doc = p.value()?;
    let peer = doc
        .get("peer")
        .and_then(Json::str)
        .unwrap_or("peer")
        .to_string();
    let Some(Json::Arr(rows)) = doc.get("rows") else {
        return Err(format!("{path}: no \"rows\" array"));
    };
    let mut out = Vec::new();
    for r in rows {
        let method = r.get("method").and_then(Json::str).unwrap_or("?");
        let Some(rtol) = r.get("rtol").and_then(Json::num) else {
            return Err(format!("{path}: a row without rtol"));
        };
        let n = |k: &str| r.get(k).and_then(Json::num);
        out.push(Row {
            solver: format!("SciPy {method}"),
            rtol,
            time_ms: n("time_ms"),
            runs: n("runs").unwrap_or(0.0) as usize,
            digits: n("digits"),
            steps: n("steps").map(|s| s as usize),
            note: r.get("note").and_then(Json::str).unwrap_or("").to_string(),
        });
    }
    Ok((peer, out))
}

fn fmt_opt(x: Option<f64>, prec: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.prec$}"))
}

fn svg_path(arg: Option<String>) -> PathBuf {
    arg.map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("work_precision.svg")
    })
}

fn plot(
    path: &PathBuf,
    rows: &[Row],
    solvers: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let pts = |s: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r.solver == s)
            .filter_map(|r| Some((r.time_ms?.log10(), r.digits?)))
            .collect()
    };
    let all: Vec<(f64, f64)> = solvers.iter().flat_map(|s| pts(s)).collect();
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    for &(x, y) in &all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if all.is_empty() {
        (x0, x1, y1) = (-1.0, 1.0, 10.0);
    }
    let (x0, x1) = ((x0 - 0.2).floor(), (x1 + 0.2).ceil());
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Robertson to t = 1e11: work vs precision (rtol 1e-4 .. 1e-10)",
            ("sans-serif", 20),
        )
        .margin(12)
        .margin_right(36)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0f64..(y1 + 1.0).ceil())?;
    chart
        .configure_mesh()
        .x_labels((x1 - x0) as usize + 1)
        .x_label_formatter(&|x| {
            let ms = 10f64.powf(*x);
            if ms < 1.0 {
                format!("{ms:.2}")
            } else {
                format!("{ms:.0}")
            }
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .x_desc("median wall time per solve [ms], log scale")
        .y_desc("min significant correct digits (y1, y2, y3)")
        .draw()?;
    let colors = [
        RGBColor(200, 0, 0),
        RGBColor(240, 120, 0),
        RGBColor(0, 70, 200),
        RGBColor(0, 150, 60),
        RGBColor(130, 0, 170),
        RGBColor(90, 90, 90),
    ];
    for (k, s) in solvers.iter().enumerate() {
        let p = pts(s);
        if p.is_empty() {
            continue;
        }
        let c = colors[k % colors.len()];
        let ours = s.starts_with("ours");
        let style = c.stroke_width(if ours { 3 } else { 2 });
        chart
            .draw_series(LineSeries::new(p.iter().copied(), style))?
            .label(s.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        if ours {
            chart.draw_series(p.iter().map(|&q| Circle::new(q, 4, c.filled())))?;
        } else {
            chart.draw_series(p.iter().map(|&q| Circle::new(q, 4, c.stroke_width(1))))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut peer_path = None;
    let mut svg_arg = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--svg" {
            svg_arg = args.next();
        } else {
            peer_path = Some(a);
        }
    }

    let mut rows = Vec::new();
    let mut solvers = Vec::new();
    for method in [Method::Bdf, Method::Rodas4] {
        solvers.push(format!("ours {method:?}"));
        for &rtol in &RTOLS {
            rows.push(run_ours(method, rtol));
        }
    }
    let mut peer_desc = None;
    match &peer_path {
        Some(p) => {
            let (desc, peer_rows) = read_peer(p)?;
            for r in &peer_rows {
                if !solvers.contains(&r.solver) {
                    solvers.push(r.solver.clone());
                }
            }
            rows.extend(peer_rows);
            peer_desc = Some(desc);
        }
        None => println!(
            "(no peer JSON given: `python3 benches/peers/robertson_work_precision_scipy.py \
             --out FILE`, then pass FILE)"
        ),
    }

    println!(
        "Robertson to t = 1e11, atol_i = (1e-10, 1e-14, 1e-10) * rtol; digits = min over \
         y1..y3 of -log10(|y - ref| / |ref|)"
    );
    if let Some(d) = &peer_desc {
        println!("peer: {d}");
    }
    println!(
        "{:<13} {:>7} {:>10} {:>4} {:>7} {:>7}  notes",
        "solver", "rtol", "ms", "runs", "digits", "steps"
    );
    for r in &rows {
        println!(
            "{:<13} {:>7.0e} {:>10} {:>4} {:>7} {:>7}  {}",
            r.solver,
            r.rtol,
            fmt_opt(r.time_ms, 3),
            r.runs,
            fmt_opt(r.digits, 2),
            r.steps.map_or("-".into(), |s| s.to_string()),
            r.note
        );
    }

    // side by side: ms (digits) per solver, one line per rtol
    println!("\nside by side, median ms (min digits):");
    let mut head = format!("{:>7}", "rtol");
    for s in &solvers {
        head += &format!(" | {s:>16}");
    }
    println!("{head}");
    for &rtol in &RTOLS {
        let mut line = format!("{rtol:>7.0e}");
        for s in &solvers {
            let cell = rows
                .iter()
                .find(|r| &r.solver == s && (r.rtol / rtol - 1.0).abs() < 1e-9)
                .map_or("n/a".to_string(), |r| match (r.time_ms, r.digits) {
                    (Some(t), Some(d)) => format!("{t:.3} ({d:.1})"),
                    (None, Some(d)) => format!("skip ({d:.1})"),
                    _ => "fail".to_string(),
                });
            line += &format!(" | {cell:>16}");
        }
        println!("{line}");
    }

    // work at equal precision: fastest configuration reaching >= d digits
    println!("\nfastest median ms reaching >= d digits (any rtol):");
    let mut head = format!("{:>3}", "d");
    for s in &solvers {
        head += &format!(" | {s:>13}");
    }
    println!("{head}");
    for d in 3..=10 {
        let mut line = format!("{d:>3}");
        for s in &solvers {
            let best = rows
                .iter()
                .filter(|r| &r.solver == s && r.digits.is_some_and(|x| x >= d as f64))
                .filter_map(|r| r.time_ms)
                .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.min(t))));
            line += &format!(" | {:>13}", fmt_opt(best, 3));
        }
        println!("{line}");
    }

    let path = svg_path(svg_arg);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    plot(&path, &rows, &solvers)?;
    println!("\nfigure: {}", path.canonicalize()?.display());
    Ok(())
}
