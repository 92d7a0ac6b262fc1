"""An Opts fuzzer: random kernel ASTs (test_fuzz's movement views and expressions, on larger axes) with a random
sequence of legal Opts drawn from BEAM's candidates, on every device, compared with the plain-Python reference.

Each seed is one test (`-k "seed_7"` reruns it); the Opts are drawn per device, since THREAD is legal only with
threads and LOCAL only with work-groups. Inputs are small integers, so every result is exact. Every seed runs on
CPU and PYTHON; a third of them on CL too (compiling OpenCL C with PoCL costs about half a second a kernel). PADTO
is drawn on every device, GROUP (two-stage reductions through local memory) only on CL.
"""

from __future__ import annotations

import math
import operator
import random
from typing import Any

import pytest
from helpers import (
    DEVICES,
    apply_random_opts,
    bconst,
    caps_of,
    contig,
    get_program,
    launch,
    loop_program_checks,
    param,
    sink,
    store,
)
from test_fuzz import Leaf, make_input, random_expr

from tg_codegen.kernel import AxisType, Kernel, OptOps
from tg_uop import DType, Ops, UOp, dtypes

SEEDS = range(30)
CL_SEEDS = range(0, 30, 3)


def devices_for(seed: int) -> list[str]:
    return [d for d in DEVICES if d != "CL" or seed in CL_SEEDS]


SIZES = (1, 2, 3, 4, 6, 8, 12, 16)


def _params_survive(ast: UOp) -> bool:
    # a load that simplifies away (x - x, x < x) drops its parameter from the rendered signature and the buffers
    # shift (a bug reported separately, with or without Opts): such draws are skipped, this fuzzer is about Opts
    spec = get_program(ast, "PYTHON", opts=[])
    return set(spec.ins) | set(spec.outs) == {u.arg for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL}


def _draw(rng: random.Random) -> tuple[UOp, dict[int, list[Any]], dict[int, list[Any]], DType]:
    dt = rng.choice([dtypes.float32, dtypes.int32])
    zero: Any = 0.0 if dt.is_float else 0
    rank = rng.randint(1, 3)
    shape = tuple(rng.choice(SIZES) for _ in range(rank))
    while math.prod(shape) > 192:  # the PYTHON device interprets every element: keep kernels small
        shape = tuple(max(1, s // 2) for s in shape)
    inputs: dict[int, list[Any]] = {}
    leaves = []
    for i in range(rng.randint(1, 3)):
        leaf, data = make_input(rng, i + 2, dt, shape, zero)
        leaves.append(leaf)
        inputs[i + 2] = data
    body = random_expr(rng, rng.randint(1, 3), leaves, dt, shape)
    outs: list[Leaf] = [body]
    out_shape = shape
    if rng.random() < 0.6:
        axes = tuple(sorted(rng.sample(range(rank), rng.randint(1, rank))))
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
        op, fn = rng.choice([(Ops.ADD, operator.add), (Ops.MAX, max)])
        outs = [Leaf(body.uop.reduce_axis(op, axes), body.arr.reduce(fn, axes))]
        if rng.random() < 0.4:  # a second reduction over the same axes, of another expression
            other = random_expr(rng, 1, leaves, dt, shape)
            op2, fn2 = rng.choice([(Ops.ADD, operator.add), (Ops.MAX, max)])
            outs.append(Leaf(other.uop.reduce_axis(op2, axes), other.arr.reduce(fn2, axes)))
    elif rng.random() < 0.4:  # a second elementwise output
        outs.append(Leaf(-body.uop + bconst(dt, 2, shape), body.arr.map(lambda x: 2 - x)))
    n_out = math.prod(out_shape)
    stores = [store(param(i, dt, n_out), contig(out_shape), o.uop) for i, o in enumerate(outs)]
    ast = sink(*stores)
    first_in = len(outs)  # outputs are parameters 0.., the inputs read follow without gaps
    used = sorted((u for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL and u.arg >= 2), key=lambda g: g.arg)
    renumber = {g: param(first_in + k, dt, g.dtype.size) for k, g in enumerate(used)}
    ast = ast.substitute(renumber)
    inputs = {new.arg: inputs[old.arg] for old, new in renumber.items()}
    return ast, inputs, {i: o.arr.tolist() for i, o in enumerate(outs)}, dt


def build_case(seed: int) -> tuple[UOp, dict[int, list[Any]], dict[int, list[Any]], DType]:
    rng = random.Random(seed)
    while True:
        case = _draw(rng)
        if _params_survive(case[0]):
            return case


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
def test_random_kernel_with_random_opts(seed: int) -> None:
    ast, inputs, want, _ = build_case(seed)
    for dev in devices_for(seed):
        rng = random.Random(f"{seed}-{dev}")
        k = apply_random_opts(rng, Kernel(ast, caps_of(dev)), rng.randint(1, 5))
        spec = get_program(ast, dev, opts=k.applied)
        loop_program_checks(spec.uops)
        assert spec.name == k.name
        out = launch(spec, ast, inputs)
        for i, w in want.items():
            assert out[i] == w, f"seed {seed} on {dev} with {k.applied}: output {i}"
        for i, data in inputs.items():
            assert out[i] == data, f"seed {seed} on {dev} with {k.applied}: input {i} was written"


def test_fuzzer_covers_every_opt_and_shape_kind() -> None:
    ops: set[OptOps] = set()
    types: set[AxisType] = set()
    n_reduce = n_two = n_float = 0
    for seed in SEEDS:
        ast, _, want, dt = build_case(seed)
        n_reduce += any(u.op is Ops.REDUCE_AXIS for u in ast.toposort())
        n_two += len(want) == 2
        n_float += dt.is_float
        for dev in devices_for(seed):
            rng = random.Random(f"{seed}-{dev}")
            k = apply_random_opts(rng, Kernel(ast, caps_of(dev)), rng.randint(1, 5))
            ops |= {o.op for o in k.applied}
            types |= set(k.types)
    assert n_reduce >= 8 and n_two >= 4 and 5 <= n_float <= 25
    want_ops = {OptOps.UPCAST, OptOps.UNROLL, OptOps.SWAP}
    want_ops |= {OptOps.THREAD} if caps_of("CPU").has_threads else set()
    want_ops |= {OptOps.PADTO}
    want_ops |= {OptOps.LOCAL, OptOps.GROUP} if "CL" in DEVICES else set()
    assert want_ops <= ops
    assert {AxisType.GLOBAL, AxisType.REDUCE, AxisType.UNROLL, AxisType.UPCAST} <= types
