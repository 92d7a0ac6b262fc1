"""A convolution fuzzer: random convolutions (1-D, 2-D or 3-D; stride, padding on either side, dilation, groups)
and their weight gradients, built as the kernel ASTs tg-tensor makes of them (the input read through a padded
window view; the weight expanded along the output positions, or the output gradient along the kernel's),
optimized by the default heuristics (the channel tile with its packed weight and window loops the C compiler
unrolls, the scalar window tile, the weight gradient's lane tile) and sometimes one random Opt more, run on every
device (the PYTHON device included) and compared with a plain-Python convolution. Inputs are small integers, so
every result is exact whatever the order of the sums.

Each seed is one test (`-k "seed_7"` reruns it); `test_conv_fuzzer_covers_every_form` checks that the draws
cover what this docstring claims.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from typing import Any

import pytest
from helpers import DEVICES, apply_random_opts, caps_of, contig, launch, load, loop_program_checks, param, sink, store

from tg_codegen import get_program
from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import Kernel, OptOps
from tg_uop import ShapeTracker, UOp, dtypes
from tg_uop.ops import Ops
from tg_uop.view import View

SEEDS = range(40)
# the PYTHON device interprets a kernel one operation at a time: about 0.5 s per 4,000 multiply-adds
MAX_MACS = 6000


@dataclasses.dataclass(frozen=True)
class Conv:
    n: int
    groups: int
    cin: int  # per group
    cout: int  # per group
    size: tuple[int, ...]  # input spatial size
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad: tuple[tuple[int, int], ...]  # (before, after) per spatial axis
    weight_grad: bool  # the kernel of the weight's gradient instead of the forward convolution

    @property
    def out(self) -> tuple[int, ...]:
        return tuple(
            (s + b + a - d * (k - 1) - 1) // st + 1
            for s, (b, a), k, st, d in zip(self.size, self.pad, self.kernel, self.stride, self.dilation, strict=True)
        )

    @property
    def macs(self) -> int:
        return self.n * self.groups * self.cout * math.prod(self.out) * self.cin * math.prod(self.kernel)


def draw(seed: int) -> Conv:
    rng = random.Random(f"{seed}-conv")
    dims = rng.choice([1, 2, 2, 2, 3])
    while True:
        kernel = tuple(rng.choice([1, 2, 3, 3, 3]) for _ in range(dims))
        stride = tuple(rng.choice([1, 1, 2]) for _ in range(dims))
        dilation = tuple(rng.choice([1, 1, 1, 2]) for _ in range(dims))
        pad = tuple((rng.randint(0, k), rng.randint(0, k)) for k in kernel)
        size = tuple(rng.randint(2, {1: 16, 2: 9, 3: 5}[dims]) for _ in range(dims))
        conv = Conv(
            rng.choice([1, 2]), rng.choice([1, 2]), rng.choice([1, 2, 3]), rng.choice([8, 16, 16, 32]),
            size, kernel, stride, dilation, pad, rng.random() < 0.4,
        )  # fmt: skip
        if min(conv.out) >= 1 and conv.macs <= MAX_MACS:
            return conv


def padded_window(c: Conv, full: tuple[int, ...], axes: dict[str, int]) -> ShapeTracker:
    """The input x (n, groups*cin, *size) zero-padded and read at x[n, g*cin+ci, *(o*stride + k*dilation - pad)]
    along the axes of `full` that `axes` names (n, g, ci, o0.., k0..); broadcast along the others."""
    padded = ShapeTracker.from_shape((c.n, c.groups * c.cin, *c.size)).pad(((0, 0), (0, 0), *c.pad))
    ps = View.create(padded.shape).strides
    ch, space = ps[1], ps[2:]
    step = {"n": ps[0], "g": c.cin * ch, "ci": ch}
    for i, (st, dl, sp) in enumerate(zip(c.stride, c.dilation, space, strict=True)):
        step |= {f"o{i}": st * sp, f"k{i}": dl * sp}
    strides = [0] * len(full)
    for name, axis in axes.items():
        strides[axis] = step[name]
    return ShapeTracker((*padded.views, View.create(full, tuple(strides))))


def conv_ast(c: Conv) -> UOp:
    """Forward: out[n, g, co, *o] = sum over ci, *k of x[n, g*cin+ci, *(o*stride + k*dilation - pad)] *
    w[g*cout+co, ci, *k] (axes n, g, co, *o, ci, *k). Weight gradient: dw[g*cout+co, ci, *k] = sum over n, *o of
    the same x times the output gradient dy[n, g*cout+co, *o] (axes g, ci, *k, co, n, *o: the output gradient
    walks the last reduce axis, as in tg-tensor's weight gradient)."""
    d = len(c.size)
    names = [*(f"o{i}" for i in range(d))], [*(f"k{i}" for i in range(d))]
    x_size = c.n * c.groups * c.cin * math.prod(c.size)
    if c.weight_grad:
        full = (c.groups, c.cin, *c.kernel, c.cout, c.n, *c.out)
        axes = dict(zip(["g", "ci", *names[1], "co", "n", *names[0]], range(len(full)), strict=True))
        dy = contig((c.n, c.groups, c.cout, *c.out)).permute((1, 2, 0, *range(3, 3 + d)))
        other = dy.reshape((c.groups, 1, *(1,) * d, c.cout, c.n, *c.out)).expand(full)
        other_size, out_shape = c.n * c.groups * c.cout * math.prod(c.out), (c.groups, c.cin, *c.kernel, c.cout)
    else:
        full = (c.n, c.groups, c.cout, *c.out, c.cin, *c.kernel)
        axes = dict(zip(["n", "g", "co", *names[0], "ci", *names[1]], range(len(full)), strict=True))
        other = contig((1, c.groups, c.cout, *(1,) * d, c.cin, *c.kernel)).expand(full)
        other_size, out_shape = c.groups * c.cout * c.cin * math.prod(c.kernel), (c.n, c.groups, c.cout, *c.out)
    x = load(param(1, dtypes.float32, x_size), padded_window(c, full, {k: v for k, v in axes.items() if k != "co"}))
    y = load(param(2, dtypes.float32, other_size), other)
    out = contig((*out_shape, *(1,) * (len(full) - len(out_shape))))
    total = (x * y).reduce_axis(Ops.ADD, tuple(range(len(out_shape), len(full))))
    return sink(store(param(0, dtypes.float32, math.prod(out_shape)), out, total))


def inputs_of(c: Conv) -> dict[int, list[Any]]:
    xs = [float((i * 7) % 11 - 5) for i in range(c.n * c.groups * c.cin * math.prod(c.size))]
    other = c.n * math.prod(c.out) if c.weight_grad else c.cin * math.prod(c.kernel)
    return {1: xs, 2: [float((i * 5) % 7 - 3) for i in range(c.groups * c.cout * other)]}


def products(c: Conv, xs: list[float], ys: list[float]) -> dict[tuple[int, ...], list[float]]:
    """Every product of the convolution, keyed by (n, g, co, ci, *o, *k): x times the weight (forward) or times
    the output gradient (weight gradient); the products outside x's bounds are left out (they are 0)."""
    d, out = len(c.size), {}
    for b, g, co, ci in itertools.product(range(c.n), range(c.groups), range(c.cout), range(c.cin)):
        for o in itertools.product(*(range(s) for s in c.out)):
            for k in itertools.product(*(range(s) for s in c.kernel)):
                pos = [o[i] * c.stride[i] + k[i] * c.dilation[i] - c.pad[i][0] for i in range(d)]
                if all(0 <= q < s for q, s in zip(pos, c.size, strict=True)):
                    xi = ravel_((b, g * c.cin + ci, *pos), (c.n, c.groups * c.cin, *c.size))
                    if c.weight_grad:
                        yi = ravel_(o, c.out) + math.prod(c.out) * ((b * c.groups + g) * c.cout + co)
                    else:
                        yi = ravel_(k, c.kernel) + math.prod(c.kernel) * ((g * c.cout + co) * c.cin + ci)
                    out[(b, g, co, ci, *o, *k)] = [xs[xi] * ys[yi]]
    return out


def ravel_(idx: Any, shape: tuple[int, ...]) -> int:
    return sum(i * math.prod(shape[j + 1 :]) for j, i in enumerate(idx))


def reference(c: Conv, xs: list[float], ys: list[float]) -> list[float]:
    d, sums = len(c.size), {}
    for key, (p,) in products(c, xs, ys).items():
        b, g, co, ci, o, k = key[0], key[1], key[2], key[3], key[4 : 4 + d], key[4 + d :]
        out = (g, ci, *k, co) if c.weight_grad else (b, g, co, *o)
        sums[out] = sums.get(out, 0.0) + p
    shape = (c.groups, c.cin, *c.kernel, c.cout) if c.weight_grad else (c.n, c.groups, c.cout, *c.out)
    return [sums.get(idx, 0.0) for idx in itertools.product(*(range(s) for s in shape))]


def optimized(ast: UOp, device: str, seed: int) -> Kernel:
    """The default heuristics' kernel, and for half the seeds one random Opt more."""
    k = Kernel(ast, caps_of(device))
    hand_coded_optimizations(k)
    rng = random.Random(f"{seed}-{device}")
    return apply_random_opts(rng, k, 1) if rng.random() < 0.5 else k


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
def test_random_convolution(seed: int) -> None:
    c = draw(seed)
    ast, inputs = conv_ast(c), inputs_of(c)
    want = reference(c, inputs[1], inputs[2])
    for dev in [d for d in DEVICES if d != "CL" or seed % 4 == 0]:
        k = optimized(ast, dev, seed)
        spec = get_program(ast, dev, opts=k.applied)
        loop_program_checks(spec.uops)
        got = launch(spec, ast, inputs)
        assert got[0] == want, f"seed {seed} {c} on {dev} with {k.applied}"
        assert got[1] == inputs[1] and got[2] == inputs[2]


def test_conv_fuzzer_covers_every_form() -> None:
    convs = [draw(seed) for seed in SEEDS]
    assert {len(c.size) for c in convs} == {1, 2, 3}
    assert sum(max(c.stride) > 1 for c in convs) >= 6 and sum(max(c.dilation) > 1 for c in convs) >= 6
    assert sum(c.groups > 1 for c in convs) >= 6 and sum(any(sum(p) for p in c.pad) for c in convs) >= 20
    # the CPU's kernels: most get the channel tile (a packed weight, channels in 16 lanes), and window loops of
    # at most 16 iterations in all carry the unroll pragma; the 8-channel draws get the scalar window tile
    kernels = [optimized(conv_ast(c), "CPU", seed) for seed, c in zip(SEEDS, convs, strict=True)]
    assert sum(bool(k.packed) for k in kernels) >= 9
    assert sum(any(o.op is OptOps.UPCAST for o in k.applied) and not k.packed for k in kernels) >= 3
    # weight gradients: some get the lane tile (lanes along the last reduce axis, channel rows, kernel columns)
    assert sum(c.weight_grad for c in convs) >= 8
    grads = [k for c, k in zip(convs, kernels, strict=True) if c.weight_grad]
    lane_tiles = [k for k in grads if k.applied[:1] and k.applied[0].op is OptOps.UNROLL]
    assert sum(sum(o.op is OptOps.UPCAST for o in k.applied) >= 2 for k in lane_tiles) >= 2
    srcs = [get_program(conv_ast(c), "CPU", opts=k.applied).src for c, k in zip(convs, kernels, strict=True)]
    assert sum("#pragma GCC unroll" in s for s in srcs) >= 15
