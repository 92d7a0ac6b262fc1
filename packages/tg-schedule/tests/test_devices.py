"""The same tensor graph on the PYTHON device (the reference interpreter of loop programs) and on CPU."""

from __future__ import annotations

import pytest
from helpers import close, const, contents, leaf, reference, view_values

from tg_schedule import ScheduleItem, create_schedule, realize, run_item, run_schedule
from tg_uop import Ops, UOp, dtypes

X = [0.5, -1.0, 2.0, 3.0, -2.5, 1.0]
W = [1.0, 2.0, -1.0, 0.5, 0.0, 3.0]


def softmaxish(device: str) -> UOp:
    """x - max(x) per row, times w, relu, summed per row: one kernel with two reduction loops per row (two
    kernels on a work-group device)."""
    x = leaf(X, (2, 3), device=device)
    w = leaf(W, (3, 2), device=device).permute((1, 0))
    shifted = x - x.reduce_axis(Ops.MAX, (1,)).expand((2, 3))
    return (shifted * w).alu(Ops.MAX, const(-1.0, (2, 3), device=device)).reduce_axis(Ops.ADD, (1,))


def matmul(device: str) -> UOp:
    a = leaf([1.0, 2.0, 3.0, 4.0], (2, 2), device=device)
    b = leaf([0.5, -1.0, 2.0, 1.5], (2, 2), device=device)
    return (a.reshape((2, 2, 1)).expand((2, 2, 2)) * b.reshape((1, 2, 2)).expand((2, 2, 2))).reduce_axis(Ops.ADD, (1,))


def padded(device: str) -> UOp:
    # a comparison does not map 0 to 0: the padded area must still read 0
    x = leaf([1.0, 4.0, 2.0, 5.0], (2, 2), device=device)
    lt = (x < const(3.0, (2, 2), device=device)).cast(dtypes.float32)
    return lt.pad(((1, 0), (0, 1))) + const(0.25, (3, 3), device=device)


@pytest.mark.parametrize("build", [softmaxish, matmul, padded])
def test_python_device_matches_cpu(build):
    on_cpu, on_python = build("CPU"), build("PYTHON")
    expected = reference(on_cpu)[1]
    assert reference(on_python)[1] == expected
    cpu_sched, cpu_becomes = create_schedule([on_cpu])
    py_sched, py_becomes = create_schedule([on_python])
    assert [si.kind for si in cpu_sched] == [si.kind for si in py_sched]
    assert all(b.device == "PYTHON" for si in py_sched for b in si.bufs)
    run_schedule(cpu_sched)
    run_schedule(py_sched)
    cpu_vals = view_values(cpu_becomes[on_cpu])
    py_vals = view_values(py_becomes[on_python])
    assert close(cpu_vals, expected)
    assert close(py_vals, cpu_vals)


def test_softmaxish_by_hand():
    rows = [X[:3], X[3:]]
    wt = [[W[r * 2 + c] for r in range(3)] for c in range(2)]  # w transposed: (2, 3)
    hand = [sum(max((v - max(row)) * wt[i][j], -1.0) for j, v in enumerate(row)) for i, row in enumerate(rows)]
    assert close(reference(softmaxish("CPU"))[1], hand)


def test_copy_round_trip_between_devices():
    src = leaf([1.0, 2.0, 3.0], device="PYTHON")
    on_cpu = UOp(Ops.COPY, dtypes.float32, (src,), arg="CPU") + const(1.0, (3,))
    back = UOp(Ops.COPY, dtypes.float32, (on_cpu,), arg="PYTHON") * const(3.0, (3,), device="PYTHON")
    sched, becomes = create_schedule([back])
    assert [si.kind for si in sched] == ["copy", "kernel", "copy", "kernel"]
    assert [si.outputs[0].device for si in sched] == ["CPU", "CPU", "PYTHON", "PYTHON"]
    run_schedule(sched)
    assert becomes[back].device == "PYTHON"
    assert view_values(becomes[back]) == [6.0, 9.0, 12.0]


def test_copy_of_a_constant_to_python():
    out = UOp(Ops.COPY, dtypes.float32, (const(2.5, (3,)),), arg="PYTHON")
    sched, becomes = create_schedule([out])
    assert [si.kind for si in sched] == ["kernel", "copy"]
    assert sched[0].outputs[0].device == "CPU"
    run_schedule(sched)
    assert contents(becomes[out].base.arg) == [2.5, 2.5, 2.5]


def test_run_item_one_at_a_time():
    # a row's maximum read through a permute: two kernels on every device
    x = leaf(X, (2, 3), device="PYTHON")
    out = x.reduce_axis(Ops.MAX, (1,)).permute((1, 0)) * leaf([2.0, -1.0], (1, 2), device="PYTHON")
    sched, becomes = create_schedule([out])
    assert len(sched) == 2
    for i, si in enumerate(sched):
        assert isinstance(si, ScheduleItem)
        assert run_item(si, i) >= 0.0
    assert close(view_values(becomes[out]), reference(out)[1])


def test_realize_on_python_device():
    x = leaf([1, 2, 3, 4], (2, 2), dtype=dtypes.int32, device="PYTHON")
    out = x.reduce_axis(Ops.MAX, (0,)) * const(2, (1, 2), dtype=dtypes.int32, device="PYTHON")
    becomes = realize([out])
    assert becomes[out].device == "PYTHON"
    assert view_values(becomes[out]) == [6, 8]
