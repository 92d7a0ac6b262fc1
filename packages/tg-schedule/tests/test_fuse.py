"""Multi-output fusion (fuse.py): elementwise kernels of one shape realized together share one loop, when safe."""

from __future__ import annotations

from helpers import assign, const, contents, leaf, reference, view_values

from tg_schedule import create_schedule, run_schedule
from tg_uop import Ops, UOp, dtypes


def test_independent_outputs_of_one_shape_are_one_kernel():
    a, b = leaf([1.0, 2.0, 3.0, 4.0], (2, 2)), leaf([5.0, 6.0, 7.0, 8.0], (2, 2))
    x, y = a + b, a * b
    sched, becomes = create_schedule([x, y])
    assert [len(si.outputs) for si in sched] == [2]
    run_schedule(sched)
    assert view_values(becomes[x]) == [6.0, 8.0, 10.0, 12.0]
    assert view_values(becomes[y]) == [5.0, 12.0, 21.0, 32.0]


def test_outputs_of_different_shapes_stay_apart():
    a, b = leaf([1.0, 2.0, 3.0, 4.0]), leaf([1.0, 2.0, 3.0])
    sched, _ = create_schedule([a + a, b * b])
    assert [len(si.outputs) for si in sched] == [1, 1]


def test_independent_assigns_are_one_kernel():
    # an optimizer's m, v and parameter updates: three assigns of one shape, none reading another
    ts = [leaf([1.0, 2.0, 3.0]) for _ in range(3)]
    asgs = [assign(t, t * const(float(k + 2), (3,))) for k, t in enumerate(ts)]
    sched, _ = create_schedule(asgs)
    assert len(sched) == 1 and sched[0].assigns and len(sched[0].outputs) == 3
    run_schedule(sched)
    assert [contents(t.arg) for t in ts] == [[2.0, 4.0, 6.0], [3.0, 6.0, 9.0], [4.0, 8.0, 12.0]]


def test_read_at_another_element_is_not_fused():
    # y reads what the assign writes, flipped: sharing a loop would read elements already overwritten
    t = leaf([1.0, 2.0, 3.0, 4.0])
    asg = assign(t, t + const(1.0, (4,)))
    y = asg.flip((True,)) * const(2.0, (4,))
    sched, becomes = create_schedule([asg, y])
    assert len(sched) == 2
    run_schedule(sched)
    assert view_values(becomes[y]) == [10.0, 8.0, 6.0, 4.0]


def test_no_fusion_across_a_kernel_that_runs_between():
    # x -> total (a reduction reading x) -> y (reading total): x and y are of one shape, but y needs total,
    # which needs x: one kernel for x and y would have to run both before and after total
    a = leaf([1.0, 2.0, 3.0, 4.0])
    x = a + const(1.0, (4,))
    total = x.reduce_axis(Ops.ADD, (0,))
    y = a * total.expand((4,))
    sched, becomes = create_schedule([x, total, y])
    assert len(sched) == 3
    run_schedule(sched)
    assert view_values(becomes[y]) == [14.0, 28.0, 42.0, 56.0]


def test_intermediates_are_not_fused_independently():
    # two intermediates of one shape read by a reduction each: storing both from one loop would keep the first
    # alive longer than the planner needs, so only outputs the caller keeps (or assigns) share a loop
    a = leaf([1.0, 2.0, 3.0, 4.0])
    p = UOp(Ops.CONTIGUOUS, dtypes.float32, (a + const(1.0, (4,)),))
    q = UOp(Ops.CONTIGUOUS, dtypes.float32, (a * const(2.0, (4,)),))
    out = p.reduce_axis(Ops.ADD, (0,)) + q.reduce_axis(Ops.MAX, (0,))
    sched, becomes = create_schedule([out])
    assert all(len(si.outputs) == 1 for si in sched)
    run_schedule(sched)
    assert view_values(becomes[out]) == [22.0]


def test_reductions_of_one_input_over_one_axis_are_one_kernel():
    # a row's sum and sum of squares, and its max and min: one kernel reads each row for all four
    vals = [1.0, -2.0, 3.0, 4.0, 0.5, -6.0]
    x = leaf(vals, (2, 3))
    outs = [
        x.reduce_axis(Ops.ADD, (1,)),
        (x * x).reduce_axis(Ops.ADD, (1,)),
        x.reduce_axis(Ops.MAX, (1,)),
        x.alu(Ops.NEG).reduce_axis(Ops.MAX, (1,)),
    ]
    want = [reference(o)[1] for o in outs]
    sched, becomes = create_schedule(outs)
    assert [len(si.outputs) for si in sched] == [4]
    run_schedule(sched)
    assert [view_values(becomes[o]) for o in outs] == want


def test_reductions_of_different_inputs_or_axes_stay_apart():
    x, y = leaf([1.0, 2.0, 3.0, 4.0], (2, 2)), leaf([5.0, 6.0, 7.0, 8.0], (2, 2))
    sched, _ = create_schedule([x.reduce_axis(Ops.ADD, (1,)), y.reduce_axis(Ops.ADD, (1,))])
    assert [len(si.outputs) for si in sched] == [1, 1]
    sched, _ = create_schedule([x.reduce_axis(Ops.ADD, (1,)), x.reduce_axis(Ops.ADD, (0,))])
    assert [len(si.outputs) for si in sched] == [1, 1]


def test_a_reduction_reading_another_is_not_fused_with_it():
    # the total of the row sums reads them: it must run after them, not in their loop
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    rows = x.reduce_axis(Ops.ADD, (1,))
    total = (rows * const(2.0, (2, 1))).reduce_axis(Ops.ADD, (0,))
    sched, becomes = create_schedule([rows, total])
    assert len(sched) == 2
    run_schedule(sched)
    assert view_values(becomes[total]) == [42.0]
