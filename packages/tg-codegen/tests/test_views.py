"""Loads and stores through views: permuted, expanded, shrunk, flipped, padded and stacked (two-view) trackers.

Each view is built twice: as a tg_uop ShapeTracker for the kernel, and as plain-Python movement ops on an
`Arr` for the expected values.
"""

from __future__ import annotations

import math
import operator
import re
from typing import Any

import pytest
from helpers import DEVICES, Arr, bconst, contig, get_program, load, param, run_both, sink, store

from tg_uop import DType, Ops, ShapeTracker, UOp, dtypes


def moved(base: tuple[int, ...], ops: list[tuple[str, Any]]) -> tuple[ShapeTracker, Arr, list[float]]:
    """The tracker and reference array of a buffer of shape `base` after movement `ops`, and its data."""
    n = math.prod(base)
    data = [float((i * 7) % 23) - 11.0 for i in range(n)]
    st, arr = contig(base), Arr.flat(data, base)
    for name, arg in ops:
        st = getattr(st, name)(arg)
        arr = getattr(arr, name)(arg)
    assert st.shape == arr.shape
    return st, arr, data


def copy_kernel(st: ShapeTracker, n_in: int, dt: DType = dtypes.float) -> UOp:
    """out (contiguous, st.shape) = in viewed through `st`, plus 1 so every output is computed."""
    n_out = math.prod(st.shape)
    one = bconst(dt, 1, st.shape)
    return sink(store(param(0, dt, n_out), contig(st.shape), load(param(1, dt, n_in), st) + one))


def check_view(base: tuple[int, ...], ops: list[tuple[str, Any]]) -> ShapeTracker:
    st, arr, data = moved(base, ops)
    res = run_both(copy_kernel(st, len(data)), {1: data})
    want = [v + 1.0 for v in arr.tolist()]
    for dev in DEVICES:
        assert res[dev][0] == want, dev
    return st


@pytest.mark.parametrize(
    "base,order",
    [((4, 6), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (1, 2, 0)), ((2, 3, 4), (0, 2, 1)), ((3, 1, 4), (2, 1, 0))],
    ids=str,
)
def test_permuted(base: tuple[int, ...], order: tuple[int, ...]) -> None:
    check_view(base, [("permute", order)])


@pytest.mark.parametrize(
    "base,shape",
    [((1, 5), (4, 5)), ((4, 1), (4, 5)), ((1, 1), (3, 4)), ((2, 1, 3), (2, 4, 3)), ((1, 3, 1), (2, 3, 2))],
    ids=str,
)
def test_expanded(base: tuple[int, ...], shape: tuple[int, ...]) -> None:
    st = check_view(base, [("expand", shape)])
    assert 0 in st.views[-1].strides


def test_expanded_index_skips_broadcast_axis() -> None:
    st, _, data = moved((1, 5), [("expand", (4, 5))])
    src = get_program(copy_kernel(st, len(data)), "CPU").src
    loads = re.findall(r"data1\[([^\]]*)\]", src)
    assert loads == ["gidx1"], src  # the row index does not appear: stride 0


@pytest.mark.parametrize(
    "base,arg",
    [((5, 7), ((1, 4), (2, 7))), ((5, 7), ((0, 5), (3, 4))), ((4, 3, 5), ((1, 3), (0, 3), (1, 4))), ((9,), ((2, 7),))],
    ids=str,
)
def test_shrunk(base: tuple[int, ...], arg: tuple[tuple[int, int], ...]) -> None:
    check_view(base, [("shrink", arg)])


@pytest.mark.parametrize("axes", [(True, False), (False, True), (True, True)], ids=str)
def test_flipped(axes: tuple[bool, ...]) -> None:
    check_view((3, 5), [("flip", axes)])


def test_flipped_3d_middle_axis_and_shrunk() -> None:
    check_view((3, 4, 5), [("flip", (False, True, False)), ("shrink", ((1, 3), (0, 3), (2, 5)))])


@pytest.mark.parametrize(
    "arg",
    [((1, 1), (0, 0)), ((0, 0), (2, 1)), ((1, 2), (3, 1)), ((0, 3), (0, 0))],
    ids=str,
)
def test_padded_reads_zero_outside(arg: tuple[tuple[int, int], ...]) -> None:
    check_view((3, 4), [("pad", arg)])


def test_padded_load_is_guarded_in_c() -> None:
    st, _, data = moved((3, 4), [("pad", ((1, 1), (2, 0)))])
    src = get_program(copy_kernel(st, len(data)), "CPU").src
    (line,) = [ln for ln in src.splitlines() if "data1[" in ln]
    # the read happens only under its validity condition, else 0
    assert re.search(r"\?data1\[[^\]]*\]:0\.0f\)", line), line
    assert "gidx0" in line.split("?")[0] and "gidx1" in line.split("?")[0], line


def test_padded_int32_reads_zero() -> None:
    st = contig((2, 3)).pad(((1, 0), (0, 2)))
    data = [-1, -2, -3, -4, -5, -6]
    ast = sink(store(param(0, dtypes.int32, 15), contig((3, 5)), load(param(1, dtypes.int32, 6), st)))
    want = Arr.flat(data, (2, 3)).pad(((1, 0), (0, 2)), zero=0).tolist()
    res = run_both(ast, {1: data})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_pad_then_flip_then_shrink() -> None:
    check_view((3, 4), [("pad", ((2, 1), (1, 1))), ("flip", (True, True)), ("shrink", ((1, 5), (0, 5)))])


def test_shrink_of_expand_of_permute() -> None:
    check_view((1, 3, 4), [("permute", (2, 0, 1)), ("expand", (4, 5, 3)), ("shrink", ((1, 3), (2, 4), (0, 3)))])


def test_reshape_of_permuted_view_uses_two_views() -> None:
    st = check_view((4, 6), [("permute", (1, 0)), ("reshape", (3, 8))])
    assert len(st.views) == 2


def test_reshape_of_permuted_view_to_3d() -> None:
    st = check_view((2, 3, 4), [("permute", (2, 1, 0)), ("reshape", (2, 12)), ("permute", (1, 0))])
    assert len(st.views) == 2


def test_reshape_of_padded_view_keeps_the_mask() -> None:
    # padding then flattening: the validity comes from the inner (masked) view of a two-view tracker
    st = check_view((3, 4), [("pad", ((1, 0), (1, 1))), ("reshape", (24,))])
    assert len(st.views) == 2 and st.views[0].mask is not None


def test_reduce_through_two_view_tracker() -> None:
    st, arr, data = moved((4, 6), [("permute", (1, 0)), ("reshape", (3, 8))])
    assert len(st.views) == 2
    x = load(param(1, dtypes.float, 24), st)
    ast = sink(store(param(0, dtypes.float, 3), contig((3, 1)), x.reduce_axis(Ops.ADD, (1,))))
    res = run_both(ast, {1: data})
    for dev in DEVICES:
        assert res[dev][0] == arr.reduce(operator.add, (1,)).tolist(), dev


def test_same_buffer_through_two_views() -> None:
    # x + x.T of a square matrix: one parameter loaded twice with different strides
    data = [float(i * i % 7) for i in range(9)]
    g = param(1, dtypes.float, 9)
    ast = sink(
        store(
            param(0, dtypes.float, 9), contig((3, 3)), load(g, contig((3, 3))) + load(g, contig((3, 3)).permute((1, 0)))
        )
    )
    want = [data[r * 3 + c] + data[c * 3 + r] for r in range(3) for c in range(3)]
    res = run_both(ast, {1: data})
    for dev in DEVICES:
        assert res[dev][0] == want, dev
    assert get_program(ast, "CPU").ins == (1,)


def test_padded_constant_is_zero_in_the_padding() -> None:
    st = contig((1, 1)).expand((2, 3)).pad(((1, 1), (0, 2)))
    ast = sink(
        store(
            param(0, dtypes.float, 20),
            contig((4, 5)),
            UOp.const(dtypes.float, 2.5, (UOp(Ops.VIEW, dtypes.void, (), st),)),
        )
    )
    want = [2.5 if 1 <= r < 3 and c < 3 else 0.0 for r in range(4) for c in range(5)]
    res = run_both(ast, {})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


# ---- stores through views


def test_store_through_permuted_view_writes_transpose() -> None:
    data = [float(i) for i in range(12)]
    out_st = contig((4, 3)).permute((1, 0))  # logical (3, 4) over a (4, 3) buffer
    ast = sink(store(param(0, dtypes.float, 12), out_st, load(param(1, dtypes.float, 12), contig((3, 4)))))
    want = [data[c * 4 + r] for r in range(4) for c in range(3)]
    res = run_both(ast, {1: data})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_store_through_shrunk_view_leaves_the_rest() -> None:
    data = [float(i + 1) for i in range(6)]
    out_st = contig((4, 5)).shrink(((1, 3), (1, 4)))  # a (2, 3) window of a (4, 5) buffer
    ast = sink(store(param(0, dtypes.float, 20), out_st, load(param(1, dtypes.float, 6), contig((2, 3)))))
    want = [-777.0] * 20
    for r in range(2):
        for c in range(3):
            want[(r + 1) * 5 + (c + 1)] = data[r * 3 + c]
    res = run_both(ast, {1: data})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_store_through_flipped_view() -> None:
    data = [float(i) for i in range(6)]
    ast = sink(
        store(param(0, dtypes.float, 6), contig((6,)).flip((True,)), load(param(1, dtypes.float, 6), contig((6,))))
    )
    res = run_both(ast, {1: data})
    for dev in DEVICES:
        assert res[dev][0] == data[::-1], dev
