#!/usr/bin/env python3
"""SciPy peer for `ode/examples/work_precision.rs`: Robertson to t = 1e11, work vs precision with
`scipy.integrate.solve_ivp` (BDF, Radau, LSODA), analytic Jacobian supplied.

Needs Python 3 with NumPy and SciPy:   pip install scipy numpy

Run both, in the same minute, on the same machine (from the workspace root):

    python3 benches/peers/robertson_work_precision_scipy.py --out target/work_precision_scipy.json
    cargo run --release -p ode --example work_precision -- target/work_precision_scipy.json

The example prints our rows and the peer's side by side and writes target/work_precision.svg.
Options: --methods BDF,Radau,LSODA   --rtols 1e-4,...,1e-10   --out FILE (default: print only).

Problem (identical to the Rust example and to ode/tests/stiff_bdf.rs): k = (0.04, 3e7, 1e4),
y0 = (1, 0, 0), t in [0, 1e11]; right-hand side and Jacobian written as in the shared peers'
W4 set-up (rober_rhs / rober_jac with args=(k,)); rtol = 1e-4 .. 1e-10 (one decade apart),
atol_i = (1e-10, 1e-14, 1e-10) * rtol (per component). Accuracy: significant correct digits
-log10(|y_i - ref_i| / |ref_i|) at t = 1e11 against the published reference (Test Set for IVP
Solvers, ROBER), minimum over y1, y2, y3 (capped at 16 for an exact component).

Timing protocol (the same in the Rust example): one untimed warm-up solve; if it took more than
2 s the configuration is skipped (and said so); otherwise timed solves until 51 runs or 1 s of
timed work, at least 3 runs; the median wall time is reported. Steps are the accepted steps
(len(sol.t) - 1, no t_eval); nfev / njev / nlu are SciPy's counters.
"""
import argparse
import json
import platform
import statistics
import time

import numpy as np
import scipy
from scipy.integrate import solve_ivp

K = np.array([0.04, 3e7, 1e4])
Y0 = np.array([1.0, 0.0, 0.0])
T_END = 1e11
# Test Set for IVP Solvers, problem ROBER (Mazzia & Magherini), t = 1e11
REF = np.array([0.2083340149701255e-7, 0.8333360770334713e-13, 0.9999999791665050])
ATOL_SCALE = np.array([1e-10, 1e-14, 1e-10])
RTOLS = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
SKIP_S, MAX_RUNS, MIN_RUNS, TIMED_BUDGET_S = 2.0, 51, 3, 1.0
DIGITS_CAP = 16.0


def rober_rhs(t, y, k):
    y1, y2, y3 = y
    k1, k2, k3 = k
    return np.array([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 * y2 - k3 * y2 * y3, k2 * y2 * y2])


def rober_jac(t, y, k):
    y1, y2, y3 = y
    k1, k2, k3 = k
    return np.array([[-k1, k3 * y3, k3 * y2],
                     [k1, -2 * k2 * y2 - k3 * y3, -k3 * y2],
                     [0.0, 2 * k2 * y2, 0.0]])


def digits(a, b):
    """Significant correct digits, as in ode/tests/stiff_bdf.rs."""
    with np.errstate(divide="ignore"):
        return float(-np.log10(abs(a - b) / abs(b)))


def solve(method, rtol):
    return solve_ivp(rober_rhs, (0.0, T_END), Y0, method=method, rtol=rtol, atol=ATOL_SCALE * rtol,
                     jac=rober_jac, args=(K,))


def run(method, rtol):
    row = dict(method=method, rtol=rtol, time_ms=None, runs=0, digits=None, steps=None)
    t0 = time.perf_counter()
    try:
        sol = solve(method, rtol)
    except Exception as e:  # noqa: BLE001 - report and go on
        row["note"] = f"failed: {type(e).__name__}"
        return row
    warm_s = time.perf_counter() - t0
    if not sol.success:
        row["note"] = "failed: " + str(sol.message).replace('"', "'")
        return row
    each = [min(digits(sol.y[i, -1], REF[i]), DIGITS_CAP) for i in range(3)]
    row.update(digits=min(each), digits_each=each, steps=len(sol.t) - 1,
               nfev=int(sol.nfev), njev=int(sol.njev), nlu=int(sol.nlu))
    counters = f"rhs {sol.nfev} jac {sol.njev} lu {sol.nlu}"
    if warm_s > SKIP_S:
        row["note"] = f"skipped: warm-up solve {warm_s:.1f} s > {SKIP_S:g} s; " + counters
        return row
    ts = []
    start = time.perf_counter()
    while len(ts) < MAX_RUNS and (len(ts) < MIN_RUNS or time.perf_counter() - start < TIMED_BUDGET_S):
        t = time.perf_counter()
        solve(method, rtol)
        ts.append((time.perf_counter() - t) * 1e3)
    row.update(time_ms=statistics.median(ts), runs=len(ts), note=counters)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", default="BDF,Radau,LSODA")
    ap.add_argument("--rtols", default=",".join(f"{r:g}" for r in RTOLS))
    ap.add_argument("--out", default=None, help="JSON file for ode/examples/work_precision.rs")
    a = ap.parse_args()
    rows = []
    print(f"{'solver':<13} {'rtol':>7} {'ms':>10} {'runs':>4} {'digits':>7} {'steps':>7}  notes")
    for method in a.methods.split(","):
        for rtol in (float(r) for r in a.rtols.split(",")):
            r = run(method, rtol)
            rows.append(r)
            ms = "-" if r["time_ms"] is None else f"{r['time_ms']:.3f}"
            dg = "-" if r["digits"] is None else f"{r['digits']:.2f}"
            st = "-" if r["steps"] is None else str(r["steps"])
            print(f"{'SciPy ' + method:<13} {rtol:>7.0e} {ms:>10} {r['runs']:>4} {dg:>7} {st:>7}  {r['note']}",
                  flush=True)
    peer = (f"SciPy {scipy.__version__} solve_ivp, NumPy {np.__version__}, Python {platform.python_version()}; "
            f"analytic Jacobian")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(peer=peer, rows=rows), f, indent=1)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
