#!/usr/bin/env python3
"""The report of `scripts/gpu-check.sh --plan tch` (issue 35): one JSON file and a table.

Reads the work folder the check filled (steps.jsonl, one `entrannas bench --json` or
`torch_twin.py bench --json` file per rung and batch, the agreement runs, the search and
the training) and writes

    {"card": ..., "ladders": {"tch:cuda": [rows], "torch-twin": [rows], "cuda": [rows]},
     "first_step_seconds": {"tch:cuda": ..., "cuda": ...}, "agreement": ...,
     "search": [...], "train": [...], "steps": {...}}

Each ladder row is the bench's own row (`rung`, `batch_size`, `median_step_seconds`,
`peak_memory.bytes`, ...) plus `process_gpu_peak_mib`: the GPU's used memory sampled
once a second from outside the process while it ran, minus the reading before it
started. Ours and the twin's run one process per rung and batch and are sampled the
same way, so that column compares like with like (libtorch's cache and the CUDA
context of each; the twin's own `torch.cuda.max_memory_allocated` is its
`peak_memory`). Then a table of both ladders side by side with the ratios.

Usage: gpu_call_report.py WORK DEST [--gpu tch:cuda] [--cpu-only 0|1]
"""

import argparse
import glob
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def steps_of(work):
    steps = {}
    try:
        lines = open(os.path.join(work, "steps.jsonl")).read().splitlines()
    except OSError:
        return steps
    for line in lines:
        s = json.loads(line)
        if "t0" in s:
            s["seconds"] = round(s["t1"] - s["t0"], 2)
            mems = []
            try:
                for point in open(os.path.join(s["logs"], "timeline.txt")):
                    parts = point.split()
                    if len(parts) == 4 and parts[3] != "null":
                        mems.append(int(parts[3]))
            except (OSError, ValueError):
                pass
            s["gpu_mem_before_mib"] = mems[0] if mems else None
            s["gpu_mem_peak_mib"] = max(mems) if mems else None
            s["process_gpu_peak_mib"] = (max(mems) - mems[0]) if mems else None
            for name, key, keep in (("stdout.txt", "stdout", 3000), ("stderr.txt", "stderr_tail", 1500)):
                try:
                    s[key] = open(os.path.join(s["logs"], name)).read()[-keep:]
                except OSError:
                    pass
            del s["t0"], s["t1"], s["logs"]
        steps[s["name"]] = s
    return steps


def rows(work, steps, prefix):
    """The rows of every `<prefix>-<rung>-<batch>.json`, with the step's sampled peak."""
    out = []
    for path in sorted(glob.glob(os.path.join(work, prefix + "-*.json"))):
        name = os.path.basename(path)[: -len(".json")]
        doc = load(path) or {}
        for row in doc.get("rows", []):
            row = dict(row)
            row["process_gpu_peak_mib"] = steps.get(name, {}).get("process_gpu_peak_mib")
            row["device"] = doc.get("device")
            out.append(row)
    return out


def history(run):
    found = []
    for p in sorted(glob.glob(os.path.join(run, "**", "history.jsonl"), recursive=True)):
        with open(p) as f:
            found += [json.loads(line) for line in f if line.strip()]
    return found


def agreement(work, tolerance=1e-3):
    ref, gpu = history(os.path.join(work, "agree-ref")), history(os.path.join(work, "agree-gpu"))
    if len(ref) < 2 or len(gpu) < 2:
        return None
    r, g = ref[-1], gpu[-1]
    fields, ok = {}, True
    for k in ("train_loss", "arch_loss"):
        rel = abs(r[k] - g[k]) / max(abs(r[k]), 1e-12)
        fields[k] = {"ref": r[k], "gpu": g[k], "relative_difference": rel}
        ok = ok and rel <= tolerance
    for k in ("train_accuracy", "supernet_accuracy", "child_accuracy"):
        fields[k] = {"ref": r[k], "gpu": g[k]}
    return {"epoch": r["epoch"], "tolerance": tolerance, "pass": ok, "fields": fields,
            "same_genotype": r["genotype"] == g["genotype"]}


def summary(run, keys):
    return [{k: e.get(k) for k in keys} for e in history(run)]


def card(steps, cpu_only):
    if cpu_only:
        return "cpu-only dry run"
    out = steps.get("env", {}).get("stdout", "")
    for line in out.splitlines():
        if "," in line and ("NVIDIA" in line or "H100" in line or "H200" in line):
            return line.split(",")[0].strip()
    return "unknown"


def mib(row):
    m = row.get("peak_memory") if row else None
    return None if not m else m.get("bytes", 0) / 2**20


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(ours, twin):
    key = lambda r: (r.get("batch_size"), r.get("rung"))  # noqa: E731
    theirs = {key(r): r for r in twin}
    head = ("rung", "batch", "ours s/step", "twin s/step", "ours/twin",
            "ours GPU MiB", "twin GPU MiB", "ours/twin", "ours probe MiB", "twin allocated MiB")
    lines = [head]
    for r in sorted(ours, key=key):
        t = theirs.get(key(r), {})
        o_s, t_s = r.get("median_step_seconds"), t.get("median_step_seconds")
        o_m, t_m = r.get("process_gpu_peak_mib"), t.get("process_gpu_peak_mib")
        lines.append((
            r.get("rung"), str(r.get("batch_size")), fmt(o_s, ".4f"), fmt(t_s, ".4f"),
            fmt(o_s / t_s if o_s and t_s else None, ".2f"), fmt(o_m, ".0f"), fmt(t_m, ".0f"),
            fmt(o_m / t_m if o_m and t_m else None, ".2f"), fmt(mib(r), ".0f"), fmt(mib(t), ".0f"),
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work")
    ap.add_argument("dest")
    ap.add_argument("--gpu", default="tch:cuda")
    ap.add_argument("--cpu-only", type=int, default=0)
    args = ap.parse_args(argv)
    steps = steps_of(args.work)
    ours, twin, cubecl = rows(args.work, steps, "ours"), rows(args.work, steps, "twin"), rows(args.work, steps, "cubecl")
    first = {}
    first_doc = load(os.path.join(args.work, "first-step.json"))
    if first_doc and first_doc.get("rows"):
        first[args.gpu] = first_doc["rows"][0].get("first_step_seconds")
        first[args.gpu + " (process)"] = steps.get("first-step", {}).get("seconds")
    cold = [r for r in cubecl if r.get("first_step_seconds") is not None]
    if cold:
        first["cuda"] = cold[0]["first_step_seconds"]
        first["cuda (process)"] = steps.get("cubecl-first", {}).get("seconds")
    report = {
        "card": card(steps, args.cpu_only),
        "script": "scripts/gpu-check.sh --plan tch",
        "ladders": {args.gpu: ours, "torch-twin": twin, "cuda": cubecl},
        "first_step_seconds": first,
        "agreement": agreement(args.work),
        "search": summary(os.path.join(args.work, "search"), (
            "epoch", "train_loss", "train_accuracy", "arch_loss", "supernet_accuracy",
            "child_accuracy", "seconds", "images_per_second")),
        "train": summary(os.path.join(args.work, "train"), (
            "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
            "seconds", "images_per_second")),
        "steps": steps,
    }
    with open(args.dest, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"card: {report['card']}")
    print(table(ours, twin))
    print(f"first step (s): {first}")
    a = report["agreement"]
    print("agreement:", None if a is None else ("pass" if a["pass"] else "FAIL") + f" {a['fields']}")
    print("steps:", {k: v.get("status") for k, v in steps.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
