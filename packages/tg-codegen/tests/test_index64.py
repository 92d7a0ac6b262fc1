"""Index arithmetic past 2^31 - 1, without allocating anything that large.

- A seeded fuzzer of views over a small buffer blown up past 2^31 elements (expand, flatten, flip, a padding
  of billions of elements) and read back through a small window: every device runs the kernel and must agree
  with the plain-Python reference (`Arr` is lazy: only the window's elements are ever computed).
- Reductions over axes past 2^31 are lowered, not run: their index expressions are evaluated at the loops'
  first, last and random values twice, once in the integer type the program declares (wrapping as C does)
  and once exactly; the two agree, so no index value ever wraps around.
- The kernels of both are rendered as CUDA C and compiled by nvcc where it exists.
"""

from __future__ import annotations

import importlib
import random
from typing import Any

import helpers
import pytest
from helpers import (
    DEVICES,
    Arr,
    bconst,
    contig,
    cuda_caps,
    get_program,
    launch,
    load,
    loop_program_checks,
    nvcc_or_skip,
    param,
    sink,
    store,
)

from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import Kernel
from tg_codegen.lower import index_fits, lower, lower_with_index
from tg_codegen.program import compile_kernel
from tg_uop import DType, Ops, ShapeTracker, UOp, dtypes
from tg_uop.ops import exec_alu

SEEDS = range(40)
# an integer type wide enough that no index of these tests wraps in it: the exact reference
WIDE = DType("int128", 16, None, "int")
# the module (the package exports a function of the same name)
lowering = importlib.import_module("tg_codegen.lower")
WIDE_WINDOW = 3  # a window case whose index arithmetic is 64-bit
BIG = (2**31 - 1, 2**31, 2**31 + 7, 2**32 + 3, 3 * 2**31 + 1)


def build_window_case(seed: int) -> tuple[UOp, dict[int, list[Any]], list[Any]]:
    """A window of at most 8 elements of a view of more than 2^31 elements over a buffer of 2 to 5."""
    rng = random.Random(seed)
    n, big = rng.randint(2, 5), rng.choice(BIG)
    data = [float(rng.randint(1, 9)) for _ in range(n)]
    st = ShapeTracker.from_shape((n,)).reshape((n, 1)).expand((n, big)).reshape((n * big,))
    arr = Arr.flat(data, (n,)).reshape((n, 1)).expand((n, big)).reshape((n * big,))
    if rng.random() < 0.5:
        st, arr = st.flip((True,)), arr.flip((True,))
    before = 0
    if rng.random() < 0.5:
        pads = ((rng.choice([0, 3, 2**31, 2**32 + 1]), rng.choice([0, 5, 2**32])),)
        st, arr, before = st.pad(pads), arr.pad(pads), pads[0][0]
    total, w = st.shape[0], rng.randint(2, 8)
    # mostly windows across the border of two rows of the expand, or of the data and the padding
    row_border = before + big * rng.randint(1, n) - w // 2
    start = rng.choice([row_border, row_border, before - w // 2, total - w, rng.randrange(total - w)])
    start = min(max(start, 0), total - w)
    st, arr = st.shrink(((start, start + w),)), arr.shrink(((start, start + w),))
    out = load(param(1, dtypes.float32, n), st) * bconst(dtypes.float32, 2.0, (w,))
    ast = sink(store(param(0, dtypes.float32, w), contig((w,)), out))
    return ast, {1: data}, arr.map(lambda x: x * 2.0).tolist()


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed_{s}")
@pytest.mark.parametrize("device", DEVICES)
def test_window_of_a_huge_view_reads_the_right_elements(seed: int, device: str) -> None:
    ast, inputs, want = build_window_case(seed)
    spec = get_program(ast, device)
    loop_program_checks(spec.uops)
    assert index_fits(UOp.sink(*spec.uops), dtypes.int64), "an index value may wrap around"
    assert launch(spec, ast, inputs)[0] == want, f"seed {seed} on {device}"


def huge_reduction(seed: int) -> UOp:
    """A sum over more than 2^31 elements of a small buffer read through a transposed, flattened view."""
    rng = random.Random(seed)
    n, big = rng.randint(2, 5), rng.choice(BIG)
    st = ShapeTracker.from_shape((n,)).reshape((n, 1)).expand((n, big)).reshape((big, n))
    if rng.random() < 0.5:
        st = st.permute((1, 0)).reshape((big, n))
    red = UOp(Ops.REDUCE_AXIS, dtypes.float32, (load(param(1, dtypes.float32, n), st),), (Ops.ADD, (0,)))
    return sink(store(param(0, dtypes.float32, n), contig((1, n)), red))


def _eval(x: UOp, env: dict[UOp, int], exact: bool, memo: dict[UOp, Any]) -> Any:
    """The value of index expression `x` for loop values `env`: in the node's type (C wraparound), or exact."""
    for u in x.toposort():
        if u in memo:
            continue
        if u in env:
            memo[u] = env[u]
        elif u.op is Ops.CONST:
            memo[u] = u.arg
        else:
            memo[u] = exec_alu(u.op, WIDE if exact and u.dtype.is_int else u.dtype, [memo[s] for s in u.src])
    return memo[x]


@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"seed_{s}")
def test_index_math_of_a_huge_reduction_never_wraps(seed: int) -> None:
    graph = lower(huge_reduction(seed))
    loops = [u for u in graph.toposort() if u.op in (Ops.RANGE, Ops.SPECIAL)]
    assert any(u.op is Ops.RANGE and u.src[0].arg >= 2**31 - 1 for u in loops)
    assert all(u.dtype == dtypes.int64 for u in loops)
    indexes = [u for u in graph.toposort() if u.op is Ops.INDEX]
    rng = random.Random(seed)
    for trial in range(20):
        env = {}
        for u in loops:
            top = u.vmax
            env[u] = 0 if trial == 0 else top if trial == 1 else rng.randint(0, top)
        for ix in indexes:
            for expr in ix.src[1:]:
                assert _eval(expr, env, False, {}) == _eval(expr, env, True, {}), expr.render()


def test_small_kernels_keep_32_bit_indices() -> None:
    small = sink(store(param(0, dtypes.float32, 64), contig((64,)), load(param(1, dtypes.float32, 64), contig((64,)))))
    for a in (small, huge_reduction(0)):
        kinds = {u.dtype for u in lower(a).toposort() if u.op is Ops.RANGE}
        assert kinds == ({dtypes.int32} if a is small else {dtypes.int64})
    assert "for (int gidx0" in get_program(small, "CPU").src


def test_index_fits_sees_wraparound() -> None:
    # in int32 the flat index of the last element wraps; the int64 lowering proves it would not fit
    ast = huge_reduction(3)
    assert not index_fits(lower_with_index(ast, dtypes.int64), dtypes.int32)
    assert index_fits(lower_with_index(ast, dtypes.int64), dtypes.int64)


@pytest.fixture(scope="module")
def nvcc() -> Any:
    return nvcc_or_skip()


@pytest.mark.parametrize("case", ["window", "reduction"])
def test_cuda_compiles_64_bit_indices(case: str, nvcc: Any) -> None:
    from tg_runtime.backends.cuda import ptx_kernels

    ast = build_window_case(WIDE_WINDOW)[0] if case == "window" else huge_reduction(1)
    spec = compile_kernel(Kernel(ast, cuda_caps()), "CUDA")
    assert "long long" in spec.src
    assert spec.name in ptx_kernels(nvcc.compile(spec.src))


# ---- the index type is decided once, before lowering; it must be the one that lowering twice proves

EDGE = 2**31 - 1  # the most elements int32 indices reach


def proven_index(ast: UOp, kinds: Any = None, gpu: bool = False, packed: frozenset[int] = frozenset()) -> DType:
    """The index type by proof on lowered graphs: int32 where the int64 lowering's bounds and then the int32
    lowering's own bounds all fit int32 (what `lower` did before it decided from the kernel's bounds)."""
    if index_fits(lower_with_index(ast, dtypes.int64, kinds, gpu, packed), dtypes.int32):
        if index_fits(lower_with_index(ast, dtypes.int32, kinds, gpu, packed), dtypes.int32):
            return dtypes.int32
    return dtypes.int64


def boundary_kernels(n: int) -> dict[str, UOp]:
    """Kernels of about n elements (n near 2^31) whose buffers are never allocated: only lowered."""

    def copy(st: ShapeTracker, size: int = n, src: int = n) -> UOp:
        return sink(store(param(0, dtypes.float32, size), contig(st.shape), load(param(1, dtypes.float32, src), st)))

    def total(st: ShapeTracker, src: int = n) -> UOp:
        red = UOp(Ops.REDUCE_AXIS, dtypes.float32, (load(param(1, dtypes.float32, src), st),), (Ops.ADD, (0,)))
        return sink(store(param(0, dtypes.float32, 1), contig((1,)), red))

    rows = (3, -(-n // 3))  # 3 rows of n/3 (rounded up): just under 2^31 - 1 elements, or just past 2^31
    return {
        "copy": copy(contig((n,))),
        "flip": copy(contig((n,)).flip((True,))),
        "sum": total(contig((n,))),
        "broadcast": total(contig((1,)).expand((n,)), 1),
        "pad": copy(contig((4,)).pad(((0, n - 4),)), n, 4),
        "rows": copy(contig(rows).permute((1, 0)).reshape(rows), rows[0] * rows[1], rows[0] * rows[1]),
        "stack": copy(contig((n, 1)).permute((1, 0)).reshape((n,))),
    }


@pytest.mark.parametrize("n", [EDGE - 1, EDGE, EDGE + 1, EDGE + 2], ids=lambda n: f"2^31{n - 2**31:+d}")
@pytest.mark.parametrize("how", ["plain", "cpu", "gpu"])
def test_index_type_decided_once_matches_the_proof(n: int, how: str) -> None:
    for name, ast in boundary_kernels(n).items():
        if how == "plain":
            kinds, gpu, packed = None, False, frozenset[int]()
        else:
            k = Kernel(ast, helpers.caps_of("CPU") if how == "cpu" else helpers.gpu_cl_caps())
            hand_coded_optimizations(k)
            ast, kinds, gpu, packed = k.ast, k.types, how == "gpu", k.packed
        want = proven_index(ast, kinds, gpu, packed)
        got = {u.dtype for u in lower(ast, kinds, gpu, packed).toposort() if u.op in (Ops.RANGE, Ops.SPECIAL)}
        assert got == {want}, f"{name} with {n} elements ({how}): lowered in {got}, the proof gives {want}"
        # n iterations of one loop: int32 up to 2^31 - 1 (optimized, the loop is split and an index of 2^31 - 1 fits)
        if how == "plain" and name in ("copy", "flip", "sum", "broadcast", "pad"):
            assert want == (dtypes.int32 if n <= EDGE else dtypes.int64), (name, n, how)


def test_index_type_decided_before_lowering(monkeypatch: Any) -> None:
    # one lowering per kernel where the bounds decide: an int32 kernel, an int64 one
    calls: list[DType] = []
    real = lowering.lower_with_index
    monkeypatch.setattr(
        lowering, "lower_with_index", lambda ast, index, *a: calls.append(index) or real(ast, index, *a)
    )
    for n in (EDGE, EDGE + 1):
        lowering.lower(boundary_kernels(n)["copy"])
    assert calls == [dtypes.int32, dtypes.int64]
