#!/usr/bin/env bash
# The prepared GPU check (docs/GPU.md): given a release binary built with
# `--features cuda,vulkan,wgpu,fusion,autotune` and the Fashion-MNIST files, it prints
# `entrannas info`, measures the first step and the ladder with `entrannas bench` on
# `cuda` and `vulkan`, checks that a tiny search gives the same losses on the CPU and on
# `cuda`, runs a short search and a short training on Fashion-MNIST on `cuda`, and
# writes every figure to one JSON file. Every command has its own timeout and the
# whole script keeps to a budget (480 s by default): a step that no longer fits is
# recorded as skipped, and `--steps` reruns only the named steps.
#
# With `--plan tch` it checks libtorch's CUDA path instead (issue 35, docs/GPU.md
# section 5): a binary built with `--features tch` (and `cuda` for the last steps)
# against the device machine's PyTorch, `entrannas info`, the first step, the ladder at
# batch 64 and 256 on `tch:cuda` beside the PyTorch twin (scripts/torch_twin.py) on the
# same GPU, one process per rung and batch so that each peak is its own, the agreement
# with `flex`, a 2-epoch search and a 1-epoch training, then CubeCL's `cuda` in the time
# left; `gpu-call.json` holds the ladders, first steps and agreement
# (scripts/gpu_call_report.py) and a table ends the output.
#
# Usage (from the repository root):
#   scripts/gpu-check.sh [--plan cubecl|tch] [--bin PATH] [--data DIR] [--out DIR]
#                        [--cache DIR] [--budget SECONDS] [--steps a,b,...] [--cpu-only]
#                        [--depthwise grouped|taps|tap-weight-grad] [--python PATH]
#   --plan      `cubecl` (default: CubeCL's cuda and vulkan) or `tch` (libtorch)
#   --python    the PyTorch twin's python3 and, for `tch`, where libtorch is found
#               (default /opt/torch/.venv/bin/python3, else python3)
#   --bin       the binary (default target/release/entrannas)
#   --data      Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist;
#               the embedded subset is used when the folder has no files)
#   --out       where gpu-check.json, gpu-check.log, gpu-check-raw.tar.gz and
#               cubecl-cache.tar.gz go (default $OUT, else ./gpu-check-out)
#   --cache     CubeCL's autotune and compiled-kernel cache (default ./.gpu-cache; carry
#               it to the next session, or unpack cubecl-cache.tar.gz into it)
#   --cpu-only  dry run: `flex` stands in for `cuda`, `ndarray` for the CPU reference
#               and `flex` for `vulkan` (for `tch`: `tch` on the CPU for `tch:cuda`, the
#               twin on the CPU), at tiny sizes (proves the script's logic)
#   --gpu DEV / --vk DEV / --ref DEV   override the three devices
#   --depthwise how every command computes depthwise convolutions (docs/GPU.md, 4)
# Steps, in priority order: env info first-cold first-warm bench-darts-64
#   bench-entran-64 bench-entran-256 agreement profile-entran-256 vulkan-entran search
#   train ladder-cuda ladder-vulkan first-minimal; with `--plan tch`: env info
#   first-step, ours-RUNG-BATCH and twin-RUNG-BATCH (bottleneck 256, darts 64,
#   bottleneck 64 first), agreement search train, the other rungs, cubecl-first
#   cubecl-warm
set -uo pipefail

start_epoch=$(date +%s)
bin=target/release/entrannas
data=/usr/share/datasets/fashion-mnist
out=${OUT:-gpu-check-out}
cache=.gpu-cache
budget=480
only=""
cpu_only=0
depthwise=""
gpu="" vk="" ref=""
plan=cubecl
python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --steps) only=$2; shift 2 ;;
    --cpu-only) cpu_only=1; shift ;;
    --depthwise) depthwise=$2; shift 2 ;;
    --gpu) gpu=$2; shift 2 ;;
    --vk) vk=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --plan) plan=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
bin=$(abspath "$bin"); out=$(abspath "$out"); cache=$(abspath "$cache"); data=$(abspath "$data")
if [ ! -x "$bin" ]; then
  echo "gpu-check: no executable binary at $bin (build it: docs/GPU.md)" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "gpu-check: python3 is needed for the JSON" >&2; exit 2; }
case "$plan" in cubecl|tch) ;; *) echo "gpu-check: --plan is cubecl or tch, not $plan" >&2; exit 2 ;; esac
if [ -z "$python" ]; then
  python=python3
  [ -x /opt/torch/.venv/bin/python3 ] && python=/opt/torch/.venv/bin/python3
fi
twin="$(cd "$(dirname "$0")" && pwd)/torch_twin.py"
report_py="$(cd "$(dirname "$0")" && pwd)/gpu_call_report.py"
mkdir -p "$out" "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/entrannas-gpu-check.XXXXXX")
deadline=$((start_epoch + budget - 25)) # 25 s left for the report and the archives
if [ -n "$depthwise" ]; then
  # Every command of the check computes depthwise convolutions this way.
  printf '#!/bin/sh\nexec "%s" --depthwise "%s" "$@"\n' "$bin" "$depthwise" >"$work/entrannas"
  chmod +x "$work/entrannas"
  bin="$work/entrannas"
fi

if [ "$plan" = tch ]; then
  # libtorch's own CUDA; the reference is the CPU backend the tch path must agree with.
  if [ "$cpu_only" = 1 ]; then gpu=${gpu:-tch}; twin_device=cpu; else gpu=${gpu:-tch:cuda}; twin_device=cuda; fi
  ref=${ref:-flex}; vk=${vk:-none}
  # The binary links libtorch at run time: the twin's PyTorch provides it.
  torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
  if [ -z "$torch_lib" ]; then
    echo "gpu-check: $python cannot import torch (give --python)" >&2
    exit 2
  fi
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # libtorch and PyTorch start one OpenMP thread per core; the CPU side stays small.
  [ "$cpu_only" = 1 ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
fi
if [ "$cpu_only" = 1 ]; then
  gpu=${gpu:-flex}; vk=${vk:-flex}; ref=${ref:-ndarray}
  # Tiny shapes: the point is the script's logic, not the figures.
  bench_shape=(--channels 4 --layers 3 --image 3x16x16)
  ladder_batches=8,16; one_batch=8; big_batch=16; bench_steps=(--steps 2 --warmup 0)
  net=(--channels 4 --layers 3)
  agree_net=(--channels 4 --layers 3 --batch-size 16); agree_steps=2; agree_eval=32
  search_size=(--batch-size 32 --steps-per-epoch 3 --eval-limit 64)
  train_size=(--batch-size 32 --steps-per-epoch 3 --eval-limit 64)
else
  gpu=${gpu:-cuda}; vk=${vk:-vulkan}; ref=${ref:-flex}
  # The paper's search super-net (C = 16, 8 cells, 3x32x32) as the issue's targets use it.
  bench_shape=(--channels 16 --layers 8 --image 3x32x32)
  ladder_batches=64,256; one_batch=64; big_batch=256; bench_steps=(--steps 10 --warmup 2)
  net=(--channels 16 --layers 8)
  agree_net=(--channels 8 --layers 5 --batch-size 32); agree_steps=3; agree_eval=128
  search_size=(--batch-size 64 --steps-per-epoch 40 --eval-limit 1000)
  train_size=(--batch-size 96 --steps-per-epoch 40 --eval-limit 1000)
fi

if ls "$data"/train-images-idx3-ubyte* >/dev/null 2>&1; then
  dataset=(--dataset fashion-mnist --data-dir "$data")
else
  echo "gpu-check: no Fashion-MNIST files in $data; using the embedded subset" >&2
  dataset=(--dataset embedded)
fi

# --- the environment: Vulkan loader, XDG_RUNTIME_DIR, NVRTC ---------------------------
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR=/tmp/xdg-runtime-$(id -u)
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  # The device machine has no Vulkan loader: unpack the carried Debian packages (.gl/).
  if ls .gl/*.deb >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
fi
if ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1 &&
  [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
have_smi=0
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && have_smi=1
cache_was_empty=true
[ -n "$(ls -A "$cache" 2>/dev/null)" ] && cache_was_empty=false

# CubeCL reads cubecl.toml from the working directory up: each command runs in a folder
# holding one that puts both caches in $cache and logs compilations and autotune results.
cubecl_dir() { # NAME CACHE -> prints a folder with its cubecl.toml
  local dir="$work/cwd-$1" logs="$work/logs-$1"
  mkdir -p "$dir" "$logs"
  cat >"$dir/cubecl.toml" <<EOF
[compilation]
cache = { file = "$2/compilation" }
[compilation.logger]
level = "basic"
file = "$logs/compilation.log"
[autotune]
cache = { file = "$2/autotune" }
[autotune.logger]
level = "minimal"
file = "$logs/autotune.log"
EOF
  printf '%s\n' "$dir"
}

selected() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

steps_file="$work/steps.jsonl"
: >"$steps_file"
# run_step NAME TIMEOUT [ENV=VALUE ...] -- COMMAND...: runs COMMAND with a timeout
# (shortened to what the budget leaves), in NAME's CubeCL folder, sampling the GPU's
# memory and the compile/autotune log growth once a second.
run_step() {
  local name=$1 limit=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  if ! selected "$name"; then return 0; fi
  local now left
  now=$(date +%s); left=$((deadline - now))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then
    echo "== $name: skipped (budget: ${left}s left)" | tee -a "$work/log"
    printf '{"name":"%s","status":"skipped","reason":"budget"}\n' "$name" >>"$steps_file"
    return 0
  fi
  local dir=${CWD_DIR:-$(cubecl_dir "$name" "$cache")} logs="$work/logs-$name"
  mkdir -p "$logs"
  echo "== $name (timeout ${limit}s): $*" | tee -a "$work/log"
  local t0 t1 rc sampler
  t0=$(date +%s.%N)
  (
    while :; do
      local_c=$(wc -l <"$logs/compilation.log" 2>/dev/null || echo 0)
      local_a=$(wc -l <"$logs/autotune.log" 2>/dev/null || echo 0)
      mem=null
      if [ "$have_smi" = 1 ]; then
        mem=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
        mem=${mem:-null}
      fi
      echo "$(date +%s.%N) $local_c $local_a $mem"
      sleep 1
    done
  ) >"$logs/timeline.txt" 2>/dev/null &
  sampler=$!
  (cd "$dir" && env "${envs[@]}" timeout -k 5 "$limit" "$@") >"$logs/stdout.txt" 2>"$logs/stderr.txt"
  rc=$?
  t1=$(date +%s.%N)
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  { echo "-- stdout"; cat "$logs/stdout.txt"; echo "-- stderr"; tail -c 20000 "$logs/stderr.txt"; } >>"$work/log"
  local status=ok
  [ "$rc" != 0 ] && status=failed
  { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && status=timeout
  echo "== $name: $status (rc $rc, $(python3 -c "print(round($t1-$t0,1))") s)" | tee -a "$work/log"
  printf '{"name":"%s","status":"%s","rc":%s,"timeout_s":%s,"t0":%s,"t1":%s,"logs":"%s","command":%s}\n' \
    "$name" "$status" "$rc" "$limit" "$t0" "$t1" "$logs" \
    "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@")" >>"$steps_file"
}

# Agreement: a tiny search's epoch 0 runs on the reference CPU backend; its checkpoint
# then continues for one more epoch on the reference and on the GPU, and the two
# epoch-1 records are compared (the same weights: each backend's random generator
# differs, so epoch 0 itself is not compared). `alpha_std = 1` spreads the initial
# architecture logits: at the default 1e-3 the top-2 choices are near-ties that a
# rounding difference can flip, and a flipped Transit path changes the loss by design.
agree() {
  local tmpl="$work/agree-template" base="$work/agree-base"
  "$bin" search --device "$ref" $dataset_s $agree_net_s --epochs 1 --steps-per-epoch 1 --eval-limit 8 --seed 7 --out "$tmpl" --force || return $?
  python3 - "$tmpl/config.json" "$work/agree-config.json" "$agree_steps" "$agree_eval" <<'PY' || return $?
import json, sys
c = json.load(open(sys.argv[1]))
c.update(alpha_std=1.0, steps_per_epoch=int(sys.argv[3]), eval_limit=int(sys.argv[4]))
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
  "$bin" search --config "$work/agree-config.json" --device "$ref" --out "$base" --force || return $?
  python3 - "$base/config.json" <<'PY' || return $?
import json, sys
c = json.load(open(sys.argv[1]))
c["epochs"] = 2
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
  rm -rf "$work/agree-ref" "$work/agree-gpu"
  cp -r "$base" "$work/agree-ref" && cp -r "$base" "$work/agree-gpu" || return $?
  "$bin" search --resume "$work/agree-ref" --device "$ref" || return $?
  "$bin" search --resume "$work/agree-gpu" --device "$gpu"
}
if selected agreement; then
  export -f agree
  export bin ref gpu work agree_steps agree_eval
  export agree_net_s="${agree_net[*]}" dataset_s="${dataset[*]}"
fi

# --- the steps, most important first ----------------------------------------------
if [ "$plan" = tch ]; then
  # shellcheck source=scripts/gpu-check-tch.sh
  . "$(dirname "$0")/gpu-check-tch.sh"
  exit $?
fi
run_step env 30 -- bash -c 'uname -a; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1; ls -l /usr/local/cuda/lib64/libnvrtc.so* 2>&1 | head -3; (vulkaninfo --summary 2>&1 | head -40) || true; ldconfig -p | grep -E "libvulkan|libnvrtc|libcuda\.so" || true'
run_step info 90 -- "$bin" info

# First step, cold: the DARTS rung at batch 64, as in the issue; the timeline shows
# whether kernels keep compiling and autotuning (slow) or nothing moves (a hang).
run_step first-cold 150 -- "$bin" bench --device "$gpu" --rungs darts --batch-sizes "$one_batch" "${bench_shape[@]}" --steps 1 --warmup 0 --json "$work/first-cold.json"
# The same in a new process with the caches now filled: the first step of a later run.
run_step first-warm 90 -- "$bin" bench --device "$gpu" --rungs darts --batch-sizes "$one_batch" "${bench_shape[@]}" --steps 1 --warmup 0 --json "$work/first-warm.json"
# One rung per process so that the GPU's peak memory belongs to that rung.
run_step bench-darts-64 90 -- "$bin" bench --device "$gpu" --rungs darts --batch-sizes "$one_batch" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/bench-darts-64.json"
run_step bench-entran-64 90 -- "$bin" bench --device "$gpu" --rungs bottleneck --batch-sizes "$one_batch" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/bench-entran-64.json"
run_step bench-entran-256 90 -- "$bin" bench --device "$gpu" --rungs bottleneck --batch-sizes "$big_batch" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/bench-entran-256.json"

run_step agreement 150 -- bash -c agree

# Where the time of full EnTranNAS's step goes: CubeCL's profiler times every kernel
# (and flushes after each, so the step itself is slower) and writes one summary per
# synchronisation, per kernel name: calls and total time.
if selected profile-entran-256; then
  CWD_DIR=$(cubecl_dir profile-entran-256 "$cache")
  cat >>"$CWD_DIR/cubecl.toml" <<EOF
[profiling.logger]
level = "basic"
file = "$work/logs-profile-entran-256/profile.log"
EOF
  export CWD_DIR
fi
run_step profile-entran-256 60 -- "$bin" bench --device "$gpu" --rungs bottleneck --batch-sizes "$big_batch" "${bench_shape[@]}" --steps 2 --warmup 1 --json "$work/profile-entran-256.json"
unset CWD_DIR
# Vulkan against CUDA on full EnTranNAS (the issue: within 2x).
run_step vulkan-entran 120 -- "$bin" bench --device "$vk" --rungs bottleneck --batch-sizes "$one_batch,$big_batch" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/vulkan-entran.json"

run_step search 120 -- "$bin" search --device "$gpu" "${dataset[@]}" "${net[@]}" "${search_size[@]}" --epochs 1 --out "$work/search" --force
genotype="$work/search/genotype.json"
[ -f "$genotype" ] || genotype=darts_v2
run_step train 120 -- "$bin" train "$genotype" --device "$gpu" "${dataset[@]}" "${net[@]}" "${train_size[@]}" --epochs 1 --out "$work/train" --force

run_step ladder-cuda 150 -- "$bin" bench --device "$gpu" --batch-sizes "$ladder_batches" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/ladder-cuda.json"
run_step ladder-vulkan 150 -- "$bin" bench --device "$vk" --batch-sizes "$ladder_batches" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/ladder-vulkan.json"

# Cold again with the least autotuning, in a cache of its own.
if selected first-minimal; then
  mkdir -p "$work/cache-minimal"
  CWD_DIR=$(cubecl_dir first-minimal "$work/cache-minimal")
  export CWD_DIR
fi
run_step first-minimal 120 CUBECL_AUTOTUNE_LEVEL=minimal -- "$bin" bench --device "$gpu" --rungs darts --batch-sizes "$one_batch" "${bench_shape[@]}" --steps 1 --warmup 0 --json "$work/first-minimal.json"
unset CWD_DIR

# --- the report ------------------------------------------------------------------
python3 - "$work" "$out/gpu-check.json" "$(dirname "$report_py")" <<EOF
import json, os, sys, glob
work, dest = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from gpu_call_report import agreement as agreement_of, history, load

def timeline(logs, t0):
    points = []
    try:
        for line in open(os.path.join(logs, "timeline.txt")):
            t, c, a, m = line.split()
            points.append({"s": round(float(t) - t0, 1), "kernels_compiled": int(c),
                           "autotune_results": int(a), "gpu_mem_mib": None if m == "null" else int(m)})
    except (OSError, ValueError):
        pass
    return points

steps = {}
for line in open(os.path.join(work, "steps.jsonl")):
    s = json.loads(line)
    if "t0" in s:
        s["seconds"] = round(s["t1"] - s["t0"], 2)
        tl = timeline(s["logs"], s["t0"])
        s["timeline"] = tl if s["name"].startswith("first") else tl[-1:]
        mems = [p["gpu_mem_mib"] for p in tl if p["gpu_mem_mib"] is not None]
        s["gpu_mem_peak_mib"] = max(mems) if mems else None
        s["gpu_mem_before_mib"] = mems[0] if mems else None
        try:
            s["stdout"] = open(os.path.join(s["logs"], "stdout.txt")).read()[-4000:]
            s["stderr_tail"] = open(os.path.join(s["logs"], "stderr.txt")).read()[-2000:]
        except OSError:
            pass
        del s["t0"], s["t1"], s["logs"]
    steps[s["name"]] = s

def bench(name):
    b = load(os.path.join(work, name + ".json"))
    if b is None:
        return None
    return {"device": b.get("device"), "rows": [
        {k: r.get(k) for k in ("rung", "batch_size", "error", "first_step_seconds",
                               "median_step_seconds", "mean_step_seconds", "min_step_seconds",
                               "images_per_second", "params", "op_evaluations", "peak_memory",
                               "final_loss", "speedup_vs_darts", "memory_saving_vs_darts")}
        for r in b.get("rows", [])]}

info = {}
out = steps.get("info", {}).get("stdout", "")
for line in out.splitlines():
    if line.startswith("  ") and line.split():
        name, _, status = line.strip().partition(" ")
        info[name] = status.strip()

agreement = agreement_of(work)

def run_summary(name):
    h = history(os.path.join(work, name))
    return [{k: e.get(k) for k in ("epoch", "train_loss", "train_accuracy", "arch_loss",
                                   "supernet_accuracy", "child_accuracy", "test_loss",
                                   "test_accuracy", "seconds", "images_per_second")}
            for e in h]

first = {}
for n in ("first-cold", "first-warm", "first-minimal"):
    b = bench(n)
    if b and b["rows"]:
        first[n] = b["rows"][0].get("first_step_seconds")

report = {
    "script": "scripts/gpu-check.sh",
    "mode": "cpu-only" if $cpu_only else "gpu",
    "devices": {"gpu": "$gpu", "vulkan": "$vk", "reference": "$ref"},
    "dataset": "${dataset[*]}",
    "binary": "$bin",
    "cache_was_empty": json.loads("$cache_was_empty"),
    "budget_s": $budget,
    "info": info,
    "first_step_seconds": first,
    "agreement": agreement,
    "bench": {n: bench(n) for n in ("first-cold", "first-warm", "bench-darts-64",
                                    "bench-entran-64", "bench-entran-256",
                                    "profile-entran-256", "vulkan-entran", "ladder-cuda",
                                    "ladder-vulkan", "first-minimal")},
    "search": run_summary("search"),
    "train": run_summary("train"),
    "steps": steps,
}
with open(dest, "w") as f:
    json.dump(report, f, indent=1)
print("gpu-check: first step (s):", first)
print("gpu-check: agreement:", None if agreement is None else agreement["pass"])
print("gpu-check: steps:", {k: v["status"] for k, v in steps.items()})
EOF
cp "$work/log" "$out/gpu-check.log"
# Raw outputs without the checkpoints (they are large), and the caches for next time.
tar -czf "$out/gpu-check-raw.tar.gz" -C "$work" --exclude='checkpoint' --exclude='cwd-*' . 2>/dev/null
tar -czf "$out/cubecl-cache.tar.gz" -C "$cache" . 2>/dev/null
echo "gpu-check: done in $(($(date +%s) - start_epoch)) s; results in $out/gpu-check.json"
rm -rf "$work"
