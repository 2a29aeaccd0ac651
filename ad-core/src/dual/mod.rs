//! `Dual<N, T>`: forward-mode scalars (a value and N tangents).
//!
//! The type and its constructors here; `arithmetic` holds the operators, `float` the
//! `num_traits` and [`Real`] implementations (the derivative table applied to tangents).

use std::cmp::Ordering;
use std::fmt;

use crate::real::Real;
use crate::table;

mod arithmetic;
mod float;
#[cfg(test)]
mod tests;

/// A forward-mode scalar: value `v` and `N` tangents `d` (directional derivatives along `N`
/// seed directions at once).
///
/// `Dual<N>` means `Dual<N, f64>`. The inner scalar can itself be a [`Real`]: `Dual<1, Var>`
/// computes exact Hessian-vector products (forward over reverse, see
/// [`hessian_vector_product`](crate::hessian_vector_product)), `Dual<1, Dual<1>>` second
/// directional derivatives.
///
/// ```
/// use ad_core::Dual;
/// use num_traits::Float;
///
/// // d/dx [x sin x] at x = 2 along the seed direction 1.
/// let x = Dual::<1>::variable(2.0, 0);
/// let y = x * x.sin();
/// assert!((y.d[0] - (2f64.sin() + 2.0 * 2f64.cos())).abs() < 1e-15);
/// ```
#[derive(Clone, Copy)]
pub struct Dual<const N: usize, T = f64> {
    /// The value.
    pub v: T,
    /// The tangents: `d[k]` is the derivative along seed direction `k`.
    pub d: [T; N],
}

impl<const N: usize, T: Real> Dual<N, T> {
    /// A dual with value `v` and tangents `d`.
    #[inline(always)]
    pub fn new(v: T, d: [T; N]) -> Self {
        Dual { v, d }
    }

    /// A constant: zero tangents.
    #[inline(always)]
    pub fn constant(v: T) -> Self {
        Dual {
            v,
            d: [T::zero(); N],
        }
    }

    /// An independent variable: value `v`, tangent 1 in direction `k`, 0 in the others.
    ///
    /// # Panics
    /// If `k >= N`.
    pub fn variable(v: f64, k: usize) -> Self {
        assert!(
            k < N,
            "Dual::variable: direction {k} out of range for Dual<{N}>"
        );
        let mut d = [T::zero(); N];
        d[k] = T::one();
        Dual { v: T::cst(v), d }
    }

    /// The chain rule for one argument: `d_k = dv * self.d_k`. A zero tangent stays zero
    /// through an infinite or NaN partial (`sqrt` at 0 along a direction it does not depend
    /// on): the product is the derivative of a constant, not `0 * inf = NaN`. The check costs
    /// one well-predicted branch per operation, on the partial, not per tangent.
    #[inline(always)]
    fn chain1(self, (v, dv): table::Unary<T>) -> Self {
        if dv.value().is_finite() {
            Dual {
                v,
                d: std::array::from_fn(|k| self.d[k] * dv),
            }
        } else {
            Dual {
                v,
                d: std::array::from_fn(|k| times_partial(self.d[k], dv)),
            }
        }
    }

    /// The chain rule for two arguments: `d_k = da * self.d_k + db * b.d_k`, zero tangents
    /// staying zero through non-finite partials as in [`chain1`](Self::chain1).
    #[inline(always)]
    fn chain2(self, b: Self, (v, da, db): table::Binary<T>) -> Self {
        if da.value().is_finite() && db.value().is_finite() {
            Dual {
                v,
                d: std::array::from_fn(|k| self.d[k] * da + b.d[k] * db),
            }
        } else {
            Dual {
                v,
                d: std::array::from_fn(|k| {
                    times_partial(self.d[k], da) + times_partial(b.d[k], db)
                }),
            }
        }
    }
}

/// `tangent * partial`, except that a constant zero tangent gives zero whatever the partial
/// (a tangent that is a nonzero-derivative `Var` with value 0 is multiplied as usual, so nested
/// derivatives are kept).
#[inline]
fn times_partial<T: Real>(tangent: T, partial: T) -> T {
    if tangent.is_constant() && tangent.value() == 0.0 {
        T::zero()
    } else {
        tangent * partial
    }
}

impl<T: Real> Dual<1, T> {
    /// Independent variables `x` seeded along one direction `t`: `Dual { v: x[i], d: [t[i]] }`.
    ///
    /// # Panics
    /// If `x` and `t` differ in length.
    pub fn along(x: &[T], t: &[T]) -> Vec<Self> {
        assert_eq!(x.len(), t.len(), "Dual::along: x and t differ in length");
        x.iter().zip(t).map(|(&v, &d)| Dual::new(v, [d])).collect()
    }
}

impl<const N: usize> Dual<N> {
    /// One chunk of a forward-mode Jacobian: element `i` of `x` is input number `offset + i`,
    /// and inputs `first..first + N` get unit tangents in directions `0..N` (the others none).
    /// Call it on consecutive pieces of the inputs (`y0` at offset 0, `p` at `y0.len()`, ...)
    /// with the same `first`.
    pub fn seeded(x: &[f64], offset: usize, first: usize) -> Vec<Self> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let mut d = Dual::constant(v);
                if let Some(k) = (offset + i).checked_sub(first).filter(|&k| k < N) {
                    d.d[k] = 1.0;
                }
                d
            })
            .collect()
    }
}

impl<const N: usize, T: Real> From<f64> for Dual<N, T> {
    /// A constant.
    fn from(x: f64) -> Self {
        Dual::constant(T::cst(x))
    }
}

impl<const N: usize, T: Real> Default for Dual<N, T> {
    fn default() -> Self {
        Dual::constant(T::zero())
    }
}

impl<const N: usize, T: fmt::Debug> fmt::Debug for Dual<N, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dual({:?}, {:?})", self.v, self.d)
    }
}

impl<const N: usize, T: fmt::Display> fmt::Display for Dual<N, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.v, f)
    }
}

impl<const N: usize, T: PartialEq> PartialEq for Dual<N, T> {
    /// Compares values.
    fn eq(&self, other: &Self) -> bool {
        self.v == other.v
    }
}

impl<const N: usize, T: PartialOrd> PartialOrd for Dual<N, T> {
    /// Compares values.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.v.partial_cmp(&other.v)
    }
}

impl<const N: usize, T: Real> PartialEq<f64> for Dual<N, T> {
    fn eq(&self, other: &f64) -> bool {
        self.v == *other
    }
}

impl<const N: usize, T: Real> PartialOrd<f64> for Dual<N, T> {
    fn partial_cmp(&self, other: &f64) -> Option<Ordering> {
        self.v.partial_cmp(other)
    }
}
