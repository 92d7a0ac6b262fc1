"""Regressions in Tensor.assign, found with BatchNorm's running statistics.

1. Assigning twice to a 0-d tensor (num_batches_tracked) raised: the pending-assign registry was a WeakSet, and
   adding a tensor already in it compared the two references with Tensor.__eq__, which builds a comparison
   tensor whose truth value is len(), a TypeError for a 0-d tensor.
2. Assigning `t + 1` to a tensor whose previous assign was still pending applied the pending one twice: the
   new value's graph still held the old ASSIGN node, which ran again after `assign` had realized it.
"""

from __future__ import annotations

from tg_tensor import Tensor, TinyJit
from tg_uop.dtype import dtypes


def test_assign_twice_to_0d_tensor() -> None:
    t = Tensor.zeros((), dtype=dtypes.int32).realize()
    t.assign(t + 1).realize()
    t.assign(t + 1).realize()
    t.assign(t + 1)  # pending, not realized yet: assigned again below
    t.assign(t + 1)
    assert t.item() == 4


def test_jit_captures_0d_assign_side_effect() -> None:
    counter = Tensor.zeros((), dtype=dtypes.int32).realize()

    @TinyJit
    def step(x: Tensor) -> Tensor:
        counter.assign(counter + 1)  # no output depends on it: TinyJit must realize it
        return (x * 2).realize()

    for i in range(4):
        assert step(Tensor([float(i)])).tolist() == [2.0 * i]
    assert counter.item() == 4
