"""Reduction kernels: REDUCE_AXIS over one, several and all axes, strided inputs, several reductions per kernel."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import pytest
from helpers import (
    DEVICES,
    Arr,
    assert_close,
    bconst,
    contig,
    get_program,
    launch,
    load,
    param,
    run_both,
    sink,
    store,
)

from tg_codegen.kernel import Opt, OptOps
from tg_uop import DType, Ops, dtypes

SHAPE = (4, 6)
XF = [float((i * 7) % 11) - 5.0 for i in range(24)]  # integers in [-5, 5]: sums are exact
XI = [(i * 5) % 13 - 9 for i in range(24)]  # every value negative or small: max must not start at 0

REDUCERS: dict[Ops, Callable[[Any, Any], Any]] = {Ops.ADD: operator.add, Ops.MAX: max, Ops.MUL: operator.mul}


def reduce_ast(dt: DType, shape: tuple[int, ...], op: Ops, axes: tuple[int, ...]):
    n = 1
    for s in shape:
        n *= s
    out_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
    out_n = 1
    for s in out_shape:
        out_n *= s
    x = load(param(1, dt, n), contig(shape))
    return sink(store(param(0, dt, out_n), contig(out_shape), x.reduce_axis(op, axes)))


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1)], ids=str)
@pytest.mark.parametrize("op", [Ops.ADD, Ops.MAX], ids=lambda o: o.name)
@pytest.mark.parametrize("dt", [dtypes.float32, dtypes.int32], ids=str)
def test_reduce_2d(dt: DType, op: Ops, axes: tuple[int, ...]) -> None:
    xs = XF if dt.is_float else XI
    want = Arr.flat(xs, SHAPE).reduce(REDUCERS[op], axes).tolist()
    res = run_both(reduce_ast(dt, SHAPE, op, axes), {1: xs})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_max_of_all_negative_values() -> None:
    xs = [-float(i + 1) for i in range(24)]
    res = run_both(reduce_ast(dtypes.float, SHAPE, Ops.MAX, (1,)), {1: xs})
    want = [max(xs[r * 6 : r * 6 + 6]) for r in range(4)]
    assert want == [-1.0, -7.0, -13.0, -19.0]
    for dev in DEVICES:
        assert res[dev][0] == want, dev
    xi = [-(10**9) - i for i in range(24)]
    res = run_both(reduce_ast(dtypes.int32, SHAPE, Ops.MAX, (0, 1)), {1: xi})
    for dev in DEVICES:
        assert res[dev][0] == [-(10**9)], dev


def test_product_reduction() -> None:
    xs = [1.0, 2.0, -1.0, 0.5, 3.0, 1.0] * 4
    xs[7] = -2.0
    res = run_both(reduce_ast(dtypes.float, SHAPE, Ops.MUL, (1,)), {1: xs})
    want = Arr.flat(xs, SHAPE).reduce(operator.mul, (1,)).tolist()
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_full_reduce_names_and_source() -> None:
    spec = get_program(reduce_ast(dtypes.float, SHAPE, Ops.ADD, (0, 1)), "CPU")
    # both axes are reduced and contiguous: they merge into one reduce loop of 24
    assert spec.name == "r_24"
    assert spec.src.count("for (") == 1 and "ridx0 < 24" in spec.src
    assert "gidx" not in spec.src
    assert "data0[0] = " in spec.src


@pytest.mark.parametrize("axes", [(0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)], ids=str)
def test_reduce_3d(axes: tuple[int, ...]) -> None:
    shape = (2, 3, 4)
    xs = [float((i * 5) % 9) - 4.0 for i in range(24)]
    res = run_both(reduce_ast(dtypes.float, shape, Ops.ADD, axes), {1: xs})
    want = Arr.flat(xs, shape).reduce(operator.add, axes).tolist()
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_reduce_over_size_one_axis_is_a_copy() -> None:
    xs = XF[:4]
    res = run_both(reduce_ast(dtypes.float, (4, 1), Ops.ADD, (1,)), {1: xs})
    for dev in DEVICES:
        assert res[dev][0] == xs, dev


@pytest.mark.parametrize(
    "shape,axes",
    [((4, 1, 6), (1, 2)), ((1, 4, 6), (0, 2)), ((4, 1, 6), (0, 1)), ((1, 6, 1), (0, 2)), ((2, 1, 3, 1), (1, 3))],
    ids=str,
)
def test_reduce_listing_size_one_axes(shape: tuple[int, ...], axes: tuple[int, ...]) -> None:
    # a size-1 axis in the reduce list (as x.sum(axis=...) keeps it) must not pull a neighbouring axis in
    n = 1
    for s in shape:
        n *= s
    xs = [float((i * 7) % 11) - 5.0 for i in range(n)]
    want = Arr.flat(xs, shape).reduce(operator.add, axes).tolist()
    res = run_both(reduce_ast(dtypes.float, shape, Ops.ADD, axes), {1: xs})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_reduce_over_permuted_view() -> None:
    # out[j] = max_i x[i, j]: reduce axis 1 of the (6, 4) transpose of a (4, 6) buffer (strides (1, 6))
    x = load(param(1, dtypes.float, 24), contig(SHAPE).permute((1, 0)))
    ast = sink(store(param(0, dtypes.float, 6), contig((6, 1)), x.reduce_axis(Ops.MAX, (1,))))
    want = Arr.flat(XF, SHAPE).permute((1, 0)).reduce(max, (1,)).tolist()
    assert want == [max(XF[r * 6 + c] for r in range(4)) for c in range(6)]
    res = run_both(ast, {1: XF})
    for dev in DEVICES:
        assert res[dev][0] == want, dev
    src = get_program(ast, "CPU").src
    assert "ridx0*6" in src.replace("(", "").replace(")", ""), src


def test_sum_over_strided_3d_view() -> None:
    shape = (2, 3, 4)
    xs = [float(i % 7) for i in range(24)]
    st = contig(shape).permute((2, 0, 1))  # (4, 2, 3)
    x = load(param(1, dtypes.float, 24), st)
    ast = sink(store(param(0, dtypes.float, 4), contig((4, 1, 1)), x.reduce_axis(Ops.ADD, (1, 2))))
    want = Arr.flat(xs, shape).permute((2, 0, 1)).reduce(operator.add, (1, 2)).tolist()
    res = run_both(ast, {1: xs})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_two_reductions_into_two_outputs() -> None:
    # sum(x) and sum(x*x) per row, stored to two outputs by one kernel
    x = load(param(2, dtypes.float, 24), contig(SHAPE))
    ast = sink(
        store(param(0, dtypes.float, 4), contig((4, 1)), x.reduce_axis(Ops.ADD, (1,))),
        store(param(1, dtypes.float, 4), contig((4, 1)), (x * x).reduce_axis(Ops.ADD, (1,))),
    )
    ref = Arr.flat(XF, SHAPE)
    want_s = ref.reduce(operator.add, (1,)).tolist()
    want_q = ref.map(lambda v: v * v).reduce(operator.add, (1,)).tolist()
    res = run_both(ast, {2: XF})
    for dev in DEVICES:
        assert res[dev][0] == want_s, dev
        assert res[dev][1] == want_q, dev
    spec = get_program(ast, "CPU")
    assert spec.outs == (0, 1) and spec.ins == (2,)


def _loops(ast) -> int:
    return sum(u.op is Ops.RANGE for u in get_program(ast, "CPU").uops)


@pytest.mark.parametrize("shape", [(4, 6), (8, 2048), (16, 64, 49)])
def test_sibling_reductions_share_one_loop(shape: tuple[int, ...]) -> None:
    # batch norm's backward sums (of g and of g * x, one kernel): one pass over g and x, two accumulators; the
    # sum of x - max(x) reads the max over the same axes, so it loops again
    n, axes = math.prod(shape), tuple(range(1, len(shape)))
    out = tuple(1 if i in axes else d for i, d in enumerate(shape))
    xs, gs = [float(i % 7 - 3) for i in range(n)], [float(i % 5 - 2) for i in range(n)]
    x, g = (load(param(i, dtypes.float, n), contig(shape)) for i in (2, 3))
    one = sink(store(param(0, dtypes.float, shape[0]), contig(out), g.reduce_axis(Ops.ADD, axes)))
    ast = sink(
        store(param(0, dtypes.float, shape[0]), contig(out), g.reduce_axis(Ops.ADD, axes)),
        store(param(1, dtypes.float, shape[0]), contig(out), (g * x).reduce_axis(Ops.ADD, axes)),
    )
    nested = sink(
        store(
            param(0, dtypes.float, shape[0]), contig(out), (x - x.reduce_axis(Ops.MAX, axes)).reduce_axis(Ops.ADD, axes)
        )
    )
    assert _loops(ast) == _loops(one) < _loops(nested)
    res = run_both(ast, {2: xs, 3: gs})
    for dev in DEVICES:
        assert res[dev][0] == Arr.flat(gs, shape).reduce(operator.add, axes).tolist(), dev
        want = Arr.flat(gs, shape).map(operator.mul, Arr.flat(xs, shape)).reduce(operator.add, axes).tolist()
        assert res[dev][1] == want, dev


def test_sum_divided_by_max_in_one_store() -> None:
    xs = [float(i % 5 + 1) for i in range(24)]
    x = load(param(1, dtypes.float, 24), contig(SHAPE))
    ast = sink(
        store(param(0, dtypes.float, 4), contig((4, 1)), x.reduce_axis(Ops.ADD, (1,)) / x.reduce_axis(Ops.MAX, (1,)))
    )
    ref = Arr.flat(xs, SHAPE)
    want = [s / m for s, m in zip(ref.reduce(operator.add, (1,)).tolist(), ref.reduce(max, (1,)).tolist())]
    res = run_both(ast, {1: xs})
    for dev in DEVICES:
        assert_close(res[dev][0], want, what=dev)


def test_full_sum_and_full_max_in_one_kernel() -> None:
    x = load(param(2, dtypes.float, 24), contig(SHAPE))
    ast = sink(
        store(param(0, dtypes.float, 1), contig((1, 1)), x.reduce_axis(Ops.ADD, (0, 1))),
        store(param(1, dtypes.float, 1), contig((1, 1)), x.reduce_axis(Ops.MAX, (0, 1))),
    )
    res = run_both(ast, {2: XF})
    for dev in DEVICES:
        assert res[dev][0] == [sum(XF)] and res[dev][1] == [max(XF)], dev


def test_reduction_with_elementwise_epilogue() -> None:
    # out[i] = sum_j(x[i, j] * w[j]) * scale[i] + 0.5 : a matrix-vector product with an epilogue
    x = load(param(1, dtypes.float, 24), contig(SHAPE))
    w = load(param(2, dtypes.float, 6), contig((1, 6)).expand(SHAPE))
    scale = load(param(3, dtypes.float, 4), contig((4, 1)))
    out = (x * w).reduce_axis(Ops.ADD, (1,)) * scale + bconst(dtypes.float, 0.5, (4, 1))
    ast = sink(store(param(0, dtypes.float, 4), contig((4, 1)), out))
    ws, ss = [1.0, -2.0, 0.5, 3.0, 0.0, -1.0], [2.0, -1.0, 0.25, 3.0]
    want = [sum(XF[r * 6 + c] * ws[c] for c in range(6)) * ss[r] + 0.5 for r in range(4)]
    res = run_both(ast, {1: XF, 2: ws, 3: ss})
    for dev in DEVICES:
        assert_close(res[dev][0], want, what=dev)


def test_mean_and_cast_epilogue() -> None:
    xi = list(range(24))
    x = load(param(1, dtypes.int32, 24), contig(SHAPE))
    mean = x.reduce_axis(Ops.ADD, (1,)).cast(dtypes.float) * bconst(dtypes.float, 1 / 6, (4, 1))
    ast = sink(store(param(0, dtypes.float, 4), contig((4, 1)), mean))
    want = [sum(xi[r * 6 : r * 6 + 6]) / 6 for r in range(4)]
    res = run_both(ast, {1: xi})
    for dev in DEVICES:
        assert_close(res[dev][0], want, what=dev)


def test_nested_reduction_sum_of_x_minus_max() -> None:
    # sum_j(x[i, j] - max_k x[i, k]): the inner reduction feeds the outer one (a softmax denominator shape)
    x = load(param(1, dtypes.float, 24), contig(SHAPE))
    inner = x.reduce_axis(Ops.MAX, (1,))
    ast = sink(store(param(0, dtypes.float, 4), contig((4, 1)), (x - inner).reduce_axis(Ops.ADD, (1,))))
    rows = [XF[r * 6 : r * 6 + 6] for r in range(4)]
    want = [sum(v - max(row) for v in row) for row in rows]
    res = run_both(ast, {1: XF})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


@pytest.mark.parametrize("outer_op", [Ops.ADD, Ops.MAX], ids=lambda o: o.name)
def test_reduction_inside_another_reductions_loop(outer_op: Ops) -> None:
    # out[b] = outer_j(sum_k x[b, j, k] * y[b, j]): the inner sum depends on the outer loop's j, so it runs
    # inside that loop with an accumulator of its own
    shape = (2, 3, 4)
    xs = [float(i % 5) for i in range(24)]
    ys = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0]
    x = load(param(1, dtypes.float, 24), contig(shape))
    y = load(param(2, dtypes.float, 6), contig((2, 3, 1)))
    inner = x.reduce_axis(Ops.ADD, (2,)) * y
    ast = sink(store(param(0, dtypes.float, 2), contig((2, 1, 1)), inner.reduce_axis(outer_op, (1,))))
    ref = Arr.flat(xs, shape).reduce(operator.add, (2,)).map(operator.mul, Arr.flat(ys, (2, 3, 1)))
    want = ref.reduce(REDUCERS[outer_op], (1,)).tolist()
    res = run_both(ast, {1: xs, 2: ys})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_reduce_of_padded_input_counts_padding_as_zero() -> None:
    # pad (4, 6) to (4, 8) with zeros, then max over the row: all-negative rows give 0 from the padding
    xs = [-float(i + 1) for i in range(24)]
    x = load(param(1, dtypes.float, 24), contig(SHAPE).pad(((0, 0), (1, 1))))
    ast = sink(
        store(param(0, dtypes.float, 4), contig((4, 1)), x.reduce_axis(Ops.MAX, (1,))),
        store(param(2, dtypes.float, 4), contig((4, 1)), x.reduce_axis(Ops.ADD, (1,))),
    )
    res = run_both(ast, {1: xs})
    padded = Arr.flat(xs, SHAPE).pad(((0, 0), (1, 1)))
    for dev in DEVICES:
        assert res[dev][0] == padded.reduce(max, (1,)).tolist() == [0.0] * 4, dev
        assert res[dev][2] == padded.reduce(operator.add, (1,)).tolist(), dev


def test_float_sum_accumulates_in_float32() -> None:
    # 1e8 + 1 + 1 + ... in float32 stays 1e8: both devices accumulate in float32, not float64
    xs = [1e8] + [1.0] * 7
    x = load(param(1, dtypes.float, 8), contig((1, 8)))
    ast = sink(store(param(0, dtypes.float, 1), contig((1, 1)), x.reduce_axis(Ops.ADD, (1,))))
    res = run_both(ast, {1: xs})
    for dev in DEVICES:
        assert res[dev][0] == [1e8], dev


def _row_softmax_ast(shape: tuple[int, int]):
    # exp(x - max) / sum(exp(x - max)) per row, stored over the whole row: the reductions run over an output axis
    n = shape[0] * shape[1]
    x = load(param(1, dtypes.float, n), contig(shape))
    e = (x - x.reduce_axis(Ops.MAX, (1,))).alu(Ops.EXP2)
    return sink(store(param(0, dtypes.float, n), contig(shape), e / e.reduce_axis(Ops.ADD, (1,))))


def _row_softmax_want(xs: list[float], shape: tuple[int, int]) -> list[float]:
    out = []
    for r in range(shape[0]):
        row = xs[r * shape[1] : (r + 1) * shape[1]]
        e = [2.0 ** (v - max(row)) for v in row]
        out += [v / sum(e) for v in e]
    return out


def test_reductions_over_an_output_axis_run_once_per_row() -> None:
    # softmax in one kernel: each row's max and sum loop over the row before the row's store loop
    res = run_both(_row_softmax_ast(SHAPE), {1: XF})
    for dev in DEVICES:
        assert_close(res[dev][0], _row_softmax_want(XF, SHAPE), what=dev)
    src = get_program(_row_softmax_ast(SHAPE), "CPU").src
    assert src.count("for (") == 4  # rows, then the max's loop, the sum's loop and the store's loop inside


@pytest.mark.parametrize(
    "opts",
    [[Opt(OptOps.UPCAST, 1, 4)], [Opt(OptOps.UPCAST, 1, 16)], [Opt(OptOps.UPCAST, 1, 4), Opt(OptOps.UPCAST, 0, 2)]],
    ids=str,
)
def test_reductions_over_an_upcast_output_axis(opts: list[Opt]) -> None:
    # the row axis upcast (SIMD lanes for the store): the reductions over it get their own copy of the axis (SIMD
    # lanes too, lanes combined after the loop, or unrolled where the upcast is not the lanes)
    shape = (4, 32)
    xs = [float((i * 7) % 11) / 4 - 1.0 for i in range(128)]
    ast = _row_softmax_ast(shape)
    for dev in ("CPU", "PYTHON"):
        assert_close(launch(get_program(ast, dev, opts=opts), ast, {1: xs})[0], _row_softmax_want(xs, shape), what=dev)
