//! Tape arrays: every operation's gradient equals the same computation on scalar `Var`s (and a
//! finite difference of the `f64` code); large arrays (parallel path) agree with small ones.

use std::sync::Arc;

use ad_core::array::PAR_MIN;
use ad_core::testing::Rng;
use ad_core::{CsrMatrix, DenseMatrix, Matrix, RealArray, Tape, Var, VarArray};
use ndarray::Array1;
use num_traits::Float;

fn grads_agree(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "gradients differ at {i}: {x} vs {y} (scale {scale})"
        );
    }
}

/// Gradient of `$f` by the scalar tape (`Array1<Var>`) and by tape arrays (`VarArray`), with the
/// `f64` value: asserts the gradients agree to 1e-13 and match a finite difference (values to
/// 1e-10: the parallel reductions sum in another order).
macro_rules! check_generic {
    ($f:ident, $x:expr) => {{
        let x: Vec<f64> = $x;
        let plain = $f(&Array1::from(x.clone()));
        // scalar tape
        let tape = Tape::new();
        let xs: Array1<Var> = tape.vars(&x).into_iter().collect();
        let y = $f(&xs);
        let g_scalar = tape.gradient(y).wrt_all(&xs.to_vec());
        // tape arrays
        let tape2 = Tape::new();
        let xa = tape2.var_array(&x);
        let y2 = $f(&xa);
        let adj = tape2.gradient(y2);
        let g_array = xa.adjoints(&adj);
        assert!(
            (y.value() - plain).abs() <= 1e-10 * plain.abs().max(1.0),
            "scalar-tape value {} vs f64 {plain}",
            y.value()
        );
        assert!(
            (y2.value() - plain).abs() <= 1e-10 * plain.abs().max(1.0),
            "array value {} vs f64 {plain}",
            y2.value()
        );
        grads_agree(&g_scalar, &g_array, 1e-13);
        // one directional finite difference of the f64 code
        let mut rng = Rng::new(7);
        let t = rng.vec(x.len(), -1.0, 1.0);
        let h = 1e-4;
        let at = |s: f64| -> f64 {
            let xs: Vec<f64> = x.iter().zip(&t).map(|(a, b)| a + s * h * b).collect();
            $f(&Array1::from(xs))
        };
        let fd = (-at(2.0) + 8.0 * at(1.0) - 8.0 * at(-1.0) + at(-2.0)) / (12.0 * h);
        let ad: f64 = g_array.iter().zip(&t).map(|(a, b)| a * b).sum();
        assert!(
            (fd - ad).abs() <= 1e-6 * fd.abs().max(1.0),
            "finite difference {fd} vs array gradient {ad}"
        );
        g_array
    }};
}

fn rosenbrock<A: RealArray>(x: &A) -> A::Scalar {
    let n = x.len();
    let head = x.slice(0, 1, n - 1);
    let tail = x.slice(1, 1, n - 1);
    let a = tail.sub(&head.powi(2));
    let b = head.rsub_f64(1.0);
    a.powi(2).mul_f64(100.0).add(&b.powi(2)).sum()
}

fn elementwise_zoo<A: RealArray>(x: &A) -> A::Scalar {
    let e = x.mul_f64(0.3).exp();
    let s = x.sin().mul(&x.cos());
    let q = x.powi(2).add_f64(1.0).sqrt().ln();
    let t = x.tanh().div(&e.add_f64(0.5));
    let r = x.abs().mul_f64s(&vec![0.7; x.len()]);
    e.add(&s).sub(&q).add(&t).add(&r).sum() + x.dot(&s)
}

fn broadcast<A: RealArray>(x: &A) -> A::Scalar {
    let m = x.sum() / x.len() as f64;
    let c = x.add_scalar(-m);
    let v = c.dot(&c);
    c.mul_scalar(v.sqrt()).powi(3).sum()
}

fn stencil_1d<A: RealArray>(x: &A) -> A::Scalar {
    let lap = x.roll(1).add(&x.roll(-1)).sub(&x.mul_f64(2.0));
    let clamp = x.shift_clamped(2).sub(&x.shift_clamped(-3));
    lap.mul(&lap).sum() + clamp.dot(x) + x.slice(1, 3, x.len() / 3 - 1).sin().sum()
}

const ROWS: usize = 6;
const COLS: usize = 5;

fn stencil_2d<A: RealArray>(u: &A) -> A::Scalar {
    let lap = u
        .roll2(ROWS, COLS, 1, 0)
        .add(&u.roll2(ROWS, COLS, -1, 0))
        .add(&u.roll2(ROWS, COLS, 0, 1))
        .add(&u.roll2(ROWS, COLS, 0, -1))
        .sub(&u.mul_f64(4.0));
    let react = u.mul(&u.rsub_f64(1.0));
    lap.add(&react).powi(2).sum()
}

fn point(n: usize, seed: u64) -> Vec<f64> {
    Rng::new(seed).vec(n, 0.2, 1.8)
}

#[test]
fn rosenbrock_matches_scalar_tape() {
    check_generic!(rosenbrock, point(50, 1));
}

#[test]
fn elementwise_math_matches_scalar_tape() {
    check_generic!(elementwise_zoo, point(37, 2));
}

#[test]
fn broadcast_scalars_match_scalar_tape() {
    check_generic!(broadcast, point(23, 3));
}

#[test]
fn stencils_match_scalar_tape() {
    check_generic!(stencil_1d, point(31, 4));
    check_generic!(stencil_2d, point(ROWS * COLS, 5));
}

#[test]
fn parallel_path_matches_scalar_tape() {
    // above PAR_MIN the forward fills and reverse loops run on rayon
    let n = PAR_MIN + 1234;
    let g = check_generic!(elementwise_zoo, point(n, 6));
    assert_eq!(g.len(), n);
    check_generic!(rosenbrock, point(n, 8));
    check_generic!(broadcast, point(n, 9));
}

/// `VarArray` operations outside `RealArray`, each against the same scalar-`Var` computation.
#[test]
fn binary_math_and_mul_add_match_scalar_vars() {
    let a = point(17, 11);
    let b = point(17, 12);
    let c = point(17, 13);
    let scalar = {
        let tape = Tape::new();
        let (va, vb, vc) = (tape.vars(&a), tape.vars(&b), tape.vars(&c));
        let mut y = Var::constant(0.0);
        for i in 0..17 {
            y += va[i].max(vb[i])
                + va[i].min(vc[i])
                + va[i].powf(vb[i])
                + va[i].mul_add(vb[i], vc[i]);
            y += va[i].asinh()
                + (va[i] * 0.4).atanh()
                + vb[i].cbrt()
                + va[i].exp_m1()
                + vb[i].ln_1p();
        }
        let adj = tape.gradient(y);
        (
            y.value(),
            [adj.wrt_all(&va), adj.wrt_all(&vb), adj.wrt_all(&vc)],
        )
    };
    let tape = Tape::new();
    let (xa, xb, xc) = (tape.var_array(&a), tape.var_array(&b), tape.var_array(&c));
    let y = xa.max(&xb).sum()
        + xa.min(&xc).sum()
        + xa.powf(&xb).sum()
        + xa.mul_add(&xb, &xc).sum()
        + xa.asinh().sum()
        + xa.mul_f64(0.4).atanh().sum()
        + xb.cbrt().sum()
        + xa.exp_m1().sum()
        + xb.ln_1p().sum();
    let adj = tape.gradient(y);
    assert!((y.value() - scalar.0).abs() < 1e-12 * scalar.0.abs());
    grads_agree(&xa.adjoints(&adj), &scalar.1[0], 1e-13);
    grads_agree(&xb.adjoints(&adj), &scalar.1[1], 1e-13);
    grads_agree(&xc.adjoints(&adj), &scalar.1[2], 1e-13);
}

#[test]
fn gather_scatter_match_scalar_vars() {
    let x = point(10, 21);
    let idx: Arc<[u32]> = vec![3, 3, 0, 9, 5, 1, 3].into();
    let w = point(7, 22);
    let scalar = {
        let tape = Tape::new();
        let v = tape.vars(&x);
        let g: Vec<Var> = idx.iter().map(|&k| v[k as usize]).collect();
        let mut s = [Var::constant(0.0); 4];
        for (i, gi) in g.iter().enumerate() {
            s[i % 4] += *gi * w[i];
        }
        let y: Var = s.iter().map(|&si| si * si).sum();
        (y.value(), tape.gradient(y).wrt_all(&v))
    };
    let tape = Tape::new();
    let v = tape.var_array(&x);
    let g = v.gather(&idx).mul_f64s(&w);
    let into: Arc<[u32]> = (0..7).map(|i| (i % 4) as u32).collect::<Vec<_>>().into();
    let s = g.scatter_add(&into, 4);
    let y = s.dot(&s);
    assert!((y.value() - scalar.0).abs() < 1e-12 * scalar.0);
    grads_agree(&v.adjoints(&tape.gradient(y)), &scalar.1, 1e-13);
}

#[test]
fn matrix_vector_products_match_scalar_vars() {
    let (m, n) = (4, 6);
    let a = point(m * n, 31);
    let x = point(n, 32);
    let dense: Arc<Matrix> = Arc::new(DenseMatrix::new(m, n, a.clone()).into());
    let triplets: Vec<(usize, usize, f64)> = (0..m * n)
        .filter(|k| k % 3 != 1)
        .map(|k| (k / n, k % n, a[k]))
        .chain([(0, 0, 0.5)]) // a duplicate, summed
        .collect();
    let sparse: Arc<Matrix> = Arc::new(CsrMatrix::from_triplets(m, n, &triplets).into());
    let dense_of_sparse = {
        let mut d = vec![0.0; m * n];
        for &(i, j, v) in &triplets {
            d[i * n + j] += v;
        }
        d
    };
    // scalar reference: y = (A x) . (A x) + (S x) . 1 + (B x) . (B x) with B = A on the tape
    let scalar = {
        let tape = Tape::new();
        let va = tape.vars(&a);
        let vx = tape.vars(&x);
        let mut y = Var::constant(0.0);
        for i in 0..m {
            let ax: Var = (0..n).map(|j| vx[j] * a[i * n + j]).sum();
            let sx: Var = (0..n).map(|j| vx[j] * dense_of_sparse[i * n + j]).sum();
            let bx: Var = (0..n).map(|j| vx[j] * va[i * n + j]).sum();
            y += ax * ax + sx + bx * bx;
        }
        let adj = tape.gradient(y);
        (y.value(), adj.wrt_all(&va), adj.wrt_all(&vx))
    };
    let tape = Tape::new();
    let va = tape.var_array(&a);
    let vx = tape.var_array(&x);
    let ax = vx.matvec(&dense);
    let sx = vx.matvec(&sparse);
    let bx = vx.var_matvec(&va, m);
    let y = ax.dot(&ax) + sx.sum() + bx.dot(&bx);
    let adj = tape.gradient(y);
    assert!((y.value() - scalar.0).abs() < 1e-12 * scalar.0);
    grads_agree(&va.adjoints(&adj), &scalar.1, 1e-13);
    grads_agree(&vx.adjoints(&adj), &scalar.2, 1e-13);
}

#[test]
fn scalar_and_array_code_mix_on_one_tape() {
    let x = point(12, 41);
    fn f_scalar<'t>(v: &[Var<'t>]) -> Var<'t> {
        let mut acc = Var::constant(0.0);
        for w in v.windows(2) {
            acc += (w[1] - w[0]).powi(2);
        }
        acc
    }
    let reference = {
        let tape = Tape::new();
        let v = tape.vars(&x);
        let s = f_scalar(&v);
        let sq: Vec<Var> = v.iter().map(|&vi| (vi * s).sin()).collect();
        let y: Var = sq.iter().copied().sum::<Var>() * v[3];
        (y.value(), tape.gradient(y).wrt_all(&v))
    };
    let tape = Tape::new();
    let v = tape.var_array(&x);
    let s = f_scalar(&v.to_vars()); // scalar code on the array's elements
    let arr = v.mul_scalar(s).sin(); // array code with a scalar from scalar code
    let parts = arr.to_vars(); // back to scalars
    let rebuilt = VarArray::from_vars(&[parts[2], parts[0], Var::constant(1.5)]);
    let y = arr.sum() * v.get(3) + rebuilt.sum() * 0.0;
    let adj = tape.gradient(y);
    assert!((y.value() - reference.0).abs() < 1e-12 * reference.0.abs());
    grads_agree(&v.adjoints(&adj), &reference.1, 1e-13);
}

#[test]
fn tape_memory_per_array_operation_is_values_not_indices() {
    let n = 1000;
    let x = point(n, 51);
    let tape = Tape::new();
    let v = tape.var_array(&x);
    let before = tape.bytes();
    let _y = v.mul(&v); // one item: two partial runs of n f64s
    let grew = tape.bytes() - before;
    assert!(
        grew <= 2 * 8 * n + 128,
        "an element-wise product used {grew} bytes for n = {n}"
    );
    assert_eq!(
        tape.operands(),
        0,
        "array operations must not use per-element operands"
    );
}

#[test]
#[should_panic(expected = "lengths")]
fn mismatched_lengths_are_a_clear_panic() {
    let tape = Tape::new();
    let a = tape.var_array(&[1.0, 2.0]);
    let b = tape.var_array(&[1.0, 2.0, 3.0]);
    let _ = &a + &b;
}

#[test]
fn operators_on_arrays() {
    let x = point(9, 61);
    let tape = Tape::new();
    let v = tape.var_array(&x);
    let s = tape.var(0.7);
    let y = (((&v * 2.0 + 1.0) * s) - (3.0 - &v)).sum() + (-&v / s).sum() + (2.0 * &v).dot(&v);
    let adj = tape.gradient(y);
    let g = v.adjoints(&adj);
    for (gi, xi) in g.iter().zip(&x) {
        // d/dx_i [ (2x+1) s - 3 + x - x/s + 2 x^2 ] = 2 s + 1 - 1/s + 4 x
        let expect = 2.0 * 0.7 + 1.0 - 1.0 / 0.7 + 4.0 * xi;
        assert!((gi - expect).abs() < 1e-13, "{gi} vs {expect}");
    }
    let expect_s: f64 = x.iter().map(|xi| (2.0 * xi + 1.0) + xi / (0.7 * 0.7)).sum();
    assert!((adj.wrt(s) - expect_s).abs() < 1e-12 * expect_s);
}

#[test]
fn constant_arrays_mix_with_tape_arrays() {
    let x = point(8, 71);
    let w = point(8, 72);
    let reference = {
        let tape = Tape::new();
        let v = tape.vars(&x);
        let y: Var = (0..8).map(|i| (v[i] * w[i] + w[i]).sin() * v[i]).sum();
        (y.value(), tape.gradient(y).wrt_all(&v))
    };
    let tape = Tape::new();
    let v = tape.var_array(&x);
    let c = VarArray::constant(&w);
    let y = ((&v * &c + &c).sin() * &v).sum();
    let adj = tape.gradient(y);
    assert!((y.value() - reference.0).abs() < 1e-13 * reference.0.abs().max(1.0));
    grads_agree(&v.adjoints(&adj), &reference.1, 1e-13);
    // operations on constants alone record nothing
    let before = tape.len();
    let z = (&c * &c).exp().dot(&c);
    assert!(z.is_constant());
    assert_eq!(tape.len(), before);
    assert_eq!(c.adjoints(&adj), vec![0.0; 8]);
}

/// A reaction-diffusion time step written once in array style: on `f64` it runs on ndarray, on
/// `Var` on tape arrays (`Real::Array`), inside `revolve` on each re-taped step.
#[derive(Clone)]
struct DiffusionStep {
    rows: usize,
    cols: usize,
    dt: f64,
}

impl ad_core::Step for DiffusionStep {
    fn step<S: ad_core::Real>(&self, _k: usize, x: &[S], p: &[S], out: &mut [S]) {
        let u = S::Array::from_slice(x);
        let d = S::Array::from_slice(p);
        let (r, c) = (self.rows, self.cols);
        let mut du = u.mul(&u.rsub_f64(1.0));
        for (dr, dc) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let face = d.add(&d.roll2(r, c, dr, dc)).mul_f64(0.5);
            du = du.add(&face.mul(&u.roll2(r, c, dr, dc).sub(&u)));
        }
        let next = u.add(&du.mul_f64(self.dt));
        out.copy_from_slice(&next.to_vec());
    }
}

#[test]
fn array_style_step_through_revolve_matches_scalar_taping() {
    use ad_core::Step;
    let step = DiffusionStep {
        rows: 4,
        cols: 5,
        dt: 0.05,
    };
    let u0 = point(20, 81);
    let d = point(20, 82);
    let n_steps = 30;
    let loss = |u: &[Var]| -> f64 { u.iter().map(|v| v.value()).sum() };
    // plain taping of every step (tape arrays), then the same with binomial checkpointing
    let plain = {
        let tape = Tape::new();
        let (x, p) = (tape.vars(&u0), tape.vars(&d));
        let mut u = x.clone();
        let mut next = u.clone();
        for k in 0..n_steps {
            step.step(k, &u, &p, &mut next);
            std::mem::swap(&mut u, &mut next);
        }
        let y: Var = u.iter().map(|&v| v * v).sum();
        let adj = tape.gradient(y);
        (loss(&u), adj.wrt_all(&x), adj.wrt_all(&p))
    };
    let tape = Tape::new();
    let (x, p) = (tape.vars(&u0), tape.vars(&d));
    let u = ad_core::revolve(&step, &x, &p, n_steps, 4);
    let y: Var = u.iter().map(|&v| v * v).sum();
    let adj = tape.gradient(y);
    assert!((loss(&u) - plain.0).abs() < 1e-12 * plain.0.abs());
    grads_agree(&adj.wrt_all(&x), &plain.1, 1e-13);
    grads_agree(&adj.wrt_all(&p), &plain.2, 1e-13);
    // and the f64 step agrees with the taped values
    let mut uf = u0.clone();
    let mut nf = u0.clone();
    for k in 0..n_steps {
        step.step(k, &uf, &d, &mut nf);
        std::mem::swap(&mut uf, &mut nf);
    }
    assert!((uf.iter().sum::<f64>() - plain.0).abs() < 1e-12 * plain.0.abs());
}

/// A small periodic reaction-diffusion right-hand side in array style (rolls, element-wise
/// products, `from_slice` / `to_vec` at the ends), as an ODE solver tapes it.
fn rd_rhs<S: ad_core::Real>(m: usize, u: &[S], d: &[S]) -> Vec<S> {
    let (u, d) = (S::Array::from_slice(u), S::Array::from_slice(d));
    let gx = d
        .add(&d.roll2(m, m, -1, 0))
        .mul(&u.roll2(m, m, -1, 0).sub(&u));
    let gy = d
        .add(&d.roll2(m, m, 0, -1))
        .mul(&u.roll2(m, m, 0, -1).sub(&u));
    let flux = gx
        .sub(&gx.roll2(m, m, 1, 0))
        .add(&gy.sub(&gy.roll2(m, m, 0, 1)));
    flux.mul_f64(3.0).add(&u.mul(&u.rsub_f64(1.0))).to_vec()
}

#[test]
fn from_run_recognises_exactly_the_runs() {
    let tape = Tape::new();
    let other = Tape::new();
    let v = tape.vars(&[1.0, 2.0, 3.0, 4.0]);
    let w = other.vars(&[5.0, 6.0, 7.0, 8.0]);
    // a run, and any contiguous part of one
    let a = VarArray::from_run(&v).expect("the Vars of Tape::vars are a run");
    assert_eq!(a.values(), &[1.0, 2.0, 3.0, 4.0]);
    assert!(VarArray::from_run(&v[1..3]).is_some());
    let arr = tape.var_array(&[0.5, 1.5, 2.5]).sin();
    let parts = arr.to_vars();
    let r = VarArray::from_run(&parts).expect("to_vars gives a run");
    assert_eq!(r.values(), arr.values());
    // not runs: ends that fit but a permuted middle, a gap, a constant, another tape's Var,
    // reversed, empty, constants only
    let not_runs: Vec<Vec<Var>> = vec![
        vec![v[0], v[2], v[1], v[3]],
        vec![v[0], v[1], v[3]],
        vec![v[0], Var::constant(2.0), v[2]],
        vec![v[0], w[1], v[2]],
        vec![v[3], v[2], v[1], v[0]],
        vec![],
        vec![Var::constant(1.0), Var::constant(2.0)],
    ];
    for (k, vars) in not_runs.iter().enumerate() {
        assert!(VarArray::from_run(vars).is_none(), "case {k} is not a run");
    }
    // from_vars copies what is not a run: the gradient follows the Vars given
    let before = tape.len();
    let copied = VarArray::from_vars(&not_runs[0]);
    assert_eq!(
        tape.len(),
        before + 4,
        "a permuted run is copied to new slots"
    );
    assert_eq!(copied.values(), &[1.0, 3.0, 2.0, 4.0]);
    let y = copied.dot_f64s(&[1.0, 10.0, 100.0, 1000.0]);
    let adj = tape.gradient(y);
    assert_eq!(adj.wrt_all(&v), vec![1.0, 100.0, 10.0, 1000.0]);
    // a run is used as is: nothing recorded
    let before = tape.len();
    let _ = VarArray::from_vars(&v);
    assert_eq!(tape.len(), before);
}

#[test]
#[should_panic(expected = "another tape")]
fn from_vars_of_two_tapes_panics_even_at_matching_indices() {
    let (tape, other) = (Tape::new(), Tape::new());
    let v = tape.vars(&[1.0, 2.0, 3.0]);
    let w = other.vars(&[1.0, 2.0, 3.0]);
    // `w[1]` has the index a run would have there: the tape check must still catch it
    let _ = VarArray::from_vars(&[v[0], w[1], v[2]]);
}

/// Seeding a run of outputs as one weighted sum (`from_run(f).dot_f64s(w)`, as an ODE solver
/// seeds an array-style right-hand side) gives the same adjoints as seeding each output
/// (`vjp` with cotangent `w`), and both match the right-hand side on scalar `Var`s.
#[test]
fn run_of_outputs_seeded_as_one_dot_matches_scalar_vars() {
    let m = 6;
    let n = m * m;
    let mut rng = Rng::new(77);
    let u: Vec<f64> = (0..n).map(|_| rng.uniform(0.1, 0.9)).collect();
    let d: Vec<f64> = (0..n).map(|_| rng.uniform(0.5, 1.5)).collect();
    let w: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    // scalar Vars, cell by cell
    let reference = {
        let tape = Tape::new();
        let (us, ds) = (tape.vars(&u), tape.vars(&d));
        let mut f = Vec::with_capacity(n);
        for i in 0..m {
            for j in 0..m {
                let c = i * m + j;
                let next = [((i + 1) % m) * m + j, i * m + (j + 1) % m];
                let prev = [((i + m - 1) % m) * m + j, i * m + (j + m - 1) % m];
                let mut acc = Var::constant(0.0);
                for (&q, &p) in next.iter().zip(&prev) {
                    acc =
                        acc + (ds[c] + ds[q]) * (us[q] - us[c]) - (ds[p] + ds[c]) * (us[c] - us[p]);
                }
                f.push(acc * 3.0 + us[c] * (1.0 - us[c]));
            }
        }
        let adj = tape.vjp(&f, &w);
        let mut g = adj.wrt_all(&us);
        g.extend(adj.wrt_all(&ds));
        g
    };
    let mut per_output = Vec::new();
    for one_dot in [false, true] {
        let tape = Tape::new();
        let (us, ds) = (tape.vars(&u), tape.vars(&d));
        let f = rd_rhs(m, &us, &ds);
        let adj = if one_dot {
            let run = VarArray::from_run(&f).expect("to_vec of an array is a run");
            tape.vjp(&[run.dot_f64s(&w)], &[1.0])
        } else {
            tape.vjp(&f, &w)
        };
        let mut g = adj.wrt_all(&us);
        g.extend(adj.wrt_all(&ds));
        grads_agree(&g, &reference, 1e-14);
        if one_dot {
            assert_eq!(
                g, per_output,
                "one weighted sum seeds the same adjoints, bit for bit"
            );
        }
        per_output = g;
    }
}

/// Re-indexings whose runs continue one another (shifts by whole rows, a clamped shift's
/// interior, ascending stretches of a gather) are copied as merged runs: values and gradients
/// match per-element indexing of scalar `Var`s (computed here without the arrays' run code).
#[test]
fn merged_runs_of_reindexings_match_per_element_indexing() {
    let (rows, cols) = (5usize, 7usize);
    let n = rows * cols;
    let x = point(n, 91);
    let w = point(n, 92);
    let idx: Arc<[u32]> = vec![2, 3, 4, 7, 8, 0, 1, 2, 30, 31, 32, 33, 34].into();
    type Src = Box<dyn Fn(usize) -> usize>;
    let wrap = |v: isize, m: usize| v.rem_euclid(m as isize) as usize;
    let cases: Vec<(&str, usize, Src)> = vec![
        (
            "roll2 by rows",
            n,
            Box::new(move |i| wrap(i as isize / cols as isize + 2, rows) * cols + i % cols),
        ),
        (
            "roll2 by rows and columns",
            n,
            Box::new(move |i| {
                wrap(i as isize / cols as isize + 1, rows) * cols
                    + wrap((i % cols) as isize - 3, cols)
            }),
        ),
        ("roll", n, Box::new(move |i| wrap(i as isize + 4, n))),
        (
            "shift_clamped right",
            n,
            Box::new(move |i| (i as isize - 3).clamp(0, n as isize - 1) as usize),
        ),
        (
            "shift_clamped left",
            n,
            Box::new(move |i| (i as isize + 5).clamp(0, n as isize - 1) as usize),
        ),
        ("gather", idx.len(), {
            let idx = idx.clone();
            Box::new(move |i| idx[i] as usize)
        }),
    ];
    for (k, (name, n_out, src)) in cases.into_iter().enumerate() {
        let w = &w[..n_out];
        // scalar Vars, indexed element by element
        let tape = Tape::new();
        let v = tape.vars(&x);
        let y: Var = (0..n_out).map(|i| v[src(i)] * w[i]).sum();
        let g_ref = tape.gradient(y).wrt_all(&v);
        let values_ref: Vec<f64> = (0..n_out).map(|i| x[src(i)]).collect();
        // tape arrays
        let tape = Tape::new();
        let a = tape.var_array(&x);
        let out = match k {
            0 => a.roll2(rows, cols, -2, 0),
            1 => a.roll2(rows, cols, -1, 3),
            2 => a.roll(-4),
            3 => a.shift_clamped(3),
            4 => a.shift_clamped(-5),
            _ => a.gather(&idx),
        };
        assert_eq!(out.values(), &values_ref[..], "{name}: values");
        let y2 = out.dot_f64s(w);
        let g = a.adjoints(&tape.gradient(y2));
        grads_agree(&g, &g_ref, 1e-14);
        // the f64 path (ndarray) uses the same runs
        let plain = Array1::from(x.clone());
        if k < 3 {
            let shifted = match k {
                0 => plain.roll2(rows, cols, -2, 0),
                1 => plain.roll2(rows, cols, -1, 3),
                _ => plain.roll(-4),
            };
            assert_eq!(shifted.to_vec(), values_ref, "{name}: f64 values");
        }
    }
}
