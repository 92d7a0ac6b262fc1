"""find_realizes: which nodes of a tensor graph get a buffer of their own (the rules in tg_schedule.kernelize)."""

from __future__ import annotations

import pytest
from helpers import const, leaf, reference, view_values, workgroup_device

from tg_schedule import find_realizes, realize
from tg_uop import Ops, UOp, dtypes


def realizes(*outs: UOp) -> list[UOp]:
    found = find_realizes(list(outs))
    assert isinstance(found, dict) and all(v is None for v in found.values())
    return list(found)


# rule 1: the values asked for are realized at their base


def test_output_elementwise_node_is_realized():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    out = (a + b) * b
    assert realizes(out) == [out]


def test_output_movement_op_realizes_its_base_not_the_view():
    a = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    val = a * a
    out = val.permute((1, 0)).shrink(((0, 2), (0, 2)))
    assert realizes(out) == [val]


def test_output_that_is_a_view_of_a_buffer_needs_nothing():
    a = leaf([1.0, 2.0, 3.0, 4.0])
    assert realizes(a) == []
    assert realizes(a.reshape((2, 2)).permute((1, 0)).flip((True, False))) == []


def test_output_broadcast_constant_realizes_the_whole_value():
    out = const(1.0, (2, 3))
    assert out.base.op is Ops.CONST
    assert realizes(out) == [out]


# rule 2: CONTIGUOUS, COPY and ASSIGN always get a buffer


def test_contiguous_is_realized_even_inside_a_fused_graph():
    a = leaf([1.0, 2.0, 3.0, 4.0])
    c = UOp(Ops.CONTIGUOUS, dtypes.float32, (a * a,))
    out = c + a
    assert realizes(out) == [c, out]


def test_copy_of_a_plain_buffer_realizes_only_the_copy():
    src = leaf([1.0, 2.0, 3.0, 4.0], device="PYTHON")
    cp = UOp(Ops.COPY, dtypes.float32, (src,), arg="CPU")
    out = cp + const(1.0, (4,))
    assert realizes(out) == [cp, out]
    # a RESHAPE of a buffer is still the plain buffer
    cp2 = UOp(Ops.COPY, dtypes.float32, (src.reshape((2, 2)),), arg="CPU")
    assert realizes(cp2) == [cp2]


def test_copy_of_a_computed_value_realizes_its_source_first():
    src = leaf([1.0, 2.0, 3.0, 4.0], device="PYTHON")
    val = src * src
    cp = UOp(Ops.COPY, dtypes.float32, (val,), arg="CPU")
    assert realizes(cp) == [val, cp]


def test_copy_of_a_non_contiguous_view_realizes_the_view():
    src = leaf([1.0, 2.0, 3.0, 4.0], (2, 2), device="PYTHON")
    view = src.permute((1, 0))
    cp = UOp(Ops.COPY, dtypes.float32, (view,), arg="CPU")
    assert realizes(cp) == [view, cp]


def test_assign_is_realized_and_its_value_inlined():
    target = leaf([0.0, 0.0, 0.0])
    value = leaf([1.0, 2.0, 3.0]) + const(1.0, (3,))
    asg = UOp(Ops.ASSIGN, dtypes.float32, (target, value))
    assert realizes(asg) == [asg]


# rule 3: a REDUCE_AXIS read by more than one node, or through a movement op


def test_reduce_read_by_one_elementwise_node_is_fused():
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    r = x.reduce_axis(Ops.ADD, (1,))
    out = r * const(2.0, (2, 1))
    assert realizes(out) == [out]


def test_reduce_read_by_two_nodes_of_one_kernel_is_not_realized():
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    r = x.reduce_axis(Ops.ADD, (1,))
    out = (r + const(1.0, (2, 1))) * (r - const(1.0, (2, 1)))
    assert realizes(out) == [out]  # both reads are in out's kernel: the reduction runs once there


def test_reduce_read_by_two_kernels_is_realized():
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    r = x.reduce_axis(Ops.ADD, (1,))
    first, second = r + const(1.0, (2, 1)), r * const(2.0, (2, 1))
    assert realizes(first, second) == [r, first, second]


@pytest.mark.parametrize("row", [3, 4099])
def test_reduce_read_through_an_expand_on_a_workgroup_device(row):
    # realized unless the row fits one work-group (tg_codegen.heuristic.row_group_split: not the prime 4099)
    x = leaf([float(i % 5) for i in range(2 * row)], (2, row), device=workgroup_device())
    r = x.reduce_axis(Ops.MAX, (1,))
    out = x - r.expand((2, row))
    assert realizes(out) == ([r, out] if row == 4099 else [out])


def test_column_broadcast_of_a_reduce_is_realized():
    # max over axis 0 read by every row: fusing it would run the column's reduction inside the loop over rows
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    r = x.reduce_axis(Ops.MAX, (0,))
    out = x - r.expand((2, 3))
    assert realizes(out) == [r, out]


def test_row_broadcast_of_a_reduce_fuses_into_its_reader():
    # on a device that loops over its output axes, each row's maximum is computed once per row in the kernel
    # that stores the row (x - max(x) is one kernel, softmax too)
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    r = x.reduce_axis(Ops.MAX, (1,))
    out = x - r.expand((2, 3))
    assert realizes(out) == [out]


def test_reduce_read_through_a_permute_is_realized():
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    r = x.reduce_axis(Ops.ADD, (0,))  # (1, 3)
    out = r.permute((1, 0)) * leaf([1.0, 2.0, 3.0], (3, 1))
    assert realizes(out) == [r, out]


@pytest.mark.parametrize("device, row", [("CPU", 3), ("CL", 3), ("CL", 4099)])
def test_elementwise_epilogue_of_a_reduce_is_realized_with_it(device, row):
    # on CPU the row broadcast fuses it all into one kernel; on CL too where the row fits one work-group
    # (tg_codegen.heuristic.row_group_split: not a row of the prime 4099): else the movement op reads (sum + 1),
    # so that node is realized and the reduce fuses into its kernel
    device = workgroup_device() if device == "CL" else device
    x = leaf([float(i % 7) for i in range(2 * row)], (2, row), device=device)
    r = x.reduce_axis(Ops.ADD, (1,))
    epilogue = (r + const(1.0, (2, 1), device=device)).alu(Ops.MAX, const(0.0, (2, 1), device=device))
    out = x * epilogue.expand((2, row))
    found = realizes(out)
    assert found == ([epilogue, out] if row == 4099 else [out])
    assert r not in found


def test_reduce_of_a_reduce_without_movement_is_one_realize():
    x = leaf([float(i) for i in range(6)], (2, 3))
    inner = x.reduce_axis(Ops.ADD, (1,))
    out = inner.reduce_axis(Ops.MAX, (0,))
    assert realizes(out) == [out]


def test_reduce_under_contiguous_is_not_realized_twice():
    x = leaf([float(i) for i in range(6)], (2, 3))
    c = UOp(Ops.CONTIGUOUS, dtypes.float32, (x.reduce_axis(Ops.ADD, (1,)),))
    out = x * c.expand((2, 3))
    # the CONTIGUOUS already holds the reduce's value: the expand reads a buffer, nothing more to realize
    assert realizes(out) == [c, out]


# everything else is inlined: elementwise chains, movement ops, constants, buffers


def test_elementwise_chain_and_movement_ops_are_inlined():
    a = leaf([1.0, 2.0, 3.0, 4.0], (2, 2))
    b = leaf([5.0, 6.0, 7.0, 8.0], (2, 2))
    t = (a * b).permute((1, 0)).alu(Ops.MAX, const(0.0, (2, 2)))
    out = (t.pad(((1, 0), (0, 0))) + const(1.0, (3, 2))).reduce_axis(Ops.ADD, (0, 1))
    assert realizes(out) == [out]


def test_realizes_come_in_dependency_order():
    # on every device: r1 is read down the columns by r2 (its sum would run again per column), and r2 is a
    # column's maximum, whose axis 0 is not the last one (its loop would run inside the loop over axis 0)
    x = leaf([float(i) for i in range(6)], (2, 3))
    r1 = x.reduce_axis(Ops.ADD, (1,))
    y = x * r1.expand((2, 3))
    r2 = y.reduce_axis(Ops.MAX, (0,))
    out = y + r2.expand((2, 3))
    found = realizes(out)
    assert found == [r1, r2, out]
    # y is read by the reduce r2 and by out: it is an elementwise node, inlined into both kernels
    assert y not in found


# the realized graphs compute the right values


def _epilogue_graph() -> UOp:
    x = leaf([1.0, -2.0, 3.0, -4.0, 5.0, -6.0], (2, 3))
    r = x.reduce_axis(Ops.ADD, (1,))
    return x * (r + const(1.0, (2, 1))).alu(Ops.MAX, const(0.0, (2, 1))).expand((2, 3))


def _two_users_graph() -> UOp:
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    r = x.reduce_axis(Ops.ADD, (1,))
    return (r + const(1.0, (2, 1))) * (r - const(1.0, (2, 1)))


def _permuted_reduce_graph() -> UOp:
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    return x.reduce_axis(Ops.ADD, (0,)).permute((1, 0)) * leaf([1.0, 2.0, 3.0], (3, 1))


def _copy_of_view_graph() -> UOp:
    src = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), device="PYTHON")
    return UOp(Ops.COPY, dtypes.float32, (src.permute((1, 0)).flip((True, False)),), arg="CPU")


def _padded_inline_graph() -> UOp:
    a = leaf([1.0, -2.0, 3.0, -4.0], (2, 2))
    b = leaf([5.0, 6.0, 7.0, 8.0], (2, 2))
    t = (a * b).permute((1, 0)).alu(Ops.MAX, const(0.0, (2, 2)))
    return (t.pad(((1, 0), (0, 0))) + const(1.0, (3, 2))).reduce_axis(Ops.ADD, (0,))


@pytest.mark.parametrize(
    "build, hand",
    [
        # rows sum to 2 and -6: factors max(3, 0) = 3 and max(-5, 0) = 0
        (_epilogue_graph, [3.0, -6.0, 9.0, 0.0, 0.0, 0.0]),
        # row sums 6 and 15: (7 * 5), (16 * 14)
        (_two_users_graph, [35.0, 224.0]),
        # column sums 5, 7, 9 times 1, 2, 3
        (_permuted_reduce_graph, [5.0, 14.0, 27.0]),
        # transpose of [[1,2,3],[4,5,6]] with its rows reversed
        (_copy_of_view_graph, [3.0, 6.0, 2.0, 5.0, 1.0, 4.0]),
        # a*b = [[5,-12],[21,-32]], transposed, relu: [[5,21],[0,0]]; padded row of zeros; +1 and column sums
        (_padded_inline_graph, [1.0 + 6.0 + 1.0, 1.0 + 22.0 + 1.0]),
    ],
)
def test_rule_graphs_compute_the_right_values(build, hand):
    out = build()
    assert reference(out)[1] == hand  # the oracle agrees with the hand computation
    becomes = realize([out])
    assert view_values(becomes[out]) == hand
