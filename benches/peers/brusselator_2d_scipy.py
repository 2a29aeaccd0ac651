#!/usr/bin/env python3
"""SciPy peer for `ode/examples/brusselator_2d.rs`: the 2D periodic Brusselator solved with
`scipy.integrate.solve_ivp(method="BDF")` and a sparse Jacobian, on the same problem and run.

Needs Python 3 with NumPy and SciPy:   pip install scipy numpy

    python3 benches/peers/brusselator_2d_scipy.py [--grids 32,64] [--runs 3] [--ours DIR]
    python3 benches/peers/brusselator_2d_scipy.py --grids 64 --reference   # tight-tolerance check

Problem (identical to the Rust example): m x m periodic grid, state interleaved per cell
k = i*m + j as y[2k] = u, y[2k+1] = v;
    u' = 1 + u^2 v - 4.4 u + c Lap(u),   v' = 3.4 u - u^2 v + c Lap(v),   c = alpha m^2,
alpha = 0.002, Lap the 5-point periodic Laplacian (unscaled), u0 = 22 y (1-y)^1.5 with y = j/m,
v0 = 27 x (1-x)^1.5 with x = i/m; t in [0, 11.5] saved at 1.0 and 11.5; rtol 1e-6, atol 1e-8.

Two set-ups of "SciPy BDF with a sparse Jacobian", both with a NumPy-vectorised right-hand side:
  jac_sparsity : the sparse pattern (scipy.sparse), Jacobian by grouped finite differences;
  analytic jac : jac= returns the exact Jacobian as a scipy.sparse CSC matrix (fixed pattern,
                 only the 4 reaction entries per cell change between calls).
Each line: median wall time of --runs runs, SciPy's nfev/njev/nlu, accepted steps (from one
extra untimed run without t_eval; stepping does not depend on t_eval), the final means of u and
v and the max abs difference of the final state against ours, read from
DIR/brusselator_2d_<m>.txt (written by the Rust example; DIR = $CARGO_TARGET_DIR or target).
"""
import argparse
import os
import statistics
import time

import numpy as np
import scipy
import scipy.sparse as sp
from scipy.integrate import solve_ivp

ALPHA = 0.002
T0, T_SAVE = 0.0, [1.0, 11.5]
RTOL, ATOL = 1e-6, 1e-8


def initial_state(m):
    i = np.arange(m)[:, None] / m  # row index -> x
    j = np.arange(m)[None, :] / m  # column index -> y
    y0 = np.empty((m, m, 2))
    y0[:, :, 0] = 22.0 * j * (1.0 - j) ** 1.5
    y0[:, :, 1] = 27.0 * i * (1.0 - i) ** 1.5
    return y0.ravel()


def make_rhs(m):
    c = ALPHA * m * m

    def rhs(t, y):
        Y = y.reshape(m, m, 2)
        lap = (np.roll(Y, 1, axis=0) + np.roll(Y, -1, axis=0)
               + np.roll(Y, 1, axis=1) + np.roll(Y, -1, axis=1) - 4.0 * Y)
        u, v = Y[:, :, 0], Y[:, :, 1]
        uuv = u * u * v
        dy = c * lap
        dy[:, :, 0] += uuv + 1.0 - 4.4 * u
        dy[:, :, 1] += 3.4 * u - uuv
        return dy.ravel()

    return rhs


def diffusion_matrix(m):
    """c * (periodic 5-point Laplacian on the grid) acting on each species, as CSC."""
    c = ALPHA * m * m
    n = 2 * m * m
    idx = np.arange(n).reshape(m, m, 2)
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [np.full(n, -4.0 * c)]
    for shift, axis in [(1, 0), (-1, 0), (1, 1), (-1, 1)]:
        rows.append(idx.ravel())
        cols.append(np.roll(idx, shift, axis=axis).ravel())
        vals.append(np.full(n, c))
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n))


def make_jac(m):
    """Analytic sparse Jacobian: the diffusion part is fixed; the 2x2 reaction block per cell
    is added into precomputed positions of the CSC data array."""
    n = 2 * m * m
    cells = np.arange(m * m)
    uu, vv = 2 * cells, 2 * cells + 1
    r = np.concatenate([uu, uu, vv, vv])
    cc = np.concatenate([uu, vv, uu, vv])
    # pattern = diffusion + reaction blocks (explicit zeros kept by construction below)
    pattern = (diffusion_matrix(m) + sp.csc_matrix((np.ones(4 * m * m), (r, cc)), shape=(n, n)))
    pattern = sp.csc_matrix(pattern)
    pattern.sort_indices()
    # diffusion values laid out on the full pattern
    D = diffusion_matrix(m)
    base = pattern.copy()
    base.data[:] = 0.0
    lookup = {}
    indptr, indices = pattern.indptr, pattern.indices
    for col in range(n):
        for p in range(indptr[col], indptr[col + 1]):
            lookup[(indices[p], col)] = p
    Dc = D.tocoo()
    for a, b, w in zip(Dc.row, Dc.col, Dc.data):
        base.data[lookup[(a, b)]] += w
    pos = np.array([lookup[(a, b)] for a, b in zip(r, cc)])
    pos_uu, pos_uv, pos_vu, pos_vv = np.split(pos, 4)
    base_data = base.data.copy()

    def jac(t, y):
        u, v = y[0::2], y[1::2]
        uv2 = 2.0 * u * v
        u2 = u * u
        data = base_data.copy()
        data[pos_uu] += uv2 - 4.4
        data[pos_uv] += u2
        data[pos_vu] += 3.4 - uv2
        data[pos_vv] -= u2
        return sp.csc_matrix((data, pattern.indices, pattern.indptr), shape=(n, n))

    return jac, pattern


def solve(m, variant, t_eval=T_SAVE, rtol=RTOL, atol=ATOL):
    rhs = make_rhs(m)
    jac, pattern = make_jac(m)
    kw = {"jac_sparsity": pattern} if variant == "jac_sparsity" else {"jac": jac}
    return solve_ivp(rhs, (T0, T_SAVE[-1]), initial_state(m), method="BDF", t_eval=t_eval,
                     rtol=rtol, atol=atol, **kw)


def ours_path(d, m):
    return os.path.join(d, f"brusselator_2d_{m}.txt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grids", default="32,64")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variants", default="jac_sparsity,analytic_jac")
    ap.add_argument("--ours", default=os.environ.get("CARGO_TARGET_DIR", "target"),
                    help="directory holding brusselator_2d_<m>.txt from the Rust example")
    ap.add_argument("--reference", action="store_true",
                    help="also solve at rtol 1e-10, atol 1e-12 (analytic Jacobian) and report "
                    "the errors of ours and of SciPy's rtol-1e-6 solutions against it")
    args = ap.parse_args()
    print(f"# numpy {np.__version__}, scipy {scipy.__version__}")
    for m in [int(g) for g in args.grids.split(",")]:
        ours = None
        if os.path.exists(ours_path(args.ours, m)):
            ours = np.loadtxt(ours_path(args.ours, m))
        finals = {}
        for variant in args.variants.split(","):
            times, sol = [], None
            for _ in range(args.runs):
                t = time.perf_counter()
                sol = solve(m, variant)
                times.append(time.perf_counter() - t)
            assert sol.success, sol.message
            steps = len(solve(m, variant, t_eval=None).t) - 1
            yf = sol.y[:, -1]
            finals[variant] = yf
            diff = "n/a" if ours is None else f"{np.max(np.abs(yf - ours)):.2e}"
            print(f"Brusselator 2D {m}x{m} ({2 * m * m} states): SciPy BDF {variant} "
                  f"{statistics.median(times):.3f} s (runs {', '.join(f'{x:.3f}' for x in times)}), "
                  f"steps={steps} nfev={sol.nfev} njev={sol.njev} nlu={sol.nlu} "
                  f"mean_u={yf[0::2].mean():.10f} mean_v={yf[1::2].mean():.10f} "
                  f"max_abs_diff_vs_ours={diff}")
        if args.reference:
            t = time.perf_counter()
            ref = solve(m, "analytic_jac", rtol=1e-10, atol=1e-12)
            assert ref.success, ref.message
            yr = ref.y[:, -1]
            print(f"Brusselator 2D {m}x{m}: reference SciPy BDF rtol 1e-10 atol 1e-12 "
                  f"{time.perf_counter() - t:.1f} s nfev={ref.nfev} "
                  f"mean_u={yr[0::2].mean():.10f} mean_v={yr[1::2].mean():.10f}")
            for name, y in [("ours", ours)] + list(finals.items()):
                if y is not None:
                    print(f"  max abs error vs reference: {name} {np.max(np.abs(y - yr)):.2e}")


if __name__ == "__main__":
    main()
