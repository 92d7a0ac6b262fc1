"""An Opts fuzzer: random kernel ASTs (test_fuzz's movement views and expressions, on larger axes) with a random
sequence of legal Opts drawn from BEAM's candidates, on every device, compared with the plain-Python reference.

Each seed is one test (`-k "seed_7"` reruns it); the Opts are drawn per device, since THREAD is legal only with
threads and LOCAL only with work-groups. Inputs are small integers, so every result is exact. Every seed runs on
CPU and PYTHON; a third of them on CL too (compiling OpenCL C with PoCL costs about half a second a kernel). PADTO
is drawn on every device, GROUP (two-stage reductions through local memory) only on CL, PACK (an input copied to a
local buffer) only on CPU; since few random Opt sequences leave an input reused by an output loop, a second test
packs every input it can, between two random sequences.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from helpers import (
    DEVICES,
    Leaf,
    apply_random_opts,
    bconst,
    caps_of,
    contig,
    get_program,
    launch,
    load,
    loop_program_checks,
    make_input,
    param,
    random_axes,
    random_expr,
    random_inputs_and_expr,
    random_reduce,
    renumber_inputs,
    sink,
    store,
)

from tg_codegen.compile import lane_axis
from tg_codegen.kernel import AxisType, Kernel, KernelOptError, Opt, OptOps
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
    rank = rng.randint(1, 3)
    shape = tuple(rng.choice(SIZES) for _ in range(rank))
    while math.prod(shape) > 192:  # the PYTHON device interprets every element: keep kernels small
        shape = tuple(max(1, s // 2) for s in shape)
    body, leaves, inputs = random_inputs_and_expr(rng, dt, shape, first=2)
    outs: list[Leaf] = [body]
    out_shape = shape
    if rng.random() < 0.6:
        axes = random_axes(rng, rank)
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
        outs = [random_reduce(rng, body, axes)]
        if rng.random() < 0.4:  # a second reduction over the same axes, of another expression
            outs.append(random_reduce(rng, random_expr(rng, 1, leaves, dt, shape), axes))
    elif rng.random() < 0.4:  # a second elementwise output
        outs.append(Leaf(-body.uop + bconst(dt, 2, shape), body.arr.map(lambda x: 2 - x)))
    n_out = math.prod(out_shape)
    ast = sink(*(store(param(i, dt, n_out), contig(out_shape), o.uop) for i, o in enumerate(outs)))
    # outputs are parameters 0.., the inputs read follow without gaps
    ast, inputs = renumber_inputs(ast, inputs, first=len(outs))
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


def _lanes_draw(seed: int) -> Kernel | None:
    """Random Opts, then the innermost reduce axis unrolled by the widest vector width that divides it (SIMD
    lanes with a vector accumulator: the last axis, or one before an upcast axis no input is contiguous along);
    None when the case has no such axis or the lanes end up elsewhere."""
    ast = build_case(seed)[0]
    rng = random.Random(f"{seed}-lanes")
    k = apply_random_opts(rng, Kernel(ast, caps_of("CPU")), rng.randint(0, 3))
    for axis in reversed(range(len(k.types))):
        if k.types[axis] is AxisType.REDUCE:
            for width in (16, 8, 4, 2):
                if k.full_shape[axis] % width == 0:
                    try:
                        k.apply(Opt(OptOps.UNROLL, axis, width))
                    except KernelOptError:
                        continue
                    _upcast_after(rng, k)
                    lanes = lane_axis(k)
                    return k if lanes is not None and k.types[lanes] is AxisType.UNROLL else None
    return None


def _upcast_after(rng: random.Random, k: Kernel) -> None:
    # half the time an output axis upcast after the unroll (rows), which keeps the lanes on the unrolled axis
    # where no input is contiguous along it (tg_codegen.compile.lane_axis)
    globals_ = [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and k.full_shape[i] > 1]
    if globals_ and rng.random() < 0.5:
        axis = rng.choice(globals_)
        for amt in (4, 3, 2):
            try:
                k.apply(Opt(OptOps.UPCAST, axis, amt))
                return
            except KernelOptError:
                continue


LANE_SEEDS = range(60)


@pytest.mark.parametrize("seed", LANE_SEEDS, ids=lambda s: f"seed_{s}")
def test_random_reduction_with_unrolled_lanes(seed: int) -> None:
    k = _lanes_draw(seed)
    if k is None:
        return  # counted by test_fuzzer_unrolls_lanes
    ast, inputs, want, _ = build_case(seed)
    spec = get_program(ast, "CPU", opts=k.applied)
    loop_program_checks(spec.uops)
    out = launch(spec, ast, inputs)
    for i, w in want.items():
        assert out[i] == w, f"seed {seed} on CPU with {k.applied}: output {i}"


def test_fuzzer_unrolls_lanes() -> None:
    drawn = [(seed, k) for seed, k in ((seed, _lanes_draw(seed)) for seed in LANE_SEEDS) if k is not None]
    assert len(drawn) >= 12
    assert sum(k.types[-1] is AxisType.UPCAST for _, k in drawn) >= 2  # lanes before upcast rows
    # vector code in most (bool data stays scalar); some keep a vector accumulator over a loop
    progs = [get_program(build_case(seed)[0], "CPU", opts=k.applied) for seed, k in drawn]
    assert sum(any(u.dtype.count > 1 for u in p.uops) for p in progs) >= 8
    assert sum(any(u.op is Ops.DEFINE_ACC and u.dtype.count > 1 for u in p.uops) for p in progs) >= 3


def _broadcast_case(seed: int) -> tuple[UOp, dict[int, list[Any]], dict[int, list[Any]]]:
    """A random kernel whose inputs are each broadcast along one output axis (an outer product or a matmul
    under random views): the kind of kernel whose inputs a loop reuses, which PACK needs."""
    rng = random.Random(f"{seed}-broadcast")
    dt = rng.choice([dtypes.float32, dtypes.int32])
    shape = tuple(rng.choice(SIZES[2:]) for _ in range(rng.randint(2, 3)))
    while math.prod(shape) > 192:
        shape = tuple(max(2, s // 2) for s in shape)
    leaves, inputs = [], {}
    for i in range(2):
        narrow = rng.randrange(len(shape))
        small = tuple(1 if j == narrow else d for j, d in enumerate(shape))
        leaf, inputs[2 + i] = make_input(rng, 2 + i, dt, small, 0.0 if dt.is_float else 0)
        g, v = leaf.uop.src
        leaves.append(Leaf(load(g, v.arg.expand(shape)), leaf.arr.expand(shape)))
    out = random_expr(rng, 2, leaves, dt, shape)
    if rng.random() < 0.7:
        out = random_reduce(rng, out, (rng.randrange(len(shape)),))
    out_shape = tuple(out.arr.shape)
    ast = sink(store(param(0, dt, math.prod(out_shape)), contig(out_shape), out.uop))
    ast, inputs = renumber_inputs(ast, inputs, first=1)
    return ast, inputs, {0: out.arr.tolist()}


def _packed_draw(seed: int) -> tuple[Kernel, Any]:
    # random Opts with PACK tried on every input before each of them, so later Opts are checked against it
    case = _broadcast_case(seed)
    rng = random.Random(f"{seed}-pack")
    k = Kernel(case[0], caps_of("CPU"))
    bufs = sorted({u.src[0].arg for u in case[0].toposort() if u.op is Ops.LOAD})
    for _ in range(rng.randint(1, 4)):
        for buf in bufs:
            if rng.random() < 0.7:
                try:
                    k.apply(Opt(OptOps.PACK, buf, 0))
                except KernelOptError:
                    pass
        k = apply_random_opts(rng, k, 1)
    return k, case


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
def test_random_kernel_with_packed_inputs(seed: int) -> None:
    k, (ast, inputs, want) = _packed_draw(seed)
    for dev in [d for d in ("CPU", "LLVM") if d in DEVICES]:  # the host devices pack
        spec = get_program(ast, dev, opts=k.applied)
        loop_program_checks(spec.uops)
        out = launch(spec, ast, inputs)
        for i, w in want.items():
            assert out[i] == w, f"seed {seed} on {dev} with {k.applied}: output {i}"
        for i, data in inputs.items():
            assert out[i] == data, f"seed {seed} on {dev} with {k.applied}: input {i} was written"


def test_fuzzer_packs_inputs() -> None:
    packed = [k for k in (_packed_draw(seed)[0] for seed in SEEDS) if k.packed]
    assert len(packed) >= 15
    assert sum(len(k.packed) == 2 for k in packed) >= 2  # both inputs of one kernel
    assert any(o.op is OptOps.PACK and o != k.applied[-1] for k in packed for o in k.applied)


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
