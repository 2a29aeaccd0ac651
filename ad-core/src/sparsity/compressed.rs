//! Compressed forward mode: [`CompressedJacobian`], the values and vector-Jacobian products of
//! a sparse Jacobian from a few evaluations on [`Dual<8>`](crate::Dual), one lane per colour.

use super::colouring::{by_columns, column_colouring};
use super::Sparsity;
use crate::dual::Dual;

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

/// Inputs times evaluations above which [`CompressedJacobian::values`] runs its evaluations
/// in parallel.
const PAR_MIN: usize = 1 << 14;
