#!/usr/bin/env bash
# Data at scale (issue 14): peak memory of `mtlc run` on click logs of 10^6 and 10^7 rows streamed
# from shards, training speed from shards against memory on the same data, and the time to the
# first step on a prepared data set. Usage: bench/data_scale.sh [PAIRS]   (PAIRS: interleaved
# memory/shards runs for the speed ratio, default 4). Writes its data under out/ and its shards in a
# cache of its own; prints a Markdown table (docs/performance.md, "Data at scale", holds the last).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-4}
scripts/setup >&2
swift build -c release --product mtlc >&2
mtlc=.build/release/mtlc
spec=bench/specs/clicklog_esmm.yaml
mkdir -p out
for n in 1000000 10000000; do
  f=out/clicklog-$n.csv.gz
  if [ ! -f "$f" ]; then
    "$mtlc" synth clicklog --rows "$n" --users 50000 --items 10000 --seed 1 -o "out/clicklog-$n.csv" --force >&2
    gzip -1 -f "out/clicklog-$n.csv"
  fi
done
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export MTLC_CACHE_DIR=$cache
field() { { grep -E "$1" "$2" || true; } | head -1 | sed -E "s#$3#\\1#"; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores" >&2
echo "| rows | data file | first run: encode into shards | peak RSS | prepared run: data ready | peak RSS | samples/s from shards |"
echo "|---|---|---|---|---|---|---|"
for n in 1000000 10000000; do
  f=../../out/clicklog-$n.csv.gz
  size=$(du -m "out/clicklog-$n.csv.gz" | cut -f1)
  for pass in first prepared; do
    /usr/bin/time -v "$mtlc" run "$spec" --set "data.train=$f" --set data.streaming=true --epochs 1 >"$cache/$pass.out" 2>&1
    rss=$(field "Maximum resident" "$cache/$pass.out" '.*: ([0-9]+)')
    ready=$(field "data ready" "$cache/$pass.out" '.* in ([0-9.]+) s')
    sps=$(field "^trained" "$cache/$pass.out" '.*\(([0-9]+) samples/s\)')
    enc=$(field "encoded into shards" "$cache/$pass.out" '.* in ([0-9.]+) s, .*')
    if [ "$pass" = first ]; then first="${enc:-?} s | $((rss / 1024)) MB"; else
      echo "| $n | ${size} MB gzip | $first | ${ready} s | $((rss / 1024)) MB | $sps |"; fi
  done
done
# Speed: the same 10^6 rows from memory and from shards, interleaved, 3 epochs each.
f=../../out/clicklog-1000000.csv.gz
mem=0; sh=0
for i in $(seq "$pairs"); do
  for st in false true; do
    s=$("$mtlc" run "$spec" --set "data.train=$f" --set data.streaming=$st --epochs 3 2>&1 | grep '^trained' | sed -E 's/.*\(([0-9]+) samples\/s\)/\1/')
    echo "run $i streaming=$st: $s samples/s" >&2
    if [ "$st" = false ]; then mem=$((mem + s)); else sh=$((sh + s)); fi
  done
done
echo
echo "10^6 rows, 3 epochs, $pairs interleaved pairs: memory $((mem / pairs)) samples/s, shards $((sh / pairs)) samples/s, ratio $(python3 -c "print(f'{$sh/$mem:.3f}')")"
