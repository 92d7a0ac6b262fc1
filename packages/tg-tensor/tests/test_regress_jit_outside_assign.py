"""Regression: TinyJit recorded assigns made by the caller before the call (they were still pending when the
capture began), so every replay applied them again. Found with a plain BatchNorm stepping next to a jitted one."""

from __future__ import annotations

from tg_tensor import Tensor, TinyJit
from tg_uop.dtype import dtypes


def test_assigns_pending_before_a_jitted_call_are_not_captured() -> None:
    outside = Tensor.zeros((), dtype=dtypes.int32).realize()
    inside = Tensor.zeros((), dtype=dtypes.int32).realize()

    @TinyJit
    def step(x: Tensor) -> Tensor:
        inside.assign(inside + 1)
        return (x * 2).sum()

    for i in range(1, 6):
        outside.assign(outside + 1)  # the caller's own update, left pending across the call
        assert step(Tensor([1.0, 2.0])).item() == 6.0
        assert outside.item() == i
        assert inside.item() == i
    assert step.captured is not None  # the last calls were replays
