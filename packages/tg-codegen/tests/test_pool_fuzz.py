"""Fuzzer for the kernel forms of max pooling (tg_codegen.heuristic.pool_window and short_rows): random
pooling-window reductions (the forward's max, the gradient's tie counts) and random elementwise kernels whose
contiguous rows are split by an input broadcast along a short innermost axis (the gradient's spread), with the
Opts those heuristics choose, on every device, compared with the plain-Python reference. The heuristics are
called with min_work=0 so that kernels small enough for the PYTHON device get the same forms as large ones.
"""

from __future__ import annotations

import math
import operator
import random
from typing import Any

import pytest
from helpers import DEVICES, Arr, caps_of, contig, get_program, launch, load, loop_program_checks, param, sink, store

from tg_codegen.heuristic import pool_window, short_rows
from tg_codegen.kernel import AxisType, Kernel, OptOps
from tg_uop import DType, Ops, ShapeTracker, UOp, dtypes

SEEDS = range(30)


def _data(rng: random.Random, dt: DType, n: int) -> list[Any]:
    # small integers (float ones too) so every result is exact; few values, so windows hold ties
    vals = [rng.randint(-2, 2) for _ in range(n)]
    return [float(v) for v in vals] if dt.is_float else vals


def _windows(lead: int, rows: int, kh: int, cols: int, kw: int, tail: int) -> tuple[ShapeTracker, tuple[int, ...]]:
    """The (lead, rows, cols, kh, kw) windows of a (lead, rows*kh, cols*kw + tail) buffer (a pool's view:
    non-overlapping windows, `tail` columns left over as with a floor-mode pool), and the buffer's shape."""
    base = (lead, rows * kh, cols * kw + tail)
    st = ShapeTracker.from_shape(base).shrink(((0, lead), (0, rows * kh), (0, cols * kw)))
    return st.reshape((lead, rows, kh, cols, kw)).permute((0, 1, 3, 2, 4)), base


def _arr_windows(arr: Arr, lead: int, rows: int, kh: int, cols: int, kw: int) -> Arr:
    at = arr.shrink(((0, lead), (0, rows * kh), (0, cols * kw)))
    return at.reshape((lead, rows, kh, cols, kw)).permute((0, 1, 3, 2, 4))


def window_case(seed: int) -> tuple[UOp, dict[int, list[Any]], list[Any]]:
    """A max over windows (the forward) or a count of the window elements equal to a second input broadcast
    over the window (the gradient's ties), stored (lead, rows, cols)."""
    rng = random.Random(f"{seed}-window")
    dt = rng.choice([dtypes.float32, dtypes.int32])
    lead, rows, cols = rng.randint(1, 4), rng.randint(1, 3), rng.choice([2, 3, 4, 6, 7, 8, 14, 16])
    kh, kw, tail = rng.choice([1, 2, 3]), rng.choice([2, 3, 4]), rng.choice([0, 0, 1])
    st, base = _windows(lead, rows, kh, cols, kw, tail)
    xs = _data(rng, dt, math.prod(base))
    x = load(param(1, dt, len(xs)), st)
    xa = _arr_windows(Arr.flat(xs, base), lead, rows, kh, cols, kw)
    out_shape = (lead, rows, cols, 1, 1)
    if rng.random() < 0.5:
        value, ref = x.reduce_axis(Ops.MAX, (3, 4)), xa.reduce(max, (3, 4))
        inputs = {1: xs}
    else:
        ys = _data(rng, dt, lead * rows * cols)
        y = load(param(2, dt, len(ys)), contig(out_shape).expand((lead, rows, cols, kh, kw)))
        ya = Arr.flat(ys, out_shape).expand((lead, rows, cols, kh, kw))
        # the window elements that differ from y (the complement of the ties: one comparison op either way)
        value = x.ne(y).cast(dtypes.int32).reduce_axis(Ops.ADD, (3, 4))
        ref = xa.map(lambda a, b: int(a != b), ya).reduce(operator.add, (3, 4))
        inputs = {1: xs, 2: ys}
    ast = sink(store(param(0, value.dtype, lead * rows * cols), contig(out_shape), value))
    return ast, inputs, ref.tolist()


def short_row_case(seed: int) -> tuple[UOp, dict[int, list[Any]], list[Any]]:
    """A pool gradient's spread: out[..., i, j, a, b] = x == y[..., i, j] ? g[..., i, j] : 0 over (lead, rows,
    a, cols, b) in the input's layout (b the short innermost axis), y and g broadcast over the window."""
    rng = random.Random(f"{seed}-rows")
    dt = rng.choice([dtypes.float32, dtypes.int32])
    lead, rows, cols = rng.randint(1, 4), rng.randint(1, 3), rng.choice([2, 3, 5, 7, 8, 14, 16])
    kh, kw = rng.choice([1, 2, 3]), rng.choice([2, 3])
    shape = (lead, rows, kh, cols, kw)
    xs = _data(rng, dt, math.prod(shape))
    x = load(param(1, dt, len(xs)), contig(shape))
    small = (lead, rows, 1, cols, 1)
    ys, gs = _data(rng, dt, math.prod(small)), _data(rng, dt, math.prod(small))
    y = load(param(2, dt, len(ys)), contig(small).expand(shape))
    g = load(param(3, dt, len(gs)), contig(small).expand(shape))
    out = x.ne(y).where(g * 0, g)
    xa, ya, ga = (Arr.flat(d, s).expand(shape) for d, s in ((xs, shape), (ys, small), (gs, small)))
    ref = xa.map(lambda a, b, c: c * 0 if a != b else c, ya, ga)
    ast = sink(store(param(0, dt, math.prod(shape)), contig(shape), out))
    return ast, {1: xs, 2: ys, 3: gs}, ref.tolist()


def _check(ast: UOp, inputs: dict[int, list[Any]], want: list[Any], form: Any, what: str) -> list[Kernel]:
    kernels = []
    for dev in DEVICES:
        k = Kernel(ast, caps_of(dev))
        form(k)
        spec = get_program(ast, dev, opts=k.applied)
        loop_program_checks(spec.uops)
        out = launch(spec, ast, inputs)
        assert out[0] == want, f"{what} on {dev} with {k.applied}"
        kernels.append(k)
    return kernels


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
def test_window_reductions_agree(seed: int) -> None:
    ast, inputs, want = window_case(seed)

    def form(k: Kernel) -> None:
        pool_window(k, [i for i, t in enumerate(k.types) if t is AxisType.REDUCE], min_work=0)

    _check(ast, inputs, want, form, f"window seed {seed}")


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
def test_short_rows_agree(seed: int) -> None:
    ast, inputs, want = short_row_case(seed)
    _check(ast, inputs, want, lambda k: short_rows(k, min_work=0), f"rows seed {seed}")


def test_fuzzer_draws_the_pool_forms() -> None:
    """The draws give the forms the heuristics are for: upcast rows, unrolled windows (lanes where 2 or 4
    wide), short rows upcast with their outer axis."""
    asts = [window_case(s)[0] for s in SEEDS]
    windows = [Kernel(ast, caps_of("CPU")) for ast in asts]
    for k in windows:
        pool_window(k, [i for i, t in enumerate(k.types) if t is AxisType.REDUCE], min_work=0)
    assert sum(any(o.op is OptOps.UPCAST for o in k.applied) for k in windows) >= 20
    assert sum(any(o.op is OptOps.UNROLL for o in k.applied) for k in windows) >= 8
    progs = [get_program(ast, "CPU", opts=k.applied) for ast, k in zip(asts, windows, strict=True) if k.applied]
    assert sum(any(u.dtype.count > 1 for u in p.uops) for p in progs) >= 5  # SIMD lanes over windows
    rows = [Kernel(short_row_case(s)[0], caps_of("CPU")) for s in SEEDS]
    for k in rows:
        short_rows(k, min_work=0)
    assert sum(len(k.applied) == 2 for k in rows) >= 15
