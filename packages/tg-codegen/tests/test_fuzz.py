"""A small seeded fuzzer: random elementwise chains over 1-3 inputs read through random movement views, with an
optional reduction and epilogue. CPU and PYTHON must agree with each other and with the plain-Python reference.

Each seed is one test case (`-k "seed_17"` reruns it). Inputs are small integers stored as float32 or int32, so
every intermediate value is exact in both dtypes and the three results can be compared tightly.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from helpers import (
    DEVICES,
    Leaf,
    assert_close,
    bconst,
    contig,
    get_program,
    launch,
    loop_program_checks,
    make_input,
    param,
    random_axes,
    random_inputs_and_expr,
    random_movement,
    random_reduce,
    renumber_inputs,
    sink,
    store,
)

from tg_uop import DType, Ops, UOp, dtypes

SEEDS = range(40)


def build_case(seed: int) -> tuple[UOp, dict[int, list[Any]], list[Any], DType]:
    rng = random.Random(seed)
    dt = rng.choice([dtypes.float32, dtypes.int32])
    rank = rng.randint(1, 3)
    shape = tuple(rng.randint(1, 4) for _ in range(rank))
    out, _, inputs = random_inputs_and_expr(rng, dt, shape, first=1)
    out_shape = shape
    if rng.random() < 0.5:
        axes = random_axes(rng, rank)
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
        out = random_reduce(rng, out, axes)
        if rng.random() < 0.5:
            # an epilogue with an operand of the output shape
            leaf, data = make_input(rng, len(inputs) + 1, dt, out_shape, 0.0 if dt.is_float else 0)
            inputs[len(inputs) + 1] = data
            out = Leaf(out.uop * leaf.uop + bconst(dt, 1, out_shape), out.arr.map(lambda x, y: x * y + 1, leaf.arr))
    ast = sink(store(param(0, dt, math.prod(out_shape)), contig(out_shape), out.uop))
    ast, inputs = renumber_inputs(ast, inputs, first=1)
    return ast, inputs, out.arr.tolist(), dt


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
def test_random_kernel_cpu_python_and_reference_agree(seed: int) -> None:
    ast, inputs, want, dt = build_case(seed)
    results, after = {}, {}
    for dev in ("CPU", "PYTHON", *(("LLVM",) if "LLVM" in DEVICES else ())):
        spec = get_program(ast, dev)
        loop_program_checks(spec.uops)
        after[dev] = launch(spec, ast, inputs)
        results[dev] = after[dev][0]
        assert all(after[dev][i] == inputs[i] for i in inputs), f"seed {seed}: {dev} wrote to an input"
    if dt.is_float:
        assert_close(results["CPU"], results["PYTHON"], rel=1e-5, what=f"seed {seed}: CPU vs PYTHON")
        assert results.get("LLVM", results["CPU"]) == results["CPU"], f"seed {seed}: LLVM vs CPU"
        assert_close(results["PYTHON"], want, rel=1e-5, what=f"seed {seed}: PYTHON vs reference")
    else:
        assert results["CPU"] == results["PYTHON"] == results.get("LLVM", want) == want, f"seed {seed}"


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
