"""Regressions: each test reproduces a bug found while the suite was written (now fixed)."""

import pytest
from helpers import const, contents, leaf, view_values

from tg_schedule import create_schedule, realize, run_schedule
from tg_uop import Ops, UOp, dtypes


def assign(t, v):
    return UOp(Ops.ASSIGN, v.dtype, (t, v))


# B1 (tg_schedule.kernelize.build_ast / schedule.create_schedule)
def test_reading_an_assign_into_a_view_loads_through_that_view():
    t = leaf([0.0] * 6)
    target = t.reshape((2, 3)).shrink(((0, 2), (1, 3)))
    out = assign(target, const(7.0, (2, 2))) + const(1.0, (2, 2))
    becomes = realize([out])
    assert contents(t.arg) == [0.0, 7.0, 7.0, 0.0, 7.0, 7.0]
    assert view_values(becomes[out]) == [8.0, 8.0, 8.0, 8.0]  # was: [1.0, 8.0, 8.0, 1.0]


# B2 (tg_schedule.schedule.order_items)
def test_kernel_reading_old_and_new_contents_is_not_silently_wrong():
    t = leaf([1.0, 2.0, 3.0, 4.0])
    out = assign(t, t + const(10.0, (4,))) + t  # new + old
    try:
        sched, becomes = create_schedule([out])
    except RuntimeError:
        return  # the documented refusal is acceptable
    run_schedule(sched)
    assert view_values(becomes[out]) == [12.0, 14.0, 16.0, 18.0]  # was: [2.0, 4.0, 6.0, 8.0]


# B3 (tg_schedule.schedule.create_schedule: in-place hazard)
def test_assign_reading_its_own_target_through_another_view():
    t = leaf([1.0, 2.0, 3.0, 4.0])
    realize([assign(t, t.flip((True,)))])
    assert contents(t.arg) == [4.0, 3.0, 2.0, 1.0]  # was: [4.0, 3.0, 3.0, 4.0]


# B4 (tg_schedule.kernelize._push_through)
def test_movement_after_pad_of_unsafe_op_folds():
    x = leaf([1.0, 4.0])
    out = UOp(Ops.CONTIGUOUS, dtypes.float32, (x.alu(Ops.RECIP).pad(((1, 0),)).flip((True,)),))
    becomes = realize([out])  # was: AssertionError: movement ops [Ops.FLIP] could not be folded into views
    assert view_values(becomes[out]) == [0.25, 1.0, 0.0]


# B5 (tg_codegen.lower.merge_dims): a reduce over an axis of size 1
@pytest.mark.parametrize("device", ["CPU", "PYTHON"])
def test_reduce_over_a_size_one_axis(device):
    x = leaf([1.0, 2.0], (1, 2), device=device)
    out = x.reduce_axis(Ops.ADD, (0,))
    assert view_values(realize([out])[out]) == [1.0, 2.0]  # was: [3.0, 3.0]


# B6 (tg_codegen.lower.merge_dims): two reductions over different axes fused in one kernel
@pytest.mark.parametrize("device", ["CPU", "PYTHON"])
def test_sum_then_max_in_one_kernel(device):
    x = leaf([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], (2, 3), device=device)
    out = x.reduce_axis(Ops.ADD, (1,)).reduce_axis(Ops.MAX, (0,))
    assert view_values(realize([out])[out]) == [12.0]  # was: [15.0] (sum of everything)


# B7 (tg_codegen.linearize._Linearizer.reduce): nested reductions with the same op share an accumulator
def test_nested_max_reductions_get_two_accumulators():
    x = leaf([1.0, 9.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], (2, 2, 2))
    # the shrink keeps the axes from being merged, so the two reductions stay nested loops
    out = x.shrink(((0, 2), (0, 1), (0, 2))).reduce_axis(Ops.MAX, (2,)).reduce_axis(Ops.MAX, (0,))
    assert view_values(realize([out])[out]) == [9.0]  # actual on CPU: CompileError 'acc1' undeclared


# B8 (tg_schedule.kernelize.find_realizes): "read by more than one node" counts edges
def test_reduce_read_twice_by_one_node_is_fused():
    x = leaf([1.0, 2.0, 3.0, 4.0], (2, 2))
    s = x.reduce_axis(Ops.ADD, (1,))
    sched, _ = create_schedule([s * s])
    assert len(sched) == 1  # was: 2 (the reduce gets its own kernel)
