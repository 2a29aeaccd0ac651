//! Automatic sparsity detection: the structural pattern of a Jacobian, found by running the
//! user's generic code once on [`Tracer`], a scalar type implementing [`Real`] that carries,
//! beside its value, the set of inputs it depends on.
//!
//! Every operation on tracers takes the union of its arguments' dependency sets (unary
//! functions keep their argument's set; functions whose derivative is zero everywhere —
//! `floor`, `ceil`, `round`, `trunc`, `signum` — return the empty set). The sets are
//! *structural*: an entry whose partial derivative happens to be zero at the traced point
//! (`d/du [u (1 - u)]` at `u = 1/2`) is still in the pattern, unlike a pattern read off a
//! numerical Jacobian.
//!
//! The pattern is *global* — valid at every point — unless the code looked at a value of a
//! traced quantity: a comparison (`x > 0.0`, `x.max(y)` is fine, `if x > y` is not), or
//! [`Real::value`] / a conversion to a primitive. Such a branch may read other inputs elsewhere,
//! so [`Sparsity::is_local`] then reports that the pattern holds at the traced point only, and
//! callers that need an exact pattern (a compressed Jacobian used for gradients) fall back to
//! another method. `max`, `min`, `abs` and `powf` are traced as unions and keep the pattern
//! global. A custom [`Block`] is traced as dense (every output depends on every input).
//!
//! ```
//! use ad_core::{sparsity::jacobian_sparsity, Real};
//!
//! // f_i = x_{i-1} - 2 x_i + x_{i+1} (clamped at the ends): a tridiagonal Jacobian
//! fn laplace<S: Real>(x: &[S], y: &mut [S]) {
//!     let n = x.len();
//!     for i in 0..n {
//!         let l = if i > 0 { x[i - 1] } else { S::zero() };
//!         let r = if i + 1 < n { x[i + 1] } else { S::zero() };
//!         y[i] = l - x[i] * 2.0 + r;
//!     }
//! }
//! let s = jacobian_sparsity(&[1.0; 5], 5, usize::MAX, laplace).unwrap();
//! assert_eq!(s.row(0), &[0, 1]);
//! assert_eq!(s.row(2), &[1, 2, 3]);
//! assert_eq!(s.nnz(), 13);
//! assert!(!s.is_local());
//! ```

use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::Float;

use crate::block::Block;
use crate::dual::Dual;
use crate::real::Real;

/// The empty dependency set (constants).
const EMPTY: u32 = 0;
/// A set that outgrew the caller's limit.
const OVER: u32 = u32::MAX;

/// The dependency sets of one detection run, on this thread.
struct Sets {
    /// Sorted input indices of every set, back to back.
    data: Vec<u32>,
    /// `(start, len)` of set `k` in `data`; set 0 is the empty set.
    spans: Vec<(u32, u32)>,
    /// Largest set size allowed.
    limit: usize,
    /// Set when the traced code looked at a value that depends on the inputs.
    local: bool,
}

impl Sets {
    fn get(&self, s: u32) -> &[u32] {
        let (a, n) = self.spans[s as usize];
        &self.data[a as usize..(a + n) as usize]
    }

    /// The union of sets `a` and `b`, stored only if it is neither of them.
    fn union(&mut self, a: u32, b: u32) -> u32 {
        if a == b || b == EMPTY || a == OVER {
            return a;
        }
        if a == EMPTY || b == OVER {
            return b;
        }
        let start = self.data.len();
        let ((sa, na), (sb, nb)) = (self.spans[a as usize], self.spans[b as usize]);
        let (mut i, mut j) = (sa as usize, sb as usize);
        let (ia, ib) = (i + na as usize, j + nb as usize);
        while i < ia && j < ib {
            let (x, y) = (self.data[i], self.data[j]);
            let v = match x.cmp(&y) {
                Ordering::Less => {
                    i += 1;
                    x
                }
                Ordering::Greater => {
                    j += 1;
                    y
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                    x
                }
            };
            self.data.push(v);
        }
        self.data.extend_from_within(i..ia);
        self.data.extend_from_within(j..ib);
        let len = self.data.len() - start;
        if len == na as usize || len == nb as usize {
            // one contains the other
            self.data.truncate(start);
            return if len == na as usize { a } else { b };
        }
        if len > self.limit {
            self.data.truncate(start);
            return OVER;
        }
        self.spans.push((start as u32, len as u32));
        (self.spans.len() - 1) as u32
    }
}

thread_local! {
    static SETS: RefCell<Option<Sets>> = const { RefCell::new(None) };
}

fn with_sets<R>(f: impl FnOnce(&mut Sets) -> R) -> R {
    SETS.with(|s| {
        let mut s = s.borrow_mut();
        let sets = s.as_mut().expect(
            "ad_core::sparsity::Tracer used outside jacobian_sparsity (or on another thread)",
        );
        f(sets)
    })
}

/// A scalar that carries its value and the set of inputs it depends on: the scalar type that
/// [`jacobian_sparsity`] runs generic code with. Only meaningful inside that call.
#[derive(Clone, Copy)]
pub struct Tracer {
    value: f64,
    set: u32,
}

impl Tracer {
    /// A constant: depends on no input.
    pub const fn constant(value: f64) -> Self {
        Tracer { value, set: EMPTY }
    }

    /// Same set, new value (unary functions).
    #[inline]
    fn keep(self, value: f64) -> Self {
        Tracer {
            value,
            set: self.set,
        }
    }

    /// Union of the two sets (binary functions).
    #[inline]
    fn join(self, b: Self, value: f64) -> Self {
        let set = if self.set == b.set || b.set == EMPTY {
            self.set
        } else if self.set == EMPTY {
            b.set
        } else {
            with_sets(|s| s.union(self.set, b.set))
        };
        Tracer { value, set }
    }

    /// Notes that the traced code looked at this value.
    fn looked_at(&self) {
        if self.set != EMPTY {
            with_sets(|s| s.local = true);
        }
    }
}

/// Why [`jacobian_sparsity`] gave no pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SparsityError {
    /// An output depends on more inputs than the limit: use a dense Jacobian.
    TooDense {
        /// The limit passed in.
        limit: usize,
        /// The first output over it.
        output: usize,
    },
    /// `jacobian_sparsity` was called from code it was tracing.
    Nested,
    /// The traced code compared or read a value that depends on the inputs, so the pattern
    /// holds at the traced point only ([`Sparsity::is_local`]): returned by
    /// [`global_jacobian_sparsity`], whose callers then use a dense Jacobian (or detect
    /// again at every point).
    Local,
}

impl fmt::Display for SparsityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SparsityError::TooDense { limit, output } => write!(
                f,
                "output {output} depends on more than {limit} inputs: the Jacobian is dense"
            ),
            SparsityError::Nested => write!(f, "jacobian_sparsity called while tracing"),
            SparsityError::Local => write!(
                f,
                "the traced code branched on a value: the pattern holds at the traced point only"
            ),
        }
    }
}

impl std::error::Error for SparsityError {}

/// The sparsity pattern of an `m x n` Jacobian in compressed rows: row `i` lists, ascending,
/// the inputs output `i` depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sparsity {
    n_cols: usize,
    row_start: Vec<usize>,
    col_index: Vec<usize>,
    local: bool,
}

impl Sparsity {
    /// A pattern given in compressed rows (a known structure, e.g. a user-supplied one), to
    /// colour and evaluate with [`CompressedJacobian`]. `None` unless `row_start` has
    /// `n_rows + 1` non-decreasing entries from 0 to `col_index.len()` and each row's columns
    /// are strictly increasing and below `n_cols`.
    pub fn from_csr(
        n_rows: usize,
        n_cols: usize,
        row_start: Vec<usize>,
        col_index: Vec<usize>,
    ) -> Option<Self> {
        let ok = row_start.len() == n_rows + 1
            && row_start[0] == 0
            && row_start[n_rows] == col_index.len()
            && row_start.windows(2).all(|w| w[0] <= w[1])
            && (0..n_rows).all(|i| {
                let c = &col_index[row_start[i]..row_start[i + 1]];
                c.windows(2).all(|w| w[0] < w[1]) && c.last().map_or(true, |&j| j < n_cols)
            });
        ok.then_some(Sparsity {
            n_cols,
            row_start,
            col_index,
            local: false,
        })
    }

    /// Number of outputs (rows).
    pub fn n_rows(&self) -> usize {
        self.row_start.len() - 1
    }
    /// Number of inputs (columns).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// Number of structurally non-zero entries.
    pub fn nnz(&self) -> usize {
        self.col_index.len()
    }
    /// The inputs output `i` depends on, ascending.
    pub fn row(&self, i: usize) -> &[usize] {
        &self.col_index[self.row_start[i]..self.row_start[i + 1]]
    }
    /// Row starts (length `n_rows + 1`) of the compressed-row layout.
    pub fn row_start(&self) -> &[usize] {
        &self.row_start
    }
    /// Column indices of the compressed-row layout.
    pub fn col_index(&self) -> &[usize] {
        &self.col_index
    }
    /// True if the traced code compared or read a value that depends on the inputs: the
    /// pattern is then that of the traced point and may miss entries elsewhere.
    pub fn is_local(&self) -> bool {
        self.local
    }
}

/// Detects the structural sparsity pattern of the Jacobian of `f` at `x`: runs `f` once on
/// [`Tracer`]s (input `j` depends on itself) and reads which inputs each of the `n_out`
/// outputs depends on. `max_row_nnz` bounds the work: an intermediate result depending on
/// more inputs than that stops the detection with [`SparsityError::TooDense`].
///
/// Cost: one evaluation of `f` plus a merge of sorted index sets per operation.
pub fn jacobian_sparsity<F>(
    x: &[f64],
    n_out: usize,
    max_row_nnz: usize,
    f: F,
) -> Result<Sparsity, SparsityError>
where
    F: FnOnce(&[Tracer], &mut [Tracer]),
{
    let fresh = Sets {
        data: (0..x.len() as u32).collect(),
        spans: std::iter::once((0, 0))
            .chain((0..x.len() as u32).map(|j| (j, 1)))
            .collect(),
        limit: max_row_nnz.max(1),
        local: false,
    };
    let nested = SETS.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_some() {
            return true;
        }
        *s = Some(fresh);
        false
    });
    if nested {
        return Err(SparsityError::Nested);
    }
    // take the sets back however `f` ends (a panic in user code propagates)
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SETS.with(|s| s.borrow_mut().take());
        }
    }
    let _reset = Reset;
    let inputs: Vec<Tracer> = x
        .iter()
        .enumerate()
        .map(|(j, &v)| Tracer {
            value: v,
            set: j as u32 + 1,
        })
        .collect();
    let mut out = vec![Tracer::constant(0.0); n_out];
    f(&inputs, &mut out);
    with_sets(|sets| {
        let mut row_start = Vec::with_capacity(n_out + 1);
        let mut col_index = Vec::new();
        row_start.push(0);
        for (i, y) in out.iter().enumerate() {
            if y.set == OVER {
                return Err(SparsityError::TooDense {
                    limit: sets.limit,
                    output: i,
                });
            }
            col_index.extend(sets.get(y.set).iter().map(|&j| j as usize));
            row_start.push(col_index.len());
        }
        Ok(Sparsity {
            n_cols: x.len(),
            row_start,
            col_index,
            local: sets.local,
        })
    })
}

/// The one rule for using a detected pattern for derivatives that must be exact (Newton
/// matrices whose transpose an adjoint solves, compressed vector-Jacobian products, sparse
/// iteration matrices reused along a solve): the pattern of [`jacobian_sparsity`] is
/// returned only when it holds at every point, that is when the traced code never compared
/// or read a value depending on the inputs.
///
/// A pattern traced through a branch (`if u > 0.0 { u[i - 1] } else { u[i + 1] }`, an upwind
/// flux) is that of the branch taken at `x`: elsewhere an entry may be missing, and then the
/// column colouring can put two columns sharing a row in one colour, which corrupts the
/// entries that are present too. Such a pattern gives [`SparsityError::Local`]; the caller
/// uses a dense Jacobian (or traces again at every point). `max`, `min`, `abs` and `powf`
/// are traced as the union of both sides and keep the pattern global.
///
/// # Errors
/// [`SparsityError::Local`] as above; the errors of [`jacobian_sparsity`].
pub fn global_jacobian_sparsity<F>(
    x: &[f64],
    n_out: usize,
    max_row_nnz: usize,
    f: F,
) -> Result<Sparsity, SparsityError>
where
    F: FnOnce(&[Tracer], &mut [Tracer]),
{
    let s = jacobian_sparsity(x, n_out, max_row_nnz, f)?;
    if s.is_local() {
        return Err(SparsityError::Local);
    }
    Ok(s)
}

// ---- formatting, comparisons ----

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tracer({:?} #{})", self.value, self.set)
    }
}
traced_scalar_impls!(Tracer);

// ---- arithmetic ----

macro_rules! binary_ops {
    ($($tr:ident $m:ident $atr:ident $am:ident;)*) => {$(
        impl $tr for Tracer {
            type Output = Self;
            #[inline]
            fn $m(self, b: Self) -> Self {
                self.join(b, self.value.$m(b.value))
            }
        }
        impl $tr<f64> for Tracer {
            type Output = Self;
            #[inline]
            fn $m(self, b: f64) -> Self {
                self.keep(self.value.$m(b))
            }
        }
        impl $tr<Tracer> for f64 {
            type Output = Tracer;
            #[inline]
            fn $m(self, b: Tracer) -> Tracer {
                b.keep(self.$m(b.value))
            }
        }
        impl $atr for Tracer {
            #[inline]
            fn $am(&mut self, b: Self) {
                *self = (*self).$m(b);
            }
        }
        impl $atr<f64> for Tracer {
            #[inline]
            fn $am(&mut self, b: f64) {
                *self = (*self).$m(b);
            }
        }
    )*};
}
binary_ops! {
    Add add AddAssign add_assign;
    Sub sub SubAssign sub_assign;
    Mul mul MulAssign mul_assign;
    Div div DivAssign div_assign;
    Rem rem RemAssign rem_assign;
}

impl Neg for Tracer {
    type Output = Self;
    fn neg(self) -> Self {
        self.keep(-self.value)
    }
}

/// Unary functions that keep their argument's dependencies.
macro_rules! keep {
    ($($f:ident)*) => {$(
        fn $f(self) -> Self {
            self.keep(self.value.$f())
        }
    )*};
}
/// Functions with derivative zero everywhere: the result depends on nothing.
macro_rules! flat {
    ($($f:ident)*) => {$(
        fn $f(self) -> Self {
            Tracer::constant(self.value.$f())
        }
    )*};
}
/// Binary functions: the union of the dependencies.
macro_rules! join {
    ($($f:ident)*) => {$(
        fn $f(self, b: Self) -> Self {
            self.join(b, self.value.$f(b.value))
        }
    )*};
}
impl Float for Tracer {
    traced_float_basics!(Tracer);
    keep!(fract abs recip sqrt exp exp2 ln log2 log10 to_degrees to_radians cbrt sin cos tan
        asin acos atan exp_m1 ln_1p sinh cosh tanh asinh acosh atanh);
    flat!(floor ceil round trunc signum);
    join!(powf log max min hypot atan2);

    fn abs_sub(self, b: Self) -> Self {
        self.join(b, (self.value - b.value).max(0.0))
    }

    fn mul_add(self, a: Self, b: Self) -> Self {
        let v = self.value.mul_add(a.value, b.value);
        self.join(a, v).join(b, v)
    }
    fn powi(self, n: i32) -> Self {
        if n == 0 {
            Tracer::constant(1.0)
        } else {
            self.keep(self.value.powi(n))
        }
    }
    fn sin_cos(self) -> (Self, Self) {
        let (s, c) = self.value.sin_cos();
        (self.keep(s), self.keep(c))
    }
}

impl Real for Tracer {
    type Array = ndarray::Array1<Tracer>;

    /// The value; marks the pattern local if this depends on the inputs (the code may branch
    /// on it, or drop the dependency).
    fn value(&self) -> f64 {
        self.looked_at();
        self.value
    }
    fn cst(c: f64) -> Self {
        Tracer::constant(c)
    }
    fn is_constant(&self) -> bool {
        self.set == EMPTY
    }
    /// The block's forward pass on the values; every output depends on every input.
    fn apply_block<B: Block>(block: B, inputs: &[Self], outputs: &mut [Self]) {
        let x: Vec<f64> = inputs.iter().map(|t| t.value).collect();
        let mut y = vec![0.0; outputs.len()];
        block.forward(&x, &mut y);
        let all = inputs
            .iter()
            .fold(Tracer::constant(0.0), |acc, &t| acc.join(t, 0.0));
        for (o, v) in outputs.iter_mut().zip(y) {
            *o = all.keep(v);
        }
    }
}

// ---- compressed Jacobians ----

/// Tangent directions per forward-mode evaluation of a [`CompressedJacobian`].
pub const LANES: usize = 8;

/// The values of a sparse Jacobian by compressed forward mode (Curtis–Powell–Reid): columns
/// that share no row get one colour (greedy distance-2 colouring), each colour one tangent
/// direction, so the whole Jacobian costs `ceil(colours / 8)` evaluations on [`Dual<8>`]
/// whatever its size — a 5-point stencil about 2, where reverse mode would tape every
/// operation. The evaluations run in parallel (rayon) and reuse their buffers.
///
/// ```
/// use ad_core::{sparsity::{jacobian_sparsity, CompressedJacobian}, Real};
///
/// fn f<S: Real>(x: &[S], y: &mut [S]) {
///     let n = x.len();
///     for i in 0..n {
///         y[i] = x[i] * x[(i + 1) % n].sin();
///     }
/// }
/// let x = [0.3, 0.5, 0.7, 0.9, 1.1, 1.3];
/// let s = jacobian_sparsity(&x, 6, usize::MAX, f).unwrap();
/// let mut jac = CompressedJacobian::new(s);
/// assert_eq!(jac.n_colours(), 2);
/// let mut vals = vec![0.0; jac.sparsity().nnz()];
/// jac.values(&x, |x, y| f(x, y), &mut vals);
/// // row 0 holds d/dx0 = sin(x1) and d/dx1 = x0 cos(x1)
/// assert_eq!(jac.sparsity().row(0), &[0, 1]);
/// assert!((vals[0] - 0.5f64.sin()).abs() < 1e-15);
/// assert!((vals[1] - 0.3 * 0.5f64.cos()).abs() < 1e-15);
/// ```
pub struct CompressedJacobian {
    sparsity: Sparsity,
    colour: Vec<u32>,
    n_colours: usize,
    /// Per evaluation `e` (colours `8e..8e+8`): its columns and their rows. Every column has
    /// one colour, so the evaluations' columns are disjoint.
    by_eval: Vec<EvalColumns>,
    /// Per evaluation: seeded inputs and outputs.
    buffers: Vec<(Vec<Dual<LANES>>, Vec<Dual<LANES>>)>,
    /// The input values all `buffers` hold; `None` before the first evaluation and after one
    /// that did not finish (then every value is written again).
    loaded: Option<Vec<f64>>,
}

impl CompressedJacobian {
    /// Colours the columns of `sparsity`.
    pub fn new(sparsity: Sparsity) -> Self {
        let (col_start, rows_of) = by_columns(&sparsity);
        let (colour, n_colours) = column_colouring(&sparsity, &col_start, &rows_of);
        let by_eval = (0..n_colours.div_ceil(LANES))
            .map(|e| {
                let mut ev = EvalColumns {
                    cols: Vec::new(),
                    start: vec![0],
                    rows: Vec::new(),
                };
                for (j, &c) in colour.iter().enumerate() {
                    let c = c as usize;
                    if c / LANES == e {
                        ev.cols.push((j as u32, (c % LANES) as u32));
                        ev.rows
                            .extend_from_slice(&rows_of[col_start[j]..col_start[j + 1]]);
                        ev.start.push(ev.rows.len());
                    }
                }
                ev
            })
            .collect();
        CompressedJacobian {
            sparsity,
            colour,
            n_colours,
            by_eval,
            buffers: Vec::new(),
            loaded: None,
        }
    }

    /// The pattern.
    pub fn sparsity(&self) -> &Sparsity {
        &self.sparsity
    }

    /// Number of colours: tangent directions needed for the whole Jacobian.
    pub fn n_colours(&self) -> usize {
        self.n_colours
    }

    /// Forward-mode evaluations per Jacobian: `ceil(n_colours / 8)`.
    pub fn evaluations(&self) -> usize {
        self.n_colours.div_ceil(LANES)
    }

    /// Writes the Jacobian of `f` at `x` into `vals`, one value per stored entry in the
    /// compressed-row order of [`CompressedJacobian::sparsity`]; `f` maps `n_cols` inputs to
    /// `n_rows` outputs, must write every output and must have the detected pattern. Returns
    /// the number of evaluations.
    ///
    /// # Panics
    /// If `x` or `vals` have the wrong length.
    pub fn values<F>(&mut self, x: &[f64], f: F, vals: &mut [f64]) -> usize
    where
        F: Fn(&[Dual<LANES>], &mut [Dual<LANES>]) + Sync,
    {
        let evals = self.evaluate(x, f);
        self.extract(vals);
        evals
    }

    /// ADDS `J^T w` to `x_bar`, `J` the Jacobian of `f` at `x` by compressed forward mode: a
    /// vector-Jacobian product without a tape. Entry `(i, j)` of colour `c` is tangent `c` of
    /// output `i`, so `x_bar_j += sum_i w_i (tangent colour(j) of output i)` over the rows `i`
    /// that hold column `j`. Each evaluation adds its own colours' entries right after it
    /// runs (its outputs still in cache); the evaluations run in parallel and write disjoint
    /// columns. Returns the number of evaluations.
    ///
    /// # Panics
    /// If `x`, `w` or `x_bar` have the wrong length.
    pub fn vjp<F>(&mut self, x: &[f64], f: F, w: &[f64], x_bar: &mut [f64]) -> usize
    where
        F: Fn(&[Dual<LANES>], &mut [Dual<LANES>]) + Sync,
    {
        let (n_rows, n_cols) = (self.sparsity.n_rows(), self.sparsity.n_cols());
        assert_eq!(w.len(), n_rows, "CompressedJacobian::vjp: cotangent length");
        assert_eq!(x_bar.len(), n_cols, "CompressedJacobian::vjp: x_bar length");
        let evals = self.seeded(x);
        let x_bar = Columns(x_bar.as_mut_ptr());
        let by_eval = &self.by_eval;
        run(&mut self.buffers, &mut self.loaded, x, |e, xs, out| {
            f(xs, out);
            let EvalColumns { cols, start, rows } = &by_eval[e];
            for (k, &(j, lane)) in cols.iter().enumerate() {
                let lane = lane as usize;
                let s = rows[start[k]..start[k + 1]]
                    .iter()
                    .fold(0.0, |s, &i| s + w[i as usize] * out[i as usize].d[lane]);
                // SAFETY: `j < n_cols = x_bar.len()` (a column of the pattern), and the
                // columns of evaluation `e` are written by this task only: each column has
                // one colour and each colour one evaluation.
                unsafe { x_bar.add(j as usize, s) };
            }
        });
        evals
    }

    /// Runs `f` on the seeded inputs at `x`: afterwards tangent `c` of output `i` of buffer
    /// `c / 8` holds `sum_{j of colour c} J_ij`. Returns the number of evaluations.
    fn evaluate<F>(&mut self, x: &[f64], f: F) -> usize
    where
        F: Fn(&[Dual<LANES>], &mut [Dual<LANES>]) + Sync,
    {
        let evals = self.seeded(x);
        // `f` writes every output (a function, not an accumulation): no clearing needed
        run(&mut self.buffers, &mut self.loaded, x, |_, xs, out| {
            f(xs, out)
        });
        evals
    }

    /// As [`CompressedJacobian::values`], with the evaluations one after the other on this
    /// thread (for a function that is not `Sync`).
    pub fn values_sequential<F>(&mut self, x: &[f64], mut f: F, vals: &mut [f64]) -> usize
    where
        F: FnMut(&[Dual<LANES>], &mut [Dual<LANES>]),
    {
        let evals = self.seeded(x);
        let before = self.loaded.take();
        for (xs, out) in &mut self.buffers {
            load(xs, x, before.as_deref());
            f(xs, out);
        }
        self.loaded = Some(loaded_now(before, x));
        self.extract(vals);
        evals
    }

    /// Makes the seeded input buffers (once: evaluation `e` carries colours `8e..8e+8`, one
    /// per lane); returns the number of evaluations.
    fn seeded(&mut self, x: &[f64]) -> usize {
        assert_eq!(
            x.len(),
            self.sparsity.n_cols(),
            "CompressedJacobian: input length"
        );
        let evals = self.evaluations();
        let n_rows = self.sparsity.n_rows();
        if self.buffers.len() != evals {
            let colour = &self.colour;
            self.buffers = (0..evals)
                .map(|e| {
                    let c0 = (e * LANES) as u32;
                    let xs = colour
                        .iter()
                        .map(|&c| {
                            let mut d = Dual::<LANES>::constant(0.0);
                            if (c0..c0 + LANES as u32).contains(&c) {
                                d.d[(c - c0) as usize] = 1.0;
                            }
                            d
                        })
                        .collect();
                    (xs, vec![Dual::constant(0.0); n_rows])
                })
                .collect();
            self.loaded = None;
        }
        evals
    }

    /// Reads the Jacobian's entries out of the evaluated buffers.
    fn extract(&self, vals: &mut [f64]) {
        let s = &self.sparsity;
        assert_eq!(
            vals.len(),
            s.nnz(),
            "CompressedJacobian::values: one value per entry"
        );
        let (rs, ci, colour) = (s.row_start(), s.col_index(), &self.colour);
        for i in 0..s.n_rows() {
            for k in rs[i]..rs[i + 1] {
                let c = colour[ci[k]] as usize;
                vals[k] = self.buffers[c / LANES].1[i].d[c % LANES];
            }
        }
    }
}

/// The columns one evaluation of a [`CompressedJacobian`] carries, each `(column, lane)`, and
/// their rows: column `cols[k]`'s are `rows[start[k]..start[k + 1]]`.
struct EvalColumns {
    cols: Vec<(u32, u32)>,
    start: Vec<usize>,
    rows: Vec<u32>,
}

/// Loads `x` into every seeded buffer and runs `task(e, inputs, outputs)` for each
/// evaluation `e`, in parallel when the work is large enough; `loaded` is what the buffers
/// held before and holds `x` afterwards (`None` while the evaluations run, so that a panic
/// leaves it unknown).
fn run<T>(
    buffers: &mut [(Vec<Dual<LANES>>, Vec<Dual<LANES>>)],
    loaded: &mut Option<Vec<f64>>,
    x: &[f64],
    task: T,
) where
    T: Fn(usize, &[Dual<LANES>], &mut [Dual<LANES>]) + Sync,
{
    let before = loaded.take();
    let one = |(e, (xs, out)): (usize, &mut (Vec<Dual<LANES>>, Vec<Dual<LANES>>))| {
        load(xs, x, before.as_deref());
        task(e, xs, out);
    };
    if buffers.len() > 1 && x.len() * buffers.len() >= PAR_MIN {
        use rayon::prelude::*;
        buffers.par_iter_mut().enumerate().for_each(one);
    } else {
        buffers.iter_mut().enumerate().for_each(one);
    }
    *loaded = Some(loaded_now(before, x));
}

/// `x` in `before`'s allocation when there is one.
fn loaded_now(before: Option<Vec<f64>>, x: &[f64]) -> Vec<f64> {
    match before {
        Some(mut v) => {
            v.copy_from_slice(x);
            v
        }
        None => x.to_vec(),
    }
}

/// `x_bar` of [`CompressedJacobian::vjp`], shared by evaluations that write disjoint columns.
struct Columns(*mut f64);
// SAFETY: the tasks sharing it write disjoint elements (see `CompressedJacobian::vjp`).
unsafe impl Sync for Columns {}

impl Columns {
    /// Adds `v` to element `j`.
    ///
    /// # Safety
    /// `j` is in bounds and no other thread reads or writes element `j` meanwhile.
    #[inline]
    unsafe fn add(&self, j: usize, v: f64) {
        *self.0.add(j) += v;
    }
}

/// Writes the values `x` into the seeded inputs `xs` (their tangents stay). With `before`,
/// the values `xs` hold, only the values that changed bitwise are written, found by a
/// contiguous comparison: inputs that stay put between calls (an ODE's parameters) are not
/// touched at all.
fn load(xs: &mut [Dual<LANES>], x: &[f64], before: Option<&[f64]>) {
    match before {
        Some(b) => {
            for ((d, &v), &old) in xs.iter_mut().zip(x).zip(b) {
                if v.to_bits() != old.to_bits() {
                    d.v = v;
                }
            }
        }
        None => {
            for (d, &v) in xs.iter_mut().zip(x) {
                d.v = v;
            }
        }
    }
}

/// The pattern by columns: `(col_start, rows_of)`, rows ascending.
fn by_columns(s: &Sparsity) -> (Vec<usize>, Vec<u32>) {
    let n = s.n_cols();
    let (rs, ci) = (s.row_start(), s.col_index());
    let mut col_start = vec![0usize; n + 1];
    for &j in ci {
        col_start[j + 1] += 1;
    }
    for j in 0..n {
        col_start[j + 1] += col_start[j];
    }
    let mut fill = col_start.clone();
    let mut rows_of = vec![0u32; ci.len()];
    for i in 0..s.n_rows() {
        for &j in &ci[rs[i]..rs[i + 1]] {
            rows_of[fill[j]] = i as u32;
            fill[j] += 1;
        }
    }
    (col_start, rows_of)
}

/// Inputs times evaluations above which [`CompressedJacobian::values`] runs its evaluations
/// in parallel.
const PAR_MIN: usize = 1 << 14;

/// Distance-2 colouring of the columns (columns sharing a row get different colours): the
/// better of the greedy colouring in natural order and DSatur. Returns each column's colour
/// and the number of colours.
fn column_colouring(s: &Sparsity, col_start: &[usize], rows_of: &[u32]) -> (Vec<u32>, usize) {
    let greedy = greedy_colouring(s, col_start, rows_of);
    match dsatur_colouring(s, col_start, rows_of) {
        Some(d) if d.1 < greedy.1 => d,
        _ => greedy,
    }
}

/// Greedy colouring in natural column order: each column takes the smallest colour no column
/// sharing a row has.
fn greedy_colouring(s: &Sparsity, col_start: &[usize], rows_of: &[u32]) -> (Vec<u32>, usize) {
    let n = s.n_cols();
    let (rs, ci) = (s.row_start(), s.col_index());
    let mut colour = vec![u32::MAX; n];
    let mut mark: Vec<usize> = Vec::new();
    let mut n_colours = 0;
    for j in 0..n {
        for &i in &rows_of[col_start[j]..col_start[j + 1]] {
            let i = i as usize;
            for &k in &ci[rs[i]..rs[i + 1]] {
                let c = colour[k];
                if c != u32::MAX {
                    mark[c as usize] = j + 1;
                }
            }
        }
        let c = (0..mark.len())
            .find(|&c| mark[c] != j + 1)
            .unwrap_or_else(|| {
                mark.push(0);
                mark.len() - 1
            });
        colour[j] = c as u32;
        n_colours = n_colours.max(c + 1);
    }
    (colour, n_colours)
}

/// DSatur (Brélaz): colour next the uncoloured column whose conflicting columns already use
/// the most distinct colours (ties: lowest index), with the smallest free colour. Usually
/// fewer colours than the greedy order on stencils. `None` if it needs more than 64 colours
/// (the forbidden sets are bit masks).
fn dsatur_colouring(
    s: &Sparsity,
    col_start: &[usize],
    rows_of: &[u32],
) -> Option<(Vec<u32>, usize)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = s.n_cols();
    let (rs, ci) = (s.row_start(), s.col_index());
    let mut forbidden = vec![0u64; n];
    let mut colour = vec![u32::MAX; n];
    let mut heap: BinaryHeap<(u32, Reverse<usize>)> = (0..n).map(|j| (0, Reverse(j))).collect();
    let mut n_colours = 0;
    while let Some((sat, Reverse(j))) = heap.pop() {
        if colour[j] != u32::MAX || sat != forbidden[j].count_ones() {
            continue; // coloured, or a stale entry
        }
        let c = (!forbidden[j]).trailing_zeros();
        if c >= 64 {
            return None;
        }
        colour[j] = c;
        n_colours = n_colours.max(c as usize + 1);
        let bit = 1u64 << c;
        for &i in &rows_of[col_start[j]..col_start[j + 1]] {
            let i = i as usize;
            for &k in &ci[rs[i]..rs[i + 1]] {
                if colour[k] == u32::MAX && forbidden[k] & bit == 0 {
                    forbidden[k] |= bit;
                    heap.push((forbidden[k].count_ones(), Reverse(k)));
                }
            }
        }
    }
    Some((colour, n_colours))
}
