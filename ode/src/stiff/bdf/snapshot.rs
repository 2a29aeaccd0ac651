//! Snapshots of the BDF stepper between two accepted steps, for the discrete adjoint's
//! checkpoints: restoring one and stepping again repeats the forward solve's steps bit for
//! bit.
//!
//! A snapshot holds everything the next steps read: the differences, the step size, order and
//! their counters, the pending order/step-size choice with the state it scales by, the ages of
//! the Jacobian and factorisation, and the point the Jacobian was evaluated at. The Jacobian
//! itself (`n^2` numbers dense) is not stored: the restore evaluates it again at that point,
//! and factorises `I - c J` again with the same `c`, which gives the same numbers because both
//! are deterministic functions of their inputs. A snapshot is about `(MAX_ORDER + 4) w + n`
//! numbers with the row width `w` (`2 n` with the probe column).

use crate::error::Error;
use crate::system::OdeSystem;

use super::super::discrete::StepLog;
use super::{eval_jac, BdfStepper, Failure};

/// The stepper's state between two accepted steps ([`BdfStepper::snapshot`]).
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    t: f64,
    t_prev: f64,
    h: f64,
    h_last: f64,
    order: usize,
    n_equal: usize,
    t_stop: Option<f64>,
    d: Vec<f64>,
    pending: Option<(f64, f64)>,
    /// The converged row of the last step (the error norms of the pending choice scale by it).
    base: Vec<f64>,
    attempts: usize,
    jac_age: usize,
    jac_at: Option<(f64, Vec<f64>)>,
    /// `c` of the factorisation held, if one is.
    lu_c: Option<f64>,
}

impl Snapshot {
    /// Numbers held.
    pub(crate) fn len(&self) -> usize {
        self.d.len() + self.base.len() + self.jac_at.as_ref().map_or(0, |(_, y)| y.len())
    }
}

impl<Sys: OdeSystem> BdfStepper<'_, Sys> {
    /// The state after an accepted step (not at a (re)start: the first step of a solve is
    /// repeated from the start itself).
    pub(crate) fn snapshot(&self) -> Snapshot {
        debug_assert!(!self.fresh && self.pending.is_some(), "between two steps");
        debug_assert!(
            self.conv_fails == 0 && self.err_fails == 0 && self.last_failure == Failure::None,
            "an accepted step clears the failure counters"
        );
        Snapshot {
            t: self.t,
            t_prev: self.t_prev,
            h: self.h,
            h_last: self.h_last,
            order: self.order,
            n_equal: self.n_equal,
            t_stop: self.t_stop,
            d: self.d.clone(),
            pending: self.pending,
            base: self.sc.base.clone(),
            attempts: self.attempts,
            jac_age: self.lin.age,
            jac_at: self.lin.jac_at.clone(),
            lu_c: self.lin.lu.as_ref().map(|_| self.lin.lu_c),
        }
    }

    /// Puts the stepper back into the state of `snap` (taken from a stepper of the same solve:
    /// system, inputs, options and sparsity pattern), with an empty step log of the same budget.
    ///
    /// # Errors
    /// [`Error::NotReproducible`] if `I - c J` is singular now where it was not in the forward
    /// solve (the right-hand side is not a deterministic function of its arguments).
    pub(crate) fn restore(&mut self, snap: &Snapshot) -> Result<(), Error> {
        self.t = snap.t;
        self.t_prev = snap.t_prev;
        self.h = snap.h;
        self.h_last = snap.h_last;
        self.order = snap.order;
        self.n_equal = snap.n_equal;
        self.t_stop = snap.t_stop;
        self.d.copy_from_slice(&snap.d);
        self.fresh = false;
        self.pending = snap.pending;
        self.sc.base.copy_from_slice(&snap.base);
        self.attempts = snap.attempts;
        self.conv_fails = 0;
        self.err_fails = 0;
        self.last_failure = Failure::None;
        self.lin.age = snap.jac_age;
        self.lin.current = false;
        self.lin.lu = None;
        self.lin.lu_c = f64::NAN;
        self.lin.jac_at = snap.jac_at.clone();
        if let Some((t, y)) = &snap.jac_at {
            let lin = &mut self.lin;
            eval_jac(
                self.sys,
                lin.sparse.as_deref(),
                *t,
                y,
                &self.p,
                &mut lin.jac,
            );
        }
        if let Some(c) = snap.lu_c {
            let f = self
                .lin
                .factor(self.n, c)
                .map_err(|_| Error::NotReproducible { t: snap.t })?;
            self.lin.lu = Some(f);
            self.lin.lu_c = c;
        }
        if let Some(l) = &mut self.log {
            *l = l.emptied();
        }
        Ok(())
    }

    /// After an accepted step and its saves (`saved` rows so far): logs the saves and, when
    /// the log asks for one, a snapshot.
    pub(crate) fn log_saves(&mut self, saved: usize) {
        let want = self.log.as_ref().is_some_and(|l| l.wants_snapshot());
        let snap = want.then(|| self.snapshot());
        if let Some(l) = &mut self.log {
            l.end_saves(saved);
            if let Some(s) = snap {
                l.add_snapshot(s);
            }
        }
    }

    /// Takes the step log written so far.
    pub(crate) fn take_log(&mut self) -> Option<StepLog> {
        self.log.take()
    }

    /// The step log being written (replays read the converged states of the steps they
    /// repeated from it).
    pub(crate) fn log(&self) -> Option<&StepLog> {
        self.log.as_ref()
    }
}
