//! Hessian-vector products through custom blocks (`Block::jvp_nested`), against central
//! differences of reverse-mode gradients (an independent oracle: only first-order rules).

use ad_core::{
    gradient, hessian_vector_product, try_hessian_vector_product, Block, BlockError, Dual,
    Function, GradientError, NoRule, Real,
};

/// `y_i = x_i^3 + x_{i+1} x_i` (cyclic), with first-order rules on `f64` and a nested rule.
struct Cubic;

impl Block for Cubic {
    type Residuals = Vec<f64>;
    fn forward(&self, x: &[f64], y: &mut [f64]) -> Vec<f64> {
        let n = x.len();
        for i in 0..n {
            y[i] = x[i].powi(3) + x[(i + 1) % n] * x[i];
        }
        x.to_vec()
    }
    fn vjp(&self, x: &Vec<f64>, y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        let n = x.len();
        for i in 0..n {
            let j = (i + 1) % n;
            x_bar[i] += (3.0 * x[i] * x[i] + x[j]) * y_bar[i];
            x_bar[j] += x[i] * y_bar[i];
        }
        Ok(())
    }
    fn jvp(&self, x: &Vec<f64>, x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.jvp_nested(x, &[], x_dot, y_dot)
    }
    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        _y: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> Result<(), BlockError> {
        let n = x.len();
        for i in 0..n {
            let j = (i + 1) % n;
            y_dot[i] = (x[i] * x[i] * 3.0 + x[j]) * x_dot[i] + x[i] * x_dot[j];
        }
        Ok(())
    }
}

/// A block with first-order rules only.
struct NoSecond;

impl Block for NoSecond {
    type Residuals = ();
    fn forward(&self, x: &[f64], y: &mut [f64]) {
        y[0] = x[0] * 2.0;
    }
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        x_bar[0] += 2.0 * y_bar[0];
        Ok(())
    }
}

/// A block whose nested rule fails when the input is negative.
#[derive(Debug)]
struct Negative;
impl std::fmt::Display for Negative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "negative input")
    }
}
impl std::error::Error for Negative {}

struct Fails;

impl Block for Fails {
    type Residuals = ();
    fn forward(&self, x: &[f64], y: &mut [f64]) {
        y[0] = x[0] * x[0];
    }
    fn vjp(&self, _: &(), _: &[f64], _: &mut [f64]) -> Result<(), BlockError> {
        Ok(())
    }
    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        _: &[T],
        _: &[T],
        _: &mut [T],
    ) -> Result<(), BlockError> {
        if x[0] < 0.0 {
            Err(Box::new(Negative))
        } else {
            Ok(())
        }
    }
}

/// A loss around [`Cubic`]: nonlinear before and after the block.
fn loss<S: Real>(x: &[S]) -> S {
    let pre: Vec<S> = x.iter().map(|v| v.sin() + *v).collect();
    let mut y = vec![S::zero(); x.len()];
    S::apply_block(Cubic, &pre, &mut y);
    y.iter()
        .enumerate()
        .map(|(i, v)| *v * *v * (i as f64 + 1.0))
        .sum::<S>()
        + y[0] * x[1]
}

struct Loss;
impl Function for Loss {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        vec![loss(x)]
    }
}

/// `H v` by a fourth-order central difference of reverse-mode gradients.
fn fd_hvp(x: &[f64], v: &[f64], h: f64) -> Vec<f64> {
    let g = |s: f64| {
        let xs: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + s * h * b).collect();
        gradient(|p| loss(p), &xs).1
    };
    let (g2, g1, m1, m2) = (g(2.0), g(1.0), g(-1.0), g(-2.0));
    (0..x.len())
        .map(|i| (-g2[i] + 8.0 * g1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
        .collect()
}

#[test]
fn hvp_through_a_block_matches_differences_of_gradients() {
    let x = [0.3, -0.7, 1.1, 0.4];
    for v in [[1.0, 0.0, 0.0, 0.0], [0.2, -1.0, 0.5, 0.7]] {
        let hv = hessian_vector_product(&Loss, &x, &v);
        let fd = fd_hvp(&x, &v, 1e-3);
        let scale = fd.iter().fold(1.0f64, |m, a| m.max(a.abs()));
        for (a, b) in hv.iter().zip(&fd) {
            assert!((a - b).abs() <= 1e-8 * scale, "{hv:?} vs {fd:?}");
        }
        // the same bits every run
        assert_eq!(hv, hessian_vector_product(&Loss, &x, &v));
    }
}

#[test]
fn nested_rule_serves_dual_over_dual() {
    // second directional derivative v^T H v by Dual<1, Dual<1>>
    let x = [0.3, -0.7, 1.1, 0.4];
    let v = [0.2, -1.0, 0.5, 0.7];
    let xs: Vec<Dual<1, Dual<1>>> = x
        .iter()
        .zip(&v)
        .map(|(&a, &b)| Dual::new(Dual::new(a, [b]), [Dual::new(b, [0.0])]))
        .collect();
    let y = loss(&xs);
    let hv = hessian_vector_product(&Loss, &x, &v);
    let vhv: f64 = hv.iter().zip(&v).map(|(a, b)| a * b).sum();
    assert!((y.d[0].d[0] - vhv).abs() <= 1e-12 * vhv.abs().max(1.0));
}

fn no_second<S: Real>(x: &[S]) -> Result<S, GradientError> {
    let mut y = [S::zero()];
    S::apply_block(NoSecond, &x[..1], &mut y);
    Ok(y[0] * y[0])
}

fn fails<S: Real>(x: &[S]) -> Result<S, GradientError> {
    let mut y = [S::zero()];
    S::apply_block(Fails, &x[..1], &mut y);
    Ok(y[0])
}

#[test]
fn a_block_without_a_second_order_rule_is_a_typed_error() {
    let err = try_hessian_vector_product(|x| no_second(x), &[1.5], &[1.0]).unwrap_err();
    match &err {
        GradientError::Block { pass, source, .. } => {
            assert_eq!(*pass, "second-order");
            let rule = source.downcast_ref::<NoRule>().expect("a NoRule");
            assert_eq!(rule.rule, "second-order");
        }
        e => panic!("unexpected error {e}"),
    }
}

#[test]
fn a_failing_nested_rule_reaches_the_caller() {
    assert!(try_hessian_vector_product(|x| fails(x), &[2.0], &[1.0]).is_ok());
    let err = try_hessian_vector_product(|x| fails(x), &[-2.0], &[1.0]).unwrap_err();
    let source = err.block_source().expect("a source");
    assert!(source.downcast_ref::<Negative>().is_some());
}

#[test]
#[should_panic(expected = "second-order")]
fn hessian_vector_product_panics_with_the_failure() {
    struct G;
    impl Function for G {
        fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
            let mut y = [S::zero()];
            S::apply_block(NoSecond, x, &mut y);
            vec![y[0] * y[0]]
        }
    }
    hessian_vector_product(&G, &[1.0], &[1.0]);
}
