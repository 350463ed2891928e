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
        if spec.get("maxLength"):
            # A multi-valued feature: the cell's values, empty ones and missing markers left out,
            # the first maxLength of them, padded with "" (strings) or -1 (hashed rows).
            missing = set(spec["missing"]) | {""}
            L = spec["maxLength"]
            bags = [[v for v in c.split(spec["separator"]) if v not in missing][:L] for c in cells]
            if spec["type"] == "string":
                feed[spec["name"]] = np.array([b + [""] * (L - len(b)) for b in bags], dtype=object).reshape(-1, L)
            else:
                n = spec["hashBuckets"]
                rows_ = [[1 + fnv1a64(v.encode("utf-8")) % n for v in b] + [-1] * (L - len(b)) for b in bags]
                feed[spec["name"]] = np.array(rows_, dtype=np.int64).reshape(-1, L)
        elif spec["type"] == "string":
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
    columns = pred[0]
    body = pred[1:]
    # A multiclass task: mtlc predict writes `task:class` per class, then `task` (the arg-max
    # class); its ONNX output is [N, K] in the order of the `mtlc.classes` metadata.
    classes = json.loads(meta.get("mtlc.classes", "{}"))
    tasks = [c for c in columns if ":" not in c]
    ok = True
    if sorted(tasks) != sorted(names):
        print(f"{a.model}: outputs {names} differ from mtlc predict's tasks {tasks}")
        return 1
    if len(body) != len(rows):
        print(f"{a.model}: mtlc predicted {len(body)} rows, the file has {len(rows)}")
        return 1
    parts = []
    for t in tasks:
        g = got[t].astype(np.float64)
        if t in classes:
            cols = [columns.index(f"{t}:{c}") for c in classes[t]]
            want = np.array([[float(r[j]) for j in cols] for r in body], dtype=np.float64).reshape(-1, len(cols))
            picked = [r[columns.index(t)] for r in body]
            argmax = [classes[t][k] for k in np.argmax(g, axis=1)] if len(g) else []
            if picked != argmax:
                ok = False
                parts.append(f"{t}: the arg-max class differs")
        else:
            want = np.array([float(r[columns.index(t)]) for r in body], dtype=np.float64).reshape(-1, 1)
        if g.shape != want.shape:
            print(f"{a.model}: output {t} has shape {g.shape}, mtlc predict {want.shape}")
            return 1
        d = float(np.max(np.abs(g - want))) if g.size else 0.0
        if not (d <= a.tol):
            ok = False
        parts.append(f"{t} {d:.2e}")
    print(f"{a.model:14} {len(rows)} rows, max |onnx - mtlc|: " + ", ".join(parts) + ("" if ok else f"  > {a.tol}: FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
