//! Re-indexings of [`VarArray`] (stencils, meshes): shifts, slices, gathers and scatter-adds.

use std::sync::Arc;

use super::fill::{init_from, new_values};
use super::{ArrayOp, IndexMap, VarArray};
use crate::pool::{self, Use};

impl<'t> VarArray<'t> {
    fn gather_map(&self, n_out: usize, map: IndexMap) -> VarArray<'t> {
        let a = self.values();
        if let IndexMap::Strided { offset, step: 1 } = map {
            // A contiguous sub-run is the same tape slots and the same values: nothing to
            // record, nothing to copy.
            let mut view = self.clone();
            view.start += offset as u32;
            view.off += offset;
            view.len = n_out;
            return view;
        }
        let mut values = pool::take_f64(Use::Values, n_out);
        values.reserve(n_out);
        let spare = &mut values.spare_capacity_mut()[..n_out];
        let mut covered = 0;
        map.for_runs(n_out, |o, s, len| {
            init_from(&mut spare[o..o + len], &a[s..s + len]);
            covered += len;
        });
        assert_eq!(covered, n_out, "a re-indexing covers every output once");
        // SAFETY: the runs cover `0..n_out` (each output once), so every element was written.
        unsafe { values.set_len(n_out) };
        let (src, src_len) = (self.start, self.len());
        Self::record(self.tape, ArrayOp::Gather { src, src_len, map }, values)
    }

    /// Periodic shift: `out[i] = self[(i - k) mod n]` (as `numpy.roll`).
    pub fn roll(&self, k: isize) -> VarArray<'t> {
        let n = self.len();
        self.gather_map(n, IndexMap::Roll { n, k })
    }

    /// Periodic 2-D shift of a row-major `rows x cols` array:
    /// `out[r, c] = self[(r - dr) mod rows, (c - dc) mod cols]`.
    ///
    /// # Panics
    /// If `rows * cols` is not the length.
    pub fn roll2(&self, rows: usize, cols: usize, dr: isize, dc: isize) -> VarArray<'t> {
        self.same_len(rows * cols, "roll2 (rows * cols)");
        self.gather_map(rows * cols, IndexMap::Roll2 { rows, cols, dr, dc })
    }

    /// Clamped shift: `out[i] = self[clamp(i - k, 0, n - 1)]` (edge values repeat).
    pub fn shift_clamped(&self, k: isize) -> VarArray<'t> {
        let n = self.len();
        assert!(n > 0, "ad_core: shift_clamped of an empty array");
        self.gather_map(n, IndexMap::Clamp { n, k })
    }

    /// Strided slice: `out[i] = self[offset + i step]` for `i < len`. With `step == 1` it is
    /// a view of the same tape slots and records nothing.
    ///
    /// # Panics
    /// If the last element is out of range.
    pub fn slice(&self, offset: usize, step: usize, len: usize) -> VarArray<'t> {
        if len > 0 {
            assert!(
                offset + (len - 1) * step < self.len(),
                "ad_core: slice(offset {offset}, step {step}, len {len}) out of range for length {}",
                self.len()
            );
        }
        self.gather_map(len, IndexMap::Strided { offset, step })
    }

    /// Gather: `out[i] = self[idx[i]]`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn gather(&self, idx: &Arc<[u32]>) -> VarArray<'t> {
        let n = self.len();
        if let Some(&bad) = idx.iter().find(|&&k| k as usize >= n) {
            panic!("ad_core: gather index {bad} out of range for length {n}");
        }
        self.gather_map(idx.len(), IndexMap::Gather(idx.clone()))
    }

    /// Scatter-add into `m` slots: `out[idx[i]] += self[i]` (assembly on meshes).
    ///
    /// # Panics
    /// If `idx` and the array differ in length or an index is `>= m`.
    pub fn scatter_add(&self, idx: &Arc<[u32]>, m: usize) -> VarArray<'t> {
        self.same_len(idx.len(), "scatter_add (indices)");
        if let Some(&bad) = idx.iter().find(|&&k| k as usize >= m) {
            panic!("ad_core: scatter_add index {bad} out of range for {m} slots");
        }
        let mut values = new_values(m, |_| 0.0);
        for (&k, &v) in idx.iter().zip(self.values().iter()) {
            values[k as usize] += v;
        }
        let op = ArrayOp::ScatterAdd {
            src: self.start,
            idx: idx.clone(),
        };
        Self::record(self.tape, op, values)
    }
}
