#!/usr/bin/env bash
# Issue 8, item 4: where the first steps go on `cuda`, with and without autotuning.
# Runs `entrannas bench` (printing every step's time) for full EnTranNAS at batch 256
# and DARTS at batch 64 (C = 16, 8 cells, 3x32x32) with two binaries: one built with
# `cuda,fusion,autotune` (optionally starting from the kernel and autotune caches of an
# earlier call, `cubecl-cache.tar.gz` of scripts/gpu-check.sh unpacked into a folder)
# and one built with `cuda,fusion` (no autotuning: burn's default kernels, cold caches).
# Each run has its own timeout, so a slow first step still leaves the times of the
# steps it finished; the GPU's memory is sampled with nvidia-smi every second.
#
# Usage (from the repository root):
#   scripts/gpu-first-step.sh --tuned BIN --untuned BIN [--tuned-cache DIR] [--out DIR]
#                             [--steps N] [--scale F] [--depthwise grouped|taps|tap-weight-grad]
#   --scale multiplies every timeout (105, 75, 50 and 30 s: 260 s in all at 1);
#   --depthwise is passed to `entrannas` (how depthwise convolutions are computed).
set -uo pipefail

tuned="" untuned="" tuned_cache="" out=${OUT:-gpu-first-step-out} steps=5 scale=1 depthwise=grouped
while [ $# -gt 0 ]; do
  case "$1" in
    --tuned) tuned=$2; shift 2 ;;
    --untuned) untuned=$2; shift 2 ;;
    --tuned-cache) tuned_cache=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --depthwise) depthwise=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gpu-first-step: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
for b in "$tuned" "$untuned"; do
  [ -x "$b" ] || { echo "gpu-first-step: no executable binary at '$b'" >&2; exit 2; }
done
tuned=$(abspath "$tuned"); untuned=$(abspath "$untuned"); out=$(abspath "$out")
work=$(mktemp -d "${TMPDIR:-/tmp}/entrannas-first-step.XXXXXX")
[ -n "$tuned_cache" ] || tuned_cache="$work/tuned-cache"
tuned_cache=$(abspath "$tuned_cache")
mkdir -p "$out" "$tuned_cache" "$work/untuned-cache"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
shape=(--channels 16 --layers 8 --image 3x32x32 --warmup 0)

# run NAME TIMEOUT BIN CACHE -- BENCH ARGS...
run() {
  local name=$1 limit bin=$3 cache=$4; shift 5
  limit=$(python3 -c "print(max(1, round($2 * $scale)))")
  local dir="$work/cwd-$name"
  mkdir -p "$dir"
  cat >"$dir/cubecl.toml" <<EOF
[compilation]
cache = { file = "$cache/compilation" }
[compilation.logger]
level = "basic"
file = "$work/$name-compilation.log"
[autotune]
cache = { file = "$cache/autotune" }
EOF
  (while :; do
    echo "$(date +%s.%N) $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1) $(wc -l <"$work/$name-compilation.log" 2>/dev/null || echo 0)"
    sleep 1
  done) >"$work/$name-memory.txt" 2>/dev/null &
  local sampler=$! t0 rc
  t0=$(date +%s.%N)
  echo "== $name (timeout ${limit}s): bench $*" | tee -a "$out/first-step.log"
  (cd "$dir" && timeout -k 5 "$limit" "$bin" --depthwise "$depthwise" bench --device cuda "$@" --json "$work/$name.json") \
    >>"$out/first-step.log" 2>&1
  rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  python3 - "$work/$name-memory.txt" "$t0" "$rc" <<'PY' | tee -a "$out/first-step.log"
import sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 3]
mem = [int(r[1]) for r in rows if r[1].isdigit()]
kernels = int(rows[-1][2]) if rows else 0
print(f"-- rc {sys.argv[3]}, {float(rows[-1][0]) - float(sys.argv[2]) if rows else 0:.1f} s, "
      f"nvidia-smi peak {max(mem) if mem else 'n/a'} MiB, kernels compiled {kernels}")
PY
}

run tuned-entran-256 105 "$tuned" "$tuned_cache" -- --rungs bottleneck --batch-sizes 256 --steps "$steps" "${shape[@]}"
run untuned-entran-256 75 "$untuned" "$work/untuned-cache" -- --rungs bottleneck --batch-sizes 256 --steps "$steps" "${shape[@]}"
run untuned-darts-64 50 "$untuned" "$work/untuned-cache" -- --rungs darts --batch-sizes 64 --steps 3 "${shape[@]}"
run untuned-entran-64 30 "$untuned" "$work/untuned-cache" -- --rungs bottleneck --batch-sizes 64 --steps "$steps" "${shape[@]}"
tar -czf "$out/first-step-raw.tar.gz" -C "$work" --exclude='cwd-*' --exclude='*-cache' . 2>/dev/null
echo "gpu-first-step: done; $out/first-step.log"
