"""Differential testing against PyTorch (CPU) as the oracle: the same function of the same random inputs,
forward and backward, in tg and in torch, compared elementwise.

`check(tg_fn, torch_fn, *inputs)` takes inputs as shapes (random floats are drawn) or numpy arrays, builds
tg Tensors and torch tensors from the same data, compares the outputs (shape, dtype kind, values) and, with
`grad=True`, the gradients of every float input for a random upstream gradient (so every output element's
gradient matters). Returns the tg output. Example: `check(lambda a, b: a * b + 1, lambda a, b: a * b + 1,
(3, 4), (4,))`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from tg_tensor import Tensor, dtypes

TORCH_DTYPE = {
    dtypes.bool: torch.bool,
    dtypes.int8: torch.int8,
    dtypes.uint8: torch.uint8,
    dtypes.int16: torch.int16,
    dtypes.int32: torch.int32,
    dtypes.int64: torch.int64,
    dtypes.float16: torch.float16,
    dtypes.float32: torch.float32,
    dtypes.float64: torch.float64,
}

Input = np.ndarray | tuple[int, ...]

# (name, function) of Python's operators: each works on tg tensors, numpy arrays and torch tensors alike
ARITHMETIC = [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul), ("div", operator.truediv)]
COMPARISONS = [(name, getattr(operator, name)) for name in ("lt", "gt", "le", "ge", "eq", "ne")]
# operand shapes that matmul takes by numpy's rules: 1-D on either side, 2-D, batched, broadcast batches
MATMUL_SHAPES = [((4,), (4,)), ((3,), (3, 5)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (2, 4, 5)),
                 ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2))]  # fmt: skip


def rand(*shape: int, low: float = -2.0, high: float = 2.0, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    """Uniform random data of a shape (integers for integer dtypes, in [low, high))."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(int(low), int(high), shape).astype(dtype)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    return rng.uniform(low, high, shape).astype(dtype)


def _as_arrays(inputs: Sequence[Input], low: float, high: float) -> list[np.ndarray]:
    out = []
    for i, x in enumerate(inputs):
        out.append(np.asarray(x) if isinstance(x, np.ndarray) else rand(*x, low=low, high=high, seed=100 + i))
    return out


def _is_float(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.floating)


def assert_same(got: Tensor, want: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5, what: str = "") -> None:
    """tg result == torch result: same shape, same kind of dtype (bool/int/float), close values."""
    assert got.shape == tuple(want.shape), f"{what}: shape {got.shape} != torch's {tuple(want.shape)}"
    w = want.detach().numpy()
    g = got.numpy()
    kind = lambda a: "b" if a.dtype == np.bool_ else ("f" if np.issubdtype(a.dtype, np.floating) else "i")  # noqa: E731
    assert kind(g) == kind(w), f"{what}: dtype {got.dtype!r} is not of the same kind as torch's {want.dtype}"
    if kind(w) == "f":
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(g, w, err_msg=what)


def check(
    tg_fn: Callable[..., Tensor],
    torch_fn: Callable[..., torch.Tensor],
    *inputs: Input,
    grad: bool = True,
    low: float = -2.0,
    high: float = 2.0,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    same_dtype: bool = False,
) -> Tensor:
    """Compare `tg_fn` with `torch_fn` on the same inputs, forward and (with `grad`) backward."""
    arrays = _as_arrays(inputs, low, high)
    diff = [grad and _is_float(a) for a in arrays]
    tg_in = [Tensor(a, requires_grad=True if d else None) for a, d in zip(arrays, diff)]
    th_in = [torch.tensor(a, requires_grad=d) for a, d in zip(arrays, diff)]
    out, want = tg_fn(*tg_in), torch_fn(*th_in)
    assert_same(out, want, rtol, atol, "forward")
    if same_dtype:
        assert TORCH_DTYPE.get(out.dtype) == want.dtype, f"dtype {out.dtype!r} != torch's {want.dtype}"
    if any(diff) and want.requires_grad:
        upstream = rand(*want.shape, low=0.5, high=1.5, seed=7).astype(np.float32)
        (out * Tensor(upstream).cast(out.dtype)).sum().backward()
        want.backward(torch.tensor(upstream).to(want.dtype))
        for i, (t, th) in enumerate(zip(tg_in, th_in)):
            if not diff[i]:
                continue
            if th.grad is None:
                assert t.grad is None or np.all(t.grad.numpy() == 0), f"input {i}: tg has a gradient, torch none"
                continue
            assert t.grad is not None, f"input {i}: no gradient reached it"
            assert_same(t.grad, th.grad, grad_rtol or rtol * 10, grad_atol or atol * 10, f"grad of input {i}")
    return out
