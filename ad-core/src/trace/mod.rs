//! Frozen operation traces: generic code run once on [`TraceVar`] records its operations (the
//! operation codes and operands, not their partial derivatives), and the [`Trace`] replays
//! them at new inputs — values forward, vector-Jacobian products backward — without running
//! the user's code again.
//!
//! The point is speed on code written one scalar at a time. A stencil's right-hand side does
//! the same operations for every cell; the trace finds such runs (a pattern of `P` operations
//! repeated `R` times, each operand's position moving by a fixed stride from one repetition
//! to the next) and replays each operation of the pattern as one loop over the repetitions,
//! over contiguous arrays that the compiler vectorises. W5's 128 × 128 stencil (311 296
//! operations) becomes 2 runs (the interiors of all rows, the boundary cells of all rows); one
//! product takes about 0.26 ms on one thread, against 0.7–1.1 ms of CPU for compressed forward
//! mode and ~1.5 ms for a tape (the hand-written product: 0.04 ms).
//!
//! A trace is valid at every point only if the code did not look at a value: a comparison
//! (`if x > 0.0`), [`Real::value`](crate::Real::value) or a conversion could send other
//! inputs down another path. [`Trace::record`] then fails with [`TraceError::LooksAtValues`]
//! and callers use another method. `max`, `min`, `abs` and the other piecewise functions are
//! operations of the trace (they choose again at every replay) and are fine. A custom
//! [`Block`](crate::Block) cannot be replayed ([`TraceError::Unsupported`]).
//!
//! ```
//! use ad_core::{trace::Trace, Real};
//!
//! // y_i = x_{i-1} x_i sin(x_{i+1}) on a ring
//! fn f<S: Real>(x: &[S], y: &mut [S]) {
//!     let n = x.len();
//!     for i in 0..n {
//!         y[i] = x[(i + n - 1) % n] * x[i] * x[(i + 1) % n].sin();
//!     }
//! }
//! let x = [0.3, 0.5, 0.7, 0.9, 1.1, 1.3];
//! let mut trace = Trace::record(&x, 6, f).unwrap();
//! // replay at another point: the values are what f64 code computes, bit for bit
//! let x2 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let (mut y, mut y2) = ([0.0; 6], [0.0; 6]);
//! trace.eval(&x2, &mut y);
//! f(&x2, &mut y2);
//! assert_eq!(y, y2);
//! // x_bar += J^T w: here w = e_0, so x_bar is the gradient of y_0
//! let mut x_bar = [0.0; 6];
//! trace.vjp(&x2, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut x_bar);
//! assert!((x_bar[0] - 6.0 * 2f64.sin()).abs() < 1e-12); // ∂/∂x0 of x5 x0 sin(x1)
//! assert!((x_bar[1] - 6.0 * 2f64.cos()).abs() < 1e-12);
//! assert!((x_bar[5] - 2f64.sin()).abs() < 1e-12);
//! ```

use std::fmt;

use crate::table;

/// The id of constants (they are not operations of the trace).
const CONST: u32 = u32::MAX;
/// Most operations a trace records (~40 bytes each while recording and compiling).
pub const MAX_OPS: usize = 1 << 24;
/// Longest pattern the run detection looks for, in operations.
const MAX_PERIOD: usize = 4096;
/// Candidate pattern lengths tried at each position.
const MAX_CANDIDATES: usize = 24;
/// Most repetitions a run replays at once.
const CHUNK: usize = 256;
/// Fewest repetitions per segment of a merged run (see [`Src::Run`](compile::Src::Run)).
const MIN_SEGMENT: usize = 32;

/// The operations a trace replays: the derivative table's functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Code {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Powf,
    Atan2,
    Hypot,
    Max,
    Min,
    AbsSub,
    Log,
    Neg,
    Recip,
    Sqrt,
    Cbrt,
    Exp,
    Exp2,
    ExpM1,
    Ln,
    Log2,
    Log10,
    Ln1p,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Abs,
    Fract,
    Floor,
    Ceil,
    Round,
    Trunc,
    Signum,
    ToDegrees,
    ToRadians,
    Powi(i32),
}

/// Runs `$body` with `$f` bound to the value-and-partials function of `$code`:
/// `$f(x, y) = (value, ∂/∂x, ∂/∂y)` (unary functions ignore `y` and give `∂/∂y = 0`). Each
/// arm is its own monomorphised copy of `$body`, so the loops inside inline the function.
macro_rules! with_rule {
    ($code:expr, |$f:ident| $body:expr) => {{
        macro_rules! un {
            ($g:expr) => {{
                let $f = |x: f64, _y: f64| {
                    let (v, d) = $g(x);
                    (v, d, 0.0)
                };
                $body
            }};
        }
        macro_rules! bin {
            ($g:expr) => {{
                let $f = $g;
                $body
            }};
        }
        match $code {
            Code::Add => bin!(|x: f64, y: f64| (x + y, 1.0, 1.0)),
            Code::Sub => bin!(|x: f64, y: f64| (x - y, 1.0, -1.0)),
            Code::Mul => bin!(|x: f64, y: f64| table::mul(x, y)),
            Code::Div => bin!(|x: f64, y: f64| table::div(x, y)),
            Code::Rem => bin!(|x: f64, y: f64| table::rem(x, y)),
            Code::Powf => bin!(|x: f64, y: f64| table::powf(x, y)),
            Code::Atan2 => bin!(|x: f64, y: f64| table::atan2(x, y)),
            Code::Hypot => bin!(|x: f64, y: f64| table::hypot(x, y)),
            Code::Max => bin!(|x: f64, y: f64| table::max(x, y)),
            Code::Min => bin!(|x: f64, y: f64| table::min(x, y)),
            Code::AbsSub => bin!(|x: f64, y: f64| table::abs_sub(x, y)),
            Code::Log => bin!(|x: f64, y: f64| table::log(x, y)),
            Code::Neg => un!(table::neg),
            Code::Recip => un!(table::recip),
            Code::Sqrt => un!(table::sqrt),
            Code::Cbrt => un!(table::cbrt),
            Code::Exp => un!(table::exp),
            Code::Exp2 => un!(table::exp2),
            Code::ExpM1 => un!(table::exp_m1),
            Code::Ln => un!(table::ln),
            Code::Log2 => un!(table::log2),
            Code::Log10 => un!(table::log10),
            Code::Ln1p => un!(table::ln_1p),
            Code::Sin => un!(table::sin),
            Code::Cos => un!(table::cos),
            Code::Tan => un!(table::tan),
            Code::Asin => un!(table::asin),
            Code::Acos => un!(table::acos),
            Code::Atan => un!(table::atan),
            Code::Sinh => un!(table::sinh),
            Code::Cosh => un!(table::cosh),
            Code::Tanh => un!(table::tanh),
            Code::Asinh => un!(table::asinh),
            Code::Acosh => un!(table::acosh),
            Code::Atanh => un!(table::atanh),
            Code::Abs => un!(table::abs),
            Code::Fract => un!(table::fract),
            Code::Floor => un!(|x: f64| table::flat(x.floor())),
            Code::Ceil => un!(|x: f64| table::flat(x.ceil())),
            Code::Round => un!(|x: f64| table::flat(x.round())),
            Code::Trunc => un!(|x: f64| table::flat(x.trunc())),
            Code::Signum => un!(|x: f64| table::flat(x.signum())),
            Code::ToDegrees => un!(table::to_degrees),
            Code::ToRadians => un!(table::to_radians),
            Code::Powi(n) => un!(|x: f64| table::powi(x, n)),
        }
    }};
}

// The stages, one file each (declared after `with_rule!`, which they use): `record` (the
// recording scalar), `compile` (runs of repeated operations), `replay` (values and products),
// `chunk` (the loops that replay one chunk of a run).
mod chunk;
mod compile;
mod record;
mod replay;

use compile::Run;
use replay::Workspace;

pub use record::TraceVar;

/// The value of `code` at `(x, y)`.
fn value_of(code: Code, x: f64, y: f64) -> f64 {
    with_rule!(code, |f| f(x, y).0)
}

/// An operand as recorded: another value of the trace (an input or an operation's result) or
/// a constant.
#[derive(Clone, Copy, Debug)]
enum Arg {
    Id(u32),
    Const(f64),
}

impl Arg {
    fn id(self) -> Option<u32> {
        match self {
            Arg::Id(i) => Some(i),
            Arg::Const(_) => None,
        }
    }
}

/// One recorded operation; unary operations have `b = Const(0.0)`. Its result has id
/// `n_inputs + its index`.
#[derive(Clone, Copy, Debug)]
struct Op {
    code: Code,
    a: Arg,
    b: Arg,
}

/// Why [`Trace::record`] gave no trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceError {
    /// The code compared, converted or otherwise looked at a value that depends on the
    /// inputs: a replay elsewhere could take another branch.
    LooksAtValues,
    /// The code used something a trace cannot replay.
    Unsupported {
        /// What it was.
        what: &'static str,
    },
    /// `Trace::record` was called from code it was recording.
    Nested,
    /// The code ran more operations than the limit ([`MAX_OPS`] for [`Trace::record`]), or
    /// has too many inputs for 32-bit operand ids.
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::LooksAtValues => write!(
                f,
                "the traced code looked at a value that depends on the inputs (a branch, \
                 a comparison or a conversion): a trace would hold at this point only"
            ),
            TraceError::Unsupported { what } => write!(f, "a trace cannot replay {what}"),
            TraceError::Nested => write!(f, "Trace::record called inside a recording"),
            TraceError::TooLarge { limit } => {
                write!(f, "the traced code ran more than {limit} operations")
            }
        }
    }
}

impl std::error::Error for TraceError {}

/// A recorded computation, replayable at any inputs: see the [module docs](self).
///
/// Storage: a global slot for each input and each value read across runs or returned, and
/// one chunk of one run's values and adjoints at a time (per thread). A product first
/// replays only the runs whose values later runs read, then sweeps the runs backwards,
/// replaying each chunk just before its reverse step while its values are in cache. On a
/// stencil, where every run reads only the inputs ("flat"), that is one forward replay in
/// all, and the chunks are cut into a fixed number of shares run in parallel (each adds into
/// its own copy of the inputs' adjoints; the copies are added in share order, so the result
/// is the same bits whatever the number of threads).
#[derive(Clone, Debug)]
pub struct Trace {
    n_inputs: usize,
    n_ops: usize,
    runs: Vec<Run>,
    /// Global slot of each output, or its constant value.
    outputs: Vec<Result<usize, f64>>,
    /// Whether no run reads another's values.
    flat: bool,
    /// Inputs and exported values, by global slot.
    globals: Vec<f64>,
    /// Their adjoints during a product (on the flat path: the outputs' seeds only).
    global_adj: Vec<f64>,
    /// Per share: a chunk's buffers (the first also serves the sequential path).
    work: Vec<Workspace>,
    /// Largest chunk: repetitions and values.
    widest: usize,
    biggest: usize,
    /// Every chunk `(run, first repetition, length)`, in run order (the flat path's tasks).
    tasks: Vec<(usize, usize, usize)>,
    /// Operations times repetitions, summed over the runs.
    element_ops: usize,
}

impl Trace {
    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Number of recorded operations.
    pub fn n_ops(&self) -> usize {
        self.n_ops
    }

    /// Number of runs the operations were grouped into (each replayed as one loop per
    /// operation of its pattern): the fewer, the faster the replay.
    pub fn n_runs(&self) -> usize {
        self.runs.len()
    }
}
