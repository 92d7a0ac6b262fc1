"""SIMD lanes: an UPCAST of 2/4/8/16 on the last axis becomes vector loads and stores in C (GCC vector types)
and OpenCL (vloadN/vstoreN) where memory is contiguous, per-lane loads and stores where it is not; bool data is
never vectorized. THREAD: the outer loop of the C source is shared by OpenMP threads. Results always match the
plain-Python reference.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from helpers import (
    DEVICES,
    Arr,
    assert_close,
    bconst,
    caps_of,
    contig,
    f32,
    launch,
    load,
    matmul_case,
    param,
    run_opts,
    sink,
    store,
)

from tg_codegen.kernel import Kernel, Opt, OptOps
from tg_codegen.program import compile_kernel
from tg_uop import Ops, UOp, dtypes

U, R, T = OptOps.UPCAST, OptOps.UNROLL, OptOps.THREAD
N = 64
XS = [float((i * 7) % 13 - 6) for i in range(N)]
YS = [float((i * 5) % 11 - 5) for i in range(N)]

needs_cl = pytest.mark.skipif("CL" not in DEVICES, reason="no OpenCL device here")


def saxpy() -> UOp:
    s = contig((N,))
    x, y = load(param(1, dtypes.float, N), s), load(param(2, dtypes.float, N), s)
    return sink(store(param(0, dtypes.float, N), s, x * 3.0 + y))


SAXPY_WANT = [x * 3.0 + y for x, y in zip(XS, YS)]


def transposed_input() -> UOp:
    # out (4, 16) contiguous, x contiguous, y read transposed from a (16, 4) buffer
    x = load(param(1, dtypes.float, N), contig((4, 16)))
    y = load(param(2, dtypes.float, N), contig((16, 4)).permute((1, 0)))
    return sink(store(param(0, dtypes.float, N), contig((4, 16)), x - y))


def transposed_want() -> list[Any]:
    return Arr.flat(XS, (4, 16)).map(lambda a, b: a - b, Arr.flat(YS, (16, 4)).permute((1, 0))).tolist()


# ---- C


@pytest.mark.parametrize("width", [2, 4, 8, 16])
def test_c_contiguous_upcast_is_vector_loads_and_stores(width: int) -> None:
    spec, out = run_opts(saxpy(), "CPU", {1: XS, 2: YS}, [Opt(U, 0, width)])
    src = spec.src
    assert f"typedef float vfloat{width} __attribute__((vector_size({4 * width})));" in src
    assert f"typedef float vfloat{width}_u __attribute__((vector_size({4 * width}), aligned(4)));" in src
    loads = re.findall(rf"vfloat{width} val\d+ = \(\*\(\(vfloat{width}_u\*\)\(data([12])\+", src)
    assert sorted(loads) == ["1", "2"], src
    assert re.search(rf"\(\*\(\(vfloat{width}_u\*\)\(data0\+[^;]*\)\)\) = ", src), src
    # one loop of N / width iterations, no scalar element access left
    assert f"gidx0 < {N // width}" in src and not re.search(r"data\d\[", src)
    assert out[0] == SAXPY_WANT


def test_c_transposed_input_is_gathered_lane_by_lane() -> None:
    spec, out = run_opts(transposed_input(), "CPU", {1: XS, 2: YS}, [Opt(U, 1, 4)])
    src = spec.src
    # x and the output move by one element per lane: vectors; y moves by 4 elements per lane: four loads
    assert re.search(r"vfloat4 val\d+ = \(\*\(\(vfloat4_u\*\)\(data1\+", src), src
    assert not re.search(r"vfloat4_u\*\)\(data2", src), src
    assert len(re.findall(r"float val\d+ = data2\[", src)) == 4, src
    assert re.search(r"vfloat4 vec\d+ = \(\(vfloat4\)\{val\d+, val\d+, val\d+, val\d+\}\);", src), src
    assert re.search(r"\(\*\(\(vfloat4_u\*\)\(data0\+", src), src
    assert out[0] == transposed_want()


def test_c_upcast_of_a_strided_axis_stores_lane_by_lane() -> None:
    # upcasting axis 0 of (4, 16): the last axis of the kernel is then 4 elements 16 apart in the output
    spec, out = run_opts(transposed_input(), "CPU", {1: XS, 2: YS}, [Opt(U, 0, 4)])
    src = spec.src
    assert not re.search(r"vfloat4_u\*\)\(data[01]", src), src
    assert len(re.findall(r"data0\[[^\]]*\] = ", src)) == 4, src
    assert out[0] == transposed_want()


def test_c_vector_reduction_keeps_vector_accumulators() -> None:
    m, n, k = 4, 16, 8
    a = [float((i * 3) % 7 - 3) for i in range(m * k)]
    b = [float((i * 5) % 9 - 4) for i in range(k * n)]
    ast, inputs, want = matmul_case(m, n, k, a, b)
    spec, out = run_opts(ast, "CPU", inputs, [Opt(U, 1, 8), Opt(U, 0, 2)])
    assert re.search(r"vfloat8 acc\d+ = ", spec.src), spec.src
    assert out[0] == want


def test_c_masked_vector_loads() -> None:
    # a padded input: lanes that fall in the padding read 0
    xs = [float(i + 1) for i in range(12)]
    x = load(param(1, dtypes.float, 12), contig((12,)).pad(((2, 2),)))
    ast = sink(store(param(0, dtypes.float, 16), contig((16,)), x + 1.0))
    want = [1.0, 1.0, *[v + 1.0 for v in xs], 1.0, 1.0]
    for dev in DEVICES:
        for width in (4, 8) if dev != "CL" else (8,):
            assert run_opts(ast, dev, {1: xs}, [Opt(U, 0, width)])[1][0] == want, (dev, width)


def test_no_vectors_without_an_upcast_last_axis() -> None:
    spec, _ = run_opts(saxpy(), "CPU", {1: XS, 2: YS}, [])
    assert "typedef" not in spec.src and "vfloat" not in spec.src
    # an upcast of 3 is not a vector width: unrolled scalars
    x = load(param(1, dtypes.float, 48), contig((48,)))
    spec, out = run_opts(
        sink(store(param(0, dtypes.float, 48), contig((48,)), x * 2.0)), "CPU", {1: XS[:48]}, [Opt(U, 0, 3)]
    )
    assert "vfloat" not in spec.src and out[0] == [v * 2.0 for v in XS[:48]]


def bool_kernel() -> tuple[UOp, dict[int, list[Any]], dict[int, list[Any]]]:
    """A bool input and a bool output next to float ones, all contiguous."""
    s = contig((N,))
    b = load(param(3, dtypes.bool, N), s)
    x, y = load(param(1, dtypes.float, N), s), load(param(2, dtypes.float, N), s)
    bs = [(i * 7) % 3 == 0 for i in range(N)]
    ast = sink(
        store(param(0, dtypes.bool, N), s, b.ne(x < bconst(dtypes.float, 0.5, (N,)))),
        store(param(4, dtypes.float, N), s, b.where(x, y)),
    )
    want = {0: [p != (q < 0.5) for p, q in zip(bs, XS)], 4: [q if p else r for p, q, r in zip(bs, XS, YS)]}
    return ast, {1: XS, 2: YS, 3: bs}, want


@pytest.mark.parametrize("dev", DEVICES)
def test_bool_data_is_never_vectorized(dev: str) -> None:
    ast, inputs, want = bool_kernel()
    spec, out = run_opts(ast, dev, inputs, [Opt(U, 0, 8)])
    assert out[0] == want[0] and out[4] == want[4], dev
    vector_loads = [u for u in spec.uops if u.op is Ops.LOAD and u.dtype.count > 1]
    vector_stores = [u for u in spec.uops if u.op is Ops.STORE and u.src[1].dtype.count > 1]
    assert all(not u.dtype.scalar().is_bool for u in vector_loads)
    assert all(not u.src[1].dtype.scalar().is_bool for u in vector_stores)
    if dev == "CPU":
        assert "vbool" not in spec.src
        assert not re.search(r"_u\*\)\(data[03]", spec.src)
        assert len(vector_loads) == 2 and len(vector_stores) == 1  # the float data still is
    if dev == "CL":
        assert "bool8" not in spec.src and not re.search(r"v(load|store)8\([^;]*data[03]", spec.src)


def test_c_comparisons_where_and_max_use_lane_masks() -> None:
    # relu and a select by comparison stay whole vectors: no lane is taken out
    s = contig((8, 8))
    x, y = load(param(1, dtypes.float, N), s), load(param(2, dtypes.float, N), s)
    zero = bconst(dtypes.float, 0.0, (8, 8))
    ast = sink(store(param(0, dtypes.float, N), s, x.maximum(zero) + (x < y).where(x * 2.0, y)))
    spec, out = run_opts(ast, "CPU", {1: XS, 2: YS}, [Opt(U, 0, 8)])
    assert not re.search(r"\[\d\]", spec.src) and "typedef int vint8" in spec.src, spec.src
    assert out[0] == [max(a, 0.0) + (a * 2.0 if a < b else b) for a, b in zip(XS, YS)]


def test_c_max_down_columns_keeps_a_vector_accumulator() -> None:
    cols = load(param(1, dtypes.float, N), contig((8, 8)).permute((1, 0)))  # [c][r] = X[r*8+c]
    ast = sink(store(param(0, dtypes.float, 8), contig((8, 1)), cols.reduce_axis(Ops.MAX, (1,))))
    spec, out = run_opts(ast, "CPU", {1: XS}, [Opt(U, 0, 8)])
    assert re.search(r"vfloat8 acc\d+ = ", spec.src) and not re.search(r"\[\d\]", spec.src), spec.src
    assert out[0] == [max(XS[r * 8 + c] for r in range(8)) for c in range(8)]


def _row_sums_and_max(n_rows: int, n: int) -> UOp:
    # two reductions of one input over its contiguous axis: sum of x*y + 1 and max of x
    s = contig((n_rows, n))
    x, y = load(param(2, dtypes.float, n_rows * n), s), load(param(3, dtypes.float, n_rows * n), s)
    out = contig((n_rows, 1))
    return sink(
        store(param(0, dtypes.float, n_rows), out, (x * y + 1.0).reduce_axis(Ops.ADD, (1,))),
        store(param(1, dtypes.float, n_rows), out, x.reduce_axis(Ops.MAX, (1,))),
    )


@pytest.mark.parametrize("width", [4, 8, 16])
def test_c_unrolled_reduce_axis_is_vector_lanes(width: int) -> None:
    # an UNROLL by a vector width on the last axis: each reduction keeps one vector accumulator (one lane per
    # unrolled copy) and combines its lanes after the loop in the copies' order, so a sum gives the same bits as
    # the unrolled scalar copies (the PYTHON device has no vectors); products may be fused (fp-contract) there
    rows, n = 4, 64
    xs = [f32(((i * 37) % 101) / 7.0 - 6.5) for i in range(rows * n)]
    ys = [f32(((i * 53) % 89) / 11.0 - 3.25) for i in range(rows * n)]
    opts = [Opt(R, 1, width)]
    spec, out = run_opts(_row_sums_and_max(rows, n), "CPU", {2: xs, 3: ys}, opts)
    assert len(re.findall(rf"vfloat{width} acc\d+ = ", spec.src)) == 2, spec.src
    assert re.search(rf"\(\*\(\(vfloat{width}_u\*\)\(data2", spec.src), spec.src  # whole-vector loads
    _, ref = run_opts(_row_sums_and_max(rows, n), "PYTHON", {2: xs, 3: ys}, opts)
    assert out[1] == ref[1] == [max(xs[r * n : (r + 1) * n]) for r in range(rows)]
    assert_close(out[0], ref[0])
    # a plain sum: bit for bit the unrolled scalar order
    s = contig((rows, n))
    ast = sink(
        store(
            param(0, dtypes.float, rows),
            contig((rows, 1)),
            load(param(1, dtypes.float, rows * n), s).reduce_axis(Ops.ADD, (1,)),
        )
    )
    assert run_opts(ast, "CPU", {1: xs}, opts)[1][0] == run_opts(ast, "PYTHON", {1: xs}, opts)[1][0]


def test_c_unrolled_lanes_over_several_axes_and_gathers() -> None:
    # a reduction over two axes whose unrolled inner one is strided in memory (lanes gathered one by one),
    # inside an outer loop shared by threads; integers, so every order gives the same exact result
    xs = [float((i * 7) % 23 - 11) for i in range(8 * 8 * 16)]
    st = contig((16, 8, 8)).permute((1, 2, 0))  # out[a] = sum over b, c of x[c, a, b]: c is the strided axis
    ast = sink(
        store(
            param(0, dtypes.float, 8),
            contig((8, 1, 1)),
            load(param(1, dtypes.float, 1024), st).reduce_axis(Ops.ADD, (1, 2)),
        )
    )
    want = [sum(xs[c * 64 + a * 8 + b] for b in range(8) for c in range(16)) for a in range(8)]
    for opts in ([Opt(R, 1, 8)], [Opt(T, 0, 2), Opt(R, 1, 4), Opt(R, 1, 2)]):
        spec, out = run_opts(ast, "CPU", {1: xs}, opts)
        assert re.search(r"vfloat\d+ acc\d+ = ", spec.src), spec.src
        assert out[0] == want, opts


def test_c_lanes_of_a_mask_are_bools() -> None:
    # a comparison mask stored as bool data and cast to float is taken apart lane by lane as 0/1 values
    s = contig((N,))
    x, y = load(param(1, dtypes.float, N), s), load(param(2, dtypes.float, N), s)
    ast = sink(
        store(param(0, dtypes.bool, N), s, x < y), store(param(3, dtypes.float, N), s, (x < y).cast(dtypes.float))
    )
    spec, out = run_opts(ast, "CPU", {1: XS, 2: YS}, [Opt(U, 0, 8)])
    assert out[0] == [a < b for a, b in zip(XS, YS)]
    assert out[3] == [float(a < b) for a, b in zip(XS, YS)]


# ---- OpenCL


@needs_cl
@pytest.mark.parametrize("width", [16])  # 4 in the transposed test below, 8 in the masked one above
def test_opencl_contiguous_upcast_is_vload_vstore(width: int) -> None:
    spec, out = run_opts(saxpy(), "CL", {1: XS, 2: YS}, [Opt(U, 0, width)])
    src = spec.src
    assert len(re.findall(rf"float{width} val\d+ = vload{width}\(0, data[12]\+", src)) == 2, src
    assert re.search(rf"vstore{width}\([^;]*, 0, data0\+", src), src
    assert "typedef" not in src  # OpenCL has its vector types built in
    assert out[0] == SAXPY_WANT


@needs_cl
def test_opencl_transposed_input_is_gathered_lane_by_lane() -> None:
    spec, out = run_opts(transposed_input(), "CL", {1: XS, 2: YS}, [Opt(U, 1, 4)])
    src = spec.src
    assert re.search(r"float4 val\d+ = vload4\(0, data1\+", src), src
    assert re.search(r"vstore4\([^;]*, 0, data0\+", src), src
    assert "data2+" not in src and len(re.findall(r"float val\d+ = data2\[", src)) == 4, src
    assert re.search(r"float4 vec\d+ = \(\(float4\)\(val\d+, val\d+, val\d+, val\d+\)\);", src), src
    assert out[0] == transposed_want()


# ---- THREAD


def test_thread_pragma_with_the_device_thread_count() -> None:
    caps = caps_of("CPU")
    if not caps.has_threads:
        pytest.skip("the C compiler here has no OpenMP: the CPU device has no threads")
    m, n, k = 8, 16, 4
    a = [float(i % 5 - 2) for i in range(m * k)]
    b = [float(i % 3 - 1) for i in range(k * n)]
    ast, inputs, want = matmul_case(m, n, k, a, b)
    spec, out = run_opts(ast, "CPU", inputs, [Opt(U, 1, 4), Opt(T, 0, caps.threads)])
    pragma = f"#pragma omp parallel for num_threads({caps.threads})"
    assert spec.src.count(pragma) == 1
    # the pragma sits right before the outermost loop, the one over the thread axis
    lines = [line.strip() for line in spec.src.splitlines()]
    at = lines.index(pragma)
    assert lines[at + 1] == "for (int gidx0 = 0; gidx0 < 8; gidx0++) {"
    assert not any(line.startswith("for") for line in lines[:at])
    assert out[0] == want


def test_thread_count_comes_from_the_capabilities() -> None:
    # seven threads on this machine, whatever its core count: OpenMP runs them anyway
    caps = caps_of("CPU")
    if not caps.has_threads:
        pytest.skip("the C compiler here has no OpenMP: the CPU device has no threads")
    k = Kernel(saxpy(), dataclasses.replace(caps, threads=7))
    k.apply(Opt(U, 0, 4))
    k.apply(Opt(T, 0, 7))
    spec = compile_kernel(k, "CPU")
    assert "#pragma omp parallel for num_threads(7)" in spec.src
    assert launch(spec, saxpy(), {1: XS, 2: YS})[0] == SAXPY_WANT


def test_no_pragma_without_thread() -> None:
    spec, _ = run_opts(saxpy(), "CPU", {1: XS, 2: YS}, [Opt(U, 0, 4)])
    assert "#pragma omp" not in spec.src
