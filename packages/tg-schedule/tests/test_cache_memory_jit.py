"""The schedule cache, the memory planner and JIT capture (with side-effect assigns)."""

from __future__ import annotations

import pytest
from helpers import const, contents, leaf, view_values

from tg_runtime import Device
from tg_schedule import CapturedRun, capture, create_schedule, realize, run_schedule
from tg_schedule.schedule import SCHEDULES
from tg_uop import Ops, UOp, dtypes


def assign(t: UOp, v: UOp) -> UOp:
    return UOp(Ops.ASSIGN, v.dtype, (t, v))


def step_graph(values: list[float]) -> UOp:
    x = leaf(values, (2, 3))
    return (x * const(2.0, (2, 3))).reduce_axis(Ops.ADD, (1,)) + const(1.0, (2, 1))


# ---- schedule cache ----


def test_same_structure_with_new_buffers_hits_the_cache_and_uses_the_new_buffers() -> None:
    first = step_graph([1, 2, 3, 4, 5, 6])
    _, becomes = create_schedule([first])  # a miss (or an earlier test's entry) fills the cache
    hits = SCHEDULES.hits
    second = step_graph([10, 20, 30, 40, 50, 60])
    sched, becomes = create_schedule([second])
    assert SCHEDULES.hits == hits + 1
    run_schedule(sched)
    assert view_values(becomes[second]) == [121.0, 301.0]


def test_a_different_structure_misses() -> None:
    create_schedule([step_graph([1, 2, 3, 4, 5, 6])])
    misses = SCHEDULES.misses
    x = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3))
    create_schedule([(x * const(3.0, (2, 3))).reduce_axis(Ops.MAX, (1,))])
    assert SCHEDULES.misses == misses + 1


def test_cached_schedules_keep_buffer_identities() -> None:
    # the same buffer read twice, and an assign into an input: slots must map back to the right buffers
    for values in ([1.0, 2.0], [5.0, 7.0]):
        t = leaf(values)
        out = assign(t, t + t)
        sched, becomes = create_schedule([out])
        run_schedule(sched)
        assert contents(t.arg) == [2 * v for v in values]
        assert view_values(becomes[out]) == [2 * v for v in values]


def test_each_use_of_a_cached_schedule_gets_fresh_intermediates() -> None:
    outs = []
    for values in ([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]):
        g = step_graph(values)
        sched, becomes = create_schedule([g])
        run_schedule(sched)
        outs.append(becomes[g])
    assert outs[0].base.arg is not outs[1].base.arg
    assert view_values(outs[0]) == [13.0, 31.0] and view_values(outs[1]) == [31.0, 13.0]


# ---- memory planning ----


def test_a_long_chain_of_realized_intermediates_reuses_memory() -> None:
    n = 64 * 64
    x = leaf([0.5] * n)
    y = x
    for _ in range(20):
        y = UOp(Ops.CONTIGUOUS, dtypes.float32, (y * const(1.5, (n,)) + const(1.0, (n,)),))
    sched, becomes = create_schedule([y])
    assert sum(si.kind == "kernel" for si in sched) == 20
    alloc = Device["CPU"].allocator
    alloc.free_cache()
    before = alloc.in_use
    alloc.peak = alloc.in_use
    run_schedule(sched)
    # the largest live set is two intermediates (one read, one written) plus the output
    assert alloc.peak - before <= 3 * n * 4
    expected = 0.5
    for _ in range(20):
        expected = expected * 1.5 + 1.0
    got = view_values(becomes[y])
    assert all(abs(v - expected) <= 1e-3 * expected for v in got)


def test_planned_buffers_never_overlap_while_both_are_needed() -> None:
    a = leaf([1.0, 2.0, 3.0, 4.0])
    p = UOp(Ops.CONTIGUOUS, dtypes.float32, (a + const(1.0, (4,)),))
    q = UOp(Ops.CONTIGUOUS, dtypes.float32, (a * const(10.0, (4,)),))
    out = p + q  # p and q are both alive when out runs
    sched, becomes = create_schedule([out])
    bufs = {id(si.outputs[0]) for si in sched if si.kind == "kernel"}
    assert len(bufs) == len([si for si in sched if si.kind == "kernel"])
    run_schedule(sched)
    assert view_values(becomes[out]) == [12.0, 23.0, 34.0, 45.0]


# ---- JIT capture ----


def test_replay_swaps_the_input_and_repeats_side_effect_assigns() -> None:
    x = leaf([1.0, 2.0, 3.0])
    running = leaf([0.0, 0.0, 0.0])
    # the output does not depend on the running update: it is a side effect that must still replay
    update = assign(running, running * const(0.5, (3,)) + x)
    out = x * const(2.0, (3,))
    with capture() as items:
        becomes = realize([out, update])
    jit = CapturedRun(items, [x.arg])
    expected_running = [1.0, 2.0, 3.0]
    for step in range(10):
        new_x = leaf([float(step), float(step + 1), float(step + 2)])
        jit.replay([new_x.arg])
        new = contents(new_x.arg)
        expected_running = [r * 0.5 + v for r, v in zip(expected_running, new, strict=True)]
        assert view_values(becomes[out]) == [2 * v for v in new]
        assert contents(running.arg) == pytest.approx(expected_running)


def test_replay_refuses_inputs_of_another_size() -> None:
    x = leaf([1.0, 2.0])
    with capture() as items:
        realize([x * const(2.0, (2,))])
    with pytest.raises(ValueError, match="captured"):
        CapturedRun(items, [x.arg]).replay([leaf([1.0, 2.0, 3.0]).arg])


def test_replay_writes_the_captured_outputs_and_returns_copies() -> None:
    x = leaf([1.0, 2.0])
    with capture() as items:
        becomes = realize([x * const(3.0, (2,))])
    out = next(iter(becomes.values())).base.arg
    run = CapturedRun(items, [x.arg], fresh=[out])
    made = [run.replay([leaf([float(i), 1.0]).arg])[0] for i in range(4)]
    assert [contents(b) for b in made] == [[0.0, 3.0], [3.0, 3.0], [6.0, 3.0], [9.0, 3.0]]  # none overwritten
    assert all(b is not out for b in made)
    assert contents(out) == [9.0, 3.0]  # the captured buffer follows the last replay (state refers to it)


# ---- a run that fails writes nothing ----


def test_a_failed_allocation_stops_the_schedule_before_any_write() -> None:
    target = leaf([1.0, 2.0])
    update = assign(target, target + const(1.0, (2,)))
    huge = const(1.0, (2**48,)) + const(2.0, (2**48,))
    with pytest.raises(MemoryError):
        realize([update, huge])
    assert contents(target.arg) == [1.0, 2.0]
