#!/usr/bin/env bash
# Issue 7's accuracy check in one device call: train the target-net of a genotype
# searched on Fashion-MNIST on the full Fashion-MNIST (60,000 / 10,000) with
# `entrannas train` on a GPU, resuming the run directory if a previous call left one,
# and write the per-epoch records and the final test accuracy to $OUT.
#
# Usage (from the repository root, binary and data prepared as in docs/GPU.md):
#   scripts/gpu-train-fmnist.sh [--bin PATH] [--data DIR] [--genotype G] [--device D]
#                               [--epochs N] [--budget SECONDS] [--run DIR]
# Defaults: .gpu/entrannas, .gpu/fashion-mnist, docs/genotypes/fashion-mnist-entrannas.json,
# cuda, 30 epochs, 540 s, .gpu/train-fmnist. When the budget runs out the training is
# stopped with SIGINT (it finishes the epoch's checkpoint) and the next call resumes it.
set -uo pipefail

bin=.gpu/entrannas
data=.gpu/fashion-mnist
genotype=docs/genotypes/fashion-mnist-entrannas.json
device=cuda
epochs=30
budget=540
run=.gpu/train-fmnist
out=${OUT:-gpu-train-out}
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --genotype) genotype=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --run) run=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gpu-train-fmnist: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "gpu-train-fmnist: no executable binary at $bin" >&2; exit 2; }
[ -f "$genotype" ] || { echo "gpu-train-fmnist: no genotype at $genotype" >&2; exit 2; }
mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}; mkdir -p "$XDG_RUNTIME_DIR"

if [ -f "$run/config.json" ]; then
  cmd=("$bin" train --resume "$run" --device "$device")
else
  # The paper's CIFAR recipe at C = 16, 8 cells (the search's super-net size), cutout 8
  # for 28x28 images, batch 96, lr 0.025, auxiliary head, drop-path 0.2.
  cmd=("$bin" train "$genotype" --dataset fashion-mnist --data-dir "$data" --device "$device"
       --channels 16 --layers 8 --epochs "$epochs" --batch-size 96 --lr 0.025 --cutout 8
       --out "$run")
fi
echo "gpu-train-fmnist: ${cmd[*]}" | tee "$out/train.log"
start=$(date +%s)
timeout --signal=INT --kill-after=120 "$budget" "${cmd[@]}" 2>&1 | tee -a "$out/train.log"
status=${PIPESTATUS[0]}
echo "gpu-train-fmnist: exit $status after $(( $(date +%s) - start )) s" | tee -a "$out/train.log"
for f in config.json history.jsonl metrics.csv summary.json; do
  [ -f "$run/$f" ] && cp "$run/$f" "$out/"
done
# The whole run directory (checkpoints are small) so a later session can carry it back
# to .gpu/ and resume: tar xzf run.tar.gz -C .gpu
tar czf "$out/run.tar.gz" -C "$(dirname "$run")" "$(basename "$run")" 2>/dev/null
tail -n 3 "$run/metrics.csv" 2>/dev/null
exit "$status"
