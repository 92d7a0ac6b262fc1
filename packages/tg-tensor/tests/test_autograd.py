"""Autograd: every differentiable op's gradient against central finite differences of a float64 numpy
reference (see conftest.check_grad), plus accumulation, detach, and backward after realize."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ARITHMETIC

from tg_tensor import Tensor

RNG = np.random.default_rng(99)


def _u(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def _away_from_zero(*shape: int) -> np.ndarray:
    """Values whose magnitude is at least 0.2 (no kink of relu/max within a finite-difference step)."""
    v = _u(*shape, low=0.2, high=2.0)
    return v * RNG.choice(np.array([-1.0, 1.0], dtype=np.float32), shape)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _log_softmax(x, axis=-1):
    m = x - x.max(axis, keepdims=True)
    return m - np.log(np.exp(m).sum(axis, keepdims=True))


# ---- binary elementwise ----


@pytest.mark.parametrize(
    "name, tg_fn, np_fn",
    [(name, op, op) for name, op in ARITHMETIC]
    + [("maximum", lambda a, b: a.maximum(b), np.maximum), ("minimum", lambda a, b: a.minimum(b), np.minimum)],
)
def test_binary_grad(gradcheck, name, tg_fn, np_fn):
    a = _u(3, 4)
    b = _u(3, 4, low=0.5, high=2.0) * RNG.choice(np.array([-1.0, 1.0], dtype=np.float32), (3, 4))
    # keep a and b apart so maximum/minimum have no ties within a step
    b = np.where(np.abs(a - b) < 0.1, b + 0.3, b).astype(np.float32)
    gradcheck(tg_fn, np_fn, a, b)


@pytest.mark.parametrize(
    "name, sa, sb, tg_fn, np_fn",
    [
        ("add", (3, 1), (4,), lambda a, b: a + b, lambda a, b: a + b),
        ("add", (2, 3), (), lambda a, b: a + b, lambda a, b: a + b),
        ("sub", (1,), (2, 3), lambda a, b: a - b, lambda a, b: a - b),
        ("mul", (2, 3, 4), (3, 4), lambda a, b: a * b, lambda a, b: a * b),
        ("mul", (3, 1), (4,), lambda a, b: a * b, lambda a, b: a * b),
        ("div", (2, 3, 4), (3, 1), lambda a, b: a / b, lambda a, b: a / b),
    ],
    ids=lambda x: str(x) if not callable(x) else "",
)
def test_broadcast_grad_sums_over_broadcast_axes(gradcheck, name, sa, sb, tg_fn, np_fn):
    gradcheck(tg_fn, np_fn, _u(*sa), _u(*sb, low=0.5, high=2.0))


@pytest.mark.parametrize(
    "name, tg_fn, np_fn",
    [
        ("rsub", lambda a: 3.0 - a, lambda a: 3.0 - a),
        ("rmul", lambda a: 3.0 * a, lambda a: 3.0 * a),
        ("rdiv", lambda a: 3.0 / a, lambda a: 3.0 / a),
        ("mul_scalar", lambda a: a * -1.5, lambda a: a * -1.5),
        ("self_mul", lambda a: a * a, lambda a: a * a),
        ("self_div", lambda a: (a + 3.0) / (a * a + 1.0), lambda a: (a + 3.0) / (a * a + 1.0)),
    ],
)
def test_scalar_and_reused_grad(gradcheck, name, tg_fn, np_fn):
    gradcheck(tg_fn, np_fn, _away_from_zero(2, 5))


# ---- unary ----


@pytest.mark.parametrize(
    "name, tg_fn, np_fn, low, high",
    [
        ("neg", lambda a: -a, lambda a: -a, -2.0, 2.0),
        ("exp", lambda a: a.exp(), np.exp, -2.0, 2.0),
        ("log", lambda a: a.log(), np.log, 0.2, 4.0),
        ("sqrt", lambda a: a.sqrt(), np.sqrt, 0.2, 4.0),
        ("sigmoid", lambda a: a.sigmoid(), _sigmoid, -4.0, 4.0),
        ("tanh", lambda a: a.tanh(), np.tanh, -2.0, 2.0),
        ("sin", lambda a: a.sin(), np.sin, -3.0, 3.0),
        ("reciprocal", lambda a: a.reciprocal(), lambda a: 1 / a, 0.3, 3.0),
    ],
)
def test_unary_grad(gradcheck, name, tg_fn, np_fn, low, high):
    gradcheck(tg_fn, np_fn, _u(3, 4, low=low, high=high))


def test_relu_grad(gradcheck):
    leaves = gradcheck(lambda a: a.relu(), lambda a: np.maximum(a, 0), _away_from_zero(4, 5))
    # the gradient is exactly the step function times the upstream weights: zero where the input is negative
    x = leaves[0].numpy()
    assert np.all(leaves[0].grad.numpy()[x < 0] == 0)


def test_composite_unary_grad(gradcheck):
    gradcheck(
        lambda a: (a.exp() + 1).log().sqrt() * a.sigmoid(),
        lambda a: np.sqrt(np.log(np.exp(a) + 1)) * _sigmoid(a),
        _u(3, 3),
    )


# ---- where ----


def test_where_grad(gradcheck):
    cond = Tensor(np.array([[True, False, True], [False, False, True]]))
    cond_np = cond.numpy()
    gradcheck(lambda a, b: cond.where(a, b), lambda a, b: np.where(cond_np, a, b), _u(2, 3), _u(2, 3))


def test_where_grad_broadcast_and_scalar(gradcheck):
    cond_np = np.array([[True], [False]])
    cond = Tensor(cond_np)
    gradcheck(lambda a: cond.where(a, 0.0), lambda a: np.where(cond_np, a, 0.0), _u(3))
    gradcheck(lambda a: (a > 0).where(a, a * 0.1), lambda a: np.where(a > 0, a, a * 0.1), _away_from_zero(2, 4))


# ---- reductions ----


@pytest.mark.parametrize(
    "name, ref, axis, keepdim",
    [
        ("sum", np.sum, None, False),
        ("sum", np.sum, 1, True),
        ("sum", np.sum, (0, 2), False),
        ("mean", np.mean, None, False),
        ("mean", np.mean, -1, True),
        ("max", np.max, None, False),
        ("max", np.max, 1, False),
        ("max", np.max, (0, 2), True),
        ("min", np.min, None, False),
        ("min", np.min, -1, True),
    ],
    ids=lambda x: str(x) if not callable(x) else "",
)
def test_reduce_grad(gradcheck, name, ref, axis, keepdim):
    # distinct values (a permutation, spread out) so max/min have a unique winner
    x = (RNG.permutation(24).reshape(2, 3, 4) * 0.25 - 3.0).astype(np.float32)
    gradcheck(lambda a: getattr(a, name)(axis=axis, keepdim=keepdim), lambda a: ref(a, axis=axis, keepdims=keepdim), x)


def test_max_grad_ties_share_equally():
    x = Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])
    y = Tensor([[5.0, 5.0], [1.0, 2.0]], requires_grad=True)
    y.max(axis=1).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [[0.5, 0.5], [0.0, 1.0]])


# ---- movement ----


@pytest.mark.parametrize(
    "name, tg_fn, np_fn",
    [
        ("reshape", lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6)),
        ("permute", lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
        ("transpose", lambda a: a.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
        ("T", lambda a: a.reshape(6, 4).T, lambda a: a.reshape(6, 4).T),
        (
            "expand",
            lambda a: a.reshape(2, 1, 3, 4).expand(2, 3, 3, 4),
            lambda a: np.broadcast_to(a[:, None], (2, 3, 3, 4)),
        ),
        ("expand_new", lambda a: a.expand(2, 2, 3, 4), lambda a: np.broadcast_to(a, (2, 2, 3, 4))),
        ("unsqueeze", lambda a: a.unsqueeze(1), lambda a: a[:, None]),
        (
            "chain",
            lambda a: a.permute(1, 2, 0).reshape(12, 2).T * 2,
            lambda a: a.transpose(1, 2, 0).reshape(12, 2).T * 2,
        ),
    ],
)
def test_movement_grad(gradcheck, name, tg_fn, np_fn):
    gradcheck(tg_fn, np_fn, _u(2, 3, 4))


# ---- matmul ----


@pytest.mark.parametrize(
    "sa, sb",
    [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 2))],
    ids=str,
)
def test_matmul_grad(gradcheck, sa, sb):
    gradcheck(lambda a, b: a @ b, lambda a, b: a @ b, _u(*sa), _u(*sb))


def test_linear_layer_grad(gradcheck):
    gradcheck(
        lambda x, w, b: (x.linear(w, b)).relu(),
        lambda x, w, b: np.maximum(x @ w.T + b, 0),
        _u(4, 3),
        _u(5, 3),
        _u(5, low=0.3, high=1.0),
    )


# ---- softmax family and losses ----


@pytest.mark.parametrize("axis", [-1, 0])
def test_log_softmax_grad(gradcheck, axis):
    gradcheck(lambda a: a.log_softmax(axis), lambda a: _log_softmax(a, axis), _u(3, 4, low=-3, high=3))


def test_softmax_grad(gradcheck):
    def ref(a):
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    gradcheck(lambda a: a.softmax(), ref, _u(2, 5, low=-3, high=3))


def test_sparse_categorical_crossentropy_grad(gradcheck):
    labels_np = np.array([2, 0, 3, 3, 1], dtype=np.int32)
    labels = Tensor(labels_np)
    leaves = gradcheck(
        lambda a: a.sparse_categorical_crossentropy(labels),
        lambda a: -_log_softmax(a)[np.arange(5), labels_np].mean(),
        _u(5, 4, low=-3, high=3),
    )
    # softmax minus one-hot, over the batch size
    logits = leaves[0].numpy().astype(np.float64)
    e = np.exp(logits - logits.max(1, keepdims=True))
    soft = e / e.sum(1, keepdims=True)
    onehot = np.eye(4)[labels_np]
    # gradcheck weighted the loss by a constant; the plain loss gradient is recomputed here
    x = Tensor(logits.astype(np.float32), requires_grad=True)
    x.sparse_categorical_crossentropy(labels).backward()
    np.testing.assert_allclose(x.grad.numpy(), (soft - onehot) / 5, rtol=1e-4, atol=1e-6)


def test_small_mlp_grad(gradcheck):
    def tg_fn(x, w1, w2):
        return ((x @ w1).relu() @ w2).log_softmax()

    def np_fn(x, w1, w2):
        return _log_softmax(np.maximum(x @ w1, 0) @ w2)

    gradcheck(tg_fn, np_fn, _u(4, 3), _u(3, 6), _u(6, 2))


# ---- mechanics ----


def test_grad_accumulates_over_two_backward_calls():
    x_np = _u(3)
    x = Tensor(x_np, requires_grad=True)
    (x * x).sum().backward()
    first = x.grad.numpy()
    np.testing.assert_allclose(first, 2 * x_np, rtol=1e-6)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x_np + 3.0, rtol=1e-6)


def test_same_loss_backward_twice_doubles_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_backward_on_non_scalar_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(2,\)"):
        (x * 2).backward()


def test_backward_with_explicit_gradient_on_non_scalar():
    x_np = _u(2, 3)
    g_np = _u(2, 3)
    x = Tensor(x_np, requires_grad=True)
    (x * x).backward(Tensor(g_np))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x_np * g_np, rtol=1e-6)


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError):
        (Tensor([1.0, 2.0]) * 2).sum().backward()


def test_requires_grad_propagates():
    x = Tensor([1.0], requires_grad=True)
    y = Tensor([2.0])
    assert (x * y).requires_grad is True
    assert (y * 2).requires_grad is None
    assert x.detach().requires_grad is None
    assert (x.detach() * y).requires_grad is None


def test_only_inputs_with_requires_grad_get_grad():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0])
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


def test_intermediate_tensors_get_no_grad():
    a = Tensor([1.0, 2.0], requires_grad=True)
    h = a * 2
    (h * h).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(a.grad.numpy(), 8 * np.array([1.0, 2.0]))


def test_unused_leaf_gets_no_grad():
    a = Tensor([1.0], requires_grad=True)
    b = Tensor([1.0], requires_grad=True)
    (a * 2).sum().backward()
    assert b.grad is None


def test_integer_comparison_branch_gets_no_grad_but_value_branch_does():
    x_np = _away_from_zero(6)
    x = Tensor(x_np, requires_grad=True)
    ((x > 0).float() * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (x_np > 0).astype(np.float32))


def test_backward_after_loss_was_realized():
    x_np, w_np = _u(3, 4), _u(4, 2)
    x, w = Tensor(x_np, requires_grad=True), Tensor(w_np, requires_grad=True)
    loss = (x @ w).relu().sum()
    value = loss.item()
    want_value = np.maximum(x_np.astype(np.float64) @ w_np, 0).sum()
    assert value == pytest.approx(want_value, rel=1e-5, abs=1e-5)
    loss.backward()
    mask = (x_np.astype(np.float64) @ w_np > 0).astype(np.float64)
    np.testing.assert_allclose(x.grad.numpy(), mask @ w_np.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), x_np.T @ mask, rtol=1e-5, atol=1e-6)
    # the loss keeps its value after backward
    assert loss.item() == pytest.approx(want_value, rel=1e-5, abs=1e-5)


def test_backward_after_intermediate_was_realized():
    x_np = _u(5)
    x = Tensor(x_np, requires_grad=True)
    h = x.exp()
    h.realize()
    (h * x).sum().backward()
    want = np.exp(x_np.astype(np.float64)) * (1 + x_np)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5)


def test_grad_values_are_lazy_tensors_that_compute():
    x = Tensor([2.0, -1.0], requires_grad=True)
    (x * x * x).sum().backward()
    assert isinstance(x.grad, Tensor)
    assert x.grad.shape == (2,)
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 3.0])


def test_training_step_reduces_a_loss():
    """A few steps of gradient descent with tg's gradients lower a least-squares loss, as numpy predicts."""
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((8, 3)).astype(np.float32)
    true_w = np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    ys = xs @ true_w
    w_np = np.zeros((3, 1), dtype=np.float32)
    losses = []
    for _ in range(3):
        w = Tensor(w_np, requires_grad=True)
        loss = ((Tensor(xs) @ w - Tensor(ys)) * (Tensor(xs) @ w - Tensor(ys))).mean()
        loss.backward()
        losses.append(loss.item())
        grad_ref = 2 * xs.T.astype(np.float64) @ (xs @ w_np - ys) / 8
        np.testing.assert_allclose(w.grad.numpy(), grad_ref, rtol=1e-4, atol=1e-6)
        w_np = (w_np - 0.1 * w.grad.numpy()).astype(np.float32)
    assert losses[2] < losses[1] < losses[0]
