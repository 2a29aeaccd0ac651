//! Replaying: [`Trace::eval`] and [`Trace::vjp`], run by run and chunk by chunk, and the
//! parallel reverse sweep of a flat trace.

use super::chunk::{chunk_forward, chunk_reverse, chunks, Globals};
use super::Trace;

/// One share's buffers: a chunk's values and adjoints (staged operands first), the adjoint
/// terms of the less common operations, and on the flat path its own adjoints of the inputs.
#[derive(Clone, Debug, Default)]
pub(super) struct Workspace {
    pub(super) local: Vec<f64>,
    pub(super) local_adj: Vec<f64>,
    pub(super) scratch: [Vec<f64>; 2],
    pub(super) input_adj: Vec<f64>,
    /// Whether `input_adj` may hold a sum not added to the result yet (else it is zero).
    pub(super) adj_dirty: bool,
    /// Per row of the chunk's adjoints: nothing added yet.
    pub(super) fresh: Vec<bool>,
}

impl Workspace {
    pub(super) fn new(biggest: usize, widest: usize) -> Self {
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
