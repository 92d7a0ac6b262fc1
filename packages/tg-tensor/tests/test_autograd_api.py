"""The autograd and realization API around the gradient rules: gradient(), no_grad, Tensor.train, requires_grad_,
.grad accumulation, detach, to(device), clone. torch.autograd is the oracle where it has the same call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import rand

from tg_tensor import Tensor, no_grad


def test_gradient_matches_torch_autograd_grad_and_leaves_grad_alone() -> None:
    a, b = rand(3, 4, seed=1), rand(4, seed=2)
    x, w = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    h = (x * w).relu()
    gx, gw, gh = ((h * h).sum() + x.sum()).gradient(x, w, h)
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    th = (tx * tw).relu()
    want = torch.autograd.grad((th * th).sum() + tx.sum(), (tx, tw, th))
    for got, exp in zip((gx, gw, gh), want):
        np.testing.assert_allclose(got.numpy(), exp.numpy(), rtol=1e-5, atol=1e-6)
    assert x.grad is None and w.grad is None


def test_gradient_of_a_target_the_output_does_not_depend_on_is_zeros() -> None:
    x, unrelated = Tensor([1.0, 2.0], requires_grad=True), Tensor([[5.0]], requires_grad=True)
    gx, gu = (x * 3).sum().gradient(x, unrelated)
    assert gx.tolist() == [3.0, 3.0] and gu.tolist() == [[0.0]]


def test_gradient_with_an_explicit_output_gradient() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = (x * x).gradient(x, gradient=Tensor([1.0, 0.0, -1.0]))
    assert g.tolist() == [2.0, 0.0, -6.0]
    with pytest.raises(ValueError, match=r"gradient.*\(2,\).*\(3,\)"):
        (x * x).gradient(x, gradient=Tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="gradient is needed"):
        (x * x).gradient(x)


def test_grad_accumulates_over_backward_calls_like_torch() -> None:
    a = rand(5, seed=3)
    x, tx = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    for k in (1.0, 2.0, 3.0):
        (x * x * k).sum().backward()
        (tx * tx * k).sum().backward()
    assert x.grad is not None and tx.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)


def test_backward_errors_name_the_problem() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).sum().backward()
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"non-scalar.*\(2,\)"):
        (x * 2).backward()


def test_no_grad_context_and_decorator() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = x * 2
        with no_grad():
            pass
        z = x * 3  # still off after a nested block ends
    assert y.requires_grad is None and z.requires_grad is None and not Tensor.no_grad
    assert (x * 2).requires_grad

    @no_grad()
    def f(t: Tensor) -> Tensor:
        return t * t

    assert f(x).requires_grad is None and not Tensor.no_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        f(x).sum().backward()


def test_no_grad_is_restored_when_the_block_raises() -> None:
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert not Tensor.no_grad


def test_train_context_sets_and_restores_training() -> None:
    assert not Tensor.training
    with Tensor.train():
        assert Tensor.training
        with Tensor.train(False):
            assert not Tensor.training
        assert Tensor.training
    assert not Tensor.training

    @Tensor.train()
    def step() -> bool:
        return Tensor.training

    assert step() and not Tensor.training


def test_requires_grad_in_place() -> None:
    x = Tensor([2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [4.0]


def test_detach_stops_the_gradient_like_torch() -> None:
    a = rand(4, seed=4)
    x, tx = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (x * x.detach()).sum().backward()
    (tx * tx.detach()).sum().backward()
    assert x.grad is not None and tx.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_to_another_device_and_back_with_gradients() -> None:
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    on_py = (x * 2).to("PYTHON")
    assert on_py.device == "PYTHON" and x.to(x.device) is x
    out = (on_py * on_py).to(x.device).sum()
    assert out.device == x.device and out.item() == pytest.approx(56.0)
    out.backward()
    assert x.grad is not None and x.grad.device == x.device
    assert x.grad.tolist() == [8.0, -16.0, 24.0]
    with pytest.raises(Exception, match="NOPE"):
        x.to("NOPE")


def test_clone_has_its_own_buffer_and_passes_gradients() -> None:
    a = Tensor([1.0, 2.0], requires_grad=True).realize()
    b = a.clone()
    b.realize()
    assert b.buffer() is not a.buffer() and b.tolist() == [1.0, 2.0]
    b.assign(Tensor([5.0, 6.0])).realize()
    assert a.tolist() == [1.0, 2.0]
    c = a.clone()
    (c * c).sum().backward()
    assert a.grad is not None and a.grad.tolist() == [2.0, 4.0]


def test_apply_with_gradient_uses_the_declared_gradient() -> None:
    # the declared gradient (here deliberately 3x the true one) replaces the rules' through the forward's ops,
    # also when an input was realized (its graph is rebuilt for backward) and for a second output use
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = (x * 2).realize()  # realized: backward goes through the graph h was built as
    y = h.apply_with_gradient(lambda a, b: a * b, lambda g, a, b: (g * b * 3, g * a * 3), x)
    (y.sum() + y.sum()).backward()
    assert x.grad is not None
    # y = 2x * x: d/dx through h is 2 * (3 * x) per use, through the second input 3 * 2x per use
    assert x.grad.tolist() == [2 * (6 * 1.0 + 6 * 1.0), 2 * (6 * 2.0 + 6 * 2.0)]


def test_apply_with_gradient_none_stops_that_input_and_no_grad_records_nothing() -> None:
    x, w = Tensor([3.0], requires_grad=True), Tensor([5.0], requires_grad=True)
    y = x.apply_with_gradient(lambda a, b: a * b, lambda g, a, b: (None, g * a), w)
    y.sum().backward()
    assert x.grad is None and w.grad is not None and w.grad.tolist() == [3.0]
    with no_grad():
        z = x.apply_with_gradient(lambda a: a + 1, lambda g, a: (g,))
    assert not z.requires_grad and z.tolist() == [4.0]
