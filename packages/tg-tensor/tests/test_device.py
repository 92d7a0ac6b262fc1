"""The PYTHON device (the interpreter every backend is checked against) gives the numbers the default device
gives, and numpy's. Inputs are tiny: the interpreter is slow."""

from __future__ import annotations

import numpy as np
import pytest

from tg_tensor import Tensor

RNG = np.random.default_rng(3)
X = RNG.uniform(-2, 2, (3, 4)).astype(np.float32)
W = RNG.uniform(-1, 1, (4, 2)).astype(np.float32)
B = RNG.uniform(-1, 1, (2,)).astype(np.float32)


def _run(device: str) -> np.ndarray:
    x, w, b = (Tensor(v, device=device) for v in (X, W, B))
    h = (x @ w + b).relu()
    scale = (x * x).sum(axis=1, keepdim=True).sqrt() + 1
    return (h.exp() / scale).log_softmax().numpy()


def _reference() -> np.ndarray:
    x, w, b = (v.astype(np.float64) for v in (X, W, B))
    h = np.maximum(x @ w + b, 0)
    z = np.exp(h) / (np.sqrt((x * x).sum(axis=1, keepdims=True)) + 1)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_python_device_matches_default_device_and_numpy():
    on_python = _run("PYTHON")
    default = _run(Tensor([0.0]).device)
    want = _reference()
    np.testing.assert_allclose(on_python, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(on_python, default, rtol=1e-5, atol=1e-6)


def test_python_device_tensors_stay_there():
    t = Tensor([1.0, 2.0], device="PYTHON")
    assert t.device == "PYTHON"
    assert (t * 2).device == "PYTHON"
    assert Tensor.zeros(2, device="PYTHON").device == "PYTHON"
    assert (t * 2).tolist() == [2.0, 4.0]


@pytest.mark.parametrize("device", ["PYTHON", "CPU"])
def test_int_and_compare_ops_on_device(device):
    a = np.array([[3, -1, 4], [1, -5, 9]], dtype=np.int32)
    t = Tensor(a, device=device)
    assert (t * 2 + 1).tolist() == (a * 2 + 1).tolist()
    assert (t > 0).tolist() == (a > 0).tolist()
    assert t.max(axis=1).tolist() == a.max(axis=1).tolist()
    assert t.sum().item() == int(a.sum())
    assert (t / 2).tolist() == (a / 2).astype(np.float32).tolist()


def test_gradients_on_python_device_match_default_device():
    def grads(device: str) -> list[np.ndarray]:
        x = Tensor(X[:2, :3], device=device, requires_grad=True)
        w = Tensor(W[:3], device=device, requires_grad=True)
        (x @ w).sigmoid().sum().backward()
        return [x.grad.numpy(), w.grad.numpy()]

    xd, wd = X[:2, :3].astype(np.float64), W[:3].astype(np.float64)
    s = 1 / (1 + np.exp(-(xd @ wd)))
    ds = s * (1 - s)
    want = [ds @ wd.T, xd.T @ ds]
    for got_py, got_default, w in zip(grads("PYTHON"), grads(Tensor([0.0]).device), want):
        np.testing.assert_allclose(got_py, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_py, got_default, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [{"padding": 1}, {"stride": 2, "padding": 1, "groups": 2}], ids=str)
def test_conv_and_max_pool_gradients_on_python_device_match_default_device(kw):
    # the kernel forms of the convolution gradients (transposed conv, phases, channels-last weight gradient)
    # and of the max-pool gradient in the input's layout, run by the interpreter
    xs = RNG.uniform(-1, 1, (2, 4, 6, 6)).astype(np.float32)
    ws = RNG.uniform(-1, 1, (4, 4 // kw.get("groups", 1), 3, 3)).astype(np.float32)

    def grads(device: str) -> list[np.ndarray]:
        x = Tensor(xs, device=device, requires_grad=True)
        w = Tensor(ws, device=device, requires_grad=True)
        x.conv2d(w, **kw).max_pool2d(2, padding=1).square().sum().backward()
        return [x.grad.numpy(), w.grad.numpy()]

    for got_py, got_default in zip(grads("PYTHON"), grads(Tensor([0.0]).device)):
        np.testing.assert_allclose(got_py, got_default, rtol=1e-4, atol=1e-5)
