#!/usr/bin/env python3
"""The MMoE paper's synthetic data (Ma et al., KDD 2018, section 3.2), with pinned constants.

Two regression tasks whose correlation is controlled by p:

  u1, u2      two orthogonal unit vectors in R^d
  w1 = c u1,  w2 = c (p u1 + sqrt(1 - p^2) u2)
  x ~ N(0, I_d)
  y_t = w_t.x + sum_{i=1..m} sin(alpha_i w_t.x + beta_i) + eps_t,   eps_t ~ N(0, 0.1^2)

Pinned: d = 100, c = 1, m = 10, alpha_i and beta_i ~ N(0, 1), p = 0.5, seed 2018 (one numpy
Generator draws, in order: u1, u2, alpha, beta, then each split's x and noise). Writes train
(10,000 rows), validation (1,000) and test (2,000) CSVs with columns x0..x99, y1, y2, and the
matching spec (bench/specs/mmoe_synthetic.yaml reads them from bench/synthetic/).

    python3 bench/mmoe_synthetic.py [--out bench/synthetic] [--p 0.5] [--seed 2018]
"""
import argparse
import os

import numpy as np


def generate(out, p=0.5, seed=2018, d=100, c=10.0, m=10, sizes=(("train", 10000), ("validation", 1000), ("test", 2000))):
    rng = np.random.default_rng(seed)
    u1 = rng.normal(size=d)
    u1 /= np.linalg.norm(u1)
    u2 = rng.normal(size=d)
    u2 -= u2.dot(u1) * u1
    u2 /= np.linalg.norm(u2)
    w1 = c * u1
    w2 = c * (p * u1 + np.sqrt(1 - p * p) * u2)
    alpha = rng.normal(size=m)
    beta = rng.normal(size=m)
    os.makedirs(out, exist_ok=True)
    header = ",".join([f"x{j}" for j in range(d)] + ["y1", "y2"])
    for name, n in sizes:
        x = rng.normal(size=(n, d))
        ys = []
        for w in (w1, w2):
            wx = x @ w
            ys.append(wx + np.sin(np.outer(wx, alpha) + beta).sum(axis=1) + rng.normal(scale=0.1, size=n))
        table = np.column_stack([x] + ys)
        path = os.path.join(out, f"{name}.csv")
        np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.6f")
        print(f"wrote {path}: {n} rows, label correlation {np.corrcoef(ys[0], ys[1])[0, 1]:.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench/synthetic")
    ap.add_argument("--p", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=2018)
    a = ap.parse_args()
    generate(a.out, p=a.p, seed=a.seed)
