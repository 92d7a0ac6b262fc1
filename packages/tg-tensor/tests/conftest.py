"""Shared helpers for the tg-tensor tests: kernel counting and a finite-difference gradient check.

Expected gradients are central differences of a float64 numpy reference of the same function, so they never
come from tg itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tg_tensor import Tensor

# pytest runs with --import-mode=importlib, which does not put this folder on sys.path; the test modules import
# the shared helpers (`helpers.py`: the torch-oracle harness and small shared checks) by name. Every package's
# tests call their helper module `helpers`: in a run over several packages each folder's own is put back under
# that name before its test modules are imported.
sys.path.insert(0, str(Path(__file__).parent))
sys.modules.pop("helpers", None)
import helpers  # noqa: E402


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        sys.modules["helpers"] = helpers


def count_kernels(t: Tensor, *others: Tensor) -> int:
    """How many kernels realizing these tensors would run (the schedule is built, nothing runs)."""
    return len([si for si in t.schedule(*others) if si.kind == "kernel"])


def numeric_grads(f: Callable[..., float], arrays: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of the scalar function `f` with respect to each array, in float64."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            orig = a[idx]
            a[idx] = orig + eps
            plus = f(*arrays)
            a[idx] = orig - eps
            minus = f(*arrays)
            a[idx] = orig
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def check_grad(
    tg_fn: Callable[..., Tensor],
    np_fn: Callable[..., Any],
    *inputs: Any,
    rtol: float = 2e-3,
    atol: float = 2e-4,
) -> list[Tensor]:
    """Compare the gradients tg's autograd gives for `tg_fn` with finite differences of `np_fn`.

    The output is reduced to a scalar with fixed random weights (not a plain sum), so that every output
    element's gradient matters. Returns the leaf tensors (with their `.grad`)."""
    arrays = [np.asarray(x, dtype=np.float32) for x in inputs]
    ref_out = np.asarray(np_fn(*[a.astype(np.float64) for a in arrays]))
    weights = np.random.default_rng(1234).uniform(0.5, 1.5, ref_out.shape)
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    out = tg_fn(*leaves)
    assert out.shape == ref_out.shape  # forward values are checked in the other test files
    loss = (out * Tensor(weights.astype(np.float32))).sum()
    loss.backward()
    expected = numeric_grads(lambda *a: float((np.asarray(np_fn(*a)) * weights).sum()), arrays)
    for leaf, want in zip(leaves, expected):
        assert leaf.grad is not None, "no gradient reached an input"
        assert leaf.grad.shape == leaf.shape
        np.testing.assert_allclose(leaf.grad.numpy(), want, rtol=rtol, atol=atol)
    return leaves


@pytest.fixture
def kernels() -> Callable[..., int]:
    return count_kernels


@pytest.fixture
def gradcheck() -> Callable[..., list[Tensor]]:
    return check_grad
