//! The converged states of the forward solve's accepted steps, as the discrete adjoint's passes
//! ask for them: read from the log for the first steps it kept, else computed again one
//! segment at a time by restoring the stepper from the snapshot before it and stepping again.
//!
//! A segment is repeated with a log of the same budget as the forward solve's, so a long
//! segment keeps its own first states and snapshots, and its later steps are served the same
//! way one level down (the recursion of the explicit methods' checkpoints): each level holds
//! at most the budget's states, and the levels shrink the segment by the budget's number of
//! snapshots each time.
//!
//! The stepper restored from a [`Snapshot`](crate::stiff::bdf::Snapshot) repeats the forward
//! steps bit for bit, so the gradient does not depend on the budget. Each repeated step is
//! checked against the log (its end, size and order); a difference means the right-hand side
//! gave different values for the same arguments, and is [`Error::NotReproducible`].

use crate::error::Error;
use crate::options::Options;
use crate::stepper::Stepper;
use crate::stiff::bdf::BdfStepper;
use crate::system::OdeSystem;

use super::log::StepLog;

/// What the forward solve started from (the replays start there too).
pub(crate) struct Start<'a, Sys> {
    pub(crate) sys: &'a Sys,
    pub(crate) y0: &'a [f64],
    pub(crate) p: &'a [f64],
    pub(crate) t0: f64,
    pub(crate) save_at: &'a [f64],
    pub(crate) opts: &'a Options,
}

/// A segment computed again: the steps `first..end` (of the forward solve), logged from
/// `first` on, with the level below it.
struct Level {
    first: usize,
    end: usize,
    log: StepLog,
    below: Option<Box<Level>>,
}

/// The converged states of the logged steps (see the module docs).
pub(crate) struct States<'a, Sys> {
    start: &'a Start<'a, Sys>,
    log: &'a StepLog,
    below: Option<Box<Level>>,
    /// Steps computed again.
    pub(crate) recomputed: usize,
    /// The most states held at once (kept states and snapshots of every level).
    pub(crate) max_held: usize,
}

impl<'a, Sys: OdeSystem> States<'a, Sys> {
    pub(crate) fn new(start: &'a Start<'a, Sys>, log: &'a StepLog) -> Self {
        States {
            start,
            log,
            below: None,
            recomputed: 0,
            max_held: log.states_held(),
        }
    }

    /// The converged state of step `s`.
    ///
    /// # Errors
    /// The errors of a BDF step (the forward solve did not meet them), and
    /// [`Error::NotReproducible`] if a repeated step differs from the logged one.
    pub(crate) fn get(&mut self, s: usize) -> Result<&[f64], Error> {
        let mut log = self.log;
        let mut first = 0;
        let mut slot = &mut self.below;
        let mut held = log.states_held();
        loop {
            let i = s - first;
            if i < log.kept_steps() {
                self.max_held = self.max_held.max(held);
                let n = log.n;
                return Ok(&log.kept_states()[i * n..(i + 1) * n]);
            }
            if !slot.as_ref().is_some_and(|l| (l.first..l.end).contains(&s)) {
                *slot = None; // frees the levels below first
                let level = recompute(self.start, self.log, log, first, s)?;
                self.recomputed += level.end - level.first;
                *slot = Some(Box::new(level));
            }
            let level: &mut Level = match slot {
                Some(level) => level,
                None => {
                    return Err(Error::NotReproducible {
                        t: self.log.steps[s].t,
                    })
                }
            };
            log = &level.log;
            first = level.first;
            held += log.states_held();
            slot = &mut level.below;
        }
    }
}

/// Computes again the segment of `log` (which logs the steps from `first` on) that holds step
/// `s`: from the snapshot before it, or from the start of the solve.
fn recompute<Sys: OdeSystem>(
    start: &Start<'_, Sys>,
    top: &StepLog,
    log: &StepLog,
    first: usize,
    s: usize,
) -> Result<Level, Error> {
    let mut stepper =
        BdfStepper::replayer(start.sys, start.y0, start.p, start.t0, start.opts, top)?;
    let i = s - first;
    let k = log.snapshots.partition_point(|(j, _)| *j <= i);
    let from = match k {
        0 if first == 0 => {
            if let Some(&t_end) = start.save_at.last() {
                stepper.set_stop_time(t_end)?;
            }
            0
        }
        0 => {
            // every level keeps its first steps and snapshots from there on
            return Err(Error::NotReproducible { t: top.steps[s].t });
        }
        _ => {
            let (j, snap) = &log.snapshots[k - 1];
            stepper.restore(snap)?;
            *j
        }
    };
    let to = log.snapshots.get(k).map_or(log.steps(), |(j, _)| *j);
    for j in from..to {
        stepper.step()?;
        stepper.log_saves(0);
        let logged = &top.steps[first + j];
        let redo = stepper.log().and_then(|l| l.steps.last().copied());
        if !redo.is_some_and(|r| r.same_as(logged)) {
            return Err(Error::NotReproducible { t: logged.t });
        }
    }
    let log = stepper.take_log().unwrap_or_else(|| top.emptied());
    Ok(Level {
        first: first + from,
        end: first + to,
        log,
        below: None,
    })
}
