"""A convolution fuzzer: random convolutions (1-D, 2-D or 3-D; stride, padding on either side, dilation, groups)
built as the kernel AST tg-tensor makes of one (the input read through a padded window view, the weight expanded
along the output positions), optimized by the default heuristics (the channel tile with its packed weight and
window loops the C compiler unrolls, the scalar window tile) and sometimes one random Opt more, run on every host
device and on the PYTHON device, and compared with a plain-Python convolution. Inputs are small integers, so
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

SEEDS = range(36)
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
            size, kernel, stride, dilation, pad,
        )  # fmt: skip
        if min(conv.out) >= 1 and conv.macs <= MAX_MACS:
            return conv


def conv_ast(c: Conv) -> UOp:
    """out[n, g, co, *o] = sum over ci, *k of x[n, g*cin+ci, *(o*stride + k*dilation - pad)] * w[g*cout+co, ci, *k]
    with x zero outside its bounds: axes (n, g, co, *o, ci, *k), the last 1 + dims reduced."""
    d = len(c.size)
    full = (c.n, c.groups, c.cout, *c.out, c.cin, *c.kernel)
    padded = ShapeTracker.from_shape((c.n, c.groups * c.cin, *c.size)).pad(((0, 0), (0, 0), *c.pad))
    ps = View.create(padded.shape).strides
    space = ps[2:]
    window = View.create(
        full,
        (
            ps[0], c.cin * ps[1], 0, *(st * s for st, s in zip(c.stride, space, strict=True)),
            ps[1], *(dl * s for dl, s in zip(c.dilation, space, strict=True)),
        ),
    )  # fmt: skip
    x_size = c.n * c.groups * c.cin * math.prod(c.size)
    x = load(param(1, dtypes.float32, x_size), ShapeTracker((*padded.views, window)))
    w_shape = (1, c.groups, c.cout, *(1,) * d, c.cin, *c.kernel)
    w = load(param(2, dtypes.float32, c.groups * c.cout * c.cin * math.prod(c.kernel)), contig(w_shape).expand(full))
    out = contig((c.n, c.groups, c.cout, *c.out, 1, *(1,) * d))
    size = c.n * c.groups * c.cout * math.prod(c.out)
    total = (x * w).reduce_axis(Ops.ADD, tuple(range(3 + d, 4 + 2 * d)))
    return sink(store(param(0, dtypes.float32, size), out, total))


def inputs_of(c: Conv) -> dict[int, list[Any]]:
    xs = [float((i * 7) % 11 - 5) for i in range(c.n * c.groups * c.cin * math.prod(c.size))]
    ws = [float((i * 5) % 7 - 3) for i in range(c.groups * c.cout * c.cin * math.prod(c.kernel))]
    return {1: xs, 2: ws}


def reference(c: Conv, xs: list[float], ws: list[float]) -> list[float]:
    out = []
    for b, g, co in itertools.product(range(c.n), range(c.groups), range(c.cout)):
        for o in itertools.product(*(range(s) for s in c.out)):
            acc = 0.0
            for ci in range(c.cin):
                for k in itertools.product(*(range(s) for s in c.kernel)):
                    pos = [o_ * st + k_ * dl - p[0] for o_, k_, st, dl, p in zip(o, k, c.stride, c.dilation, c.pad)]
                    if all(0 <= q < s for q, s in zip(pos, c.size, strict=True)):
                        xi = math.prod(c.size) * (b * c.groups * c.cin + g * c.cin + ci)
                        xi += sum(q * math.prod(c.size[j + 1 :]) for j, q in enumerate(pos))
                        wi = math.prod(c.kernel) * ((g * c.cout + co) * c.cin + ci)
                        wi += sum(k_ * math.prod(c.kernel[j + 1 :]) for j, k_ in enumerate(k))
                        acc += xs[xi] * ws[wi]
            out.append(acc)
    return out


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
    assert sum(bool(k.packed) for k in kernels) >= 12
    assert sum(any(o.op is OptOps.UPCAST for o in k.applied) and not k.packed for k in kernels) >= 3
    srcs = [get_program(conv_ast(c), "CPU", opts=k.applied).src for c, k in zip(convs, kernels, strict=True)]
    assert sum("#pragma GCC unroll" in s for s in srcs) >= 15
