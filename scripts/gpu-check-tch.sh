# The steps of `scripts/gpu-check.sh --plan tch` (issue 35), sourced by that script
# after its set-up: `run_step`, `agree`, the sizes, the devices ($gpu is `tch:cuda`, or
# `tch` on the CPU with --cpu-only; $ref the CPU reference), $python and $twin.
# Every figure goes into $work; scripts/gpu_call_report.py turns them into
# gpu-call.json and the closing table.

twin_threads=()
[ "$twin_device" = cpu ] && twin_threads=(--threads 2)

run_step env 30 -- bash -c 'uname -a; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1; "$0" -c "import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available())"; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"' "$python"
run_step info 60 -- "$bin" info

# The first step of a new process, process start included (the issue: under 10 s):
# the step itself is in the JSON, the whole process in the step's seconds.
run_step first-step 60 -- "$bin" bench --device "$gpu" --rungs bottleneck --batch-sizes "$one_batch" "${bench_shape[@]}" --steps 1 --warmup 0 --json "$work/first-step.json"

# One process per rung and batch, ours then the twin's, so that each process's GPU
# memory (sampled once a second from outside, the same way for both) is that rung's
# alone. The targets first, then the rest of the ladder.
ladder_pair() { # RUNG BATCH
  run_step "ours-$1-$2" 75 -- "$bin" bench --device "$gpu" --rungs "$1" --batch-sizes "$2" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/ours-$1-$2.json"
  run_step "twin-$1-$2" 75 -- "$python" "$twin" bench --device "$twin_device" "${twin_threads[@]}" --rungs "$1" --batch-sizes "$2" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/twin-$1-$2.json"
}
ladder_pair bottleneck "$big_batch"
ladder_pair darts "$one_batch"
ladder_pair bottleneck "$one_batch"

run_step agreement 120 -- bash -c agree

# Fashion-MNIST on the GPU through libtorch: a 2-epoch search and a 1-epoch training.
run_step search 120 -- "$bin" search --device "$gpu" "${dataset[@]}" "${net[@]}" "${search_size[@]}" --epochs 2 --out "$work/search" --force
genotype="$work/search/genotype.json"
[ -f "$genotype" ] || genotype=darts_v2
run_step train 90 -- "$bin" train "$genotype" --device "$gpu" "${dataset[@]}" "${net[@]}" "${train_size[@]}" --epochs 1 --out "$work/train" --force

for rung in engine-transit sharing dst-dense dst-sparse; do
  ladder_pair "$rung" "$one_batch"
done
for rung in darts engine-transit sharing dst-dense dst-sparse; do
  ladder_pair "$rung" "$big_batch"
done

# CubeCL's CUDA in the time left (the binary must have the `cuda` feature): the first
# step from the carried kernel cache ($cache), then a second process from the cache
# the first filled.
if [ "$cpu_only" = 0 ]; then
  run_step cubecl-first 120 -- "$bin" bench --device cuda --rungs bottleneck --batch-sizes "$one_batch" "${bench_shape[@]}" --steps 1 --warmup 0 --json "$work/cubecl-first.json"
  run_step cubecl-warm 90 -- "$bin" bench --device cuda --rungs bottleneck --batch-sizes "$one_batch" "${bench_shape[@]}" "${bench_steps[@]}" --json "$work/cubecl-warm.json"
fi

python3 "$report_py" "$work" "$out/gpu-call.json" --gpu "$gpu" --cpu-only "$cpu_only"
report_rc=$?
cp "$work/log" "$out/gpu-check.log"
tar -czf "$out/gpu-check-raw.tar.gz" -C "$work" --exclude='checkpoint' --exclude='cwd-*' . 2>/dev/null
[ "$cpu_only" = 0 ] && tar -czf "$out/cubecl-cache.tar.gz" -C "$cache" . 2>/dev/null
echo "gpu-check: done in $(($(date +%s) - start_epoch)) s; results in $out/gpu-call.json"
rm -rf "$work"
return "$report_rc" 2>/dev/null || exit "$report_rc"
