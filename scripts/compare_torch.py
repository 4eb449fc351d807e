#!/usr/bin/env python3
"""Run `entrannas bench` and the PyTorch twin back to back and print both with the ratio.

Issue 33, item 3: every figure in docs/PERFORMANCE.md gets its baseline from the same
invocation, on the same machine and device. The two ladders run one after the other
(never at the same time: they would share the cores), each in its own process, with
the same rungs, batch sizes, step counts and shape; the table gives both medians, the
ratio ours / twin (under 1.0: ours is faster), both peak memories and their ratio.

    python3 scripts/compare_torch.py --rungs bottleneck,dst-dense --batch-sizes 32,64 \
        --steps 5 --warmup 1 --threads 2 --json docs/perf/compare.json

`--entrannas` names the binary (default `target/release/entrannas`), `--python` the
interpreter that has PyTorch (default `/opt/torch211/bin/python`, scripts/README.md),
`--device` the device of both (`cpu`, or `cuda` for the twin with `tch:cuda` for ours:
`--ours-device` overrides the device given to `entrannas`). `--threads N` sets the
twin's `torch.set_num_threads` and ours' `RAYON_NUM_THREADS` (default: leave both to
their own default, one thread per core). `--order twin-first` runs the twin first.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(label: str, cmd: list, env: dict) -> None:
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stderr.write(done.stdout)
    if done.returncode != 0:
        sys.exit(f"{label} failed with exit code {done.returncode}")


def rows_of(path: Path, label: str) -> list:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        sys.exit(f"{label}: cannot read its JSON rows {path}: {err}")
    return data["rows"] if isinstance(data, dict) and "rows" in data else data


def key(row: dict):
    return (row["rung"], row["batch_size"])


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entrannas", default=str(ROOT / "target/release/entrannas"))
    parser.add_argument("--python", default="/opt/torch211/bin/python")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ours-device", default=None)
    parser.add_argument("--rungs", default="bottleneck,dst-dense")
    parser.add_argument("--batch-sizes", default="32")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", choices=["ours-first", "twin-first"], default="ours-first")
    parser.add_argument("--json", default=None, help="write both ladders and the ratios here")
    args = parser.parse_args()

    if not Path(args.entrannas).is_file():
        sys.exit(f"{args.entrannas}: no such binary (cargo build --release -p entrannas-cli)")
    if not Path(args.python).is_file():
        sys.exit(f"{args.python}: no such interpreter (install PyTorch: scripts/README.md)")
    common = ["--rungs", args.rungs, "--batch-sizes", args.batch_sizes, "--steps", str(args.steps),
              "--warmup", str(args.warmup), "--seed", str(args.seed)]
    env = dict(os.environ)
    if args.threads:
        env["RAYON_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ours_json, twin_json = Path(tmp, "ours.json"), Path(tmp, "twin.json")
        ours = [args.entrannas, "bench", "--device", args.ours_device or args.device, *common,
                "--json", str(ours_json)]
        twin = [args.python, str(ROOT / "scripts/torch_twin.py"), "bench", "--device", args.device,
                *common, "--json", str(twin_json)]
        if args.threads:
            twin += ["--threads", str(args.threads)]
        jobs = [("entrannas", ours), ("twin", twin)]
        if args.order == "twin-first":
            jobs.reverse()
        for label, cmd in jobs:
            run(label, cmd, env)
        ours_rows = {key(r): r for r in rows_of(ours_json, "entrannas")}
        twin_rows = {key(r): r for r in rows_of(twin_json, "twin")}
        versions = subprocess.run([args.python, "-c", "import torch; print(torch.__version__)"],
                                  capture_output=True, text=True).stdout.strip()

    header = ("rung", "batch", "ours s/step", "twin s/step", "ours/twin", "ours peak MiB",
              "twin peak MiB", "mem ours/twin")
    lines = []
    combined = []
    for k, o in ours_rows.items():
        t = twin_rows.get(k)
        o_s = o.get("median_step_seconds")
        t_s = t.get("median_step_seconds") if t else None
        o_m = (o.get("peak_memory") or {}).get("bytes")
        t_m = ((t or {}).get("peak_memory") or {}).get("bytes")
        ratio = o_s / t_s if o_s and t_s else None
        mem_ratio = o_m / t_m if o_m and t_m else None
        combined.append({"rung": k[0], "batch_size": k[1], "ours": o, "twin": t,
                         "time_ratio": ratio, "memory_ratio": mem_ratio})
        lines.append((k[0], str(k[1]), fmt(o_s, ".3f"), fmt(t_s, ".3f"), fmt(ratio, ".2f"),
                      fmt(o_m and o_m / 2**20, ".1f"), fmt(t_m and t_m / 2**20, ".1f"),
                      fmt(mem_ratio, ".2f")))
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; device {args.device}; "
          f"threads {args.threads or 'default'}; PyTorch {versions}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for l in lines:
        print("  ".join(c.ljust(w) for c, w in zip(l, widths)))
    print("a step is one architecture step plus one weight step; peak memory: each process's "
          "own measure (CPU: peak RSS over the rung's start)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "machine": cpu_model(), "cores": os.cpu_count(), "device": args.device,
            "threads": args.threads, "torch": versions, "command": sys.argv,
            "rows": combined}, indent=2) + "\n")


if __name__ == "__main__":
    main()
