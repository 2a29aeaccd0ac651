"""Compare gsa's Sobol' indices with SALib's on the same runs (W8).

Reads the design's outputs and gsa's indices written by
`cargo run --release -p gsa --example sobol_lotka_volterra` (target/gsa/w8_y.csv and
target/gsa/w8_indices.csv; the rows are in SALib's Saltelli order), runs
SALib.analyze.sobol.analyze on every output (calc_second_order=False) and prints the largest
difference of the point estimates (same estimator: they should agree to ~1e-12) and of the
confidence half-widths (different bootstrap resamples: they agree only statistically).
Usage: python salib_same_sample.py [target/gsa]
"""
import csv
import sys

import numpy as np
from SALib.analyze import sobol as sobol_analyze

d = sys.argv[1] if len(sys.argv) > 1 else "target/gsa"
Y = np.loadtxt(f"{d}/w8_y.csv", delimiter=",", skiprows=1)
ours = {}
with open(f"{d}/w8_indices.csv") as f:
    for r in csv.DictReader(f):
        ours[(int(r["output"]), r["input"])] = {k: float(r[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
names = ["a", "b", "d", "g"]
problem = {"num_vars": 4, "names": names, "bounds": [[0.8 * v, 1.2 * v] for v in (1.5, 1.0, 1.0, 3.0)]}
worst = {"S1": 0.0, "ST": 0.0, "S1_conf": 0.0, "ST_conf": 0.0}
for o in range(Y.shape[1]):
    res = sobol_analyze.analyze(problem, Y[:, o], calc_second_order=False, num_resamples=100, seed=1)
    for i, n in enumerate(names):
        for k in worst:
            worst[k] = max(worst[k], abs(res[k][i] - ours[(o, n)][k]))
    if o == Y.shape[1] - 1:
        print("SALib x(10): S1 =", np.round(res["S1"], 4), "ST =", np.round(res["ST"], 4),
              "S1_conf =", np.round(res["S1_conf"], 4))
print("largest |SALib - gsa| over 10 outputs x 4 inputs:",
      ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
