"""Regressions: each test reproduces a bug found (and since fixed) while the test suite was written, while
running the seed tutorials' examples (test_seeds.py), or while stepping BatchNorm (assign and TinyJit).

Tensor.assign, found with BatchNorm's running statistics:
1. Assigning twice to a 0-d tensor (num_batches_tracked) raised: the pending-assign registry was a WeakSet, and
   adding a tensor already in it compared the two references with Tensor.__eq__, which builds a comparison
   tensor whose truth value is len(), a TypeError for a 0-d tensor.
2. Assigning `t + 1` to a tensor whose previous assign was still pending applied the pending one twice: the
   new value's graph still held the old ASSIGN node, which ran again after `assign` had realized it.
3. TinyJit recorded assigns made by the caller before the call (they were still pending when the capture
   began), so every replay applied them again. Found with a plain BatchNorm stepping next to a jitted one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tg_tensor import Tensor, TinyJit
from tg_uop.dtype import dtypes

# ---------------------------------------------------------------------- found while writing the test suite


@pytest.mark.parametrize("rhs", [-3, -3.0, -0.5])
def test_subtracting_a_negative_scalar_compiles(rhs: float) -> None:
    assert (Tensor([1.0, 2.0]) - rhs).tolist() == [1.0 - rhs, 2.0 - rhs]
    assert (-Tensor.full((2,), rhs)).tolist() == [-rhs, -rhs]


def test_detach_stops_the_gradient_of_one_use() -> None:
    x = Tensor([2.0, 5.0], requires_grad=True)
    (x.detach() * x).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [2.0, 5.0]  # d/dx (c * x) with c = x held constant


def test_input_realized_after_use_still_gets_its_gradient() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    x.numpy()  # realizes x: its graph changes, y's does not
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [3.0, 3.0]


def test_backward_of_a_scalar_leaf() -> None:
    s = Tensor(3.0, requires_grad=True)
    s.backward()
    assert s.grad is not None and s.grad.item() == 1.0


@pytest.mark.parametrize("axis", [0, -1])
def test_reducing_axis_0_of_a_scalar_is_a_no_op(axis: int) -> None:
    assert Tensor(4.0).sum(axis).item() == 4.0
    assert Tensor(4.0).max(axis).item() == 4.0


def test_reading_a_realized_reduction_runs_no_kernel(
    kernels: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tg_schedule.run

    b = Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=0).realize()
    ran: list[object] = []
    real = tg_schedule.run.run_item
    monkeypatch.setattr(tg_schedule.run, "run_item", lambda si, i=0: ran.append(si) or real(si, i))
    np.testing.assert_array_equal(b.numpy(), [4.0, 6.0])
    np.testing.assert_array_equal(b.numpy(), [4.0, 6.0])
    assert ran == [] and kernels(b) == 0


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda t: t.min(axis=5), "min"),
        (lambda t: t.minimum(Tensor([1.0, 2.0, 3.0])), "minimum"),
        (lambda t: t <= Tensor([1.0, 2.0, 3.0]), "le"),
        (lambda t: t >= Tensor([1.0, 2.0, 3.0]), "ge"),
        (lambda t: t > Tensor([1.0, 2.0, 3.0]), "gt"),
    ],
)
def test_error_messages_name_the_op_the_user_called(call: object, name: str) -> None:
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises((ValueError, IndexError), match=rf"^{name}: ") as info:
        call(t)  # type: ignore[operator]
    if info.type is ValueError:
        assert "(2, 2) and (3,)" in str(info.value)


# ---------------------------------------------------------------------- found with the seed tutorials


def test_backward_of_a_one_element_tensor_needs_no_gradient() -> None:
    # PyTorch seeds any one-element output with 1; tg refused every shape but ()
    x = Tensor([3.0], requires_grad=True)
    (x * x).backward()
    assert x.grad is not None and x.grad.tolist() == [6.0]
    y = Tensor([[2.0]], requires_grad=True)
    assert (y * 5).gradient(y)[0].tolist() == [[5.0]]
    with pytest.raises(RuntimeError, match=r"non-scalar.*\(2,\)"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward()


def test_sum_over_an_axis_already_reduced_in_the_same_kernel() -> None:
    # x.sum(1, keepdim=True).sum(1, keepdim=True) fused into one kernel summed the row sums 4 times (tg-codegen)
    x = Tensor(np.arange(16, dtype=np.float32).reshape(4, 4)).realize()
    out = x.sum(axis=1, keepdim=True).sum(axis=1, keepdim=True)
    np.testing.assert_array_equal(out.numpy(), [[6.0], [22.0], [38.0], [54.0]])
    np.testing.assert_array_equal(x.max(axis=1, keepdim=True).max(axis=1).numpy(), [3.0, 7.0, 11.0, 15.0])


# ---------------------------------------------------------------------- assign and TinyJit (BatchNorm)


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
