#!/usr/bin/env python3
"""Run mtlc and the JAX reference side by side on identical data and print the ratios.

Test and bench tooling only (Python 3 standard library; JAX runs in its own interpreter).

    bench/peer.py                                  # build mtlc (release), all five models, once each
    bench/peer.py --models mmoe,ple --repeat 3     # the median of three runs of each
    bench/peer.py --no-build --jax-python .venv-jax/bin/python --jax-loop both

One seeded 80/20 split of the adult CSV is written to a temporary directory; for each model,
`mtlc run specs/MODEL.yaml --train T --test S` and `jax_reference.py --train T --test S --model MODEL`
train on it. Throughput is steady samples/s over epochs 2..E for both (epoch 1 holds JAX's XLA
compile). The ratio is mtlc / JAX: above 1 means mtlc is faster. See bench/README.md.

Exit status: 0 when the comparison ran (a failing run is reported and skipped), 2 on usage errors.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["shared_bottom", "mmoe", "cgc", "ple", "esmm"]
# mtlc task -> JAX output column (ESMM: ctr is the income label, ctcvr the marital one)
TASKS = {"income": "income", "marital": "marital", "ctr": "income", "ctcvr": "marital"}


def install_hint(jax_script):
    req = os.path.relpath(os.path.join(os.path.dirname(jax_script), "requirements.txt"), REPO)
    return (f"python3 -m venv .venv-jax && .venv-jax/bin/pip install -r {req}"
            " (in the repo root; found then by default)")


TAIL_LINES = 15


def log(msg=""):
    print(msg, flush=True)


def rel(path):
    try:
        r = os.path.relpath(path)
        return r if not r.startswith("../../") else path
    except ValueError:
        return path


# ---------------------------------------------------------------- machine
def load_avg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_state():
    return {"time": datetime.datetime.now().isoformat(timespec="seconds"),
            "load": load_avg(), "cpu": cpu_name(), "cpus": os.cpu_count()}


def fmt_state(s):
    load = " ".join(f"{x:.2f}" for x in s["load"]) if s["load"] else "?"
    return f"{s['time']}  load {load}  cpu {s['cpu']} x{s['cpus']}"


# ---------------------------------------------------------------- processes
def tail(text, n=TAIL_LINES):
    lines = (text or "").rstrip().splitlines()
    return "\n".join("    | " + l for l in lines[-n:]) if lines else "    | (no output)"


def run(cmd, timeout, cwd=REPO):
    """-> (returncode or None on timeout/launch failure, stdout, stderr, wall seconds)"""
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, out, err + f"\n(timed out after {timeout:.0f} s)", time.perf_counter() - t
    except OSError as e:
        return None, "", f"could not start {cmd[0]}: {e}", time.perf_counter() - t


def git_rev():
    rc, out, _, _ = run(["git", "rev-parse", "--short", "HEAD"], 30)
    if rc != 0:
        return None
    rev = out.strip()
    rc, out, _, _ = run(["git", "status", "--porcelain", "--untracked-files=no"], 30)
    return rev + ("-dirty" if rc == 0 and out.strip() else "")


# ---------------------------------------------------------------- JAX interpreter
def has_jax(python):
    if not python or not os.path.exists(python):
        return None
    rc, out, _, _ = run([python, "-c", "import jax, jaxlib, optax, numpy; print(jax.__version__)"], 300)
    return out.strip() if rc == 0 else None


def find_jax(flag):
    """-> (python or None, jax version or None, message)"""
    if flag:  # explicit: use it or nothing
        v = has_jax(flag)
        return (flag, v, None) if v else (None, None, f"--jax-python {flag}: cannot import jax/optax there")
    cands = []
    if os.environ.get("MTLC_JAX_PYTHON"):
        cands.append(("$MTLC_JAX_PYTHON", os.environ["MTLC_JAX_PYTHON"]))
    venv = os.path.join(REPO, ".venv-jax", "bin", "python")
    if os.path.exists(venv):
        cands.append((".venv-jax", venv))
    cands.append(("this interpreter", sys.executable))
    tried = []
    for why, py in cands:
        v = has_jax(py)
        if v:
            return py, v, None
        tried.append(f"{why} ({py})")
    return None, None, "no Python with JAX found; tried " + ", ".join(tried)


# ---------------------------------------------------------------- data
def write_split(data, fraction, seed, outdir):
    with open(data, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if len(rows) < 3:
        raise ValueError(f"{data}: needs a header and at least two rows")
    header, body = rows[0], rows[1:]
    idx = list(range(len(body)))
    random.Random(seed).shuffle(idx)
    n_test = max(1, min(len(body) - 1, round(len(body) * fraction)))
    test, train = sorted(idx[:n_test]), sorted(idx[n_test:])
    paths = {}
    for name, sel in (("train", train), ("test", test)):
        p = os.path.join(outdir, f"{name}.csv")
        with open(p, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(body[i] for i in sel)
        paths[name] = p
    return paths["train"], paths["test"], len(train), len(test)


# ---------------------------------------------------------------- one run each
def run_mtlc(a, model, train, test, workdir, rep):
    m_out = os.path.join(workdir, f"{model}-{rep}.metrics.json")
    cmd = [a.mtlc, "run", os.path.join(REPO, "specs", f"{model}.yaml"),
           "--train", train, "--test", test, "--metrics-out", m_out, "-q"]
    if a.epochs:
        cmd += ["--epochs", str(a.epochs)]
    rc, out, err, wall = run(cmd, a.timeout)
    res = {"wall_s": round(wall, 2)}
    if rc != 0:
        return dict(res, error=f"exit {rc}", stderr_tail=tail(err or out))
    try:
        with open(m_out) as f:
            m = json.load(f)
        tr = m["train"]
        hist = tr.get("history") or []
        steady = hist[1:] if len(hist) > 1 else hist
        secs = sum(float(e["seconds"]) for e in steady)
        if steady and secs > 0:
            rows = tr.get("rows")
            samples = (rows * len(steady) if rows else
                       sum(float(e["samples_per_second"]) * float(e["seconds"]) for e in steady))
            sps = samples / secs
        else:
            sps = float(tr["samples_per_second"])
        res.update(samples_per_s=round(sps, 1),
                   samples_per_s_all_epochs=round(float(tr["samples_per_second"]), 1),
                   first_epoch_s=round(float(hist[0]["seconds"]), 3) if hist else None,
                   train_s=round(float(tr["seconds"]), 2), epochs=tr.get("epochs"))
        for task, col in TASKS.items():
            t = m.get("tasks", {}).get(task)
            if t and t.get("auc") is not None:
                res["auc_" + col] = float(t["auc"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        return dict(res, error=f"unreadable metrics {m_out}: {e}", stderr_tail=tail(err))
    return res


def run_jax(a, model, loop, train, test):
    cmd = [a.jax_python_resolved, a.jax_script, "--train", train, "--test", test,
           "--model", model, "--loop", loop]
    if a.epochs:
        cmd += ["--epochs", str(a.epochs)]
    rc, out, err, wall = run(cmd, a.timeout)
    res = {"wall_s": round(wall, 2), "loop": loop}
    if rc != 0:
        return dict(res, error=f"exit {rc}", stderr_tail=tail(err or out))
    rec = None
    for line in reversed(out.splitlines()):
        if line.strip().startswith("{"):
            try:
                rec = json.loads(line)
                break
            except ValueError:
                pass
    if rec is None or "samples_per_s" not in rec:
        return dict(res, error="no JSON result line", stderr_tail=tail(err or out))
    res.update(samples_per_s=float(rec["samples_per_s"]), first_epoch_s=rec.get("first_epoch_s"),
               peak_rss_mb=rec.get("peak_rss_mb"), cpu_utilisation=rec.get("cpu_utilisation"))
    for col in ("income", "marital"):
        if rec.get("auc_" + col) is not None:
            res["auc_" + col] = float(rec["auc_" + col])
    res["versions"] = rec.get("versions")
    return res


# ---------------------------------------------------------------- summaries
KEYS = ("samples_per_s", "auc_income", "auc_marital", "wall_s")


def summarise(runs):
    """median over the successful runs of each figure"""
    ok = [r for r in runs if "error" not in r]
    s = {"runs_ok": len(ok), "runs_failed": len(runs) - len(ok)}
    for k in KEYS:
        v = [r[k] for r in ok if r.get(k) is not None]
        m = statistics.median(v) if v else None
        s[k] = m if m is None or k.startswith("auc") else round(m, 2)
    return s


def fmt_sps(x):
    return "-" if x is None else (f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}")


def fmt_auc(s):
    f = lambda v: "-" if v is None else f"{v:.4f}"
    return f"{f(s.get('auc_income'))}/{f(s.get('auc_marital'))}"


def fmt_wall(x):
    return "-" if x is None else f"{x:.1f}"


def table(results, jax_on):
    head = ["model", "mtlc samples/s", "JAX samples/s", "ratio mtlc/JAX",
            "mtlc AUC inc/mar", "JAX AUC inc/mar", "wall s mtlc/JAX"]
    rows = []
    for model, r in results.items():
        m, j = r["mtlc"], r.get("jax") or {}
        ratio = r.get("ratio")
        rows.append([model + (f" ({j['loop']})" if jax_on and j.get("loop") else ""),
                     fmt_sps(m.get("samples_per_s")),
                     fmt_sps(j.get("samples_per_s")) if jax_on else "n/a",
                     "-" if ratio is None else f"{ratio:.2f}x",
                     fmt_auc(m), fmt_auc(j) if jax_on else "n/a",
                     f"{fmt_wall(m.get('wall_s'))}/{fmt_wall(j.get('wall_s')) if jax_on else 'n/a'}"])
    w = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(cells))
    return "\n".join([line(head), line(["-" * n for n in w])] + [line(x) for x in rows])


# ---------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/peer.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Relative --mtlc/--data/--jax-script defaults are in the repo root; the JAX Python "
               "is --jax-python, else $MTLC_JAX_PYTHON, else .venv-jax/bin/python, else this one.")
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma-separated, from {','.join(MODELS)} (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the median is reported")
    ap.add_argument("--split-seed", type=int, default=1, help="seed of the 80/20 split (default 1)")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--data", default=os.path.join(REPO, "data", "adult.csv"))
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs for both (default: the spec's and jax_reference's, 10)")
    ap.add_argument("--jax-python", default=None, help="a Python with jax and optax")
    ap.add_argument("--jax-script", default=os.path.join(REPO, "..", "shared", "bench", "jax_reference.py"))
    ap.add_argument("--jax-loop", default="scan", choices=["python", "scan", "both"],
                    help="jax_reference --loop; both runs the two and keeps the faster (default scan)")
    ap.add_argument("--mtlc", default=os.path.join(REPO, ".build", "release", "mtlc"))
    ap.add_argument("--no-build", action="store_true",
                    help="skip `swift build -c release --product mtlc`")
    ap.add_argument("--json-out", default=os.path.join(REPO, "out", "peer.json"))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run (default 1800)")
    ap.add_argument("--keep-temp", action="store_true", help="keep the split and metrics files")
    a = ap.parse_args(argv)

    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = [m for m in a.models if m not in MODELS]
    if bad or not a.models:
        ap.error(f"--models: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(MODELS)}")
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    if not 0 < a.test_fraction < 1:
        ap.error("--test-fraction must be between 0 and 1")
    if a.epochs is not None and a.epochs < 2:
        ap.error("--epochs must be at least 2 (the steady figure leaves out epoch 1)")
    if a.timeout <= 0:
        ap.error("--timeout must be positive")
    if not os.path.isfile(a.data):
        ap.error(f"--data {a.data}: no such file")
    for m in a.models:
        if not os.path.isfile(os.path.join(REPO, "specs", f"{m}.yaml")):
            ap.error(f"specs/{m}.yaml: no such file")
    a.mtlc = os.path.abspath(a.mtlc)
    if a.no_build and not os.access(a.mtlc, os.X_OK):
        ap.error(f"--no-build: {a.mtlc} is not there; build it (swift build -c release) or drop --no-build")
    a.jax_script = os.path.abspath(a.jax_script)
    a.json_out = os.path.abspath(a.json_out)
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    start = machine_state()
    log(f"start: {fmt_state(start)}")

    # mtlc
    mtlc_ok, build = True, None
    if not a.no_build:
        log("building: swift build -c release --product mtlc")
        rc, out, err, wall = run(["swift", "build", "-c", "release", "--product", "mtlc"], 3600)
        build = {"returncode": rc, "wall_s": round(wall, 1)}
        if rc != 0:
            mtlc_ok = False
            log(f"mtlc: the build failed (exit {rc}); mtlc runs are skipped\n{tail(err or out)}")
    if mtlc_ok and not os.access(a.mtlc, os.X_OK):
        mtlc_ok = False
        log(f"mtlc: {a.mtlc} is not there; mtlc runs are skipped")
    rev = git_rev()
    if mtlc_ok:
        log(f"mtlc: {rel(a.mtlc)} (repo {rev or '?'})" + (f"; built in {build['wall_s']:.0f} s" if build else ""))

    # JAX
    jax_python, jax_version, why = find_jax(a.jax_python)
    if jax_python and not os.path.isfile(a.jax_script):
        why, jax_python = f"{a.jax_script}: no such file (pass --jax-script)", None
    if jax_python:
        a.jax_python_resolved = jax_python
        log(f"JAX: {jax_version} via {jax_python}; {rel(a.jax_script)} --loop {a.jax_loop}")
    else:
        log(f"JAX: not run ({why}); to install it: {install_hint(a.jax_script)}")
    loops = ["python", "scan"] if a.jax_loop == "both" else [a.jax_loop]

    work = tempfile.mkdtemp(prefix="mtlc-peer-")
    results = {}
    try:
        try:
            train, test, n_train, n_test = write_split(a.data, a.test_fraction, a.split_seed, work)
        except (OSError, ValueError, csv.Error) as e:
            print(f"bench/peer.py: error: --data {a.data}: {e}", file=sys.stderr)
            return 2
        log(f"split: {n_train} train / {n_test} test rows of {rel(a.data)} (seed {a.split_seed}) in {work}")
        log()
        for model in a.models:
            m_runs, j_runs = [], {l: [] for l in loops}
            for rep in range(a.repeat):
                # alternate who goes first, so drift in the machine's load hits both alike
                order = ["mtlc", "jax"] if rep % 2 == 0 else ["jax", "mtlc"]
                for who in order:
                    if who == "mtlc" and mtlc_ok:
                        r = run_mtlc(a, model, train, test, work, rep)
                        m_runs.append(r)
                        report(model, rep, a.repeat, "mtlc", r)
                    elif who == "jax" and jax_python:
                        for loop in loops:
                            r = run_jax(a, model, loop, train, test)
                            j_runs[loop].append(r)
                            report(model, rep, a.repeat, f"JAX {loop}", r)
            entry = {"mtlc": dict(summarise(m_runs), runs=m_runs) if mtlc_ok else {"skipped": True}}
            if jax_python:
                per_loop = {l: summarise(rs) for l, rs in j_runs.items()}
                best = max(loops, key=lambda l: per_loop[l]["samples_per_s"] or -1)
                entry["jax"] = dict(per_loop[best], loop=best, runs=j_runs[best])
                if len(loops) > 1:
                    entry["jax_loops"] = {l: dict(per_loop[l], runs=j_runs[l]) for l in loops}
                ms, js = entry["mtlc"].get("samples_per_s"), entry["jax"].get("samples_per_s")
                entry["ratio"] = round(ms / js, 3) if ms and js else None
            results[model] = entry
    finally:
        if a.keep_temp:
            log(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    end = machine_state()
    log()
    log(table(results, bool(jax_python)))
    log()
    log("samples/s: steady, epochs 2..E, median of %d run%s; ratio > 1: mtlc is faster"
        % (a.repeat, "" if a.repeat == 1 else "s"))
    log(f"start: {fmt_state(start)}")
    log(f"end:   {fmt_state(end)}")

    doc = {"start": start, "end": end, "repeat": a.repeat,
           "split": {"data": a.data, "seed": a.split_seed, "test_fraction": a.test_fraction,
                     "train_rows": n_train, "test_rows": n_test},
           "epochs": a.epochs,
           "mtlc": {"binary": a.mtlc, "repo_rev": rev, "build": build, "available": mtlc_ok},
           "jax": {"python": jax_python, "version": jax_version, "script": a.jax_script,
                   "loop": a.jax_loop, "available": bool(jax_python),
                   **({} if jax_python else {"why": why, "install": install_hint(a.jax_script)})},
           "env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS")
                   if k in os.environ},
           "models": results}
    try:
        os.makedirs(os.path.dirname(a.json_out), exist_ok=True)
        with open(a.json_out, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        log(f"json:  {rel(a.json_out)}")
    except OSError as e:
        log(f"json:  could not write {a.json_out}: {e}")
    return 0


def report(model, rep, n, who, r):
    tag = f"{model} [{rep + 1}/{n}] {who}:"
    if "error" in r:
        log(f"{tag} FAILED ({r['error']}, {r['wall_s']:.1f} s)\n{r.get('stderr_tail', '')}")
    else:
        log(f"{tag} {fmt_sps(r.get('samples_per_s'))} samples/s, AUC {fmt_auc(r)}, {r['wall_s']:.1f} s")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # stdout closed early (| head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
