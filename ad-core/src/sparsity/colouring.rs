//! Distance-2 colouring of a pattern's columns (columns that share a row get different
//! colours): greedy in natural order and DSatur, the better one kept.

use super::Sparsity;

/// The pattern by columns: `(col_start, rows_of)`, rows ascending.
pub(super) fn by_columns(s: &Sparsity) -> (Vec<usize>, Vec<u32>) {
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

/// Distance-2 colouring of the columns (columns sharing a row get different colours): the
/// better of the greedy colouring in natural order and DSatur. Returns each column's colour
/// and the number of colours.
pub(super) fn column_colouring(
    s: &Sparsity,
    col_start: &[usize],
    rows_of: &[u32],
) -> (Vec<u32>, usize) {
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
