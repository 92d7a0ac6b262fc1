"""Data-parallel training over device instances of one process: weights replicated with `to_(devices)`, each
batch sharded on axis 0. The losses and weights equal a one-device run on the same batches."""

from __future__ import annotations

import numpy as np
import pytest

from tg_nn import BatchNorm2d, Conv2d, Linear, Sequential, optim
from tg_nn.state import get_parameters, get_state_dict
from tg_tensor import Tensor


def small_model() -> Sequential:
    """The main job's layers (conv, batch norm, relu, max pool, linear) on 8x8 images. The conv has no bias: batch
    norm cancels it, so its gradient is rounding noise, which Adam scales up to full-size steps (different noise on
    one device and on two: the loss does not see it, the bias would differ)."""
    return Sequential(
        Conv2d(1, 4, 3, padding=1, bias=False),
        BatchNorm2d(4),
        Tensor.relu,
        lambda x: x.max_pool2d(2),
        lambda x: x.flatten(1),
        Linear(4 * 4 * 4, 10),
    )


def train(devices: tuple[str, ...], opt_name: str, steps: int = 20, batch: int = 8) -> tuple[list[float], list]:
    rng = np.random.default_rng(1)
    xs = rng.random((steps, batch, 1, 8, 8), dtype=np.float32)
    ys = rng.integers(0, 10, (steps, batch)).astype(np.int32)
    Tensor.manual_seed(3)
    model = small_model()
    if devices:
        for t in get_state_dict(model).values():
            t.to_(devices)
    params = get_parameters(model)
    opt = optim.Adam(params, lr=3e-3) if opt_name == "adam" else optim.SGD(params, lr=0.1, momentum=0.9)
    losses = []
    with Tensor.train():
        for x, y in zip(xs, ys, strict=True):
            tx, ty = (Tensor(x).shard(devices, 0), Tensor(y).shard(devices, 0)) if devices else (Tensor(x), Tensor(y))
            opt.zero_grad()
            loss = model(tx).sparse_categorical_crossentropy(ty)
            loss.backward()
            Tensor.realize(loss, *opt.schedule_step())
            losses.append(float(loss.item()))
    return losses, [t.numpy() for t in get_state_dict(model).values()]


@pytest.mark.parametrize(("opt_name", "steps"), [("adam", 20), ("sgd", 5)])
def test_two_devices_match_one(opt_name: str, steps: int) -> None:
    one_losses, one_state = train((), opt_name, steps)
    two_losses, two_state = train(("CPU:0", "CPU:1"), opt_name, steps)
    np.testing.assert_allclose(two_losses, one_losses, rtol=1e-5, atol=1e-5)
    for got, want in zip(two_state, one_state, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    if opt_name == "adam":  # it trains (5 SGD steps on random labels need not)
        assert one_losses[-1] < one_losses[0]


def test_replicated_weights_stay_identical_on_every_device() -> None:
    devs = ("CPU:0", "CPU:1", "CPU:2", "CPU:3")
    Tensor.manual_seed(3)
    model = small_model()
    for t in get_state_dict(model).values():
        t.to_(devs)
    opt = optim.Adam(get_parameters(model), lr=3e-3)
    x = Tensor(np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)).shard(devs)
    y = Tensor(np.arange(8, dtype=np.int32)).shard(devs)
    with Tensor.train():
        opt.zero_grad()
        model(x).sparse_categorical_crossentropy(y).backward()
        opt.step()
    for t in get_state_dict(model).values():
        values = [Tensor(p).numpy() for p in t.realize().uop.src]
        assert all(np.array_equal(v, values[0]) for v in values), "replicas differ"
