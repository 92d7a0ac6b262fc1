"""tg_nn.Linear: shapes, forward against numpy, PyTorch's initialisation bounds, gradients against numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tg_nn import Linear
from tg_nn.state import get_parameters, get_state_dict
from tg_tensor import Tensor
from tg_uop.dtype import dtypes


@pytest.fixture(autouse=True)
def _seed() -> None:
    Tensor.manual_seed(1234)


def _np_linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    out = x.astype(np.float64) @ w.astype(np.float64).T
    return out if b is None else out + b.astype(np.float64)


def test_parameter_shapes_and_dtype() -> None:
    lin = Linear(5, 3)
    assert lin.weight.shape == (3, 5)
    assert lin.bias is not None and lin.bias.shape == (3,)
    assert lin.weight.dtype == dtypes.float32 and lin.bias.dtype == dtypes.float32
    # undecided until an optimizer takes them, as in tinygrad
    assert lin.weight.requires_grad is None and lin.bias.requires_grad is None


@pytest.mark.parametrize(("batch", "fin", "fout"), [(4, 3, 2), (1, 1, 1), (7, 6, 5)])
def test_forward_matches_numpy(batch: int, fin: int, fout: int) -> None:
    lin = Linear(fin, fout)
    x_np = np.random.default_rng(batch * 100 + fin).standard_normal((batch, fin)).astype(np.float32)
    out = lin(Tensor(x_np))
    assert out.shape == (batch, fout)
    assert lin.bias is not None
    expected = _np_linear(x_np, lin.weight.numpy(), lin.bias.numpy())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_forward_without_bias() -> None:
    lin = Linear(4, 3, bias=False)
    assert lin.bias is None
    x_np = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    out = lin(Tensor(x_np))
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out.numpy(), _np_linear(x_np, lin.weight.numpy(), None), rtol=1e-5, atol=1e-6)
    assert list(get_state_dict(lin)) == ["weight"]
    assert get_parameters(lin) == [lin.weight]


def test_forward_batched_3d_and_1d_inputs() -> None:
    lin = Linear(4, 3)
    assert lin.bias is not None
    w, b = lin.weight.numpy(), lin.bias.numpy()
    x3 = np.random.default_rng(1).standard_normal((2, 5, 4)).astype(np.float32)
    out3 = lin(Tensor(x3))
    assert out3.shape == (2, 5, 3)
    np.testing.assert_allclose(out3.numpy(), _np_linear(x3, w, b), rtol=1e-5, atol=1e-6)
    x1 = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    out1 = lin(Tensor(x1))
    assert out1.shape == (3,)
    np.testing.assert_allclose(out1.numpy(), _np_linear(x1, w, b), rtol=1e-5, atol=1e-6)


def test_wrong_input_features_refused_at_build_time() -> None:
    lin = Linear(3, 2)
    with pytest.raises(ValueError, match="matmul"):
        lin(Tensor.ones(4, 5))


@pytest.mark.parametrize(("fin", "fout"), [(4, 256), (25, 64), (1, 128)])
def test_init_bounds_follow_pytorch(fin: int, fout: int) -> None:
    # PyTorch: kaiming_uniform_(a=sqrt(5)): gain = sqrt(2 / (1 + a^2)), bound = gain * sqrt(3 / fan_in) = 1/sqrt(fan_in)
    gain = math.sqrt(2.0 / (1 + 5.0))
    w_bound = gain * math.sqrt(3.0 / fin)
    assert w_bound == pytest.approx(1 / math.sqrt(fin))
    b_bound = 1 / math.sqrt(fin)
    lin = Linear(fin, fout)
    assert lin.bias is not None
    w, b = lin.weight.numpy().astype(np.float64), lin.bias.numpy().astype(np.float64)
    assert np.all(np.abs(w) <= w_bound * (1 + 1e-6))
    assert np.all(np.abs(b) <= b_bound * (1 + 1e-6))
    # the whole range is used (a narrower bound would fail here; 0.85^256 is negligible), and it is not constant
    assert np.abs(w).max() > 0.85 * w_bound
    assert np.abs(b).max() > 0.85 * b_bound
    assert w.min() < 0 < w.max() and b.min() < 0 < b.max()
    # uniform: mean ~ 0, std ~ bound / sqrt(3)
    assert abs(w.mean()) < 0.15 * w_bound
    assert w.std() == pytest.approx(w_bound / math.sqrt(3), rel=0.15)


def test_layers_get_different_weights_and_seed_is_reproducible() -> None:
    a, b = Linear(8, 8), Linear(8, 8)
    assert not np.array_equal(a.weight.numpy(), b.weight.numpy())
    Tensor.manual_seed(99)
    c = Linear(8, 8)
    Tensor.manual_seed(99)
    d = Linear(8, 8)
    np.testing.assert_array_equal(c.weight.numpy(), d.weight.numpy())


@pytest.mark.parametrize("bias", [True, False])
def test_gradients_match_numpy_formulas(bias: bool) -> None:
    lin = Linear(4, 3, bias=bias)
    lin.weight.requires_grad = True
    if lin.bias is not None:
        lin.bias.requires_grad = True
    rng = np.random.default_rng(7)
    x_np = rng.standard_normal((5, 4)).astype(np.float32)
    g_np = rng.standard_normal((5, 3)).astype(np.float32)  # the upstream gradient dL/dy
    x = Tensor(x_np, requires_grad=True)
    # L = sum(y * G)  =>  dL/dW = G^T x, dL/db = sum_rows G, dL/dx = G W
    (lin(x) * Tensor(g_np)).sum().backward()
    w_np = lin.weight.numpy().astype(np.float64)
    g64, x64 = g_np.astype(np.float64), x_np.astype(np.float64)
    assert lin.weight.grad is not None and x.grad is not None
    assert lin.weight.grad.shape == (3, 4)
    np.testing.assert_allclose(lin.weight.grad.numpy(), g64.T @ x64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), g64 @ w_np, rtol=1e-5, atol=1e-5)
    if lin.bias is not None:
        assert lin.bias.grad is not None and lin.bias.grad.shape == (3,)
        np.testing.assert_allclose(lin.bias.grad.numpy(), g64.sum(0), rtol=1e-5, atol=1e-5)


def test_gradient_of_mse_loss_matches_finite_differences() -> None:
    lin = Linear(3, 2)
    lin.weight.requires_grad = True
    assert lin.bias is not None
    lin.bias.requires_grad = True
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((6, 3))
    y_np = rng.standard_normal((6, 2))
    w0, b0 = lin.weight.numpy().astype(np.float64), lin.bias.numpy().astype(np.float64)
    diff = lin(Tensor(x_np.astype(np.float32))) - Tensor(y_np.astype(np.float32))
    (diff * diff).mean().backward()

    def loss(w: np.ndarray, b: np.ndarray) -> float:
        return float(((x_np @ w.T + b - y_np) ** 2).mean())

    eps = 1e-6
    num_w = np.zeros_like(w0)
    for idx in np.ndindex(*w0.shape):
        d = np.zeros_like(w0)
        d[idx] = eps
        num_w[idx] = (loss(w0 + d, b0) - loss(w0 - d, b0)) / (2 * eps)
    num_b = np.zeros_like(b0)
    for i in range(b0.size):
        d = np.zeros_like(b0)
        d[i] = eps
        num_b[i] = (loss(w0, b0 + d) - loss(w0, b0 - d)) / (2 * eps)
    assert lin.weight.grad is not None and lin.bias.grad is not None
    np.testing.assert_allclose(lin.weight.grad.numpy(), num_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.numpy(), num_b, rtol=1e-4, atol=1e-5)
