#!/usr/bin/env bash
# Data-parallel training (issue 15): samples/s of `mtlc run` on the 10^6-row click log (ESMM) with
# 1, 2 and 4 ranks of one thread each under mpirun (on a 2-core machine 4 ranks oversubscribe),
# scaling efficiency against 1 rank, and the bytes each rank sends per step. Usage:
# bench/distributed.sh [EPOCHS]   (default 2). Needs Open MPI (openmpi-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2}
scripts/setup >&2
swift build -c release --product mtlc >&2
mtlc=$PWD/.build/release/mtlc
f=out/clicklog-1000000.csv.gz
if [ ! -f "$f" ]; then
  mkdir -p out
  "$mtlc" synth clicklog --rows 1000000 --users 50000 --items 10000 --seed 1 -o out/clicklog-1000000.csv --force >&2
  gzip -1 -f out/clicklog-1000000.csv
fi
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export MTLC_CACHE_DIR=$cache OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
args=(run bench/specs/clicklog_esmm.yaml --set "data.train=../../$f" --epochs "$epochs" --threads 1)
"$mtlc" prepare bench/specs/clicklog_esmm.yaml --set "data.train=../../$f" >&2
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores" >&2
echo "| ranks x threads | samples/s | scaling efficiency | bytes sent per rank per step | metrics identical to 1 process of as many threads |"
echo "|---|---|---|---|---|"
base=""
for n in 1 2 4; do
  if [ "$n" = 1 ]; then
    out=$("$mtlc" "${args[@]}" --metrics-out "$cache/m1.json" --force 2>&1)
  else
    out=$(mpirun --oversubscribe -np "$n" "$mtlc" "${args[@]}" --metrics-out "$cache/m$n.json" --force 2>&1)
    "$mtlc" run bench/specs/clicklog_esmm.yaml --set "data.train=../../$f" --epochs "$epochs" --threads "$n" -q \
      --metrics-out "$cache/s$n.json" --force >/dev/null 2>&1
  fi
  sps=$(echo "$out" | grep '^trained' | sed -E 's/.*\(([0-9]+) samples\/s\).*/\1/')
  bytes=$(echo "$out" | grep 'data-parallel' | sed -E 's/.*each sent ([0-9]+) bytes.*/\1/' || true)
  [ -n "$base" ] || base=$sps
  same="-"
  if [ "$n" != 1 ]; then
    same=$(python3 - "$cache/m$n.json" "$cache/s$n.json" <<'PY'
import json, sys
def strip(x):
    if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if k not in ("seconds", "samples_per_second")}
    if isinstance(x, list): return [strip(v) for v in x]
    return x
a, b = (json.load(open(p)) for p in sys.argv[1:])
print("yes" if strip(a) == strip(b) else "NO")
PY
)
  fi
  eff=$(python3 -c "print(f'{$sps / ($base * $n):.2f}')")
  echo "| $n x 1 | $sps | $eff | ${bytes:--} | $same |"
done
