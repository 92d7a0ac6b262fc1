"""ASSIGN: writing into an existing buffer, and ordering it after the kernels that read the old contents."""

from __future__ import annotations

import pytest
from helpers import assign, const, contents, leaf, view_values

from tg_schedule import create_schedule, realize, run_schedule
from tg_uop import Ops, UOp, dtypes


def test_assign_writes_into_the_target_buffer():
    t = leaf([1.0, 2.0, 3.0, 4.0])
    buf = t.arg
    asg = assign(t, t * const(3.0, (4,)) + const(1.0, (4,)))
    sched, becomes = create_schedule([asg])
    assert [si.kind for si in sched] == ["kernel"]
    (si,) = sched
    assert si.assigns is True
    assert si.outputs == (buf,)  # the output is the existing buffer, not a new one
    run_schedule(sched)
    assert contents(buf) == [4.0, 7.0, 10.0, 13.0]
    # what the ASSIGN becomes is its target, a view of the same buffer
    assert becomes[asg] is t
    assert view_values(becomes[asg]) == [4.0, 7.0, 10.0, 13.0]


def test_assign_of_another_buffer():
    t, src = leaf([0.0, 0.0, 0.0]), leaf([7.0, 8.0, 9.0])
    realize([assign(t, src)])
    assert contents(t.arg) == [7.0, 8.0, 9.0]
    assert contents(src.arg) == [7.0, 8.0, 9.0]


def test_assign_through_a_view_writes_only_the_view():
    t = leaf([0.0] * 6)
    target = t.reshape((2, 3)).shrink(((0, 2), (1, 3)))
    asg = assign(target, leaf([1.0, 2.0, 3.0, 4.0], (2, 2)))
    becomes = realize([asg])
    assert contents(t.arg) == [0.0, 1.0, 2.0, 0.0, 3.0, 4.0]
    assert becomes[asg] is target
    assert view_values(becomes[asg]) == [1.0, 2.0, 3.0, 4.0]


def test_assign_through_a_permuted_view():
    t = leaf([0.0] * 6)
    target = t.reshape((2, 3)).permute((1, 0))  # (3, 2)
    realize([assign(target, leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (3, 2)))])
    # element (i, j) of the (3, 2) value lands at (j, i) of the (2, 3) buffer
    assert contents(t.arg) == [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize("assign_first", [True, False])
def test_reader_of_the_old_contents_runs_before_the_assign(assign_first):
    t = leaf([1.0, 2.0, 3.0, 4.0])
    buf = t.arg
    asg = assign(t, t + const(10.0, (4,)))
    reader = t * const(2.0, (4,))  # reads the buffer as it was before this schedule
    outs = [asg, reader] if assign_first else [reader, asg]
    sched, becomes = create_schedule(outs)
    # both read the old element where the assign writes it: one kernel, the reader's store first
    assert [si.kind for si in sched] == ["kernel"]
    assert [si.assigns for si in sched] == [True]
    (item,) = sched
    assert len(item.outputs) == 2 and item.outputs[1] is buf
    assert item.outputs[0] is not buf
    run_schedule(sched)
    assert contents(buf) == [11.0, 12.0, 13.0, 14.0]
    assert view_values(becomes[reader]) == [2.0, 4.0, 6.0, 8.0]
    assert view_values(becomes[asg]) == [11.0, 12.0, 13.0, 14.0]


def test_reduction_of_the_old_contents_runs_before_the_assign():
    t = leaf([1.0, 5.0, 2.0, 4.0])
    buf = t.arg
    asg = assign(t, t - t.reduce_axis(Ops.MAX, (0,)).expand((4,)))
    sched, _ = create_schedule([asg])
    assert [si.kind for si in sched] == ["kernel", "kernel"]
    assert [si.assigns for si in sched] == [False, True]
    run_schedule(sched)
    assert contents(buf) == [-4.0, 0.0, -3.0, -1.0]


def test_several_readers_all_run_before_the_assign():
    t = leaf([1.0, 2.0, 3.0])
    buf = t.arg
    total = t.reduce_axis(Ops.ADD, (0,))
    neg = t.alu(Ops.NEG)
    asg = assign(t, const(0.0, (3,)))
    sched, becomes = create_schedule([total, asg, neg])
    assert [si.assigns for si in sched][-1] is True
    assert sum(si.assigns for si in sched) == 1
    run_schedule(sched)
    assert contents(buf) == [0.0, 0.0, 0.0]
    assert view_values(becomes[total]) == [6.0]
    assert view_values(becomes[neg]) == [-1.0, -2.0, -3.0]


def test_reader_of_the_assigned_value_runs_after_the_assign():
    t = leaf([1.0, 2.0, 3.0, 4.0])
    asg = assign(t, t * const(2.0, (4,)))
    after = asg + const(1.0, (4,))  # reads the new contents
    sched, becomes = create_schedule([after])
    # one elementwise kernel stores both: the new contents of t, and the reader's value computed from them
    assert len(sched) == 1 and sched[0].assigns and len(sched[0].outputs) == 2
    assert sched[0].outputs[0] is t.arg
    run_schedule(sched)
    assert contents(t.arg) == [2.0, 4.0, 6.0, 8.0]
    assert view_values(becomes[after]) == [3.0, 5.0, 7.0, 9.0]


def test_two_assigns_to_different_buffers():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    sched, _ = create_schedule([assign(a, a + b), assign(b, b * b)])
    # each assign reads the other's buffer's old contents: a's kernel must run before b is overwritten
    run_schedule(sched)
    assert contents(a.arg) == [4.0, 6.0]
    assert contents(b.arg) == [9.0, 16.0]


def test_assign_target_must_be_a_view_of_a_buffer():
    a = leaf([1.0, 2.0])
    bad = assign(a + a, leaf([3.0, 4.0]))
    with pytest.raises(ValueError, match="assign"):
        create_schedule([bad])


def test_assign_item_kind_and_dtype():
    t = leaf([1, 2, 3], dtype=dtypes.int32)
    asg = assign(t, t * const(5, (3,), dtype=dtypes.int32))
    sched, _ = create_schedule([asg])
    assert sched[0].kind == "kernel" and sched[0].assigns
    assert sched[0].outputs[0].dtype == dtypes.int32
    run_schedule(sched)
    assert contents(t.arg) == [5, 10, 15]


def test_readers_through_views_and_reductions_all_see_the_old_contents():
    t = leaf([1.0, 2.0, 3.0, 4.0])
    old = [1.0, 2.0, 3.0, 4.0]
    # the new value: each element plus the sum of its row of the (2, 2) view
    row_sums = t.reshape((2, 2)).reduce_axis(Ops.ADD, (1,)).expand((2, 2)).reshape((4,))
    asg = assign(t, row_sums + t)
    transposed = t.reshape((2, 2)).permute((1, 0)) * const(2.0, (2, 2))
    flipped = UOp(Ops.CONTIGUOUS, dtypes.float32, (t.flip((True,)),))
    biggest = t.reduce_axis(Ops.MAX, (0,))
    sched, becomes = create_schedule([asg, transposed, flipped, biggest])
    assert [si.assigns for si in sched].index(True) == len(sched) - 1
    run_schedule(sched)
    assert contents(t.arg) == [3.0 + 1.0, 3.0 + 2.0, 7.0 + 3.0, 7.0 + 4.0]
    assert view_values(becomes[transposed]) == [2 * old[0], 2 * old[2], 2 * old[1], 2 * old[3]]
    assert view_values(becomes[flipped]) == old[::-1]
    assert view_values(becomes[biggest]) == [max(old)]


def test_two_assigns_into_halves_of_one_buffer():
    t = leaf([0.0] * 4)
    first = assign(t.shrink(((0, 2),)), leaf([1.0, 2.0]))
    second = assign(t.shrink(((2, 4),)), leaf([3.0, 4.0]))
    sched, _ = create_schedule([first, second])
    assert [si.assigns for si in sched] == [True, True]
    run_schedule(sched)
    assert contents(t.arg) == [1.0, 2.0, 3.0, 4.0]


def test_assign_of_a_value_that_reads_an_earlier_assign():
    t = leaf([0.0, 0.0, 0.0])
    inner = assign(t, leaf([1.0, 2.0, 3.0]))
    outer = assign(t, inner * const(2.0, (3,)))
    sched, _ = create_schedule([outer])
    assert [si.assigns for si in sched] == [True, True]
    run_schedule(sched)
    assert contents(t.arg) == [2.0, 4.0, 6.0]
