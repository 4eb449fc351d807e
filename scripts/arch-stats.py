#!/usr/bin/env python3
"""Statistics of a search's architecture parameters, per epoch, from `history.jsonl`.

For each epoch (its `arch` record, in the schema of `entrannas derive`): the temperature,
the connections kept (normal + reduction, as the search recorded them), the mean
threshold t(j) over both cells and per cell (DST runs), how many of all connections
have p_hat = p / max p (Eq. 7, per intermediate node) in each tenth of [0, 1], and per
cell the number of edges whose strongest op is `none`, the mean largest op
probability per edge, and the Engine weight outside the child: the share of the
Engine cell's op weight (all ops but `none`) on connections the derived cell drops
(as the search records it since it measures it; computed here for older top-k
records, 0 for DST, which derives every weighted connection). These are the
figures docs/RESULTS.md quotes for Tables 1 and 3.

With `--at-tau T` each line also gives the largest |alpha| of both cells, the mean
gap between the two largest `alpha` of an edge, and the mean max p that the epoch's
`alpha` would have at temperature T (for example the schedule's last, 0.1): how sharp the search
would end if `alpha` stopped moving, the projection that chooses an architecture
learning rate from the first epochs of a long search (docs/RESULTS.md, Table 1).

Usage: python3 scripts/arch-stats.py [--at-tau T] RUN_DIR [RUN_DIR ...]
"""

import json
import math
import sys
from pathlib import Path


def softmax(row, tau):
    m = max(row)
    e = [math.exp((a - m) / tau) for a in row]
    z = sum(e)
    return [x / z for x in e]


def edges_by_node(alpha, inputs, nodes):
    """Split the edge rows into one list per intermediate node (node j has inputs + j)."""
    out, e = [], 0
    for j in range(nodes):
        n = inputs + j
        out.append(alpha[e : e + n])
        e += n
    if e != len(alpha):
        raise ValueError(f"{len(alpha)} edge rows, expected {e} for {nodes} nodes")
    return out


def weight_outside_child(record, cell):
    """The recorded share, or for an older record the same share computed from `p`
    and the recorded genotype (top-k rule); DST records: 0."""
    recorded = record[cell].get("weight_outside_child")
    if recorded is not None:
        return recorded
    if record[cell].get("thresholds"):
        return 0.0
    arch = record["arch"]
    ops, inputs = arch["ops"], arch["inputs"]
    probs = [softmax(row, arch["tau"]) for row in arch[cell]["alpha"]]
    counted = [k for k, op in enumerate(ops) if op != "none"]
    total = sum(p[k] for p in probs for k in counted)
    inside, start = 0.0, 0
    for j, node in enumerate(record["genotype"][cell]["nodes"]):
        for source, op in node:
            k = ops.index(op)
            if op != "none":
                inside += probs[start + source][k]
        start += inputs + j
    return max(0.0, (total - inside) / total) if total > 0 else 0.0


def epoch_stats(record):
    arch = record["arch"]
    tau, ops = arch["tau"], arch["ops"]
    deciles = [0] * 10
    cells = {}
    for cell in ("normal", "reduce"):
        alpha = arch[cell]["alpha"]
        none_wins, pmax = 0, []
        for node in edges_by_node(alpha, arch["inputs"], arch["nodes"]):
            probs = [softmax(row, tau) for row in node]
            top = max(max(p) for p in probs)
            for p in probs:
                for x in p:
                    deciles[min(9, int(x / top * 10))] += 1
        for row in alpha:
            p = softmax(row, tau)
            pmax.append(max(p))
            if ops[row.index(max(row))] == "none":
                none_wins += 1
        outside = weight_outside_child(record, cell)
        cells[cell] = (none_wins, len(alpha), sum(pmax) / len(pmax), outside)
    thresholds = {c: record[c].get("thresholds") or [] for c in ("normal", "reduce")}
    return tau, deciles, cells, thresholds


def mean(values):
    """The mean to three decimals, `-` for no values."""
    return f"{sum(values) / len(values):.3f}" if values else "-"


def alpha_rows(record):
    """Every edge's `alpha` row, normal cell then reduction cell."""
    return [row for c in ("normal", "reduce") for row in record["arch"][c]["alpha"]]


def mean_max_p(record, tau):
    """The mean over both cells' edges of the largest op probability at `tau`."""
    rows = alpha_rows(record)
    return sum(max(softmax(row, tau)) for row in rows) / len(rows)


def alpha_spread(record):
    """The largest |alpha| of both cells, and the mean over edges of the gap between
    an edge's two largest `alpha` (what a temperature divides)."""
    rows = alpha_rows(record)
    largest = max(abs(a) for row in rows for a in row)
    gaps = [sorted(row)[-1] - sorted(row)[-2] for row in rows if len(row) > 1]
    return largest, sum(gaps) / len(gaps) if gaps else 0.0


def main(args):
    at_tau = None
    if args[:1] == ["--at-tau"]:
        try:
            at_tau = float(args[1])
        except (IndexError, ValueError):
            sys.exit("--at-tau needs a temperature, for example --at-tau 0.1")
        if not at_tau > 0:
            sys.exit(f"--at-tau must be positive, not {at_tau}")
        args = args[2:]
    dirs = args
    if not dirs:
        sys.exit(__doc__)
    for d in dirs:
        path = Path(d) / "history.jsonl"
        try:
            lines = [l for l in path.read_text().splitlines() if l.strip()]
            records = [json.loads(l) for l in lines]
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"{path}: {e}")
        for r in records:
            try:
                tau, deciles, cells, t = epoch_stats(r)
            except (KeyError, ValueError) as e:
                sys.exit(f"{path}, epoch {r.get('epoch')}: not a search record ({e})")
            kept = r["normal"]["connections"] + r["reduce"]["connections"]
            both = t["normal"] + t["reduce"]
            mean_t = (
                f"{sum(both) / len(both):.3f} (normal {mean(t['normal'])}, "
                f"reduce {mean(t['reduce'])})"
                if both
                else "-"
            )
            cell_text = "; ".join(
                f"{c}: none strongest on {n}/{e} edges, mean max p {p:.2f}, "
                f"Engine weight outside child {100 * o:.1f}%"
                for c, (n, e, p, o) in cells.items()
            )
            projected = ""
            if at_tau is not None:
                largest, gap = alpha_spread(r)
                projected = (
                    f"; max |alpha| {largest:.3f}, mean top-2 gap {gap:.4f}"
                    f"; at tau {at_tau:g}: mean max p {mean_max_p(r, at_tau):.3f}"
                )
            print(
                f"{d} epoch {r['epoch']}: tau {tau:.3g}, kept {kept}, mean t {mean_t}, "
                f"p_hat by tenths {deciles}; {cell_text}{projected}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
