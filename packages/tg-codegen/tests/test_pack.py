"""PACK (an input copied, per thread, into a contiguous local buffer that the inner loops read): legality, results on
the C device against plain-Python matmuls, the generated loop nest, and the CPU heuristic that blocks large
matmuls with it. The random kernels of test_opts_fuzz.py draw it too.
"""

from __future__ import annotations

import helpers
import pytest
from helpers import DEVICES, caps_of, get_program, matmul_ast, matmul_case, run_opts

from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import PACK_MAX_BYTES, AxisType, Kernel, KernelOptError, Opt, OptOps
from tg_codegen.lower import pack_plan
from tg_uop import Ops, UOp, dtypes

SWAP, PACK = Opt(OptOps.SWAP, 0, 1), Opt(OptOps.PACK, 2, 0)


def _ints(n: int, mod: int, mul: int = 7) -> list[float]:
    return [float((i * mul) % mod - mod // 2) for i in range(n)]


@pytest.mark.parametrize(
    "m,n,k,opts",
    [
        (8, 16, 12, [SWAP, PACK]),
        (8, 32, 24, [Opt(OptOps.UPCAST, 1, 16), Opt(OptOps.UPCAST, 0, 4), SWAP, PACK, Opt(OptOps.THREAD, 0, 2)]),
        (6, 32, 20, [Opt(OptOps.UPCAST, 1, 16), Opt(OptOps.UPCAST, 1, 2), SWAP, PACK, Opt(OptOps.UNROLL, 2, 4)]),
        (5, 12, 7, [SWAP, PACK, Opt(OptOps.PADTO, 0, 8), Opt(OptOps.PADTO, 2, 4)]),  # gated loads are copied as 0
        (8, 8, 8, [Opt(OptOps.PACK, 1, 0)]),  # A's rows: filled in the row loop, reused by every column
        (4, 8, 6, [SWAP, Opt(OptOps.PACK, 1, 0), PACK]),  # B at the top (reused everywhere), A per column
    ],
)
def test_packed_matmul_is_exact(m: int, n: int, k: int, opts: list[Opt]) -> None:
    a, b = _ints(m * k, 11), _ints(k * n, 13, 5)
    ast, inputs, want = matmul_case(m, n, k, a, b)
    opts = [Opt(o.op, o.axis, caps_of("CPU").threads) if o.op is OptOps.THREAD else o for o in opts]
    if not caps_of("CPU").has_threads:
        opts = [o for o in opts if o.op is not OptOps.THREAD]
    spec, out = run_opts(ast, "CPU", inputs, opts)
    assert out[0] == want, spec.src
    assert out[1] == a and out[2] == b
    assert "temp0[" in spec.src


def test_pack_legality() -> None:
    ast = matmul_ast(8, 16, 12)
    for dev in [d for d in DEVICES if d not in ("CPU", "LLVM")]:  # the host devices pack
        with pytest.raises(KernelOptError, match="CPU"):
            Kernel(ast, caps_of(dev)).apply(PACK)
    k = Kernel(ast, caps_of("CPU"))
    for bad in (Opt(OptOps.PACK, 0, 0), Opt(OptOps.PACK, 5, 0)):  # the output, a buffer the kernel has not
        with pytest.raises(KernelOptError, match="not an input"):
            k.apply(bad)
    k.apply(SWAP)
    k.apply(PACK)
    with pytest.raises(KernelOptError, match="packed already"):
        k.apply(PACK)
    assert k.packed == frozenset({2}) and k.applied == [SWAP, PACK]
    # Opts after PACK are checked against it: swapping back puts the copy of all of B (2 MiB) before the loops
    big = Kernel(matmul_ast(8, 4096, 128), caps_of("CPU"))
    for o in (Opt(OptOps.UPCAST, 1, 16), SWAP, PACK):
        big.apply(o)
    with pytest.raises(KernelOptError, match="more than"):
        big.apply(SWAP)
    assert big.applied[-1] == PACK
    # an elementwise kernel reads a new element in every iteration of every loop
    g0, g1 = helpers.param(0, dtypes.float32, 64), helpers.param(1, dtypes.float32, 64)
    st = helpers.contig((8, 8))
    copy = Kernel(helpers.sink(helpers.store(g0, st, helpers.load(g1, st) * 2.0)), caps_of("CPU"))
    copy.apply(Opt(OptOps.UPCAST, 0, 2))
    with pytest.raises(KernelOptError, match="no reuse"):
        copy.apply(Opt(OptOps.PACK, 1, 0))


def test_pack_limit() -> None:
    # B's panel over a reduce axis of 32768 (16 columns a tile) is 2 MiB, over the limit
    k = Kernel(matmul_ast(16, 16, 32768), caps_of("CPU"))
    k.apply(Opt(OptOps.UPCAST, 1, 16))
    k.apply(SWAP)
    assert 16 * 32768 * 4 > PACK_MAX_BYTES
    with pytest.raises(KernelOptError, match="more than"):
        k.apply(PACK)


def test_pack_plan_fills_inside_the_loops_the_input_changes_with() -> None:
    k = Kernel(matmul_ast(64, 64, 32), caps_of("CPU"))
    for o in (Opt(OptOps.UPCAST, 1, 16), Opt(OptOps.UPCAST, 0, 4), SWAP):
        k.apply(o)
    (ld,) = k.loads_of(2)
    plan = pack_plan(k.full_shape, k.types, ld.src[1].arg)
    # axes (4 column tiles, 16 row tiles, 32 reduce, 4 rows, 16 columns): B is copied per column tile
    assert k.types[:2] == [AxisType.GLOBAL, AxisType.GLOBAL] and plan is not None
    assert (plan.level, plan.dims, plan.size) == (1, (2, 4), 32 * 16)


def test_heuristic_blocks_large_matmuls_only() -> None:
    big = Kernel(matmul_ast(1024, 1024, 1024), caps_of("CPU"))
    hand_coded_optimizations(big)
    assert OptOps.PACK in {o.op for o in big.applied} and OptOps.SWAP in {o.op for o in big.applied}
    src = get_program(matmul_ast(1024, 1024, 1024), "CPU").src
    assert "temp0[32768]" in src  # the 1024 x 32 panel of B, per thread
    small = Kernel(matmul_ast(64, 64, 64), caps_of("CPU"))
    hand_coded_optimizations(small)
    assert OptOps.PACK not in {o.op for o in small.applied}
    # a panel over the limit keeps the unblocked tile
    long = Kernel(matmul_ast(64, 64, 1 << 14), caps_of("CPU"))
    hand_coded_optimizations(long)
    assert OptOps.PACK not in {o.op for o in long.applied}


def _matmul_bt_ast(m: int, n: int, k: int) -> UOp:
    """out[m, n] = sum_k a[m, k] * w[n, k]: a Linear layer's x @ w.T (w's rows are read across the lanes)."""
    full = (m, n, k)
    a = helpers.load(helpers.param(1, dtypes.float32, m * k), helpers.contig((m, 1, k)).expand(full))
    w = helpers.load(helpers.param(2, dtypes.float32, n * k), helpers.contig((1, n, k)).expand(full))
    return helpers.sink(
        helpers.store(
            helpers.param(0, dtypes.float32, m * n), helpers.contig((m, n, 1)), (a * w).reduce_axis(Ops.ADD, (2,))
        )
    )


def test_packing_a_transposed_input_makes_its_lanes_contiguous() -> None:
    m, n, k = 8, 32, 12
    a, w = _ints(m * k, 11), _ints(n * k, 13, 5)
    want = [sum(a[i * k + t] * w[j * k + t] for t in range(k)) for i in range(m) for j in range(n)]
    opts = [Opt(OptOps.UPCAST, 1, 16), Opt(OptOps.UPCAST, 0, 4), SWAP, PACK]
    spec, out = run_opts(_matmul_bt_ast(m, n, k), "CPU", {1: a, 2: w}, opts)
    assert out[0] == want, spec.src
    # the kernel reads the copy as whole vectors (the copy loop gathers w's column once per panel)
    assert "(*((vfloat16_u*)(temp0+" in spec.src
    # the heuristic packs a transposed B at any size (a contiguous one only from 256^3 on)
    for size in (256, 64):
        k = Kernel(_matmul_bt_ast(size, size, size), caps_of("CPU"))
        hand_coded_optimizations(k)
        assert k.packed == frozenset({2})
