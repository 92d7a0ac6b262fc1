"""A small seeded fuzzer: random elementwise chains over 1-3 inputs read through random movement views, with an
optional reduction and epilogue. CPU and PYTHON must agree with each other and with the plain-Python reference.

Each seed is one test case (`-k "seed_17"` reruns it). Inputs are small integers stored as float32 or int32, so
every intermediate value is exact in both dtypes and the three results can be compared tightly.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import (
    Arr,
    assert_close,
    bconst,
    contig,
    get_program,
    launch,
    load,
    loop_program_checks,
    param,
    sink,
    store,
)

from tg_uop import DType, Ops, ShapeTracker, UOp, dtypes

SEEDS = range(40)


@dataclass
class Leaf:
    uop: UOp
    arr: Arr


def random_movement(rng: random.Random, target: tuple[int, ...]) -> tuple[tuple[int, ...], list[tuple[str, Any]]]:
    """A base buffer shape and movement ops that take it to `target`, chosen backwards from the target."""
    ops: list[tuple[str, Any]] = []
    cur = target
    for _ in range(rng.randint(0, 3)):
        n = len(cur)
        kind = rng.choice(
            ["permute", "expand", "shrink", "pad", "flip", "reshape", "permute_reshape", "permute_reshape"]
        )
        if kind == "permute_reshape":
            # a transposed (b, a) buffer reshaped from (a, b) to the target: usually needs a two-view tracker
            size = math.prod(cur)
            divisors = [d for d in range(2, size) if size % d == 0]
            if divisors:
                a = rng.choice(divisors)
                ops += [("reshape", cur), ("permute", (1, 0))]
                cur = (size // a, a)
        elif kind == "permute":
            order = list(range(n))
            rng.shuffle(order)
            pre = [0] * n
            for i, o in enumerate(order):
                pre[o] = cur[i]
            ops.append(("permute", tuple(order)))
            cur = tuple(pre)
        elif kind == "expand":
            pre_t = tuple(1 if s > 1 and rng.random() < 0.5 else s for s in cur)
            if pre_t != cur:
                ops.append(("expand", cur))
                cur = pre_t
        elif kind == "shrink":
            arg, pre_l = [], []
            for s in cur:
                b, a = rng.randint(0, 2), rng.randint(0, 1)
                arg.append((b, b + s))
                pre_l.append(s + b + a)
            ops.append(("shrink", tuple(arg)))
            cur = tuple(pre_l)
        elif kind == "pad":
            arg, pre_l = [], []
            for s in cur:
                b = rng.randint(0, min(1, s - 1))
                a = rng.randint(0, min(1, s - 1 - b))
                arg.append((b, a))
                pre_l.append(s - b - a)
            ops.append(("pad", tuple(arg)))
            cur = tuple(pre_l)
        elif kind == "flip":
            ops.append(("flip", tuple(rng.random() < 0.5 for _ in cur)))
        else:
            dims = list(cur)
            rng.shuffle(dims)
            pre_t = tuple(dims) if rng.random() < 0.6 else (math.prod(cur),)
            ops.append(("reshape", cur))
            cur = pre_t
    return cur, list(reversed(ops))


def make_input(rng: random.Random, idx: int, dt: DType, shape: tuple[int, ...], zero: Any) -> tuple[Leaf, list[Any]]:
    base, ops = random_movement(rng, shape)
    n = math.prod(base)
    data = [rng.randint(-3, 3) for _ in range(n)]
    if dt.is_float:
        data = [float(v) for v in data]
    st, arr = ShapeTracker.from_shape(base), Arr.flat(data, base)
    for name, arg in ops:
        st = getattr(st, name)(arg)
        arr = arr.pad(arg, zero=zero) if name == "pad" else getattr(arr, name)(arg)
    assert st.shape == shape == arr.shape
    return Leaf(load(param(idx, dt, n), st), arr), data


BINARY: dict[str, tuple[Callable[[UOp, UOp], UOp], Callable[[Any, Any], Any]]] = {
    "add": (lambda a, b: a + b, operator.add),
    "sub": (lambda a, b: a - b, operator.sub),
    "mul": (lambda a, b: a * b, operator.mul),
    "max": (lambda a, b: a.maximum(b), max),
}


def random_expr(rng: random.Random, depth: int, leaves: list[Leaf], dt: DType, shape: tuple[int, ...]) -> Leaf:
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.8:
            return rng.choice(leaves)
        c = rng.randint(-2, 2)
        value = float(c) if dt.is_float else c
        return Leaf(bconst(dt, value, shape), Arr(shape, lambda idx: value))
    kind = rng.choice([*BINARY, "neg", "where", "cmp_cast"])
    a = random_expr(rng, depth - 1, leaves, dt, shape)
    if kind == "neg":
        return Leaf(-a.uop, a.arr.map(operator.neg))
    b = random_expr(rng, depth - 1, leaves, dt, shape)
    if kind == "where":
        c = random_expr(rng, depth - 1, leaves, dt, shape)
        return Leaf((a.uop < b.uop).where(b.uop, c.uop), a.arr.map(lambda x, y, z: y if x < y else z, b.arr, c.arr))
    if kind == "cmp_cast":
        one = 1.0 if dt.is_float else 1
        return Leaf(a.uop.ne(b.uop).cast(dt), a.arr.map(lambda x, y: one if x != y else one * 0, b.arr))
    make, fn = BINARY[kind]
    return Leaf(make(a.uop, b.uop), a.arr.map(fn, b.arr))


def build_case(seed: int) -> tuple[UOp, dict[int, list[Any]], list[Any], DType]:
    rng = random.Random(seed)
    dt = rng.choice([dtypes.float32, dtypes.int32])
    zero: Any = 0.0 if dt.is_float else 0
    rank = rng.randint(1, 3)
    shape = tuple(rng.randint(1, 4) for _ in range(rank))
    inputs: dict[int, list[Any]] = {}
    leaves = []
    for i in range(rng.randint(1, 3)):
        leaf, data = make_input(rng, i + 1, dt, shape, zero)
        leaves.append(leaf)
        inputs[i + 1] = data
    body = random_expr(rng, rng.randint(1, 3), leaves, dt, shape)
    out, out_shape = body, shape
    if rng.random() < 0.5:
        axes = tuple(sorted(rng.sample(range(rank), rng.randint(1, rank))))
        op, fn = rng.choice([(Ops.ADD, operator.add), (Ops.MAX, max)])
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
        out = Leaf(body.uop.reduce_axis(op, axes), body.arr.reduce(fn, axes))
        if rng.random() < 0.5:
            # an epilogue with an operand of the output shape
            leaf, data = make_input(rng, len(inputs) + 1, dt, out_shape, zero)
            inputs[len(inputs) + 1] = data
            out = Leaf(out.uop * leaf.uop + bconst(dt, 1, out_shape), out.arr.map(lambda x, y: x * y + 1, leaf.arr))
    n_out = math.prod(out_shape)
    ast = sink(store(param(0, dt, n_out), contig(out_shape), out.uop))
    # number the inputs the expression really reads 1..k, without gaps
    used = [u for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL and u.arg != 0]
    renumber = {g: param(k + 1, dt, g.dtype.size) for k, g in enumerate(sorted(used, key=lambda g: g.arg))}
    ast = ast.substitute(renumber)
    inputs = {new.arg: inputs[old.arg] for old, new in renumber.items()}
    return ast, inputs, out.arr.tolist(), dt


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
def test_random_kernel_cpu_python_and_reference_agree(seed: int) -> None:
    ast, inputs, want, dt = build_case(seed)
    results, after = {}, {}
    for dev in ("CPU", "PYTHON"):
        spec = get_program(ast, dev)
        loop_program_checks(spec.uops)
        after[dev] = launch(spec, ast, inputs)
        results[dev] = after[dev][0]
        assert all(after[dev][i] == inputs[i] for i in inputs), f"seed {seed}: {dev} wrote to an input"
    if dt.is_float:
        assert_close(results["CPU"], results["PYTHON"], rel=1e-5, what=f"seed {seed}: CPU vs PYTHON")
        assert_close(results["PYTHON"], want, rel=1e-5, what=f"seed {seed}: PYTHON vs reference")
    else:
        assert results["CPU"] == results["PYTHON"] == want, f"seed {seed}"


def test_fuzzer_covers_what_it_claims() -> None:
    # the seeds exercise reductions, both dtypes, every movement op and masked (padded) loads
    kinds: set[str] = set()
    n_reduce = n_float = n_masked = n_stacked = 0
    for seed in SEEDS:
        ast, _, _, dt = build_case(seed)
        nodes = ast.toposort()
        n_reduce += any(u.op is Ops.REDUCE_AXIS for u in nodes)
        n_float += dt.is_float
        n_masked += any(u.op is Ops.VIEW and any(v.mask is not None for v in u.arg.views) for u in nodes)
        n_stacked += any(u.op is Ops.VIEW and len(u.arg.views) > 1 for u in nodes)
        rng = random.Random(seed)
        for _ in range(5):
            kinds |= {name for name, _ in random_movement(rng, (2, 3))[1]}
    assert 5 <= n_reduce <= 35 and 5 <= n_float <= 35 and n_masked >= 3 and n_stacked >= 2
    assert kinds == {"permute", "expand", "shrink", "pad", "flip", "reshape"}
