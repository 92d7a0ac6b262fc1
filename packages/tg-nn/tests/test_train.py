"""End to end: a 2-layer MLP learns a small linearly separable problem with SGD."""

from __future__ import annotations

import numpy as np
import pytest

from tg_nn import Linear, optim
from tg_nn.state import get_parameters
from tg_tensor import Tensor


class MLP:
    def __init__(self, hidden: int) -> None:
        self.l1, self.l2 = Linear(2, hidden), Linear(hidden, 2)

    def __call__(self, x: Tensor) -> Tensor:
        return self.l2(self.l1(x).relu())


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]^2 labelled by the side of the line x0 + 2 x1 = 0.1, with a margin around it."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1, 1, size=(4 * n, 2))
    side = pts[:, 0] + 2 * pts[:, 1] - 0.1
    keep = np.abs(side) > 0.3
    pts, side = pts[keep][:n], side[keep][:n]
    assert len(pts) == n
    return pts.astype(np.float32), (side > 0).astype(np.int32)


def _np_forward(model: MLP, x: np.ndarray) -> np.ndarray:
    assert model.l1.bias is not None and model.l2.bias is not None
    h = np.maximum(x @ model.l1.weight.numpy().T + model.l1.bias.numpy(), 0)
    return h @ model.l2.weight.numpy().T + model.l2.bias.numpy()


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_mlp_learns_linearly_separable_data(momentum: float) -> None:
    Tensor.manual_seed(0)
    x_np, y_np = _separable(64, seed=1)
    assert 0.25 < y_np.mean() < 0.75  # both classes present
    x, y = Tensor(x_np), Tensor(y_np)
    model = MLP(16)
    params = get_parameters(model)
    assert len(params) == 4
    opt = optim.SGD(params, lr=0.5 if momentum == 0 else 0.1, momentum=momentum)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        Tensor.realize(loss, *opt.schedule_step())
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.25 * losses[0]
    logits = model(x).numpy()
    # the tg forward pass agrees with a numpy forward pass of the trained weights
    np.testing.assert_allclose(logits, _np_forward(model, x_np), rtol=1e-4, atol=1e-4)
    accuracy = float((logits.argmax(axis=1) == y_np).mean())
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f}, losses {losses[0]:.3f} -> {losses[-1]:.3f}"
