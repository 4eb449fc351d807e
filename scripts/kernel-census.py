#!/usr/bin/env python3
"""Counts the kernels in a CubeCL compilation log, by kind, and how many stay distinct
when the launch shape (`cube_dim`) is left out of each kernel's identity.

Usage: scripts/kernel-census.py COMPILATION_LOG

The log comes from a `cubecl.toml` with `[compilation.logger]` `level = "full"` and a
`file` (docs/GPU.md, section 4); with `level = "basic"` only the counts by kind are
printed.
"""
import collections
import re
import sys


def main(path):
    text = open(path, encoding="utf-8").read()
    blocks = text.split("[START_KERNEL_COMPILATION]")[1:]
    if blocks:
        names = [re.search(r"name: ([\w:]+)", b).group(1) for b in blocks]
        ids = [b.split("source:")[0] for b in blocks]
    else:  # level = "basic": one "[Compiling kernel] name" line per kernel
        names = [l.split("] ", 1)[1] for l in text.splitlines() if l.startswith("[Compiling kernel]")]
        ids = []
    print(f"{len(names)} kernels compiled")
    for name, count in collections.Counter(n.split("::")[-1] for n in names).most_common():
        print(f"{count:5d}  {name}")
    if ids:
        without = {re.sub(r"cube_dim: CubeDim \{[^}]*\},", "", i) for i in ids}
        print(f"{len(set(ids))} distinct kernel ids; {len(without)} without their cube_dim")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
