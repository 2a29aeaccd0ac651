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
//! (`if x > 0.0`), [`Real::value`] or a conversion could send other inputs down another
//! path. [`Trace::record`] then fails with [`TraceError::LooksAtValues`] and callers use
//! another method. `max`, `min`, `abs` and the other piecewise functions are operations of the
//! trace (they choose again at every replay) and are fine. A custom [`Block`] cannot be
//! replayed ([`TraceError::Unsupported`]).
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

use std::cell::RefCell;
use std::fmt;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::Float;

use crate::block::Block;
use crate::real::Real;
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
/// Fewest repetitions per segment of a merged run (see [`Src::Run`]).
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

/// The operations recorded so far on this thread.
struct Recorder {
    n_inputs: u32,
    max_ops: usize,
    ops: Vec<Op>,
    flaw: Option<TraceError>,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

fn with_recorder<R>(f: impl FnOnce(&mut Recorder) -> R) -> R {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        let rec = r
            .as_mut()
            .expect("ad_core::trace::TraceVar used outside Trace::record (or on another thread)");
        f(rec)
    })
}

/// A scalar that records every operation on it: the scalar type [`Trace::record`] runs
/// generic code with. Only meaningful inside that call.
#[derive(Clone, Copy)]
pub struct TraceVar {
    value: f64,
    id: u32,
}

impl TraceVar {
    /// A constant (not an operation of the trace).
    pub const fn constant(value: f64) -> Self {
        TraceVar { value, id: CONST }
    }

    fn arg(self) -> Arg {
        if self.id == CONST {
            Arg::Const(self.value)
        } else {
            Arg::Id(self.id)
        }
    }

    /// Records `code(self, b)`; constants fold.
    #[inline]
    fn op(self, code: Code, b: Self) -> Self {
        let value = value_of(code, self.value, b.value);
        if self.id == CONST && b.id == CONST {
            return TraceVar::constant(value);
        }
        let (a, b) = (self.arg(), b.arg());
        let id = with_recorder(|r| {
            if r.flaw.is_some() {
                // the recording is void: stop growing it
                return None;
            }
            if r.ops.len() >= r.max_ops {
                r.flaw = Some(TraceError::TooLarge { limit: r.max_ops });
                return None;
            }
            r.ops.push(Op { code, a, b });
            Some(r.n_inputs + r.ops.len() as u32 - 1)
        });
        id.map_or(TraceVar::constant(value), |id| TraceVar { value, id })
    }

    #[inline]
    fn unary(self, code: Code) -> Self {
        self.op(code, TraceVar::constant(0.0))
    }

    /// Notes that the traced code looked at this value.
    fn looked_at(&self) {
        if self.id != CONST {
            with_recorder(|r| {
                r.flaw.get_or_insert(TraceError::LooksAtValues);
            });
        }
    }
}

impl fmt::Debug for TraceVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceVar({:?} #{})", self.value, self.id)
    }
}

traced_scalar_impls!(TraceVar);

macro_rules! binary_ops {
    ($($tr:ident $m:ident $atr:ident $am:ident $code:ident;)*) => {$(
        impl $tr for TraceVar {
            type Output = Self;
            #[inline]
            fn $m(self, b: Self) -> Self {
                self.op(Code::$code, b)
            }
        }
        impl $tr<f64> for TraceVar {
            type Output = Self;
            #[inline]
            fn $m(self, b: f64) -> Self {
                self.op(Code::$code, TraceVar::constant(b))
            }
        }
        impl $tr<TraceVar> for f64 {
            type Output = TraceVar;
            #[inline]
            fn $m(self, b: TraceVar) -> TraceVar {
                TraceVar::constant(self).op(Code::$code, b)
            }
        }
        impl $atr for TraceVar {
            #[inline]
            fn $am(&mut self, b: Self) {
                *self = (*self).$m(b);
            }
        }
        impl $atr<f64> for TraceVar {
            #[inline]
            fn $am(&mut self, b: f64) {
                *self = (*self).$m(b);
            }
        }
    )*};
}
binary_ops! {
    Add add AddAssign add_assign Add;
    Sub sub SubAssign sub_assign Sub;
    Mul mul MulAssign mul_assign Mul;
    Div div DivAssign div_assign Div;
    Rem rem RemAssign rem_assign Rem;
}

impl Neg for TraceVar {
    type Output = Self;
    fn neg(self) -> Self {
        self.unary(Code::Neg)
    }
}

macro_rules! unary_fns {
    ($($f:ident $code:ident)*) => {$(
        fn $f(self) -> Self {
            self.unary(Code::$code)
        }
    )*};
}
macro_rules! binary_fns {
    ($($f:ident $code:ident)*) => {$(
        fn $f(self, b: Self) -> Self {
            self.op(Code::$code, b)
        }
    )*};
}

impl Float for TraceVar {
    traced_float_basics!(TraceVar);
    unary_fns!(fract Fract abs Abs recip Recip sqrt Sqrt exp Exp exp2 Exp2 ln Ln log2 Log2
        log10 Log10 to_degrees ToDegrees to_radians ToRadians cbrt Cbrt sin Sin cos Cos tan Tan
        asin Asin acos Acos atan Atan exp_m1 ExpM1 ln_1p Ln1p sinh Sinh cosh Cosh tanh Tanh
        asinh Asinh acosh Acosh atanh Atanh floor Floor ceil Ceil round Round trunc Trunc
        signum Signum);
    binary_fns!(powf Powf log Log max Max min Min hypot Hypot atan2 Atan2 abs_sub AbsSub);

    /// Recorded as a product and a sum: the replayed value is `a * b + c` rounded twice,
    /// which may differ from the fused `f64::mul_add` in the last bit.
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }
    fn powi(self, n: i32) -> Self {
        self.unary(Code::Powi(n))
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
}

impl Real for TraceVar {
    type Array = ndarray::Array1<TraceVar>;

    /// The value; makes the recording fail if this depends on the inputs.
    fn value(&self) -> f64 {
        self.looked_at();
        self.value
    }
    fn cst(c: f64) -> Self {
        TraceVar::constant(c)
    }
    fn is_constant(&self) -> bool {
        self.id == CONST
    }
    /// Not replayable: makes the recording fail (the outputs carry the block's values).
    fn apply_block<B: Block>(block: B, inputs: &[Self], outputs: &mut [Self]) {
        let x: Vec<f64> = inputs.iter().map(|t| t.value).collect();
        let mut y = vec![0.0; outputs.len()];
        block.forward(&x, &mut y);
        if inputs.iter().any(|t| t.id != CONST) {
            with_recorder(|r| {
                r.flaw.get_or_insert(TraceError::Unsupported {
                    what: "a custom Block",
                });
            });
        }
        for (o, v) in outputs.iter_mut().zip(y) {
            *o = TraceVar::constant(v);
        }
    }
}

// ---- the compiled trace ----

/// Where an operand of a run's operation comes from, per repetition `r`.
#[derive(Clone, Debug)]
enum Src {
    /// Row `row` of the run's own values (an earlier operation of the same repetition).
    Local { row: usize },
    /// Global slot `starts[r / seg] + (r % seg) stride` (an input, or a value an earlier run
    /// exported): repetitions come in segments of `seg` (the merged pieces of a run, a
    /// stencil's rows), affine inside each.
    Run {
        starts: Box<[u32]>,
        stride: isize,
        seg: usize,
    },
    /// Global slot `slots[r]`.
    List(Box<[u32]>),
    /// The same constant for every repetition.
    Const(f64),
    /// Constant `values[r]`.
    Consts(Box<[f64]>),
}

/// The global slot of a [`Src::Run`] at repetition `r`.
#[inline(always)]
fn run_slot(starts: &[u32], stride: isize, seg: usize, r: usize) -> usize {
    (starts[r / seg] as isize + (r % seg) as isize * stride) as usize
}

/// Operation `k` of a run's pattern: row `k` of the run's values gets `code(a_r, b_r)` at
/// repetition `r`; with `export`, the row is also stored at global slots `export + r` (other
/// runs or the outputs read it).
#[derive(Clone, Debug)]
struct RunOp {
    code: Code,
    a: Src,
    b: Src,
    export: Option<usize>,
}

/// A pattern of operations repeated `reps` times. It runs in chunks of at most [`CHUNK`]
/// repetitions, each chunk's values in a buffer of `ops.len() × chunk` (one row per
/// operation) small enough to stay in cache.
#[derive(Clone, Debug)]
struct Run {
    reps: usize,
    /// Repetitions per segment (see [`Src::Run`]): a chunk of work never straddles two.
    seg: usize,
    /// Scattered operands (`List`s, strided `Run`s), gathered once per chunk into the first
    /// rows of the chunk's values (their adjoints scattered back once at its end): a value
    /// read by several operations is fetched once, and the operations read rows.
    stage: Vec<Src>,
    /// The operations; operation `k` writes row `stage.len() + k`.
    ops: Vec<RunOp>,
    /// Whether a later run reads a value this one exports (else only the outputs do, and a
    /// product need not run it forward first).
    feeds_later: bool,
}

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

/// One share's buffers: a chunk's values and adjoints (staged operands first), the adjoint
/// terms of the less common operations, and on the flat path its own adjoints of the inputs.
#[derive(Clone, Debug, Default)]
struct Workspace {
    local: Vec<f64>,
    local_adj: Vec<f64>,
    scratch: [Vec<f64>; 2],
    input_adj: Vec<f64>,
    /// Whether `input_adj` may hold a sum not added to the result yet (else it is zero).
    adj_dirty: bool,
    /// Per row of the chunk's adjoints: nothing added yet.
    fresh: Vec<bool>,
}

impl Workspace {
    fn new(biggest: usize, widest: usize) -> Self {
        Workspace {
            local: vec![0.0; biggest],
            local_adj: vec![0.0; biggest],
            scratch: std::array::from_fn(|_| vec![0.0; widest]),
            input_adj: Vec::new(),
            adj_dirty: false,
            fresh: Vec::new(),
        }
    }
}

/// Element-operations of a product above which the flat path splits its chunks into
/// [`SHARES`] shares run in parallel.
const PAR_WORK: usize = 1 << 16;
/// Shares of a large flat product: fixed, so that the order of the sums does not depend on
/// the number of threads (each share costs a pass over the inputs' adjoints to add it).
const SHARES: usize = 4;

impl Trace {
    /// Runs `f` once on [`TraceVar`]s holding the values `x` (`f` writes `n_out` outputs) and
    /// compiles what it did into runs of repeated operations.
    ///
    /// # Errors
    /// [`TraceError::LooksAtValues`] if `f` looked at a value that depends on `x`,
    /// [`TraceError::Unsupported`] if it applied a custom [`Block`], [`TraceError::Nested`]
    /// if called while recording, [`TraceError::TooLarge`] past [`MAX_OPS`] operations.
    pub fn record<F>(x: &[f64], n_out: usize, f: F) -> Result<Trace, TraceError>
    where
        F: FnOnce(&[TraceVar], &mut [TraceVar]),
    {
        Trace::record_with_limit(x, n_out, MAX_OPS, f)
    }

    /// As [`Trace::record`], with at most `max_ops` operations (memory while recording and
    /// compiling: ~40 bytes per operation).
    ///
    /// # Errors
    /// As [`Trace::record`]; [`TraceError::TooLarge`] past `max_ops` operations.
    pub fn record_with_limit<F>(
        x: &[f64],
        n_out: usize,
        max_ops: usize,
        f: F,
    ) -> Result<Trace, TraceError>
    where
        F: FnOnce(&[TraceVar], &mut [TraceVar]),
    {
        // operand ids are u32, constants take u32::MAX
        let max_ops = max_ops.min((u32::MAX as usize - 1).saturating_sub(x.len()));
        if max_ops == 0 {
            return Err(TraceError::TooLarge { limit: 0 });
        }
        let nested = RECORDER.with(|r| {
            let mut r = r.borrow_mut();
            if r.is_some() {
                return true;
            }
            *r = Some(Recorder {
                n_inputs: x.len() as u32,
                max_ops,
                ops: Vec::new(),
                flaw: None,
            });
            false
        });
        if nested {
            return Err(TraceError::Nested);
        }
        // take the recorder back however `f` ends (a panic in user code propagates)
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                RECORDER.with(|r| r.borrow_mut().take());
            }
        }
        let reset = Reset;
        let inputs: Vec<TraceVar> = x
            .iter()
            .enumerate()
            .map(|(j, &value)| TraceVar {
                value,
                id: j as u32,
            })
            .collect();
        let mut out = vec![TraceVar::constant(0.0); n_out];
        f(&inputs, &mut out);
        let rec = RECORDER
            .with(|r| r.borrow_mut().take())
            .expect("the recorder is set");
        drop(reset);
        if let Some(flaw) = rec.flaw {
            return Err(flaw);
        }
        let outputs: Vec<Arg> = out.iter().map(|o| o.arg()).collect();
        Ok(compile(x.len(), &rec.ops, &outputs))
    }

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

    /// Writes the outputs at `x` into `y`.
    ///
    /// # Panics
    /// If `x` or `y` have the wrong length.
    pub fn eval(&mut self, x: &[f64], y: &mut [f64]) {
        assert_eq!(y.len(), self.outputs.len(), "Trace::eval: output length");
        self.load(x);
        for i in 0..self.runs.len() {
            self.forward_run(i);
        }
        for (y, o) in y.iter_mut().zip(&self.outputs) {
            *y = match *o {
                Ok(s) => self.globals[s],
                Err(c) => c,
            };
        }
    }

    /// ADDS `J^T w` to `x_bar`, `J` the Jacobian at `x`: the reverse sweep
    /// `adj(operand) += adj(result) · ∂result/∂operand` over the recorded operations, with the
    /// derivative table's partials at the replayed values.
    ///
    /// # Panics
    /// If `x`, `w` or `x_bar` have the wrong length.
    pub fn vjp(&mut self, x: &[f64], w: &[f64], x_bar: &mut [f64]) {
        assert_eq!(w.len(), self.outputs.len(), "Trace::vjp: cotangent length");
        assert_eq!(x_bar.len(), self.n_inputs, "Trace::vjp: x_bar length");
        self.load(x);
        for i in 0..self.runs.len() {
            if self.runs[i].feeds_later {
                self.forward_run(i);
            }
        }
        if self.flat {
            // only the outputs' slots are read: seed them, leave the rest
            self.global_adj.resize(self.globals.len(), 0.0);
            for o in &self.outputs {
                if let Ok(s) = *o {
                    self.global_adj[s] = 0.0;
                }
            }
        } else {
            self.global_adj.clear();
            self.global_adj.resize(self.globals.len(), 0.0);
        }
        for (o, &wi) in self.outputs.iter().zip(w) {
            match *o {
                // an output that is an input: its cotangent goes straight to the input
                Ok(s) if s < self.n_inputs => x_bar[s] += wi,
                Ok(s) => self.global_adj[s] += wi,
                Err(_) => {}
            }
        }
        if self.flat {
            return self.flat_reverse(x_bar);
        }
        let ws = &mut self.work[0];
        for run in self.runs.iter().rev() {
            for (r0, len) in chunks(run) {
                chunk_forward(run, r0, len, ws, Globals::Write(&mut self.globals));
                chunk_reverse(run, r0, len, ws, &self.globals, None, &mut self.global_adj);
            }
        }
        for (b, a) in x_bar.iter_mut().zip(&self.global_adj) {
            *b += a;
        }
    }

    fn load(&mut self, x: &[f64]) {
        assert_eq!(x.len(), self.n_inputs, "Trace: input length");
        self.globals[..x.len()].copy_from_slice(x);
    }

    /// Replays run `i` (its exported rows into `globals`).
    fn forward_run(&mut self, i: usize) {
        let run = &self.runs[i];
        for (r0, len) in chunks(run) {
            chunk_forward(
                run,
                r0,
                len,
                &mut self.work[0],
                Globals::Write(&mut self.globals),
            );
        }
    }

    /// The reverse sweep of a flat trace: every chunk reads only inputs, so the chunks are
    /// independent; they are cut into [`SHARES`] shares (one when the work is small), each
    /// adding into its own adjoints of the inputs, which are then added in share order. The
    /// cut depends on the trace only, never on the number of threads, so the product is the
    /// same bits on any rayon pool.
    fn flat_reverse(&mut self, x_bar: &mut [f64]) {
        let (tasks, work) = (&self.tasks, self.element_ops);
        let n_shares = if work >= PAR_WORK {
            SHARES.min(tasks.len()).max(1)
        } else {
            1
        };
        while self.work.len() < n_shares {
            self.work.push(Workspace::new(self.biggest, self.widest));
        }
        // equal shares of element-operations, in task order
        let per = work.div_ceil(n_shares);
        let mut shares: Vec<&[(usize, usize, usize)]> = Vec::with_capacity(n_shares);
        let (mut from, mut acc) = (0, 0);
        for (t, &(i, _, len)) in tasks.iter().enumerate() {
            acc += len * self.runs[i].ops.len();
            if acc >= per * (shares.len() + 1) && shares.len() + 1 < n_shares {
                shares.push(&tasks[from..=t]);
                from = t + 1;
            }
        }
        shares.push(&tasks[from..]);
        let (runs, globals, seeds) = (&self.runs, &self.globals, &*self.global_adj);
        let run_share = |ws: &mut Workspace, share: &[(usize, usize, usize)], to: &mut [f64]| {
            for &(i, r0, len) in share {
                chunk_forward(&runs[i], r0, len, ws, Globals::Read(globals));
                chunk_reverse(&runs[i], r0, len, ws, globals, Some(seeds), to);
            }
        };
        // the first share adds into `x_bar` itself, the others into their own buffers
        let (ws0, others) = self.work.split_first_mut().expect("one workspace at least");
        let others = &mut others[..shares.len() - 1];
        let n_in = self.n_inputs;
        let rest = |ws: &mut Workspace, share: &&[(usize, usize, usize)]| {
            let mut to = std::mem::take(&mut ws.input_adj);
            // left zeroed by the previous product's sum below, unless new or not summed
            if to.len() != n_in || ws.adj_dirty {
                to.clear();
                to.resize(n_in, 0.0);
            }
            ws.adj_dirty = true;
            run_share(ws, share, &mut to);
            ws.input_adj = to;
        };
        if others.is_empty() {
            run_share(ws0, shares[0], x_bar);
            return;
        }
        rayon::join(
            || run_share(ws0, shares[0], x_bar),
            || {
                use rayon::prelude::*;
                others
                    .par_iter_mut()
                    .zip(&shares[1..])
                    .for_each(|(ws, share)| rest(ws, share))
            },
        );
        // in share order; zeroing each buffer as it is read saves a pass at the next product
        for ws in others.iter_mut() {
            for (b, a) in x_bar.iter_mut().zip(ws.input_adj.iter_mut()) {
                *b += *a;
                *a = 0.0;
            }
            ws.adj_dirty = false;
        }
    }
}

/// The global values a chunk reads, and whether it stores its exported rows among them.
enum Globals<'a> {
    Read(&'a [f64]),
    Write(&'a mut [f64]),
}

/// Replays repetitions `r0..r0 + len` of `run` into the workspace's `local` (and, with
/// [`Globals::Write`], its exported rows into the globals).
#[inline(always)]
fn chunk_forward_body(run: &Run, r0: usize, len: usize, ws: &mut Workspace, mut globals: Globals) {
    let g: &[f64] = match &globals {
        Globals::Read(g) => g,
        Globals::Write(g) => g,
    };
    for (s, src) in run.stage.iter().enumerate() {
        gather(src, g, r0, &mut ws.local[s * len..(s + 1) * len]);
    }
    let n_stage = run.stage.len();
    for (k, op) in run.ops.iter().enumerate() {
        let (rows, rest) = ws.local.split_at_mut((n_stage + k) * len);
        let out = &mut rest[..len];
        let g: &[f64] = match &globals {
            Globals::Read(g) => g,
            Globals::Write(g) => g,
        };
        let a = view(&op.a, rows, g, r0, len);
        let b = view(&op.b, rows, g, r0, len);
        // the common operations get loops specialised to their operands' kinds; the others
        // one loop each (keeping the dispatching functions small enough for the caches)
        match op.code {
            Code::Add => map(out, a, b, |x, y| x + y),
            Code::Sub => map(out, a, b, |x, y| x - y),
            Code::Mul => map(out, a, b, |x, y| table::mul(x, y).0),
            Code::Div => map(out, a, b, |x, y| table::div(x, y).0),
            code => with_rule!(code, |f| {
                for (r, o) in out.iter_mut().enumerate() {
                    *o = f(get(a, r), get(b, r)).0;
                }
            }),
        }
        if let (Some(e), Globals::Write(g)) = (op.export, &mut globals) {
            g[e + r0..e + r0 + len].copy_from_slice(out);
        }
    }
}

/// The reverse step of repetitions `r0..r0 + len` of `run`, whose values are in the
/// workspace: the exported rows start from their `seeds` (by global slot; `None`: read them
/// from `targets`), the operands' adjoints are added into `targets` (global slots).
#[inline(always)]
fn chunk_reverse_body(
    run: &Run,
    r0: usize,
    len: usize,
    ws: &mut Workspace,
    globals: &[f64],
    seeds: Option<&[f64]>,
    targets: &mut [f64],
) {
    let n_stage = run.stage.len();
    let ladj = &mut ws.local_adj[..(n_stage + run.ops.len()) * len];
    // rows nothing has flowed into yet: the first contribution is stored, not added (no
    // clearing), and an operation whose row stays fresh is skipped (its result is unused)
    let fresh = &mut ws.fresh;
    fresh.clear();
    fresh.resize(n_stage + run.ops.len(), true);
    let [ta, tb] = &mut ws.scratch;
    for (k, op) in run.ops.iter().enumerate().rev() {
        let row = n_stage + k;
        let (adj_rows, adj_rest) = ladj.split_at_mut(row * len);
        let g = &mut adj_rest[..len];
        if let Some(e) = op.export {
            let seeds = &seeds.unwrap_or(targets)[e + r0..e + r0 + len];
            if std::mem::replace(&mut fresh[row], false) {
                g.copy_from_slice(seeds);
            } else {
                for (g, &a) in g.iter_mut().zip(seeds) {
                    *g += a;
                }
            }
        }
        if fresh[row] {
            continue;
        }
        let rows = &ws.local[..row * len];
        let a = view(&op.a, rows, globals, r0, len);
        let b = view(&op.b, rows, globals, r0, len);
        let g = &*g;
        let (ta, tb) = (&mut ta[..len], &mut tb[..len]);
        macro_rules! fused_both {
            ($f:expr) => {{
                let f = $f;
                accumulate(&op.a, adj_rows, fresh, targets, r0, a, b, g, ta, |x, y| {
                    f(x, y).1
                });
                accumulate(&op.b, adj_rows, fresh, targets, r0, a, b, g, ta, |x, y| {
                    f(x, y).2
                });
            }};
        }
        match op.code {
            Code::Add => fused_both!(|_: f64, _: f64| (0.0, 1.0, 1.0)),
            Code::Sub => fused_both!(|_: f64, _: f64| (0.0, 1.0, -1.0)),
            Code::Mul => fused_both!(|x: f64, y: f64| table::mul(x, y)),
            Code::Div => fused_both!(|x: f64, y: f64| table::div(x, y)),
            code => {
                with_rule!(code, |f| {
                    for r in 0..len {
                        let (_, da, db) = f(get(a, r), get(b, r));
                        ta[r] = g[r] * da;
                        tb[r] = g[r] * db;
                    }
                });
                add_terms(&op.a, adj_rows, fresh, targets, r0, ta);
                add_terms(&op.b, adj_rows, fresh, targets, r0, tb);
            }
        }
    }
    for (s, src) in run.stage.iter().enumerate() {
        if !fresh[s] {
            scatter(src, targets, r0, &ladj[s * len..(s + 1) * len]);
        }
    }
}

/// Defines `$name`, which runs `$body` compiled for AVX2 when the processor has it (the
/// replay loops are ours, so they can be built for the host's vector width at run time: 4
/// lanes instead of SSE2's 2) and as built otherwise. The results are the same bit for bit:
/// the same operations in the same order, no fused multiply-adds.
macro_rules! dispatched {
    ($name:ident, $avx2:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2 (just checked).
                return unsafe { $avx2($($arg),*) };
            }
            $body($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2($($arg: $ty),*) {
            $body($($arg),*)
        }
    };
}
dispatched!(chunk_forward, chunk_forward_avx2, chunk_forward_body,
    (run: &Run, r0: usize, len: usize, ws: &mut Workspace, globals: Globals));
dispatched!(chunk_reverse, chunk_reverse_avx2, chunk_reverse_body,
    (run: &Run, r0: usize, len: usize, ws: &mut Workspace, globals: &[f64],
     seeds: Option<&[f64]>, targets: &mut [f64]));

/// The chunks `(first repetition, length)` run `run` is replayed in: at most [`CHUNK`]
/// repetitions, never across a segment boundary.
fn chunks(run: &Run) -> impl Iterator<Item = (usize, usize)> {
    let (reps, seg) = (run.reps, run.seg);
    (0..reps).step_by(seg).flat_map(move |s0| {
        let end = (s0 + seg).min(reps);
        (s0..end)
            .step_by(CHUNK)
            .map(move |r0| (r0, CHUNK.min(end - r0)))
    })
}

/// An operand over the repetitions of a chunk: a slice of values or one value for all.
#[derive(Clone, Copy)]
enum View<'a> {
    Slice(&'a [f64]),
    Scalar(f64),
}

/// `src` over repetitions `r0..r0 + len`, reading the chunk's earlier `rows` and the
/// `globals`. Scattered operands (`List`s, strided `Run`s) never get here: the run's stage
/// gathered them into rows.
#[inline(always)]
fn view<'a>(src: &'a Src, rows: &'a [f64], globals: &'a [f64], r0: usize, len: usize) -> View<'a> {
    match *src {
        Src::Local { row } => View::Slice(&rows[row * len..(row + 1) * len]),
        Src::Const(c) => View::Scalar(c),
        Src::Consts(ref v) => View::Slice(&v[r0..r0 + len]),
        Src::Run {
            ref starts,
            stride: stride @ (0 | 1),
            seg,
        } => {
            let first = run_slot(starts, stride, seg, r0);
            if stride == 1 {
                View::Slice(&globals[first..first + len])
            } else {
                View::Scalar(globals[first])
            }
        }
        Src::Run { .. } | Src::List(_) => unreachable!("scattered operands are staged"),
    }
}

/// Writes the values of a scattered operand (`List`, strided `Run`) at repetitions
/// `r0..r0 + out.len()` into `out`.
#[inline(always)]
fn gather(src: &Src, globals: &[f64], r0: usize, out: &mut [f64]) {
    match *src {
        Src::Run {
            ref starts,
            stride,
            seg,
        } => {
            let first = run_slot(starts, stride, seg, r0) as isize;
            for (r, o) in out.iter_mut().enumerate() {
                *o = globals[(first + r as isize * stride) as usize];
            }
        }
        Src::List(ref slots) => {
            for (o, &s) in out.iter_mut().zip(&slots[r0..]) {
                *o = globals[s as usize];
            }
        }
        _ => unreachable!("gather: only scattered operands are staged"),
    }
}

/// `out[r] = f(a_r, b_r)`.
#[inline(always)]
fn map(out: &mut [f64], a: View, b: View, f: impl Fn(f64, f64) -> f64) {
    match (a, b) {
        (View::Slice(a), View::Slice(b)) => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        }
        (View::Slice(a), View::Scalar(y)) => {
            for (o, &x) in out.iter_mut().zip(a) {
                *o = f(x, y);
            }
        }
        (View::Scalar(x), View::Slice(b)) => {
            for (o, &y) in out.iter_mut().zip(b) {
                *o = f(x, y);
            }
        }
        (View::Scalar(x), View::Scalar(y)) => out.fill(f(x, y)),
    }
}

/// Where the adjoint terms of an operand go, over a chunk's repetitions.
enum Target<'a> {
    /// A constant: nowhere.
    Nowhere,
    /// A row of the chunk's adjoints nothing was added to yet: store.
    Store(&'a mut [f64]),
    /// A row or contiguous global slots: add.
    Add(&'a mut [f64]),
    /// Strided, broadcast or listed global slots: [`scatter`].
    Scatter,
}

/// The [`Target`] of `src` at repetitions `r0..r0 + len`: a row of the chunk's adjoints `rows`
/// (marked no longer `fresh`) or global slots.
#[inline(always)]
fn target<'a>(
    src: &Src,
    rows: &'a mut [f64],
    fresh: &mut [bool],
    globals: &'a mut [f64],
    r0: usize,
    len: usize,
) -> Target<'a> {
    match *src {
        Src::Const(_) | Src::Consts(_) => Target::Nowhere,
        Src::Local { row } => {
            let t = &mut rows[row * len..(row + 1) * len];
            if std::mem::replace(&mut fresh[row], false) {
                Target::Store(t)
            } else {
                Target::Add(t)
            }
        }
        Src::Run {
            ref starts,
            stride: 1,
            seg,
        } => {
            let first = run_slot(starts, 1, seg, r0);
            Target::Add(&mut globals[first..first + len])
        }
        _ => Target::Scatter,
    }
}

/// Adds `g[r] d(a_r, b_r)` to the adjoint of `src` at repetitions `r0 + r` (`d` one of the
/// operation's partials), fused into one loop for rows and contiguous slots; scattered slots
/// go through `tmp`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn accumulate(
    src: &Src,
    rows: &mut [f64],
    fresh: &mut [bool],
    globals: &mut [f64],
    r0: usize,
    a: View,
    b: View,
    g: &[f64],
    tmp: &mut [f64],
    d: impl Fn(f64, f64) -> f64,
) {
    match target(src, rows, fresh, globals, r0, g.len()) {
        Target::Nowhere => {}
        Target::Store(t) => fused(t, a, b, g, d, |t, v| *t = v),
        Target::Add(t) => fused(t, a, b, g, d, |t, v| *t += v),
        Target::Scatter => {
            for (r, t) in tmp.iter_mut().enumerate() {
                *t = g[r] * d(get(a, r), get(b, r));
            }
            scatter(src, globals, r0, tmp);
        }
    }
}

/// Adds the precomputed `terms[r]` to the adjoint of `src` at repetitions `r0 + r` (as
/// [`accumulate`], for the less common operations).
#[inline(always)]
fn add_terms(
    src: &Src,
    rows: &mut [f64],
    fresh: &mut [bool],
    globals: &mut [f64],
    r0: usize,
    terms: &[f64],
) {
    match target(src, rows, fresh, globals, r0, terms.len()) {
        Target::Nowhere => {}
        Target::Store(t) => t.copy_from_slice(terms),
        Target::Add(t) => {
            for (t, &v) in t.iter_mut().zip(terms) {
                *t += v;
            }
        }
        Target::Scatter => scatter(src, globals, r0, terms),
    }
}

/// `put(target[r], g[r] d(a_r, b_r))` for every `r`: one loop per kind of operands.
#[inline(always)]
fn fused(
    target: &mut [f64],
    a: View,
    b: View,
    g: &[f64],
    d: impl Fn(f64, f64) -> f64,
    put: impl Fn(&mut f64, f64),
) {
    match (a, b) {
        (View::Slice(a), View::Slice(b)) => {
            for (((t, &g), &x), &y) in target.iter_mut().zip(g).zip(a).zip(b) {
                put(t, g * d(x, y));
            }
        }
        (View::Slice(a), View::Scalar(y)) => {
            for ((t, &g), &x) in target.iter_mut().zip(g).zip(a) {
                put(t, g * d(x, y));
            }
        }
        (View::Scalar(x), View::Slice(b)) => {
            for ((t, &g), &y) in target.iter_mut().zip(g).zip(b) {
                put(t, g * d(x, y));
            }
        }
        (View::Scalar(x), View::Scalar(y)) => {
            let dv = d(x, y);
            for (t, &g) in target.iter_mut().zip(g) {
                put(t, g * dv);
            }
        }
    }
}

/// Element `r` of a view.
#[inline(always)]
fn get(v: View, r: usize) -> f64 {
    match v {
        View::Slice(s) => s[r],
        View::Scalar(x) => x,
    }
}

/// Adds `d[r]` to the global slot of `src` (a `Run` or a `List`) at repetition `r0 + r`.
fn scatter(src: &Src, globals: &mut [f64], r0: usize, d: &[f64]) {
    match *src {
        Src::Run {
            ref starts,
            stride,
            seg,
        } => {
            let first = run_slot(starts, stride, seg, r0);
            if stride == 0 {
                globals[first] += d.iter().sum::<f64>();
            } else {
                for (r, &v) in d.iter().enumerate() {
                    globals[(first as isize + r as isize * stride) as usize] += v;
                }
            }
        }
        Src::List(ref slots) => {
            for (&s, &v) in slots[r0..r0 + d.len()].iter().zip(d) {
                globals[s as usize] += v;
            }
        }
        Src::Local { .. } | Src::Const(_) | Src::Consts(_) => {
            unreachable!("scatter: contiguous targets and constants are handled by accumulate")
        }
    }
}

// ---- finding runs ----

/// Whether two operations have the same code and the same kinds of operands.
fn same_shape(p: &Op, q: &Op) -> bool {
    p.code == q.code
        && matches!(
            (p.a, q.a),
            (Arg::Id(_), Arg::Id(_)) | (Arg::Const(_), Arg::Const(_))
        )
        && matches!(
            (p.b, q.b),
            (Arg::Id(_), Arg::Id(_)) | (Arg::Const(_), Arg::Const(_))
        )
}

/// The number of repetitions of the pattern `ops[s..s + p]` starting at `s` (at least 1).
/// Repetition `r` must have the same codes and operand kinds, and each operand id must move
/// by a fixed stride: `x_r = x_0 + r d`, where an operand inside the pattern refers to an
/// earlier operation of the same repetition (`d = p`) and one outside it to a value
/// computed before the run starts (so that every operation of the pattern can run for all
/// repetitions at once).
fn repetitions(ops: &[Op], n_in: usize, s: usize, p: usize) -> usize {
    let start_id = (n_in + s) as i64;
    // operand ids of repetition 0 and their strides (from repetition 1)
    let mut strides: Vec<[i64; 2]> = Vec::with_capacity(p);
    if s + 2 * p > ops.len() {
        return 1;
    }
    for k in 0..p {
        let (o0, o1) = (&ops[s + k], &ops[s + p + k]);
        if !same_shape(o0, o1) {
            return 1;
        }
        let mut d = [0i64; 2];
        for (slot, (x0, x1)) in [(o0.a, o1.a), (o0.b, o1.b)].into_iter().enumerate() {
            if let (Some(x0), Some(x1)) = (x0.id(), x1.id()) {
                let (x0, x1) = (x0 as i64, x1 as i64);
                let inside = x0 >= start_id;
                // inside: an earlier operation of the same repetition
                if inside && (x0 >= start_id + k as i64 || x1 != x0 + p as i64) {
                    return 1;
                }
                if !inside && x1 >= start_id {
                    return 1;
                }
                d[slot] = x1 - x0;
            }
        }
        strides.push(d);
    }
    let mut reps = 2;
    'more: while s + (reps + 1) * p <= ops.len() {
        let r = reps as i64;
        for k in 0..p {
            let (o0, or) = (&ops[s + k], &ops[s + reps * p + k]);
            if !same_shape(o0, or) {
                break 'more;
            }
            for (slot, (x0, xr)) in [(o0.a, or.a), (o0.b, or.b)].into_iter().enumerate() {
                if let (Some(x0), Some(xr)) = (x0.id(), xr.id()) {
                    let (x0, xr) = (x0 as i64, xr as i64);
                    if xr != x0 + r * strides[k][slot] || (x0 < start_id && xr >= start_id) {
                        break 'more;
                    }
                }
            }
        }
        reps += 1;
    }
    reps
}

/// The best run starting at `s`: `(pattern length, repetitions)` covering the most
/// operations among the candidate lengths (the distances to the next operations of the same
/// shape), `(1, 1)` if nothing repeats.
fn best_run(ops: &[Op], n_in: usize, s: usize) -> (usize, usize) {
    let mut best = (1, 1);
    let end = ops.len().min(s + MAX_PERIOD + 1);
    let candidates = (s + 1..end)
        .filter(|&q| same_shape(&ops[s], &ops[q]))
        .take(MAX_CANDIDATES);
    for q in candidates {
        let p = q - s;
        let reps = repetitions(ops, n_in, s, p);
        if reps >= 2 && p * reps > best.0 * best.1 {
            best = (p, reps);
        }
    }
    best
}

/// How operation `k` of a pattern starting at op `s` reads an operand: a constant (`-1`), a
/// value from before the pattern (`-2`) or row `k'` of the same repetition (`k'`).
fn operand_kind(arg: Arg, n_in: usize, s: usize) -> i64 {
    match arg {
        Arg::Const(_) => -1,
        Arg::Id(x) if (x as usize) < n_in + s => -2,
        Arg::Id(x) => (x as usize - n_in - s) as i64,
    }
}

/// Groups `ops` into runs, decides which values are exported (read by another run or
/// returned) and gives them global slots after the inputs.
///
/// Runs are found left to right ([`best_run`]); then runs with the same pattern are merged
/// into the first of them when everything they read from outside was computed before it (a
/// stencil's boundary cells, one pattern per row, become one run): fewer, longer loops.
fn compile(n_in: usize, ops: &[Op], outputs: &[Arg]) -> Trace {
    use std::collections::HashMap;
    // the runs: pattern length and the first op of each repetition
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    // per run, the repetitions each merged piece brought
    let mut pieces: Vec<Vec<usize>> = Vec::new();
    let mut by_pattern: HashMap<Vec<(Code, i64, i64)>, usize> = HashMap::new();
    let mut s = 0;
    while s < ops.len() {
        let (p, reps) = best_run(ops, n_in, s);
        let pattern: Vec<(Code, i64, i64)> = ops[s..s + p]
            .iter()
            .map(|o| {
                (
                    o.code,
                    operand_kind(o.a, n_in, s),
                    operand_kind(o.b, n_in, s),
                )
            })
            .collect();
        let read_before = ops[s..s + p * reps]
            .iter()
            .flat_map(|o| [o.a.id(), o.b.id()])
            .flatten()
            .map(|x| x as usize)
            .filter(|&x| x < n_in + s)
            .max();
        let firsts = (0..reps).map(|r| s + r * p);
        match by_pattern.get(&pattern) {
            Some(&g) if read_before.map_or(true, |x| x < n_in + groups[g].1[0]) => {
                groups[g].1.extend(firsts);
                pieces[g].push(reps);
            }
            _ => {
                by_pattern.insert(pattern, groups.len());
                groups.push((p, firsts.collect()));
                pieces.push(vec![reps]);
            }
        }
        s += p * reps;
    }
    // where each operation landed: (run, row, repetition)
    let mut place = vec![(0u32, 0u32, 0u32); ops.len()];
    for (i, (p, firsts)) in groups.iter().enumerate() {
        for (r, &f) in firsts.iter().enumerate() {
            for k in 0..*p {
                place[f + k] = (i as u32, k as u32, r as u32);
            }
        }
    }
    // exported rows: read by another run, or returned
    let mut exported: Vec<Vec<bool>> = groups.iter().map(|(p, _)| vec![false; *p]).collect();
    let mut feeds_later = vec![false; groups.len()];
    for (j, op) in ops.iter().enumerate() {
        for x in [op.a, op.b].iter().filter_map(|a| a.id()) {
            let x = x as usize;
            if x >= n_in && place[x - n_in].0 != place[j].0 {
                let (run, row, _) = place[x - n_in];
                exported[run as usize][row as usize] = true;
                feeds_later[run as usize] = true;
            }
        }
    }
    for x in outputs.iter().filter_map(|a| a.id()) {
        let x = x as usize;
        if x >= n_in {
            let (run, row, _) = place[x - n_in];
            exported[run as usize][row as usize] = true;
        }
    }
    let mut next = n_in;
    let export_start: Vec<Vec<Option<usize>>> = groups
        .iter()
        .zip(&exported)
        .map(|((_, firsts), rows)| {
            let reps = firsts.len();
            rows.iter()
                .map(|&e| {
                    e.then(|| {
                        next += reps;
                        next - reps
                    })
                })
                .collect()
        })
        .collect();
    let global = |id: u32| -> usize {
        let id = id as usize;
        if id < n_in {
            return id;
        }
        let (run, row, r) = place[id - n_in];
        export_start[run as usize][row as usize].expect("read across runs, so exported")
            + r as usize
    };
    let runs: Vec<Run> = groups
        .iter()
        .enumerate()
        .map(|(i, (p, firsts))| {
            let reps = firsts.len();
            // segments: the merged pieces, when they are all alike and long enough that
            // chunks of one segment are worth their dispatch (else slot lists)
            let seg = match pieces[i].split_first() {
                Some((&first, rest))
                    if first >= MIN_SEGMENT && rest.iter().all(|&r| r == first) =>
                {
                    first
                }
                _ => reps,
            };
            let src = |k: usize, arg: fn(&Op) -> Arg| -> Src {
                let args: Vec<Arg> = firsts.iter().map(|&f| arg(&ops[f + k])).collect();
                match args[0] {
                    Arg::Const(c0) => {
                        let cs: Vec<f64> = args
                            .iter()
                            .map(|a| match a {
                                Arg::Const(c) => *c,
                                Arg::Id(_) => unreachable!("same shape"),
                            })
                            .collect();
                        if cs.iter().all(|c| c.to_bits() == c0.to_bits()) {
                            Src::Const(c0)
                        } else {
                            Src::Consts(cs.into())
                        }
                    }
                    Arg::Id(x0) => {
                        let x0 = x0 as usize;
                        if x0 >= n_in && place[x0 - n_in].0 as usize == i {
                            return Src::Local {
                                row: place[x0 - n_in].1 as usize,
                            };
                        }
                        let slots: Vec<u32> = args
                            .iter()
                            .map(|a| global(a.id().expect("same shape")) as u32)
                            .collect();
                        let at = |r: usize| slots[r] as isize;
                        let stride = if seg > 1 { at(1) - at(0) } else { 0 };
                        let affine = (0..reps)
                            .all(|r| at(r) == at(r - r % seg) + (r % seg) as isize * stride);
                        if affine {
                            Src::Run {
                                starts: (0..reps).step_by(seg).map(|r| slots[r]).collect(),
                                stride,
                                seg,
                            }
                        } else {
                            Src::List(slots.into())
                        }
                    }
                }
            };
            let mut run_ops: Vec<RunOp> = (0..*p)
                .map(|k| RunOp {
                    code: ops[firsts[0] + k].code,
                    a: src(k, |o| o.a),
                    b: src(k, |o| o.b),
                    export: export_start[i][k],
                })
                .collect();
            let stage = stage_scattered(&mut run_ops);
            Run {
                reps,
                seg,
                stage,
                ops: run_ops,
                feeds_later: feeds_later[i],
            }
        })
        .collect();
    let outputs = outputs
        .iter()
        .map(|o| match *o {
            Arg::Id(id) => Ok(global(id)),
            Arg::Const(c) => Err(c),
        })
        .collect();
    let widest = runs.iter().map(|r| r.reps.min(CHUNK)).max().unwrap_or(0);
    let biggest = runs
        .iter()
        .map(|r| r.reps.min(CHUNK) * (r.stage.len() + r.ops.len()))
        .max()
        .unwrap_or(0);
    let flat = !runs.iter().any(|r| r.feeds_later);
    let tasks = (0..runs.len())
        .flat_map(|i| chunks(&runs[i]).map(move |(r0, len)| (i, r0, len)))
        .collect();
    let element_ops = runs.iter().map(|r| r.reps * r.ops.len()).sum();
    Trace {
        n_inputs: n_in,
        n_ops: ops.len(),
        runs,
        outputs,
        flat,
        globals: vec![0.0; next],
        global_adj: Vec::new(),
        work: vec![Workspace::new(biggest, widest)],
        widest,
        biggest,
        tasks,
        element_ops,
    }
}
/// Moves a run's scattered operands (`List`s, strided `Run`s) into its stage: each distinct
/// one gets a staged row, the operations read rows (`Local`, renumbered: staged rows first).
/// Returns the stage.
fn stage_scattered(ops: &mut [RunOp]) -> Vec<Src> {
    use std::collections::HashMap;
    let mut stage: Vec<Src> = Vec::new();
    let mut index: HashMap<Vec<i64>, usize> = HashMap::new();
    let mut staged_row = |src: &Src| -> Option<usize> {
        let key: Vec<i64> = match src {
            Src::List(slots) => std::iter::once(-1)
                .chain(slots.iter().map(|&s| s as i64))
                .collect(),
            Src::Run {
                starts,
                stride,
                seg,
            } if !matches!(stride, 0 | 1) => [-2, *stride as i64, *seg as i64]
                .into_iter()
                .chain(starts.iter().map(|&s| s as i64))
                .collect(),
            _ => return None,
        };
        Some(*index.entry(key).or_insert_with(|| {
            stage.push(src.clone());
            stage.len() - 1
        }))
    };
    let staged: Vec<[Option<usize>; 2]> = ops
        .iter()
        .map(|op| [staged_row(&op.a), staged_row(&op.b)])
        .collect();
    let n_stage = stage.len();
    for (op, st) in ops.iter_mut().zip(staged) {
        for (src, st) in [&mut op.a, &mut op.b].into_iter().zip(st) {
            if let Some(row) = st {
                *src = Src::Local { row };
            } else if let Src::Local { row } = src {
                *row += n_stage;
            }
        }
    }
    stage
}
