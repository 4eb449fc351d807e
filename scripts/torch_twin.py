#!/usr/bin/env python3
"""PyTorch twin of `entrannas bench`: the EnTranNAS search super-net and search step.

An independent implementation, written from docs SPEC (sections 1-4) and the paper
(ICLR 2021 submission, Eqs. 5-11, Section 2.3, Appendix B.4), used as a speed and
memory baseline for the Rust crates (GitHub issue 33, item 1). It copies no code from
the crates; it reproduces the *configuration* of `entrannas bench`'s six rungs and the
JSON schema of `entrannas bench --json` (docs/BENCHMARKS.md).

Install (PyPI's Linux wheel is a CUDA build; it also runs on CPU):

    python3 -m venv /opt/torch211
    /opt/torch211/bin/pip install torch==2.11.0

Run (see scripts/README.md):

    # parameter counts, op evaluations and output shapes per rung, against ours
    /opt/torch211/bin/python scripts/torch_twin.py check --threads 2
    # the ladder, same flags, table and JSON rows as `entrannas bench`
    /opt/torch211/bin/python scripts/torch_twin.py bench --device cuda \\
        --batch-sizes 64,256 --steps 10 --warmup 2 --json twin-bench.json
    /opt/torch211/bin/python scripts/torch_twin.py bench --device cpu --threads 2 \\
        --rungs bottleneck --batch-sizes 32 --steps 3 --warmup 1

The rungs (as `entrannas_search::bench::Rung::config`):

    darts           method darts:  every cell an Engine cell, no sharing, no bottleneck, tau 1
    engine-transit  method entran: Engine cells = first normal + first reduction cell, tau 5
    sharing         + feature sharing
    bottleneck      + bottleneck ratio 4 (the full EnTranNAS search)
    dst-dense       method dst (no `none` op), sharing, bottleneck, alpha ~ 1e-3 N(0,1), beta 0
    dst-sparse      as dst-dense with alpha ~ 1.0 N(0,1), beta 4 (t = 0.982)

One step (as `Searcher::step`): an architecture step on the `val` batch (Adam lr 6e-4,
betas (0.5, 0.999), eps 1e-8, weight decay 1e-3; the weights frozen, so no weight
gradient is computed; Transit cells run the current derivation; DST adds the sparsity
regulariser), then the derivation is refreshed from the new alpha/beta (a host
read-back; skipped for darts, whose forward never uses it), then a weight step on the
`train` batch (coefficients detached; SGD lr 0.2, momentum 0.9, weight decay 3e-4,
global gradient-norm clip 5). The step's clock stops after the weight loss is read back
to the host (and torch.cuda.synchronize on CUDA).

Measured as ours: the first step timed alone, `--warmup` untimed steps, then the median
of `--steps` timed steps; `op evals` counts the candidate-op forwards of the last timed
step's two forward passes (`none` never runs, a shared (source, op) output counts
once). `params` is what our bench's `params` holds, burn's `num_params`: the trainable
weights *plus every batch norm's running mean and variance*; the JSON adds
`trainable_params` (weights only). Peak memory: on CPU the process's peak RSS over the
rung's start (VmHWM - VmRSS after malloc_trim and a /proc/self/clear_refs reset, as
ours, `measure` "rss-delta"); on CUDA torch.cuda.max_memory_allocated after
reset_peak_memory_stats per rung (`measure` "torch-cuda-max-allocated", plus
`reserved_bytes` = max_memory_reserved, the figure closer to our CubeCL pool's
reserved bytes). Before the ladder an untimed primer step (dst-dense, batch 2) loads
torch's one-time state; `--no-primer` skips it.

Interpretations (SPEC is silent or ours differs): the DST regulariser is SPEC's
`lambda / n * sum_j -log t(j)` per cell type (n = 4 nodes), as ours (relax.rs
`sparsity_regularizer`, since 2026-12-07; before, ours divided the sum over both
types by 8); it changes no cost. Thresholds
are clamped to [2^-20, 1 - 2^-23] as float32 needs. Initial alpha and the data come
from torch's generator, so `dst-sparse` keeps different connections than ours
(both rows report `conn n+r`).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import statistics
import sys
import time
import warnings

# torch warns at import when NumPy is absent; the twin does not use NumPy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

STANDARD_OPS = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]
EXTENDED_OPS = STANDARD_OPS + [
    "conv_1x1",
    "conv_3x3",
    "conv_1x3_3x1",
    "conv_1x5_5x1",
    "conv_1x7_7x1",
]

RUNGS = ["darts", "engine-transit", "sharing", "bottleneck", "dst-dense", "dst-sparse"]
LABELS = {
    "darts": "darts",
    "engine-transit": "+ engine/transit",
    "sharing": "+ feature sharing",
    "bottleneck": "+ bottleneck",
    "dst-dense": "dst dense",
    "dst-sparse": "dst sparse",
}
# Super-net parameters of our bench at C = 16, 8 cells, 3x32x32, 10 classes
# (docs/PERFORMANCE.md), for `check`.
OURS_PARAMS = {
    "darts": 2_005_210,
    "engine-transit": 2_005_210,
    "sharing": 776_410,
    "bottleneck": 217_594,
    "dst-dense": 217_594,
    "dst-sparse": 217_594,
}

# Threshold bounds (float32-safe): t = sigmoid(beta) clamped to [2^-20, 1 - 2^-23], so
# a node's strongest connection (p_hat = 1) always survives in float32.
T_MIN = 2.0**-20
T_MAX = 1.0 - 2.0**-23


# ----------------------------------------------------------------------------------
# Configuration of a rung
# ----------------------------------------------------------------------------------


class RungConfig:
    def __init__(self, rung: str, args):
        self.rung = rung
        self.method = {"darts": "darts", "dst-dense": "dst", "dst-sparse": "dst"}.get(
            rung, "entran"
        )
        self.sharing = rung not in ("darts", "engine-transit")
        self.bottleneck = args.bottleneck if rung in ("bottleneck", "dst-dense", "dst-sparse") else None
        self.all_engines = rung == "darts"
        self.tau = 1.0 if self.method == "darts" else args.tau0
        all_ops = STANDARD_OPS if args.space == "standard" else EXTENDED_OPS
        self.ops = [o for o in all_ops if not (self.method == "dst" and o == "none")]
        self.alpha_std = args.sparse_alpha_std if rung == "dst-sparse" else args.alpha_std
        self.beta_init = args.sparse_beta if rung == "dst-sparse" else 0.0
        self.channels = args.channels
        self.layers = args.layers
        self.nodes = args.nodes
        self.image = args.image
        self.classes = args.classes
        self.lr = args.lr
        self.arch_lr = args.arch_lr
        self.lam = args.lam
        self.seed = args.seed


# ----------------------------------------------------------------------------------
# Operations (DARTS definitions, SPEC section 1; search cells: BN without affine)
# ----------------------------------------------------------------------------------


def bn(c: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine)


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride, padding, affine):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
            bn(cout, affine),
        )


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convs (the second on the input shifted by one pixel),
    concatenated, BN. Odd sizes: the shifted input is zero-padded at the end."""

    def __init__(self, cin, cout, affine):
        super().__init__()
        half = cout // 2
        self.conv1 = nn.Conv2d(cin, half, 1, stride=2, bias=False)
        self.conv2 = nn.Conv2d(cin, cout - half, 1, stride=2, bias=False)
        self.bn = bn(cout, affine)

    def forward(self, x):
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv1(x), self.conv2(shifted)], dim=1))


class SepConv(nn.Sequential):
    def __init__(self, c, kernel, stride, affine):
        p = kernel // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=stride, padding=p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            bn(c, affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=1, padding=p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            bn(c, affine),
        )


class DilConv(nn.Sequential):
    def __init__(self, c, kernel, stride, affine):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=stride, padding=kernel - 1, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            bn(c, affine),
        )


class FactorizedConv(nn.Sequential):
    """ReLU, 1xL conv (stride (1, s)), Lx1 conv (stride (s, 1)), BN."""

    def __init__(self, c, length, stride, affine):
        h = length // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, (1, length), stride=(1, stride), padding=(0, h), bias=False),
            nn.Conv2d(c, c, (length, 1), stride=(stride, 1), padding=(h, 0), bias=False),
            bn(c, affine),
        )


class Zero(nn.Module):
    """`none`: never run (its term is skipped, as its output is zero)."""

    def forward(self, x):  # pragma: no cover - never called
        raise RuntimeError("the zero op is never computed")


def make_op(name: str, c: int, stride: int, affine: bool) -> nn.Module:
    if name == "none":
        return Zero()
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (
            nn.MaxPool2d(3, stride=stride, padding=1)
            if name == "max_pool_3x3"
            else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        )
        # In search (BN without affine), pools are followed by BN (SPEC section 1).
        return nn.Sequential(pool, bn(c, False)) if not affine else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == "sep_conv_3x3":
        return SepConv(c, 3, stride, affine)
    if name == "sep_conv_5x5":
        return SepConv(c, 5, stride, affine)
    if name == "dil_conv_3x3":
        return DilConv(c, 3, stride, affine)
    if name == "dil_conv_5x5":
        return DilConv(c, 5, stride, affine)
    if name == "conv_1x1":
        return ReLUConvBN(c, c, 1, stride, 0, affine)
    if name == "conv_3x3":
        return ReLUConvBN(c, c, 3, stride, 1, affine)
    if name == "conv_1x3_3x1":
        return FactorizedConv(c, 3, stride, affine)
    if name == "conv_1x5_5x1":
        return FactorizedConv(c, 5, stride, affine)
    if name == "conv_1x7_7x1":
        return FactorizedConv(c, 7, stride, affine)
    raise ValueError(f"unknown op {name}")


# ----------------------------------------------------------------------------------
# Cell topology (DARTS edge order: targets 2..n+1, sources 0..j-1)
# ----------------------------------------------------------------------------------


def incoming_start(j: int, inputs: int) -> int:
    return sum(range(inputs, j))


def edge_index(i: int, j: int, inputs: int) -> int:
    return incoming_start(j, inputs) + i


def num_edges(inputs: int, nodes: int) -> int:
    return sum(range(inputs, inputs + nodes))


# ----------------------------------------------------------------------------------
# The search cell: Engine (weighted mixed DAG) or Transit (derived sub-graph only)
# ----------------------------------------------------------------------------------


class SearchCell(nn.Module):
    def __init__(self, c_pp, c_p, c, reduction, reduction_prev, ops, sharing, bottleneck, nodes, inputs=2):
        super().__init__()
        self.reduction = reduction
        self.sharing = sharing
        self.inputs = inputs
        self.nodes = nodes
        self.ops = ops
        self.zero = {k for k, o in enumerate(ops) if o == "none"}
        self.pre0 = FactorizedReduce(c_pp, c, False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, False)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, False)
        width = max(c // bottleneck, 1) if bottleneck else c
        self.width = width
        if bottleneck:
            # A 1x1 reduce per source node (every node but the last), a 1x1 recover per
            # intermediate node (Appendix B.4).
            self.reduce = nn.ModuleList(ReLUConvBN(c, width, 1, 1, 0, False) for _ in range(inputs + nodes - 1))
            self.recover = nn.ModuleList(ReLUConvBN(width, c, 1, 1, 0, False) for _ in range(nodes))
        else:
            self.reduce = None
            self.recover = None
        # Candidate groups: one per source node with sharing ((n-1) x K instances),
        # one per edge without (|E| x K).
        if sharing:
            sources = list(range(inputs + nodes - 1))
        else:
            sources = [i for j in range(inputs, inputs + nodes) for i in range(j)]
        self.candidates = nn.ModuleList(
            nn.ModuleList(
                make_op(o, width, 2 if reduction and src < inputs else 1, False) for o in ops
            )
            for src in sources
        )

    def forward(self, s0, s1, weights=None, plan=None, counter=None):
        """Engine: `weights[e][k]`, the coefficients [edges, K] as 0-d tensors (all
        candidates of every edge when `plan` is None, else only the plan's pairs, as
        DST's Engine cells). Transit: `weights` None, the plan's pairs summed
        unweighted."""
        inputs = self.inputs
        states = [self.pre0(s0), self.pre1(s1)]
        sources = {}
        shared = {}

        def source(i):
            if i not in sources:
                x = states[i]
                sources[i] = self.reduce[i](x) if self.reduce is not None else x
            return sources[i]

        def candidate(i, j, k):
            if k in self.zero:
                return None
            if self.sharing:
                key = (i, k)
                if key not in shared:
                    shared[key] = self.candidates[i][k](source(i))
                    if counter is not None:
                        counter[0] += 1
                return shared[key]
            if counter is not None:
                counter[0] += 1
            return self.candidates[edge_index(i, j, inputs)][k](source(i))

        K = len(self.ops)
        for j in range(inputs, inputs + self.nodes):
            if plan is None:
                pairs = [(i, k) for i in range(j) for k in range(K)]
            else:
                pairs = plan[j - inputs]
            total = None
            for i, k in pairs:
                out = candidate(i, j, k)
                if out is None:
                    continue
                if weights is not None:
                    out = out * weights[edge_index(i, j, inputs)][k]
                total = out if total is None else total + out
            if total is None:  # a hand-made plan without inputs; derivations never do this
                ref = source(0)
                s = 2 if self.reduction else 1
                n, _, h, w = ref.shape
                total = ref.new_zeros(n, self.width, -(-h // s), -(-w // s))
            states.append(self.recover[j - inputs](total) if self.recover is not None else total)
        return torch.cat(states[inputs:], dim=1)


class SuperNet(nn.Module):
    def __init__(self, cfg: RungConfig):
        super().__init__()
        c = cfg.channels
        in_ch = cfg.image[0]
        self.stem = nn.Sequential(nn.Conv2d(in_ch, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c))
        layers = cfg.layers
        self.reductions = [i in (layers // 3, 2 * layers // 3) for i in range(layers)]
        if cfg.all_engines:
            self.engines = [True] * layers
        else:  # placement `first`: the first normal and the first reduction cell
            first_normal = self.reductions.index(False)
            first_reduce = self.reductions.index(True)
            self.engines = [i in (first_normal, first_reduce) for i in range(layers)]
        c_pp = c_p = 3 * c
        cur = c
        reduction_prev = False
        cells = []
        for reduction in self.reductions:
            if reduction:
                cur *= 2
            cells.append(
                SearchCell(c_pp, c_p, cur, reduction, reduction_prev, cfg.ops, cfg.sharing, cfg.bottleneck, cfg.nodes)
            )
            reduction_prev = reduction
            c_pp, c_p = c_p, cfg.nodes * cur
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(c_p, cfg.classes)

    def forward(self, x, arch, counter=None):
        """`arch[kind] = (coefficients, plan, engine_plan)` per cell kind ('normal',
        'reduce'): Engine cells use coefficients (restricted to engine_plan for DST),
        Transit cells run plan."""
        s0 = s1 = self.stem(x)
        unbound = {}
        for cell, engine in zip(self.cells, self.engines):
            kind = "reduce" if cell.reduction else "normal"
            coefficients, plan, engine_plan = arch[kind]
            if engine:
                if kind not in unbound:  # once per forward and cell type
                    unbound[kind] = [row.unbind(0) for row in coefficients.unbind(0)]
                out = cell(s0, s1, unbound[kind], engine_plan, counter)
            else:
                out = cell(s0, s1, None, plan, counter)
            s0, s1 = s1, out
        return self.classifier(s1.mean(dim=(2, 3)))


# ----------------------------------------------------------------------------------
# Architecture parameters, relaxation (SPEC section 3) and derivation
# ----------------------------------------------------------------------------------


class Arch:
    def __init__(self, cfg: RungConfig, device):
        self.cfg = cfg
        self.inputs, self.nodes = 2, cfg.nodes
        e, k = num_edges(2, cfg.nodes), len(cfg.ops)
        g = torch.Generator().manual_seed(cfg.seed)
        self.alpha = {
            kind: (cfg.alpha_std * torch.randn(e, k, generator=g)).to(device).requires_grad_()
            for kind in ("normal", "reduce")
        }
        self.beta = None
        if cfg.method == "dst":
            self.beta = {
                kind: torch.full((cfg.nodes,), cfg.beta_init, device=device).requires_grad_()
                for kind in ("normal", "reduce")
            }

    def params(self):
        out = list(self.alpha.values())
        if self.beta is not None:
            out += list(self.beta.values())
        return out

    def coefficients(self, kind: str, tau: float):
        p = F.softmax(self.alpha[kind] / tau, dim=1)
        if self.beta is None:
            return p  # Eq. 5: Engine cells use p directly
        t = torch.sigmoid(self.beta[kind]).clamp(T_MIN, T_MAX)
        rows = []
        for pos, j in enumerate(range(self.inputs, self.inputs + self.nodes)):
            start = incoming_start(j, self.inputs)
            inc = p[start : start + j]
            p_hat = inc / inc.max()  # Eq. 7
            rows.append(F.relu(p_hat - t[pos]))  # Eq. 8
        q = torch.cat(rows, dim=0)
        s = q.sum(dim=1, keepdim=True)
        return q / torch.where(s == 0, torch.ones_like(s), s)  # Eq. 9

    def regularizer(self, lam: float):
        """Eq. 11 as SPEC section 3 states it: lambda / n * sum_j -log t(j) per cell
        type (n intermediate nodes), summed over both types."""
        total = 0.0
        for beta in self.beta.values():
            total = total + (lam / beta.numel()) * (-F.logsigmoid(beta)).sum()
        return total

    def derive(self, tau: float):
        """Host read-back and derivation: top-2 (Eq. 4) or DST (Eq. 10). Returns
        {kind: plan}, a plan being per intermediate node the sorted (source, op) pairs."""
        ops = self.cfg.ops
        out = {}
        for kind in ("normal", "reduce"):
            alpha = self.alpha[kind].detach().to("cpu", torch.float64)
            if self.beta is None:
                p = torch.softmax(alpha / tau, dim=1).tolist()
                plan = []
                for j in range(self.inputs, self.inputs + self.nodes):
                    scored = []
                    for i in range(j):
                        row = p[edge_index(i, j, self.inputs)]
                        best = None
                        for k, v in enumerate(row):
                            if ops[k] == "none":
                                continue
                            if best is None or v > row[best]:
                                best = k
                        scored.append((-row[best], i, best))
                    scored.sort()
                    plan.append(sorted((i, k) for _, i, k in scored[:2]))
            else:
                beta = self.beta[kind].detach().to("cpu", torch.float64)
                p = torch.softmax(alpha / tau, dim=1)
                t = torch.sigmoid(beta).clamp(T_MIN, T_MAX)
                plan = []
                for pos, j in enumerate(range(self.inputs, self.inputs + self.nodes)):
                    start = incoming_start(j, self.inputs)
                    inc = p[start : start + j]
                    q = torch.relu(inc / inc.max() - t[pos]).tolist()
                    plan.append([(i, k) for i in range(j) for k in range(len(ops)) if q[i][k] > 0])
            out[kind] = plan
        return out


def connections(plan) -> int:
    return sum(len(node) for node in plan)


# ----------------------------------------------------------------------------------
# The search state and one step
# ----------------------------------------------------------------------------------


class Searcher:
    def __init__(self, cfg: RungConfig, device):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.net = SuperNet(cfg).to(device)
        self.net.train()
        self.arch = Arch(cfg, device)
        self.weights = [p for p in self.net.parameters()]
        self.w_opt = torch.optim.SGD(self.weights, lr=cfg.lr, momentum=0.9, weight_decay=3e-4)
        self.a_opt = torch.optim.Adam(
            self.arch.params(), lr=cfg.arch_lr, betas=(0.5, 0.999), eps=1e-8, weight_decay=1e-3
        )
        self.dst = cfg.method == "dst"
        # The forward depends on the derivation where some cell is a Transit cell, or
        # (DST) Engine cells compute only the active pairs.
        self.follows = self.dst or not all(self.net.engines)
        self.plans = self.arch.derive(cfg.tau)

    def architecture(self, detach: bool):
        arch = {}
        for kind in ("normal", "reduce"):
            if detach:
                with torch.no_grad():
                    coeff = self.arch.coefficients(kind, self.cfg.tau)
            else:
                coeff = self.arch.coefficients(kind, self.cfg.tau)
            plan = self.plans[kind]
            arch[kind] = (coeff, plan, plan if self.dst else None)
        return arch

    def step(self, val, train, counter=None):
        tau = self.cfg.tau
        # Architecture step, weights frozen (no weight gradient is computed).
        for p in self.weights:
            p.requires_grad_(False)
        logits = self.net(val[0], self.architecture(detach=False), counter)
        loss = F.cross_entropy(logits, val[1])
        if self.dst:
            loss = loss + self.arch.regularizer(self.cfg.lam)
        self.a_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.a_opt.step()
        for p in self.weights:
            p.requires_grad_(True)
        # Derivation refresh (host read-back), as ours: every step unless all Engine.
        if self.follows:
            self.plans = self.arch.derive(tau)
        # Weight step, architecture fixed.
        logits = self.net(train[0], self.architecture(detach=True), counter)
        loss = F.cross_entropy(logits, train[1])
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.weights, 5.0)
        self.w_opt.step()
        return loss.detach()


def num_weights(net: nn.Module) -> int:
    """Trainable weights (architecture parameters are not in the net)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def num_params_as_ours(net: nn.Module) -> int:
    """What our bench's `params` counts (burn's `Module::num_params`): the trainable
    weights plus every batch norm's running mean and variance (2 per channel; burn
    visits `RunningState` like a parameter). `num_batches_tracked` is not counted."""
    stats = sum(m.num_features * 2 for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    return num_weights(net) + stats


def random_batches(cfg: RungConfig, batch: int, device):
    mask = (1 << 63) - 1
    rot = ((batch << 32) | (batch >> 32)) & ((1 << 64) - 1)
    g = torch.Generator().manual_seed((cfg.seed ^ rot) & mask)
    c, h, w = cfg.image

    def one():
        x = torch.rand(batch, c, h, w, generator=g) * 2 - 1
        y = torch.randint(0, cfg.classes, (batch,), generator=g)
        return x.to(device), y.to(device)

    return one(), one()


# ----------------------------------------------------------------------------------
# Memory probes
# ----------------------------------------------------------------------------------


def proc_status_bytes(field: str):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class RssProbe:
    """Process peak RSS (Linux VmHWM) over the rung's start, as ours on CPU: free heap
    returned (malloc_trim), peak reset through /proc/self/clear_refs."""

    def __init__(self):
        try:
            self.libc = ctypes.CDLL("libc.so.6")
        except OSError:
            self.libc = None
        self.base = None

    def reset(self):
        gc.collect()
        if self.libc is not None:
            self.libc.malloc_trim(0)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = proc_status_bytes("VmRSS")
        except OSError:
            self.base = None

    def peak(self):
        hwm = proc_status_bytes("VmHWM")
        if hwm is None:
            return None
        if self.base is None:
            return {"bytes": hwm, "measure": "rss-absolute"}
        return {"bytes": max(hwm - self.base, 0), "measure": "rss-delta"}


class CudaProbe:
    """torch.cuda.max_memory_allocated since a reset before the rung's build (the
    caching allocator emptied first); max_memory_reserved as an extra field."""

    def __init__(self, device):
        self.device = device

    def reset(self):
        gc.collect()
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self):
        return {
            "bytes": int(torch.cuda.max_memory_allocated(self.device)),
            "measure": "torch-cuda-max-allocated",
            "reserved_bytes": int(torch.cuda.max_memory_reserved(self.device)),
        }


DESCRIBE = {
    "rss-delta": "process peak RSS over the rung's start",
    "rss-absolute": "absolute process peak RSS (reset failed)",
    "torch-cuda-max-allocated": "torch.cuda.max_memory_allocated, reset per rung",
}


# ----------------------------------------------------------------------------------
# bench
# ----------------------------------------------------------------------------------


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def failed_row(rung, batch, steps, error):
    return {
        "rung": rung,
        "label": LABELS[rung],
        "batch_size": batch,
        "error": error,
        "first_step_seconds": None,
        "steps": steps,
        "mean_step_seconds": None,
        "median_step_seconds": None,
        "min_step_seconds": None,
        "images_per_second": None,
        "params": None,
        "trainable_params": None,
        "connections_normal": None,
        "connections_reduce": None,
        "op_evaluations": None,
        "peak_memory": None,
        "final_loss": None,
        "speedup_vs_darts": None,
        "memory_saving_vs_darts": None,
        "op_saving_vs_darts": None,
    }


def run_rung(rung, args, batch, device, probe):
    probe.reset()
    cfg = RungConfig(rung, args)
    searcher = Searcher(cfg, device)
    val, train = random_batches(cfg, batch, device)
    params = num_params_as_ours(searcher.net)
    trainable = num_weights(searcher.net)
    of = 1 + args.warmup + args.steps
    index = 0

    def iterate(kind, counter=None):
        nonlocal index
        start = time.perf_counter()
        loss = searcher.step(val, train, counter)
        value = loss.item()
        sync(device)
        seconds = time.perf_counter() - start
        index += 1
        print(
            f"    {LABELS[rung]} batch {batch}: step {index}/{of} ({kind}) {seconds:.3f} s, loss {value:.4f}",
            file=sys.stderr,
            flush=True,
        )
        return seconds, value

    first, _ = iterate("first")
    for _ in range(args.warmup):
        iterate("warm-up")
    times, final_loss, evaluations = [], float("nan"), 0
    for _ in range(args.steps):
        counter = [0]
        seconds, final_loss = iterate("timed", counter)
        times.append(seconds)
        evaluations = counter[0]
    total = sum(times)
    row = failed_row(rung, batch, args.steps, None)
    row.update(
        first_step_seconds=first,
        mean_step_seconds=total / len(times),
        median_step_seconds=statistics.median(times),
        min_step_seconds=min(times),
        images_per_second=2 * batch * len(times) / max(total, 1e-12),
        params=params,
        trainable_params=trainable,
        connections_normal=connections(searcher.plans["normal"]),
        connections_reduce=connections(searcher.plans["reduce"]),
        op_evaluations=evaluations,
        peak_memory=probe.peak(),
        final_loss=final_loss,
    )
    return row


def fill_ratios(rows):
    darts = {r["batch_size"]: r for r in rows if r["rung"] == "darts" and r["error"] is None}

    def ratio(d, t):
        if d is None or t is None or not t > 0 or not math.isfinite(d) or not math.isfinite(t):
            return None
        return d / t

    for r in rows:
        d = darts.get(r["batch_size"])
        if d is None:
            continue
        mem = lambda row: row["peak_memory"]["bytes"] if row["peak_memory"] else None  # noqa: E731
        r["speedup_vs_darts"] = ratio(d["median_step_seconds"], r["median_step_seconds"])
        r["memory_saving_vs_darts"] = ratio(mem(d), mem(r))
        r["op_saving_vs_darts"] = ratio(d["op_evaluations"], r["op_evaluations"])


def table(rows) -> str:
    header = [
        "rung", "batch", "first s", "median s/step", "mean s/step", "min s/step", "img/s",
        "params", "conn n+r", "op evals", "peak memory", "speed vs darts", "memory vs darts",
    ]
    fmt = lambda v, f: "-" if v is None else f(v)  # noqa: E731
    t4 = lambda v: f"{v:.4f}"  # noqa: E731
    lines = []
    for r in rows:
        line = [r["label"], str(r["batch_size"])]
        if r["error"] is not None:
            line.append(f"failed: {r['error']}")
            lines.append(line)
            continue
        conn = (
            f"{r['connections_normal']}+{r['connections_reduce']}"
            if r["connections_normal"] is not None and r["connections_reduce"] is not None
            else "-"
        )
        line += [
            fmt(r["first_step_seconds"], t4),
            fmt(r["median_step_seconds"], t4),
            fmt(r["mean_step_seconds"], t4),
            fmt(r["min_step_seconds"], t4),
            fmt(r["images_per_second"], lambda v: f"{v:.1f}"),
            fmt(r["params"], str),
            conn,
            fmt(r["op_evaluations"], str),
            fmt(r["peak_memory"], lambda m: f"{m['bytes'] / (1024 * 1024):.1f} MiB"),
            fmt(r["speedup_vs_darts"], lambda v: f"{v:.2f}x"),
            fmt(r["memory_saving_vs_darts"], lambda v: f"{v:.2f}x less"),
        ]
        lines.append(line)
    widths = [len(h) for h in header]
    for line in lines:
        cells = 2 if len(line) < len(header) else len(line)
        for i, cell in enumerate(line[:cells]):
            widths[i] = max(widths[i], len(cell))

    def render(cells):
        parts = []
        for i, cell in enumerate(cells):
            if i + 1 == len(cells):
                parts.append(cell)
            elif i == 0:
                parts.append(cell.ljust(widths[i]))
            else:
                parts.append(cell.rjust(widths[i]))
        return "  ".join(parts).rstrip()

    out = [render(header)] + [render(line) for line in lines]
    measures = []
    for r in rows:
        if r["peak_memory"] and r["peak_memory"]["measure"] not in measures:
            measures.append(r["peak_memory"]["measure"])
    if measures:
        out.append("peak memory: " + "; ".join(DESCRIBE.get(m, m) for m in measures))
    else:
        out.append("peak memory: not measured on this backend")
    out.append(
        "a step is one architecture step plus one weight step (2 x batch images); "
        "ratios are DARTS / rung at the same batch size"
    )
    return "\n".join(out) + "\n"


def device_label(device, threads) -> str:
    base = f"pytorch {torch.__version__}"
    if device.type == "cuda":
        return f"{base} {device} ({torch.cuda.get_device_name(device)})"
    return f"{base} cpu ({threads} threads)"


def cmd_bench(args, device):
    label = device_label(device, torch.get_num_threads())
    print(
        f"bench on {label}: batch sizes {args.batch_sizes}, {args.steps} timed steps, "
        "depthwise convolutions grouped (torch)",
        file=sys.stderr,
    )
    probe = CudaProbe(device) if device.type == "cuda" else RssProbe()
    if not args.no_primer:
        # One untimed step of a small batch through every op type first, so that the
        # first rung's figures do not include torch's one-time costs (library pages,
        # thread pools, oneDNN/cuDNN/cuBLAS initialisation): about 190 MiB of RSS on
        # CPU, measured (bottleneck rung, batch 32: 776 MiB first in a process,
        # 587 MiB second).
        primer = Searcher(RungConfig("dst-dense", args), device)
        val, train = random_batches(primer.cfg, 2, device)
        primer.step(val, train).item()
        sync(device)
        del primer, val, train
    rows = []
    for batch in args.batch_sizes:
        for rung in args.rungs:
            try:
                row = run_rung(rung, args, batch, device, probe)
            except Exception as e:  # an OOM, or an error: the ladder goes on
                row = failed_row(rung, batch, args.steps, f"{type(e).__name__}: {e}".splitlines()[0])
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            msg = (
                f"failed: {row['error']}"
                if row["error"] is not None
                else f"{row['median_step_seconds']:.3f} s/step (first step {row['first_step_seconds']:.2f} s)"
            )
            print(f"  {row['label']} batch {batch}: {msg}", file=sys.stderr, flush=True)
            rows.append(row)
    fill_ratios(rows)
    print(f"device: {label}\n{table(rows)}", end="")
    if args.json:
        doc = {
            "device": label,
            "shards": 1,
            "depthwise": "grouped",
            "framework": "pytorch",
            "torch_version": torch.__version__,
            "threads": torch.get_num_threads(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "primer": not args.no_primer,
            "rows": rows,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


# ----------------------------------------------------------------------------------
# check
# ----------------------------------------------------------------------------------


def cmd_check(args, device):
    print(f"check on {device_label(device, torch.get_num_threads())}, batch {args.batch_sizes[0]}")
    header = (
        f"{'rung':<15} {'trainable':>9} {'params':>9} {'ours':>9} {'match':>5} {'arch params':>11} "
        f"{'conn n+r':>8} {'evals/fwd':>9} {'evals/step':>10}  output"
    )
    print(header)
    ok = True
    for rung in args.rungs:
        cfg = RungConfig(rung, args)
        s = Searcher(cfg, device)
        trainable = num_weights(s.net)
        params = num_params_as_ours(s.net)
        arch_params = sum(p.numel() for p in s.arch.params())
        val, train = random_batches(cfg, args.batch_sizes[0], device)
        fwd = [0]
        with torch.no_grad():
            out = s.net(val[0], s.architecture(detach=True), fwd)
        conn = f"{connections(s.plans['normal'])}+{connections(s.plans['reduce'])}"
        step = [0]
        s.step(val, train, step)
        ours = OURS_PARAMS.get(rung)
        default_shape = (
            args.channels == 16 and args.layers == 8 and args.nodes == 4 and list(args.image) == [3, 32, 32]
            and args.classes == 10 and args.space == "standard" and args.bottleneck == 4
        )
        if not default_shape:
            ours = None
        match = "-" if ours is None else ("yes" if ours == params else "NO")
        ok &= match != "NO"
        print(
            f"{rung:<15} {trainable:>9} {params:>9} {ours if ours is not None else '-':>9} {match:>5} {arch_params:>11} "
            f"{conn:>8} {fwd[0]:>9} {step[0]:>10}  {tuple(out.shape)}"
        )
        del s
        gc.collect()
    print(
        "trainable: super-net weights (architecture parameters excluded); params: trainable plus the "
        "batch norms' running mean and variance, as our bench's `params` (burn's num_params) counts; evals: candidate-op "
        "forwards (none never run, a shared (source, op) output once); evals/fwd: one forward with the "
        "initial derivation; evals/step: both forwards of one search step"
    )
    return 0 if ok else 1


# ----------------------------------------------------------------------------------


def parse_image(text: str):
    parts = [int(v) for v in text.lower().split("x")]
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"image must be CxHxW, got {text}")
    return parts


def parse_list(kind):
    def parse(text):
        return [kind(v) for v in text.split(",") if v]

    return parse


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["bench", "check"])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--rungs", type=parse_list(str), default=list(RUNGS), help=",".join(RUNGS))
    ap.add_argument("--batch-sizes", type=parse_list(int), default=None, help="bench: 64; check: 2")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--image", type=parse_image, default=[3, 32, 32])
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--space", choices=["standard", "extended"], default="standard")
    ap.add_argument("--bottleneck", type=int, default=4, help="ratio of the bottleneck/DST rungs")
    ap.add_argument("--tau0", type=float, default=5.0, help="EnTranNAS/DST temperature (epoch 0)")
    ap.add_argument("--lr", type=float, default=0.2, help="weight learning rate (epoch 0)")
    ap.add_argument("--arch-lr", type=float, default=6e-4)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.1, help="DST sparsity weight")
    ap.add_argument("--alpha-std", type=float, default=1e-3)
    ap.add_argument("--sparse-alpha-std", type=float, default=1.0)
    ap.add_argument("--sparse-beta", type=float, default=4.0)
    ap.add_argument("--no-primer", action="store_true", help="bench: skip the untimed primer step before the ladder")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    args = ap.parse_args(argv)
    for r in args.rungs:
        if r not in RUNGS:
            ap.error(f"unknown rung {r}; valid: {', '.join(RUNGS)}")
    if args.batch_sizes is None:
        args.batch_sizes = [64] if args.mode == "bench" else [2]
    if not args.batch_sizes or min(args.batch_sizes) < 1 or args.steps < 1 or args.layers < 3:
        ap.error("batch sizes >= 1, steps >= 1 and layers >= 3 are required")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            ap.error("CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.mode == "check":
        return cmd_check(args, device)
    cmd_bench(args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
