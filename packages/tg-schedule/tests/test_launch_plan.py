"""JIT replays through a LaunchPlan: new input buffers and variable values at every replay (never the captured
ones), the plan built once, and replays inside an open capture recorded item by item as before."""

from __future__ import annotations

import struct

from helpers import const, contents, leaf

from tg_runtime import Buffer
from tg_schedule import CapturedRun, capture, realize
from tg_uop import Ops, Variable, dtypes

MAX = 6
n = Variable("n", 1, MAX)


def captured(k: int) -> tuple[CapturedRun, Buffer, int]:
    """Row sums of 2*x over the first n rows of a (MAX, 3) input, plus 1, captured at n = k."""
    x = leaf([float(v) for v in range(MAX * 3)], (MAX, 3))
    rows = x.shrink(((0, n.bind(k)), (0, 3)))
    graph = (rows * const(2.0, (n.bind(k), 3))).reduce_axis(Ops.ADD, (1,)) + const(1.0, (n.bind(k), 1))
    with capture() as items:
        out = realize([graph])[graph].base.arg
    return CapturedRun(items, [x.base.arg], fresh=[out]), out, len(items)


def new_input(values: list[float]) -> Buffer:
    return Buffer("CPU", len(values), dtypes.float).copyin(memoryview(struct.pack(f"{len(values)}f", *values)))


def test_replays_use_each_calls_input_and_variable_values() -> None:
    run, _, _ = captured(2)
    for j, scale in ((1, 1.0), (4, -2.0), (6, 0.5), (3, 3.0)):
        values = [scale * v for v in range(MAX * 3)]
        [out] = run.replay([new_input(values)], {n: j})
        want = [2 * sum(values[3 * r : 3 * r + 3]) + 1 for r in range(j)]
        assert contents(out)[:j] == want
    assert run.planned and run.plan is not None and len(run.plan.launches) >= 1


def test_a_replay_inside_a_capture_is_recorded() -> None:
    run, _, count = captured(3)
    values = [float(v % 4) for v in range(MAX * 3)]
    with capture() as log:
        [out] = run.replay([new_input(values)], {n: 5})
    assert len(log) == count
    assert contents(out)[:5] == [2 * sum(values[3 * r : 3 * r + 3]) + 1 for r in range(5)]


def test_variables_not_given_keep_their_captured_values() -> None:
    run, _, _ = captured(4)
    values = [1.0] * (MAX * 3)
    [out] = run.replay([new_input(values)])
    assert contents(out)[:4] == [7.0] * 4
