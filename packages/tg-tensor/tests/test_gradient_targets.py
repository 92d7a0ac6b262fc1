"""`Tensor.gradient(*targets)` as tinygrad's explicit API: any tensor in the graph is a target, requires_grad or
not; comparisons, where masks and integer-valued paths give zero gradients; a target inside a custom-gradient
region (a convolution's) gets the gradient through that region. torch is the oracle."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tg_tensor import Tensor

DATA = np.array([1.5, 2.0, -3.0, 0.25], dtype=np.float32)


def test_gradient_of_plain_tensors() -> None:
    x = Tensor(DATA)  # no requires_grad
    (g,) = x.sigmoid()[0].gradient(x)
    tx = torch.tensor(DATA, requires_grad=True)
    tx.sigmoid()[0].backward()
    np.testing.assert_allclose(g.numpy(), tx.grad.numpy(), rtol=1e-6)
    y = x * 2  # an intermediate plain tensor as a target, next to its input
    gy, gx = (y * y).sum().gradient(y, x)
    np.testing.assert_allclose(gy.numpy(), 4 * DATA, rtol=1e-6)
    np.testing.assert_allclose(gx.numpy(), 8 * DATA, rtol=1e-6)


def test_backward_still_needs_requires_grad() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor(DATA) * 2).sum().backward()


PATHS: dict[str, tuple[Callable, Callable]] = {
    "where mask": (lambda x: (x > 0).where(x, 0.0).sum(), lambda x: torch.where(x > 0, x, 0.0).sum()),
    "comparison as float": (lambda x: (x > 0).float().sum() + x.sum(), lambda x: (x > 0).float().sum() + x.sum()),
    "integer path": (lambda x: x.int().float().sum() + x.sum(), lambda x: x.int().float().sum() + x.sum()),
    "integer floordiv": (lambda x: (x.int() // 2).float().sum(), lambda x: (x.int() // 2).float().sum() + 0 * x.sum()),
    "integer bits": (lambda x: (x.int() & 3).float().sum(), lambda x: (x.int() & 3).float().sum() + 0 * x.sum()),
    "rounding": (lambda x: x.floor().sum() + x.round().sum(), lambda x: x.floor().sum() + x.round().sum()),
    "equality": (lambda x: (x == x.max()).float().sum(), lambda x: (x == x.max()).float().sum() + 0 * x.sum()),
    "argmax": (lambda x: x.argmax().float() + x.max(), lambda x: x.argmax().float() + x.max()),
    "isnan and sign": (lambda x: x.isnan().float().sum() + x.sign().sum(), lambda x: x.sign().sum()),
}


@pytest.mark.parametrize("name", PATHS)
def test_non_differentiable_paths_give_zeros(name: str) -> None:
    tg_fn, torch_fn = PATHS[name]
    for requires_grad in (None, True):
        x = Tensor(DATA, requires_grad=requires_grad)
        (g,) = tg_fn(x).gradient(x)
        tx = torch.tensor(DATA, requires_grad=True)
        torch_fn(tx).backward()
        np.testing.assert_allclose(g.numpy(), tx.grad.numpy(), rtol=1e-6, err_msg=name)


def test_target_inside_a_convolutions_custom_gradient_region() -> None:
    rng = np.random.default_rng(0)
    xa, wa = rng.standard_normal((1, 2, 5, 5)).astype(np.float32), rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    x, w = Tensor(xa), Tensor(wa)
    y = x.conv2d(w, padding=1)
    xp = x.pad(((0, 0), (0, 0), (1, 1), (1, 1)))  # the same UOp as the padded input inside the convolution
    gxp, gx = (y * y).sum().gradient(xp, x)
    txp = torch.tensor(np.pad(xa, ((0, 0), (0, 0), (1, 1), (1, 1))), requires_grad=True)
    (torch.nn.functional.conv2d(txp, torch.tensor(wa)) ** 2).sum().backward()
    np.testing.assert_allclose(gxp.numpy(), txp.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx.numpy(), txp.grad.numpy()[:, :, 1:-1, 1:-1], rtol=1e-4, atol=1e-4)
