"""Kernel counts of common compositions (fusion), and TinyJit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tg_tensor import Tensor, TinyJit
from tg_uop import Context

RNG = np.random.default_rng(7)
X = RNG.standard_normal((8, 16)).astype(np.float32)


def _layernorm(t: Tensor) -> Tensor:
    m = t.mean(1, keepdim=True)
    v = ((t - m) * (t - m)).mean(1, keepdim=True)
    return (t - m) / (v + 1e-5).sqrt()


def _np_layernorm(a: np.ndarray) -> np.ndarray:
    m = a.mean(1, keepdims=True)
    return (a - m) / np.sqrt(((a - m) ** 2).mean(1, keepdims=True) + 1e-5)


W1, B1 = RNG.standard_normal((32, 16)).astype(np.float32), RNG.standard_normal(32).astype(np.float32)
W2, B2 = RNG.standard_normal((4, 32)).astype(np.float32), RNG.standard_normal(4).astype(np.float32)


def _mlp(t: Tensor) -> Tensor:
    w1, b1, w2, b2 = (Tensor(a).realize() for a in (W1, B1, W2, B2))
    return t.linear(w1, b1).relu().linear(w2, b2)


CASES: list[tuple[str, Callable[[Tensor], Tensor], Callable[[np.ndarray], np.ndarray], int]] = [
    ("sum(1) * 2", lambda t: t.sum(1) * 2, lambda a: a.sum(1) * 2, 1),
    ("mean", lambda t: t.mean(), lambda a: np.array(a.mean()), 1),
    ("(a+b).relu().sum()", lambda t: (t + t).relu().sum(), lambda a: np.array(np.maximum(a + a, 0).sum()), 1),
    (
        "softmax",
        lambda t: t.softmax(1),
        lambda a: np.exp(a - a.max(1, keepdims=True)) / np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True),
        1,
    ),
    (
        "log_softmax",
        lambda t: t.log_softmax(1),
        lambda a: (a - a.max(1, keepdims=True)) - np.log(np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True)),
        1,
    ),
    # a row's statistics run inside the kernel that stores the row (tg-schedule's row broadcasts): one kernel
    ("layernorm", _layernorm, _np_layernorm, 1),
    (
        "Linear -> relu -> Linear",
        _mlp,
        lambda a: np.maximum(a @ W1.T + B1, 0) @ W2.T + B2,
        2,
    ),
]


@pytest.mark.parametrize("name, fn, ref, most", CASES, ids=[c[0] for c in CASES])
def test_kernel_count_and_value(name: str, fn: Callable, ref: Callable, most: int, kernels: Callable) -> None:
    x = Tensor(X).realize()
    out = fn(x)
    assert kernels(out) <= most, name
    np.testing.assert_allclose(out.numpy(), ref(X.astype(np.float64)), rtol=1e-4, atol=1e-5)


def test_random_weight_is_computed_once_not_per_use(kernels: Callable) -> None:
    # tg-schedule's cost rule: a fresh random weight (Threefry, hundreds of ops per element) read by every row of
    # a matmul is realized by a kernel of its own instead of being computed again for each row
    x = Tensor(X).realize()
    w = Tensor.uniform(16, 32, low=-1.0, high=1.0)
    assert kernels(x @ w) == 2
    np.testing.assert_allclose((x @ w).numpy(), X @ w.numpy(), rtol=1e-4, atol=1e-4)


# ---- TinyJit ----


def test_jit_replays_with_new_inputs() -> None:
    calls = []

    @TinyJit
    def f(a: Tensor, b: Tensor) -> Tensor:
        calls.append(1)
        return (a * 2 + b).sum(1)

    for _ in range(6):
        a, b = RNG.standard_normal((4, 5)).astype(np.float32), RNG.standard_normal((4, 5)).astype(np.float32)
        np.testing.assert_allclose(f(Tensor(a), Tensor(b)).numpy(), (a * 2 + b).sum(1), rtol=1e-5, atol=1e-5)
    assert len(calls) == 2  # warm-up and capture; then the Python function is not called any more
    assert f.captured is not None


def test_jit_captures_side_effect_assigns() -> None:
    running = Tensor.zeros(5).realize()

    @TinyJit
    def f(x: Tensor) -> Tensor:
        running.assign(running * 0.9 + x.mean(0) * 0.1)  # no output depends on this update
        return x.max(0)

    expected = np.zeros(5)
    for _ in range(12):
        xs = RNG.standard_normal((3, 5)).astype(np.float32)
        out = f(Tensor(xs))
        expected = expected * 0.9 + xs.mean(0) * 0.1
        np.testing.assert_allclose(out.numpy(), xs.max(0), rtol=1e-6)
    np.testing.assert_allclose(running.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_jit_refuses_inputs_of_another_shape() -> None:
    # max_captures=1: one key only (by default a few shapes are each captured; see test_jit_guards.py)
    def f(x: Tensor) -> Tensor:
        return (x + 1).realize()

    f = TinyJit(f, max_captures=1)

    for _ in range(3):
        f(Tensor.ones(2, 3))
    with pytest.raises(ValueError, match="differ from the captured"):
        f(Tensor.ones(3, 3))
    f.reset()
    assert f(Tensor.ones(3, 3)).numpy().shape == (3, 3)


def test_jit_0_runs_the_function_every_time() -> None:
    calls = []

    @TinyJit
    def f(x: Tensor) -> Tensor:
        calls.append(1)
        return (x * 3).realize()

    with Context(JIT=0):
        for i in range(4):
            assert f(Tensor([float(i)])).tolist() == [3.0 * i]
    assert len(calls) == 4 and f.captured is None
