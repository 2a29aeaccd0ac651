//! Detection: [`Tracer`], the scalar that carries the set of inputs it depends on, and
//! [`jacobian_sparsity`], which runs the user's code on it once.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::Float;

use super::{Sparsity, SparsityError};
use crate::block::Block;
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
