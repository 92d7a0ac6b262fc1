"""Schedules of graphs with symbolic sizes: the schedule cache keys them with the Variables unbound (a new value
schedules and compiles nothing), buffers are allocated at the Variable's maximum, kernels get the values at
launch, the memory planner shares symbolic intermediates, and one Variable bound twice is refused."""

from __future__ import annotations

import pytest
from helpers import const, contents, leaf

from tg_runtime.counters import COUNTERS
from tg_schedule import CapturedRun, capture, create_schedule, realize, run_schedule
from tg_schedule.memory import plan_memory
from tg_schedule.schedule import SCHEDULES
from tg_uop import Ops, UOp, Variable
from tg_uop.bound import VariableConflict, concrete

MAX = 10
n = Variable("n", 1, MAX)
VALUES = list(range(1, MAX * 3 + 1))


def graph(k: int) -> UOp:
    """rows(n) of a (10, 3) buffer, times 2, summed over each row, plus 1: shape (n, 1)."""
    x = leaf([float(v) for v in VALUES], (MAX, 3)).shrink(((0, n.bind(k)), (0, 3)))
    return (x * const(2.0, (n.bind(k), 3))).reduce_axis(Ops.ADD, (1,)) + const(1.0, (n.bind(k), 1))


def rows_ref(k: int) -> list[float]:
    return [sum(VALUES[3 * i : 3 * i + 3]) * 2 + 1.0 for i in range(k)]


def test_new_values_hit_the_schedule_cache_and_compile_nothing() -> None:
    sched, becomes = create_schedule([g := graph(3)])
    run_schedule(sched)
    misses, before = SCHEDULES.misses, COUNTERS.snapshot()
    for k in (2, 5, 7, MAX):
        sched, becomes = create_schedule([g := graph(k)])
        assert [si.var_vals for si in sched if si.kind == "kernel"] == [{n: k}]
        run_schedule(sched)
        out = becomes[g]
        assert out.shape is not None and concrete(out.shape[0]) == k
        assert contents(out.base.arg)[:k] == rows_ref(k)
    assert SCHEDULES.misses == misses
    assert COUNTERS.since(before).compiles == 0


def test_buffers_are_allocated_at_the_maximum() -> None:
    sched, becomes = create_schedule([g := graph(4)])
    [si] = sched
    assert si.bufs[0].size == MAX  # (n, 1) allocated for n = 10
    assert becomes[g].shape == g.shape  # the result keeps the bound shape


def test_realize_returns_the_bound_view() -> None:
    for k in (1, 6, MAX):
        out = realize([g := graph(k)])[g]
        assert out.shape == (n.bind(k), 1)
        assert contents(out.base.arg)[:k] == rows_ref(k)


def test_one_variable_bound_to_two_values_is_refused() -> None:
    a, b = graph(3), graph(4)
    with pytest.raises(VariableConflict, match="'n' is bound to 3 and to 4"):
        create_schedule([a, b])


def test_captured_run_replays_with_other_values() -> None:
    with capture() as items:
        g = graph(3)
        realize([g])
    out = items[-1].outputs[0]
    run = CapturedRun(items, [], [out])
    for k in (2, 8, MAX):
        [got] = run.replay([], {n: k})
        assert contents(got)[:k] == rows_ref(k)


def test_memory_planner_shares_symbolic_intermediates() -> None:
    # two chained symbolic intermediates of one size: the third reuses the first one's memory
    x = leaf([float(v) for v in VALUES], (MAX * 3,)).shrink(((0, n.bind(5) * 3),))
    a = UOp(Ops.CONTIGUOUS, x.dtype, (x * const(2.0, x.shape),))
    b = UOp(Ops.CONTIGUOUS, x.dtype, (a + const(1.0, x.shape),))
    c = UOp(Ops.CONTIGUOUS, x.dtype, (b * const(3.0, x.shape),))
    sched, becomes = create_schedule([c + const(0.5, x.shape)])
    assert len(sched) >= 3
    planned = plan_memory(sched, {id(si.bufs[0]) for si in sched[-1:]})
    assert all(b.size == MAX * 3 for si in sched for b in si.bufs)  # every buffer at the maximum
    sizes = {id(b.base or b) for si in planned for b in si.bufs[:1]}
    assert len(sizes) < len(sched)  # memory was shared
    run_schedule(planned)
    assert contents(planned[-1].bufs[0])[:15] == [((v * 2 + 1) * 3) + 0.5 for v in VALUES[:15]]
