"""Runs an exported mtlc model under onnxruntime on raw CSV rows and compares every task's output
with `mtlc predict`'s CSV. Used by scripts/onnx-parity.

    python onnx_parity.py MODEL.onnx ROWS.csv PREDICTIONS.csv [--tol 1e-5] [--model NAME]
"""
import argparse
import csv
import json
import sys

import numpy as np
import onnxruntime as ort


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx")
    ap.add_argument("rows")
    ap.add_argument("predictions")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--model", default="")
    a = ap.parse_args()

    sess = ort.InferenceSession(a.onnx, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    inputs = json.loads(meta["mtlc.inputs"])

    with open(a.rows, newline="") as f:
        table = list(csv.reader(f))
    # mtlc trims ASCII spaces around a cell (not tabs); do the same.
    header = [h.strip(" ") for h in table[0]]
    rows = [[c.strip(" ") for c in r] for r in table[1:]]

    feed = {}
    for spec in inputs:
        col = header.index(spec["column"])
        cells = [r[col] for r in rows]
        if spec["type"] == "string":
            feed[spec["name"]] = np.array(cells, dtype=object).reshape(-1, 1)
        elif spec["type"] == "double":
            missing = set(spec["missing"])
            xs = [float("nan") if c in missing else float(c) for c in cells]
            feed[spec["name"]] = np.array(xs, dtype=np.float64).reshape(-1, 1)
        else:  # a hashed feature: the caller computes the row, as mtlc does
            missing = set(spec["missing"]) | {""}
            n = spec["hashBuckets"]
            ids = [0 if c in missing else 1 + fnv1a64(c.encode("utf-8")) % n for c in cells]
            feed[spec["name"]] = np.array(ids, dtype=np.int64).reshape(-1, 1)

    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(names, feed)))

    with open(a.predictions, newline="") as f:
        pred = list(csv.reader(f))
    tasks = pred[0]
    want = np.array([[float(x) for x in r] for r in pred[1:]], dtype=np.float64)
    ok = True
    if sorted(tasks) != sorted(names):
        print(f"{a.model}: outputs {names} differ from mtlc predict's tasks {tasks}")
        return 1
    if want.shape[0] != len(rows):
        print(f"{a.model}: mtlc predicted {want.shape[0]} rows, the file has {len(rows)}")
        return 1
    parts = []
    for j, t in enumerate(tasks):
        g = got[t].astype(np.float64).reshape(-1)
        d = float(np.max(np.abs(g - want[:, j]))) if len(g) else 0.0
        if not (d <= a.tol):
            ok = False
        parts.append(f"{t} {d:.2e}")
    print(f"{a.model:14} {len(rows)} rows, max |onnx - mtlc|: " + ", ".join(parts) + ("" if ok else f"  > {a.tol}: FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
