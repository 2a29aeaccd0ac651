//! Shared pieces of Wengert's benchmark suite: workload definitions and measurement helpers.
//!
//! The suite (`src/bin/suite.rs`) runs every *method* of every *workload* (BENCHMARKS.md) in a
//! process of its own, so that each result line carries the peak RSS of that method alone. A
//! workload is a [`Workload`]: a name and a list of [`Method`]s; a method is a function that
//! measures one implementation and returns one [`ResultLine`]. To add a workload, add a module
//! under [`workloads`] and list it in [`workloads::all`]; to add a method (say `wengert-array`
//! for W1), add an entry to that workload's method list.

pub mod measure;
pub mod workloads;

use std::fmt;

/// One value of a result line.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number, printed with `decimals` digits after the point in the text line (full precision
    /// in JSON).
    Num { v: f64, decimals: usize },
    /// A count.
    Int(u64),
    /// Anything else (no spaces: the text line is split on whitespace).
    Text(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Num { v, decimals } => format!("{v:.decimals$}"),
            Value::Int(i) => i.to_string(),
            Value::Text(s) => s.clone(),
        }
    }

    fn json(&self) -> String {
        match self {
            Value::Num { v, .. } if v.is_finite() => format!("{v:?}"),
            Value::Num { .. } => "null".to_string(),
            Value::Int(i) => i.to_string(),
            Value::Text(s) => json_string(s),
        }
    }
}

/// One line of the suite's output: `W1 wengert-scalar primal_ms=... grad_ms=... ...`.
///
/// `fields` appear in the text line in order; `extra` only in results.json (spread of the timed
/// runs, repetition counts, notes).
#[derive(Clone, Debug, Default)]
pub struct ResultLine {
    /// Workload name (`W1`, `W2`, ...).
    pub workload: String,
    /// Implementation (`wengert-scalar`, `hand-written`, ...).
    pub method: String,
    /// Fields of the text line, in order.
    pub fields: Vec<(String, Value)>,
    /// Fields written to results.json only.
    pub extra: Vec<(String, Value)>,
}

impl ResultLine {
    /// An empty line for `workload` / `method`.
    pub fn new(workload: &str, method: &str) -> Self {
        ResultLine {
            workload: workload.to_string(),
            method: method.to_string(),
            ..Default::default()
        }
    }

    /// Appends a number printed with `decimals` digits after the point.
    pub fn num(mut self, key: &str, v: f64, decimals: usize) -> Self {
        self.fields
            .push((key.to_string(), Value::Num { v, decimals }));
        self
    }

    /// Appends a count.
    pub fn int(mut self, key: &str, v: u64) -> Self {
        self.fields.push((key.to_string(), Value::Int(v)));
        self
    }

    /// Appends a text field (must not contain whitespace).
    pub fn text(mut self, key: &str, v: &str) -> Self {
        debug_assert!(!v.contains(char::is_whitespace));
        self.fields
            .push((key.to_string(), Value::Text(v.to_string())));
        self
    }

    /// Appends a field that goes to results.json only.
    pub fn extra(mut self, key: &str, v: Value) -> Self {
        self.extra.push((key.to_string(), v));
        self
    }

    /// The value of field `key` (text or extra).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .chain(&self.extra)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Replaces (or appends) text field `key`.
    pub fn set(&mut self, key: &str, v: Value) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.fields.push((key.to_string(), v)),
        }
    }

    /// The line as one JSON object (all fields, then the extra ones).
    pub fn to_json(&self) -> String {
        let mut s = format!(
            "{{\"workload\": {}, \"method\": {}",
            json_string(&self.workload),
            json_string(&self.method)
        );
        for (k, v) in self.fields.iter().chain(&self.extra) {
            s.push_str(&format!(", {}: {}", json_string(k), v.json()));
        }
        s.push('}');
        s
    }

    /// Parses a line written by [`ResultLine::to_wire`] (the suite's parent process reads its
    /// children's results this way).
    pub fn from_wire(line: &str) -> Option<Self> {
        let mut parts = line.split('\t');
        let workload = parts.next()?.to_string();
        let method = parts.next()?.to_string();
        let mut out = ResultLine::new(&workload, &method);
        for p in parts {
            let (kind, rest) = p.split_at(1);
            let (key, val) = rest.split_once('=')?;
            let value = parse_wire_value(val)?;
            match kind {
                "F" => out.fields.push((key.to_string(), value)),
                "E" => out.extra.push((key.to_string(), value)),
                _ => return None,
            }
        }
        Some(out)
    }

    /// A lossless one-line encoding (tab-separated) used between the suite's processes.
    pub fn to_wire(&self) -> String {
        let mut s = format!("{}\t{}", self.workload, self.method);
        for (kind, list) in [("F", &self.fields), ("E", &self.extra)] {
            for (k, v) in list {
                let enc = match v {
                    Value::Num { v, decimals } => format!("n{decimals}:{v:?}"),
                    Value::Int(i) => format!("i:{i}"),
                    Value::Text(t) => format!("t:{}", t.replace(['\t', '\n'], " ")),
                };
                s.push_str(&format!("\t{kind}{k}={enc}"));
            }
        }
        s
    }
}

fn parse_wire_value(s: &str) -> Option<Value> {
    let (tag, body) = s.split_once(':')?;
    Some(match tag {
        "i" => Value::Int(body.parse().ok()?),
        "t" => Value::Text(body.to_string()),
        t if t.starts_with('n') => Value::Num {
            v: body.parse().ok()?,
            decimals: t[1..].parse().ok()?,
        },
        _ => return None,
    })
}

impl fmt::Display for ResultLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.workload, self.method)?;
        for (k, v) in &self.fields {
            write!(f, " {k}={}", v.text())?;
        }
        Ok(())
    }
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One implementation of a workload: measures itself and returns its line.
pub struct Method {
    /// The name in the line (`wengert-scalar`, `hand-written`, ...).
    pub name: &'static str,
    /// Runs the measurement (in a fresh process when driven by the suite).
    pub run: fn() -> ResultLine,
}

/// A workload of BENCHMARKS.md and its implementations.
pub struct Workload {
    /// `W1`, `W2`, ...
    pub name: &'static str,
    /// The implementations, in output order.
    pub methods: Vec<Method>,
}

/// Relative difference `|got - want| / |want|` (NaN if either is NaN).
pub fn rel_err(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

/// True if `got` is within relative tolerance `tol` of `want` (false for NaN).
pub fn close(got: f64, want: f64, tol: f64) -> bool {
    rel_err(got, want) <= tol
}

/// Compares `loss` and `gradnorm` with the reference values; on a mismatch (relative error above
/// `tol`, or a non-finite value) adds a `MISMATCH=...` field naming what is off, so a wrong
/// answer cannot pass for a timing.
pub fn check_reference(
    line: &mut ResultLine,
    loss: f64,
    want_loss: f64,
    gradnorm: f64,
    want_gradnorm: f64,
    tol: f64,
) {
    let mut bad = Vec::new();
    for (name, got, want) in [
        ("loss", loss, want_loss),
        ("gradnorm", gradnorm, want_gradnorm),
    ] {
        let e = rel_err(got, want);
        if e.is_nan() || e > tol {
            bad.push(format!("{name}:relerr={e:.1e}"));
        }
    }
    if !bad.is_empty() {
        line.set("MISMATCH", Value::Text(bad.join(",")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_text_and_wire_roundtrip() {
        let line = ResultLine::new("W1", "wengert-scalar")
            .num("primal_ms", 0.12345, 3)
            .num("loss", 3795306.369110001, 5)
            .int("n", 100_000)
            .text("p", "(1,2)")
            .extra(
                "grad_ms_min",
                Value::Num {
                    v: 1.5,
                    decimals: 3,
                },
            );
        assert_eq!(
            line.to_string(),
            "W1 wengert-scalar primal_ms=0.123 loss=3795306.36911 n=100000 p=(1,2)"
        );
        let back = ResultLine::from_wire(&line.to_wire()).unwrap();
        assert_eq!(back.to_string(), line.to_string());
        assert_eq!(back.to_json(), line.to_json());
        assert!(line.to_json().contains("\"grad_ms_min\": 1.5"));
    }

    #[test]
    fn mismatch_marker() {
        let mut line = ResultLine::new("W1", "x");
        check_reference(&mut line, 1.0, 1.0, 2.0, 2.0, 1e-8);
        assert!(line.get("MISMATCH").is_none());
        check_reference(&mut line, 1.1, 1.0, f64::NAN, 2.0, 1e-8);
        let Some(Value::Text(t)) = line.get("MISMATCH") else {
            panic!("no marker")
        };
        assert!(t.contains("loss") && t.contains("gradnorm"));
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
