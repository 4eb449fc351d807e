#!/usr/bin/env bash
# Issue 8, item 4: where the first steps go on a GPU, for several builds side by side.
# For each binary given (for example `cuda` alone, `cuda,fusion`, and
# `cuda,fusion,autotune`), runs `entrannas bench` (which prints every step as it
# finishes) for full EnTranNAS at batch 256 and then DARTS at batch 64 (C = 16, 8 cells,
# 3x32x32), each in a fresh process with its own timeout, so a slow first step still
# leaves the times of the steps it finished. Each binary has its own kernel and
# autotune caches (empty unless --cache NAME=DIR names one left by an earlier call);
# compilations are logged and the GPU's memory is sampled with nvidia-smi every second.
#
# Usage (from the repository root):
#   scripts/gpu-first-step.sh --bin NAME=PATH [--bin NAME=PATH ...] [--cache NAME=DIR]
#       [--device cuda] [--steps N] [--timeouts ENTRAN,DARTS]
#       [--depthwise grouped|taps|tap-weight-grad] [--out DIR]
# Defaults: 5 timed steps, timeouts 120,60 s per binary, depthwise grouped, out $OUT.
set -uo pipefail

names=() bins=() caches=() device=cuda steps=5 timeouts=120,60 depthwise=grouped
out=${OUT:-gpu-first-step-out}
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
declare -A cache_of=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) names+=("${2%%=*}"); bins+=("$(abspath "${2#*=}")"); shift 2 ;;
    --cache) cache_of[${2%%=*}]=$(abspath "${2#*=}"); shift 2 ;;
    --device) device=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --timeouts) timeouts=$2; shift 2 ;;
    --depthwise) depthwise=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "gpu-first-step: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#bins[@]} -gt 0 ] || { echo "gpu-first-step: give at least one --bin NAME=PATH" >&2; exit 2; }
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "gpu-first-step: no executable binary at '$b'" >&2; exit 2; }
done
IFS=, read -r entran_timeout darts_timeout <<<"$timeouts"
out=$(abspath "$out")
work=$(mktemp -d "${TMPDIR:-/tmp}/entrannas-first-step.XXXXXX")
mkdir -p "$out"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR=/tmp/xdg-runtime-$(id -u)
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi
shape=(--channels 16 --layers 8 --image 3x32x32 --warmup 0)

# run NAME TIMEOUT BIN CACHE -- BENCH ARGS...
run() {
  local name=$1 limit=$2 bin=$3 cache=$4; shift 5
  local dir="$work/cwd-$name"
  mkdir -p "$dir" "$cache"
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
    mem=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
    echo "$(date +%s.%N) ${mem:-null} $(wc -l <"$work/$name-compilation.log" 2>/dev/null || echo 0)"
    sleep 1
  done) >"$work/$name-memory.txt" 2>/dev/null &
  local sampler=$! t0 rc
  t0=$(date +%s.%N)
  echo "== $name (timeout ${limit}s): bench --device $device $*" | tee -a "$out/first-step.log"
  (cd "$dir" && timeout -k 5 "$limit" "$bin" --depthwise "$depthwise" bench --device "$device" "$@" --json "$work/$name.json") \
    >>"$out/first-step.log" 2>&1
  rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  python3 - "$work/$name-memory.txt" "$t0" "$rc" <<'PY' | tee -a "$out/first-step.log"
import sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 3]
mem = [int(r[1]) for r in rows if r[1].isdigit()]
kernels = int(rows[-1][2]) if rows else 0
seconds = float(rows[-1][0]) - float(sys.argv[2]) if rows else 0.0
print(f"-- rc {sys.argv[3]}, {seconds:.1f} s, nvidia-smi peak {max(mem) if mem else 'n/a'} MiB, "
      f"kernels compiled {kernels}")
PY
}

for i in "${!bins[@]}"; do
  name=${names[$i]}
  cache=${cache_of[$name]:-$work/cache-$name}
  run "$name-entran-256" "$entran_timeout" "${bins[$i]}" "$cache" -- --rungs bottleneck --batch-sizes 256 --steps "$steps" "${shape[@]}"
  run "$name-darts-64" "$darts_timeout" "${bins[$i]}" "$cache" -- --rungs darts --batch-sizes 64 --steps "$steps" "${shape[@]}"
done
# Step lines and summaries only (the bench's table and tracing go to the raw archive).
grep -E '^==|^--|step [0-9]+/|s/step' "$out/first-step.log" >"$out/first-step-summary.txt"
tar -czf "$out/first-step-raw.tar.gz" -C "$work" --exclude='cwd-*' --exclude='cache-*' . 2>/dev/null
echo "gpu-first-step: done; $out/first-step-summary.txt"
cat "$out/first-step-summary.txt"
