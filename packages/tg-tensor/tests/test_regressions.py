"""Regressions: each test reproduces a bug found while the test suite was written (now fixed)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tg_tensor import Tensor


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
