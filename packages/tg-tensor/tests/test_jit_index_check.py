"""The index rule holds inside TinyJit: every replay checks the indices again (an index passed in before the
kernels run, one computed inside the function once they wrote it), so an out-of-range index raises IndexError
naming the value on a replay too, never a silent 0 or zero row. `CHECK_INDEX=0` at capture time keeps replays
unchecked."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tg_tensor import Tensor, TinyJit, dtypes
from tg_uop.helpers import Context

DEVICES = ["CPU", "PYTHON"]


def _x(device: str) -> Tensor:
    return Tensor([[1.0, 2.0, 0.5], [3.0, -4.0, 1.0], [5.0, 6.0, -2.0]], device=device).realize()


def _i(values: list, device: str) -> Tensor:
    return Tensor(values, device=device, dtype=dtypes.int32).realize()


CASES: list[tuple[str, Callable[[Tensor, Tensor], Tensor], list[list], list, str]] = [
    (
        "gather",
        lambda x, i: x.gather(1, i),
        [[[0], [2], [1]], [[2], [2], [0]], [[-1], [0], [1]]],
        [[1], [3], [0]],
        "gather: index 3 is out of range for axis 1 of size 3",
    ),
    ("getitem", lambda x, i: x[i], [[0, 2], [1, 1], [2, -3]], [1, 7], "index: index 7 is out of range for axis 0"),
    ("one_hot", lambda x, i: i.one_hot(3), [[0, 2], [1, 1], [2, 0]], [1, 3], "one_hot: index 3 is out of range"),
    (
        "cross_entropy",
        lambda x, i: x.cross_entropy(i),
        [[0, 2, 1], [1, 1, 0], [2, 0, 2]],
        [0, 1, -1],
        "cross_entropy: index -1 is out of range",
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("name", "fn", "good", "bad", "msg"), CASES, ids=[c[0] for c in CASES])
def test_replay_checks_input_index(device: str, name: str, fn, good: list, bad: list, msg: str) -> None:
    x = _x(device)
    jitted = TinyJit(lambda x, i: fn(x, i).realize())
    for values in good + good:  # warm-up, capture, then replays
        np.testing.assert_allclose(jitted(x, _i(values, device)).numpy(), fn(x, _i(values, device)).numpy(), 1e-6)
    assert jitted.captured is not None
    with pytest.raises(IndexError, match=msg):
        jitted(x, _i(bad, device))
    # the failed call changed nothing: later calls replay correctly
    np.testing.assert_allclose(jitted(x, _i(good[0], device)).numpy(), fn(x, _i(good[0], device)).numpy(), 1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_replay_checks_computed_index(device: str) -> None:
    x = _x(device)

    def f(x: Tensor, i: Tensor) -> Tensor:
        return x[(i * 2 - 1).realize()].realize()  # the index is computed by a captured kernel

    jitted = TinyJit(f)
    for values in [[1, 0], [0, 1], [1, 1], [-1, 0]]:
        np.testing.assert_allclose(jitted(x, _i(values, device)).numpy(), f(x, _i(values, device)).numpy())
    assert jitted.captured is not None
    with pytest.raises(IndexError, match="index: index 5 is out of range for axis 0 of size 3"):
        jitted(x, _i([1, 3], device))
    with pytest.raises(IndexError, match="index: index -5 is out of range for axis 0 of size 3"):
        jitted(x, _i([-2, 0], device))
    np.testing.assert_allclose(jitted(x, _i([0, 1], device)).numpy(), f(x, _i([0, 1], device)).numpy())


@pytest.mark.parametrize("device", DEVICES)
def test_replay_setitem_bad_index_writes_nothing(device: str) -> None:
    t = Tensor.zeros(3, device=device).contiguous().realize()

    def f(t: Tensor, i: Tensor) -> Tensor:
        t[i] = 1.0
        return (t * 2).realize()

    jitted = TinyJit(f)
    for k in range(3):
        jitted(t, _i([k], device))
    assert jitted.captured is not None
    before = t.numpy().copy()
    with pytest.raises(IndexError, match="index 3 is out of range for axis 0 of size 3"):
        jitted(t, _i([3], device))
    np.testing.assert_array_equal(t.numpy(), before)  # checked before the kernels ran: nothing was written


def test_unchecked_capture_keeps_replays_unchecked() -> None:
    x = _x("CPU")
    with Context(CHECK_INDEX=0):
        jitted = TinyJit(lambda x, i: x[i].realize())
        for values in [[0], [1], [2]]:
            jitted(x, _i(values, "CPU"))
    assert jitted.captured is not None and all(not c.checks for c in jitted.captures.values())
    np.testing.assert_array_equal(jitted(x, _i([5], "CPU")).numpy(), [[0.0, 0.0, 0.0]])  # the fast path's 0
