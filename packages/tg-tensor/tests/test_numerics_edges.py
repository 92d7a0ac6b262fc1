"""Numerics at the edges, as torch computes them: pow with zero, negative and infinite bases and exponents
(values and both gradients), sigmoid / softplus / log_sigmoid at extreme inputs, acosh / log and friends on
their domain edges, NaN through max/min reductions, argmax and maximum/minimum, float16 matmul accumulating
in float32."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tg_tensor import Tensor, dtypes

INF, NAN = float("inf"), float("nan")
BASES = np.array([0.0, -0.0, -2.0, -1.5, 2.0, INF, -INF, NAN, 1e-30, -1.0, 1.0, 0.3], dtype=np.float32)
EXPONENTS = np.array([0.0, 0.5, -0.5, 2.0, 3.0, -1.0, INF, -INF, NAN, 2.5, 1.5, -2.5, 1.0], dtype=np.float32)


def _close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, equal_nan=True, err_msg=what)


def test_pow_tensor_tensor_values_and_gradients() -> None:
    b, e = np.repeat(BASES, len(EXPONENTS)), np.tile(EXPONENTS, len(BASES))
    keep = ~((b == 0) & (e < 0) & np.signbit(b))  # torch's (-0.0) ** -0.5 is -inf (its rsqrt), C's pow +inf
    b, e = b[keep], e[keep]
    x, y = Tensor(b, requires_grad=True), Tensor(e, requires_grad=True)
    tx, ty = torch.tensor(b, requires_grad=True), torch.tensor(e, requires_grad=True)
    out, want = x**y, tx**ty
    out.sum().backward()
    want.sum().backward()
    _close(out.numpy(), want.detach().numpy(), "forward")
    _close(x.grad.numpy(), tx.grad.numpy(), "base gradient")
    _close(y.grad.numpy(), ty.grad.numpy(), "exponent gradient")


@pytest.mark.parametrize("exponent", [0, 0.5, 2, 3, -1, -2, INF, -INF, 1.5, NAN, 2.5])
def test_pow_scalar_exponent(exponent: float) -> None:
    b = BASES[~((BASES == 0) & np.signbit(BASES))]  # as above: no -0.0 (torch's rsqrt sign)
    x, tx = Tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, want = x**exponent, tx**exponent
    _close(out.numpy(), want.detach().numpy(), "forward")
    finite = np.isfinite(b)  # gradients at finite bases
    out.sum().backward()
    want.sum().backward()
    _close(x.grad.numpy()[finite], tx.grad.numpy()[finite], "gradient")


@pytest.mark.parametrize("base", [0.0, -2.0, 2.0, 1.0, -1.0, 0.5])
def test_pow_scalar_base(base: float) -> None:
    _close((base ** Tensor(EXPONENTS)).numpy(), (base ** torch.tensor(EXPONENTS)).numpy(), f"{base} ** x")


def test_integer_powers() -> None:
    a, e = np.array([2, -3, 0, 5, -1], dtype=np.int32), np.array([0, 2, 3, 1, 7], dtype=np.int32)
    assert (Tensor(a) ** Tensor(e)).tolist() == (torch.tensor(a) ** torch.tensor(e)).tolist()
    assert (Tensor(a) ** 3).tolist() == (torch.tensor(a) ** 3).tolist()
    assert (Tensor(a) ** 3).dtype == dtypes.int32


EXTREME = np.array([-1000, -100, -88.8, -20, -1e-8, 0, 20, 88.8, 100, 1000], dtype=np.float32)
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
    "softplus": (lambda x: x.softplus(), F.softplus),
    "softplus beta": (lambda x: x.softplus(beta=2.0), lambda x: F.softplus(x, beta=2.0)),
    "logsigmoid": (lambda x: x.logsigmoid(), F.logsigmoid),
    "tanh": (lambda x: x.tanh(), torch.tanh),
    "silu": (lambda x: x.silu(), F.silu),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_at_extreme_inputs(name: str) -> None:
    tg_fn, torch_fn = ACTIVATIONS[name]
    x, tx = Tensor(EXTREME, requires_grad=True), torch.tensor(EXTREME, requires_grad=True)
    out, want = tg_fn(x), torch_fn(tx)
    out.sum().backward()
    want.sum().backward()
    assert not np.isnan(out.numpy()).any() and not np.isnan(x.grad.numpy()).any()
    _close(out.numpy(), want.detach().numpy(), name)
    _close(x.grad.numpy(), tx.grad.numpy(), f"{name} gradient")


DOMAIN = {
    "acosh": (np.array([1.0, 1.0001, 2.0, 1e6, 0.5, -1.0, INF, NAN]), lambda x: x.acosh(), torch.acosh),
    "log": (np.array([0.0, -0.0, -1.0, INF, NAN, 1e-38, 1.0]), lambda x: x.log(), torch.log),
    "log2": (np.array([0.0, -1.0, INF, 8.0]), lambda x: x.log2(), torch.log2),
    "log10": (np.array([0.0, -1.0, INF, 1000.0]), lambda x: x.log10(), torch.log10),
    "log1p": (np.array([-1.0, -2.0, INF, 1e-8, 0.0]), lambda x: x.log1p(), torch.log1p),
    "sqrt": (np.array([0.0, -1.0, INF, 4.0]), lambda x: x.sqrt(), torch.sqrt),
    "atanh": (np.array([1.0, -1.0, 2.0, 0.5, 0.0]), lambda x: x.atanh(), torch.atanh),
    "asin": (np.array([1.0, -1.0, 2.0, 0.5]), lambda x: x.asin(), torch.asin),
    "acos": (np.array([1.0, -1.0, -2.0, 0.5]), lambda x: x.acos(), torch.acos),
}


@pytest.mark.parametrize("name", DOMAIN)
def test_domain_edges(name: str) -> None:
    data, tg_fn, torch_fn = DOMAIN[name]
    a = data.astype(np.float32)
    _close(tg_fn(Tensor(a)).numpy(), torch_fn(torch.tensor(a)).numpy(), name)


def test_nan_propagates_through_max_min_like_torch() -> None:
    a = np.array([[1.0, NAN, 3.0], [2.0, 1.0, 0.0], [NAN, NAN, -INF]], dtype=np.float32)
    t, ta = Tensor(a), torch.tensor(a)
    for dim in (0, 1):
        _close(t.max(dim).numpy(), ta.amax(dim).numpy(), f"max {dim}")
        _close(t.min(dim).numpy(), ta.amin(dim).numpy(), f"min {dim}")
        assert t.argmax(dim).tolist() == ta.argmax(dim).tolist() and t.argmin(dim).tolist() == ta.argmin(dim).tolist()
    assert np.isnan(t.max().item()) and np.isnan(t.amin().item())
    b = np.array([[0.0, 5.0, NAN], [NAN, NAN, NAN], [1.0, NAN, 2.0]], dtype=np.float32)
    _close(t.maximum(Tensor(b)).numpy(), ta.maximum(torch.tensor(b)).numpy(), "maximum")
    _close(t.minimum(Tensor(b)).numpy(), ta.minimum(torch.tensor(b)).numpy(), "minimum")
    clean = Tensor(np.array([[1.0, 3.0], [2.0, 0.0]], dtype=np.float32))
    assert clean.max(1).tolist() == [3.0, 2.0]  # without NaN nothing changes


def test_float16_matmul_accumulates_in_float32() -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-4, 4, (32, 1024)).astype(np.float16), rng.uniform(-4, 4, (1024, 24)).astype(np.float16))
    got = Tensor(a) @ Tensor(b)
    want = torch.tensor(a) @ torch.tensor(b)  # torch's CPU half matmul accumulates in float32
    assert got.dtype == dtypes.float16
    exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float16)
    np.testing.assert_allclose(got.numpy().astype(np.float32), want.numpy().astype(np.float32), rtol=2e-3, atol=0.1)
    np.testing.assert_allclose(got.numpy().astype(np.float32), exact.astype(np.float32), rtol=2e-3, atol=0.1)
