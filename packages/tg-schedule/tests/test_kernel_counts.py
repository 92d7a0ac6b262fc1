"""create_schedule: how many kernels a graph becomes, and that running them gives the right numbers."""

from __future__ import annotations

import pytest
from helpers import close, const, contents, leaf, reference, view_values, workgroup_device

from tg_runtime import Buffer
from tg_schedule import ScheduleItem, create_schedule, realize, run_schedule
from tg_uop import Ops, UOp, dtypes


def kinds(sched: list[ScheduleItem]) -> list[str]:
    return [si.kind for si in sched]


def check_becomes(out: UOp, becomes: dict[UOp, UOp]) -> UOp:
    """What `out` becomes is a view of a BUFFER with out's shape and dtype."""
    view = becomes[out]
    assert view.base.op is Ops.BUFFER
    assert isinstance(view.base.arg, Buffer)
    assert view.shape == out.shape
    assert view.dtype == out.dtype
    return view


A_VALS = [1.0, -2.0, 3.0, -4.0, 5.0, -6.0]
B_VALS = [0.5, 1.5, -3.5, 2.0, -7.0, 1.0]


def relu_sum_graph() -> UOp:
    a, b = leaf(A_VALS, (2, 3)), leaf(B_VALS, (2, 3))
    return (a + b).alu(Ops.MAX, const(0.0, (2, 3))).reduce_axis(Ops.ADD, (0, 1))


def test_add_relu_sum_is_one_kernel():
    out = relu_sum_graph()
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    assert sched[0].assigns is False
    run_schedule(sched)
    view = check_becomes(out, becomes)
    assert view.shape == (1, 1)
    expected = sum(max(x + y, 0.0) for x, y in zip(A_VALS, B_VALS))
    assert close(view_values(view), [expected])


def test_kernel_output_buffer_is_the_item_output():
    out = relu_sum_graph()
    sched, becomes = create_schedule([out])
    (si,) = sched
    assert len(si.outputs) == 1
    assert becomes[out].base.arg is si.outputs[0]
    assert si.outputs[0].size == 1 and si.outputs[0].dtype == dtypes.float32
    # the two inputs are parameters after the output
    assert len(si.bufs) == 3
    run_schedule(sched)
    assert close(contents(si.outputs[0]), reference(out)[1])


def test_movement_chain_on_realized_buffer_is_zero_kernels():
    vals = [float(i) for i in range(12)]
    x = leaf(vals)
    out = x.reshape((3, 4)).permute((1, 0)).shrink(((1, 4), (0, 2))).flip((True, False)).pad(((1, 0), (0, 1)))
    expected = reference(out)
    sched, becomes = create_schedule([out])
    assert sched == []
    # nothing to compute: the output stays a view of the very same buffer
    assert becomes[out] is out
    assert becomes[out].base is x
    assert expected[0] == (4, 3)
    # hand-computed: x as 3x4, transposed (4x3), rows 1..3 cols 0..1, rows flipped, padded one row above, one col right
    rows = [[vals[c * 4 + r] for c in range(2)] for r in range(1, 4)][::-1]
    hand = [0.0, 0.0, 0.0] + [v for row in rows for v in [*row, 0.0]]
    assert view_values(becomes[out]) == hand == expected[1]


def test_bare_buffer_output_is_zero_kernels():
    x = leaf([1.0, 2.0])
    sched, becomes = create_schedule([x])
    assert sched == [] and becomes[x] is x


def matmul(a: UOp, b: UOp, n: int, k: int, m: int) -> UOp:
    """(n, k) @ (k, m) as expand + mul + reduce over k."""
    left = a.reshape((n, k, 1)).expand((n, k, m))
    right = b.reshape((1, k, m)).expand((n, k, m))
    return (left * right).reduce_axis(Ops.ADD, (1,)).reshape((n, m))


def test_matmul_is_one_kernel_and_correct():
    n, k, m = 2, 3, 4
    av = [float(i - 2) for i in range(n * k)]
    bv = [float((3 * i) % 5 - 1) for i in range(k * m)]
    out = matmul(leaf(av, (n, k)), leaf(bv, (k, m)), n, k, m)
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    view = check_becomes(out, becomes)
    expected = [sum(av[i * k + j] * bv[j * m + c] for j in range(k)) for i in range(n) for c in range(m)]
    assert view.shape == (n, m)
    assert view_values(view) == expected


def test_matmul_of_transposed_input():
    # A^T @ B with A stored as (k, n): the permute folds into the load's view, still one kernel
    n, k, m = 3, 2, 2
    at = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # (k, n)
    bv = [1.0, -1.0, 2.0, 0.5]  # (k, m)
    out = matmul(leaf(at, (k, n)).permute((1, 0)), leaf(bv, (k, m)), n, k, m)
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    expected = [sum(at[j * n + i] * bv[j * m + c] for j in range(k)) for i in range(n) for c in range(m)]
    assert view_values(becomes[out]) == expected


@pytest.mark.parametrize("device", ["CPU", "CL"])
def test_x_minus_max_is_one_kernel(device):
    # each row's maximum is computed in the kernel that stores the row (README: row broadcasts); on CL the row's
    # work-items share it through local memory (tg_codegen.heuristic's row groups)
    device = workgroup_device() if device == "CL" else device
    vals = [1.0, 5.0, 2.0, 7.0, 3.0, 0.0]
    x = leaf(vals, (2, 3), device=device)
    out = x - x.reduce_axis(Ops.MAX, (1,)).expand((2, 3))
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    rows = [vals[:3], vals[3:]]
    assert view_values(check_becomes(out, becomes)) == [v - max(r) for r in rows for v in r]


def test_x_minus_max_is_two_kernels_on_a_workgroup_device():
    # a row of 4099 (a prime) has no split into a work-group (row_group_split): the reduction is realized first
    row = 4099
    vals = [float((i * 7) % 11) for i in range(2 * row)]
    x = leaf(vals, (2, row), device=workgroup_device())
    mx = x.reduce_axis(Ops.MAX, (1,))
    out = x - mx.expand((2, row))
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel", "kernel"]
    # the reduction runs first and its (2, 1) result is what the second kernel reads
    assert sched[0].outputs[0].size == 2
    assert sched[0].outputs[0] in sched[1].bufs[1:]
    run_schedule(sched)
    rows = [vals[:row], vals[row:]]
    assert contents(sched[0].outputs[0]) == [max(r) for r in rows]
    assert view_values(check_becomes(out, becomes)) == [v - max(r) for r in rows for v in r]


def test_reduce_without_movement_fuses_its_elementwise_epilogue():
    x = leaf([1.0, 2.0, 3.0, 4.0], (2, 2))
    out = x.reduce_axis(Ops.ADD, (1,)).alu(Ops.MUL, const(3.0, (2, 1))).alu(Ops.MAX, const(8.0, (2, 1)))
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    assert view_values(becomes[out]) == [max(3 * 3.0, 8.0), max(3 * 7.0, 8.0)]


def test_copy_from_python_device_is_a_copy_item():
    src = leaf([1.0, 2.0, 3.0], device="PYTHON")
    out = UOp(Ops.COPY, dtypes.float32, (src,), arg="CPU")
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["copy"]
    (si,) = sched
    assert si.ast is out
    dst, source = si.bufs
    assert source is src.arg
    assert dst.device == "CPU" and dst.size == 3 and dst.dtype == dtypes.float32
    assert si.outputs == (dst,)
    run_schedule(sched)
    view = check_becomes(out, becomes)
    assert view.base.arg is dst
    assert view.device == "CPU"
    assert contents(dst) == [1.0, 2.0, 3.0]


def test_copy_then_compute_on_the_destination():
    src = leaf([1.0, 2.0, 3.0], (3, 1), device="PYTHON")
    out = UOp(Ops.COPY, dtypes.float32, (src,), arg="CPU") * const(2.0, (3, 1))
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["copy", "kernel"]
    assert sched[1].bufs[0].device == "CPU"
    run_schedule(sched)
    assert view_values(becomes[out]) == [2.0, 4.0, 6.0]


def test_contiguous_forces_a_kernel():
    vals = [float(i) for i in range(6)]
    x = leaf(vals, (2, 3))
    out = UOp(Ops.CONTIGUOUS, dtypes.float32, (x.permute((1, 0)),))
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    view = check_becomes(out, becomes)
    assert view.base is not x.base
    # the new buffer holds the transposed values in row-major order
    assert contents(view.base.arg) == [vals[c * 3 + r] for r in range(3) for c in range(2)]


def test_contiguous_splits_a_fused_graph():
    a, b = leaf(A_VALS, (2, 3)), leaf(B_VALS, (2, 3))
    fused = (a * b).reduce_axis(Ops.ADD, (1,))
    split = UOp(Ops.CONTIGUOUS, dtypes.float32, (a * b,)).reduce_axis(Ops.ADD, (1,))
    assert kinds(create_schedule([fused])[0]) == ["kernel"]
    sched, becomes = create_schedule([split])
    assert kinds(sched) == ["kernel", "kernel"]
    run_schedule(sched)
    prods = [x * y for x, y in zip(A_VALS, B_VALS)]
    assert close(view_values(becomes[split]), [sum(prods[:3]), sum(prods[3:])])


def test_broadcast_constant_output_is_realized():
    out = const(3.5, (2, 2))
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    view = check_becomes(out, becomes)
    assert contents(view.base.arg) == [3.5] * 4


def test_several_outputs_share_a_realized_value():
    a, b = leaf([1.0, 2.0, 3.0, 4.0]), leaf([5.0, 6.0, 7.0, 8.0])
    s = a + b
    doubled = s * const(2.0, (4,))
    sched, becomes = create_schedule([s, doubled])
    # one kernel stores both: the second value is computed from the first one's, in the same loop
    assert kinds(sched) == ["kernel"] and len(sched[0].outputs) == 2
    run_schedule(sched)
    assert view_values(becomes[s]) == [6.0, 8.0, 10.0, 12.0]
    assert view_values(becomes[doubled]) == [12.0, 16.0, 20.0, 24.0]


def test_same_output_twice_is_computed_once():
    a = leaf([1.0, 2.0])
    s = a + a
    sched, becomes = create_schedule([s, s])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    assert view_values(becomes[s]) == [2.0, 4.0]


def test_permuted_reduce_output_is_a_view_of_its_buffer():
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    out = x.reduce_axis(Ops.ADD, (0,)).permute((1, 0))
    sched, becomes = create_schedule([out])
    assert kinds(sched) == ["kernel"]
    run_schedule(sched)
    view = check_becomes(out, becomes)
    assert view.op is Ops.PERMUTE and view.shape == (3, 1)
    assert view_values(view) == [5.0, 7.0, 9.0]


def test_int32_reduction():
    vals = [3, -1, 4, 1, -5, 9]
    x = leaf(vals, (2, 3), dtype=dtypes.int32)
    out = x.reduce_axis(Ops.ADD, (1,))
    becomes = realize([out])
    view = check_becomes(out, becomes)
    assert view.dtype == dtypes.int32
    assert view_values(view) == [6, 5]


def test_realize_returns_becomes_and_runs():
    out = relu_sum_graph()
    expected = reference(out)[1]
    becomes = realize([out])
    assert set(becomes) == {out}
    assert close(view_values(check_becomes(out, becomes)), expected)


def test_run_schedule_of_nothing():
    assert run_schedule([]) == 0.0


def test_unknown_device_is_refused():
    # a constant not placed on any device: the scheduler cannot tell where to compute it
    out = UOp.const(dtypes.float32, 1.0).reshape((1,)).expand((3,))
    with pytest.raises(ValueError, match="device"):
        create_schedule([out])
