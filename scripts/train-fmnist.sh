#!/usr/bin/env bash
# Issue 7's accuracy check: train the target-net of a genotype searched on Fashion-MNIST
# on the full Fashion-MNIST (60,000 / 10,000) with `entrannas train`, on a GPU in a
# device session or on libtorch's CPU kernels, resuming the run directory if an earlier
# call left one. The recorded run (94.10 %) is docs/runs/train-fmnist: its records only,
# which this script refuses to resume (docs/RESULTS.md).
#
# Usage (from the repository root; docs/GPU.md says how to build each binary):
#   scripts/train-fmnist.sh [--bin PATH] [--data DIR] [--device D] [--torch-venv DIR]
#                           [--genotype G] [--epochs N] [--budget SECONDS] [--run DIR]
#                           [--grace SECONDS] [--out DIR]
# Defaults: target/release/entrannas, /usr/share/datasets/fashion-mnist, cuda,
# /opt/torch29 (for --device tch: its PyTorch's libraries are put on LD_LIBRARY_PATH),
# docs/genotypes/fashion-mnist-entrannas.json, 30 epochs, no budget,
# runs/train-fmnist. With a budget the training is stopped with SIGINT when it runs
# out (it finishes the epoch and its checkpoint first) and the next call resumes it; it
# is killed if that epoch has not ended --grace seconds later (default 3600: a CPU epoch
# takes 20-25 minutes; a killed epoch is lost, the last checkpoint stays intact).
# With --out (or $OUT, as in a device session) the records and the whole run directory
# (run.tar.gz) are copied there.
set -uo pipefail

bin=target/release/entrannas
data=/usr/share/datasets/fashion-mnist
genotype=docs/genotypes/fashion-mnist-entrannas.json
device=cuda
venv=/opt/torch29
epochs=30
budget=0
grace=3600
run=runs/train-fmnist
out=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --genotype) genotype=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --torch-venv) venv=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --grace) grace=$2; shift 2 ;;
    --run) run=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "train-fmnist: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$budget" "$grace"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "train-fmnist: --budget and --grace take whole seconds, not '$n'" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "train-fmnist: no executable binary at $bin" >&2; exit 2; }
[ -f "$genotype" ] || { echo "train-fmnist: no genotype at $genotype" >&2; exit 2; }
[ -f "$data/train-images-idx3-ubyte.gz" ] || [ -f "$data/train-images-idx3-ubyte" ] ||
  { echo "train-fmnist: no Fashion-MNIST files in $data (apt-get install dataset-fashion-mnist)" >&2; exit 2; }
case "$device" in
  cuda*)
    export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}" ;;
  vulkan*|wgpu*)
    export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}; mkdir -p "$XDG_RUNTIME_DIR" ;;
  tch*)
    torch_lib=$("$venv/bin/python3" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') ||
      { echo "train-fmnist: no PyTorch in $venv (docs/GPU.md, section 5)" >&2; exit 2; }
    export LD_LIBRARY_PATH="$torch_lib:${LD_LIBRARY_PATH:-}"
    # One OpenMP thread per core; more spin-wait against each other (docs/GPU.md).
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} ;;
esac

if [ ! -f "$run/last/state.json" ] && [ -f "$run/history.jsonl" ] &&
  [ "$(grep -c . "$run/history.jsonl")" -gt 1 ]; then
  # Records kept without their checkpoint (docs/runs/train-fmnist, finished): `train
  # --resume` refuses them too (one record alone is a run killed while writing its
  # first checkpoint, which resumes from scratch); this names this script's flag.
  echo "train-fmnist: $run holds a training's records but no checkpoint (last/state.json);" \
       "give --run a new directory to train again" >&2
  exit 2
fi
if [ -f "$run/config.json" ]; then
  cmd=("$bin" train --resume "$run" --device "$device")
else
  # The paper's CIFAR recipe at C = 16, 8 cells (the search's super-net size), cutout 8
  # for 28x28 images, batch 96, lr 0.025, auxiliary head, drop-path 0.2.
  cmd=("$bin" train "$genotype" --dataset fashion-mnist --data-dir "$data" --device "$device"
       --channels 16 --layers 8 --epochs "$epochs" --batch-size 96 --lr 0.025 --cutout 8
       --out "$run")
fi
log=/dev/null
if [ -n "$out" ]; then
  mkdir -p "$out"
  log="$out/train.log"
fi
echo "train-fmnist: ${cmd[*]}" | tee "$log"
start=$(date +%s)
if [ "$budget" -gt 0 ]; then
  timeout --signal=INT --kill-after="$grace" "$budget" "${cmd[@]}" 2>&1 | tee -a "$log"
else
  "${cmd[@]}" 2>&1 | tee -a "$log"
fi
status=${PIPESTATUS[0]}
echo "train-fmnist: exit $status after $(( $(date +%s) - start )) s" | tee -a "$log"
if [ -n "$out" ]; then
  for f in config.json history.jsonl metrics.csv summary.json; do
    [ -f "$run/$f" ] && cp "$run/$f" "$out/"
  done
  # The whole run directory (its checkpoints are small), for the next call to resume:
  # tar xzf run.tar.gz -C "$(dirname "$run")"
  tar czf "$out/run.tar.gz" -C "$(dirname "$run")" "$(basename "$run")" 2>/dev/null
fi
tail -n 3 "$run/metrics.csv" 2>/dev/null
exit "$status"
