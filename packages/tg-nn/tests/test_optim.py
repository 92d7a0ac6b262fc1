"""tg_nn.optim.SGD against a numpy re-implementation of torch.optim.SGD's update rule (dampening 0):

g = grad + weight_decay * p
buf = g                      (first step)      buf = momentum * buf + g   (later steps)
g = g + momentum * buf       (nesterov)        g = buf                    (otherwise; only if momentum != 0)
p = p - lr * g
"""

from __future__ import annotations

import numpy as np
import pytest

from tg_nn import Linear, optim
from tg_tensor import Tensor

CONFIGS = [
    pytest.param({"lr": 0.1}, id="plain"),
    pytest.param({"lr": 0.05, "weight_decay": 0.1}, id="weight_decay"),
    pytest.param({"lr": 0.05, "momentum": 0.9}, id="momentum"),
    pytest.param({"lr": 0.05, "momentum": 0.8, "nesterov": True}, id="nesterov"),
    pytest.param({"lr": 0.03, "momentum": 0.9, "weight_decay": 0.2}, id="momentum_wd"),
    pytest.param({"lr": 0.03, "momentum": 0.5, "weight_decay": 0.3, "nesterov": True}, id="nesterov_wd"),
]


class NumpySGD:
    """Independent reference: PyTorch's SGD step, in float64."""

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.bufs: dict[int, np.ndarray] = {}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        new = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            d = g + self.weight_decay * p if self.weight_decay != 0 else g.copy()
            if self.momentum != 0:
                if i not in self.bufs:
                    self.bufs[i] = d.copy()
                else:
                    self.bufs[i] = self.momentum * self.bufs[i] + d
                d = d + self.momentum * self.bufs[i] if self.nesterov else self.bufs[i]
            new.append(p - self.lr * d)
        return new


def _regression_data(n: int = 8, fin: int = 3, fout: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, fin)).astype(np.float32)
    y = rng.standard_normal((n, fout)).astype(np.float32)
    return x, y


def _np_mse_and_grads(
    w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """loss = mean((x W^T + b - y)^2) over all elements; its gradients w.r.t. W and b."""
    r = x @ w.T + b - y
    scale = 2.0 / r.size
    return float((r * r).mean()), scale * r.T @ x, scale * r.sum(0)


def _mse(pred: Tensor, y: Tensor) -> Tensor:
    d = pred - y
    return (d * d).mean()


@pytest.fixture(autouse=True)
def _seed() -> None:
    Tensor.manual_seed(42)


class _Regression:
    """A Linear(3, 2) fitted by SGD with `cfg`, next to the float64 numpy reference of the same model."""

    def __init__(self, cfg: dict, seed: int) -> None:
        x_np, y_np = _regression_data(seed=seed)
        self.x64, self.y64 = x_np.astype(np.float64), y_np.astype(np.float64)
        self.lin = Linear(3, 2)
        assert self.lin.bias is not None
        self.opt = optim.SGD([self.lin.weight, self.lin.bias], **cfg)
        self.ref = NumpySGD(**cfg)
        self.w, self.b = self.lin.weight.numpy().astype(np.float64), self.lin.bias.numpy().astype(np.float64)
        self.x, self.y = Tensor(x_np), Tensor(y_np)

    def loss(self) -> Tensor:
        self.opt.zero_grad()
        loss = _mse(self.lin(self.x), self.y)
        loss.backward()
        return loss

    def reference_step(self) -> float:
        """The reference's loss before its step; the step moves its w and b."""
        ref_loss, gw, gb = _np_mse_and_grads(self.w, self.b, self.x64, self.y64)
        self.w, self.b = self.ref.step([self.w, self.b], [gw, gb])
        return ref_loss

    def assert_same_parameters(self) -> None:
        assert self.lin.bias is not None
        np.testing.assert_allclose(self.lin.weight.numpy(), self.w, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(self.lin.bias.numpy(), self.b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_sgd_linear_regression_matches_numpy_step_by_step(cfg: dict) -> None:
    r = _Regression(cfg, seed=0)
    opt, ref = r.opt, r.ref
    for _ in range(5):
        loss = r.loss()
        # read the loss before the step: a lazy tensor reads the parameters' buffers when it is realized
        assert loss.item() == pytest.approx(r.reference_step(), rel=1e-4, abs=1e-6)
        opt.step()  # gradients not realized beforehand: they are computed in the step's schedule
        r.assert_same_parameters()
    if cfg.get("momentum"):
        np.testing.assert_allclose(opt.bufs[0].numpy(), ref.bufs[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(opt.bufs[1].numpy(), ref.bufs[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_loss_realized_with_the_step_sees_the_old_parameters(cfg: dict) -> None:
    # the training-loop idiom: Tensor.realize(loss, *opt.schedule_step()) computes the loss and updates in one schedule
    r = _Regression(cfg, seed=1)
    for _ in range(3):
        loss = r.loss()
        Tensor.realize(loss, *r.opt.schedule_step())
        assert loss.item() == pytest.approx(r.reference_step(), rel=1e-4, abs=1e-6)
        r.assert_same_parameters()


@pytest.mark.parametrize("device", ["CPU", "PYTHON"])
def test_sgd_quadratic_on_device(device: str) -> None:
    # f(p) = sum(a * p^2) / 2 + sum(c * p)  =>  grad = a * p + c
    a_np = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    c_np = np.array([0.5, -1.0, 0.25], dtype=np.float32)
    p0 = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    cfg = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05, "nesterov": True}
    p = Tensor(p0, device=device)
    a, c = Tensor(a_np, device=device), Tensor(c_np, device=device)
    opt = optim.SGD([p], **cfg)
    assert opt.bufs[0].device == p.device
    ref, q = NumpySGD(**cfg), p0.astype(np.float64)
    for _ in range(3):
        opt.zero_grad()
        (a * p * p * 0.5 + c * p).sum().backward()
        opt.step()
        (q,) = ref.step([q], [a_np * q + c_np])
        np.testing.assert_allclose(p.numpy(), q, rtol=1e-5, atol=1e-6)
    assert p.device == device


def test_zero_grad_clears_gradients_and_leaves_nothing_to_update() -> None:
    w = Tensor([1.0, -1.0, 2.0], requires_grad=True)
    v = Tensor([[0.5, 0.5]], requires_grad=True)
    opt = optim.SGD([w, v], lr=0.1)
    (w * w).sum().backward()
    (v * 3.0).sum().backward()
    assert w.grad is not None and v.grad is not None
    opt.zero_grad()
    assert w.grad is None and v.grad is None
    assert opt.schedule_step() == []
    np.testing.assert_array_equal(w.numpy(), [1.0, -1.0, 2.0])
    np.testing.assert_array_equal(v.numpy(), [[0.5, 0.5]])


def test_gradients_accumulate_without_zero_grad() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)
    (w * w).sum().backward()
    (w * w).sum().backward()  # grad = 2w + 2w = 4w
    opt.step()
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0], atol=1e-7)


def test_parameter_without_gradient_is_left_alone() -> None:
    used = Tensor([1.0, 2.0], requires_grad=True)
    unused = Tensor([5.0, 6.0], requires_grad=True)
    opt = optim.SGD([used, unused], lr=0.5, momentum=0.9)
    (used * 2.0).sum().backward()
    assert unused.grad is None
    opt.step()
    np.testing.assert_allclose(used.numpy(), [0.0, 1.0], atol=1e-7)
    np.testing.assert_array_equal(unused.numpy(), [5.0, 6.0])
    np.testing.assert_array_equal(opt.bufs[1].numpy(), [0.0, 0.0])


def test_requires_grad_none_is_switched_on_and_false_is_skipped() -> None:
    undecided = Tensor([1.0, 2.0])
    frozen = Tensor([3.0, 4.0], requires_grad=False)
    on = Tensor([5.0, 6.0], requires_grad=True)
    assert undecided.requires_grad is None
    opt = optim.SGD([undecided, frozen, on], lr=0.5)
    assert undecided.requires_grad is True
    assert frozen.requires_grad is False
    assert on.requires_grad is True
    assert len(opt.params) == 2
    assert opt.params[0] is undecided and opt.params[1] is on
    (undecided * frozen + on * on).sum().backward()  # grads: frozen, 2*on
    assert frozen.grad is None
    opt.step()
    np.testing.assert_allclose(undecided.numpy(), [1.0 - 1.5, 2.0 - 2.0])
    np.testing.assert_array_equal(frozen.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(on.numpy(), [0.0, 0.0], atol=1e-7)


@pytest.mark.parametrize("params", [[], [Tensor([1.0], requires_grad=False)]], ids=["empty", "all_frozen"])
def test_no_trainable_parameters_raises(params: list) -> None:
    with pytest.raises(ValueError, match="requires_grad"):
        optim.SGD(params, lr=0.1)


def test_lazy_parameter_is_realized_and_updated() -> None:
    p = Tensor([1.0, 2.0, 3.0]) * 2.0 + 1.0  # not realized yet: [3, 5, 7]
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    expected = np.array([3.0, 5.0, 7.0]) * (1 - 0.1 * 2)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-6)


def test_parameters_with_equal_lazy_graphs_get_their_own_buffers() -> None:
    # two LayerNorms' weights are both Tensor.ones(4): one graph, which realized together would be one buffer
    a, b = Tensor.ones(4), Tensor.ones(4)
    opt = optim.SGD([a, b], lr=1.0)
    assert a.buffer() is not b.buffer()
    opt.zero_grad()
    (a * Tensor([1.0, 2.0, 3.0, 4.0]) + b * 10).sum().backward()
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.0, -1.0, -2.0, -3.0])
    np.testing.assert_allclose(b.numpy(), [-9.0, -9.0, -9.0, -9.0])


def test_base_optimizer_step_is_abstract() -> None:
    opt = optim.Optimizer([Tensor([1.0], requires_grad=True)], lr=0.1)
    assert opt.lr.item() == pytest.approx(0.1)  # lr is a device tensor (schedulers and TinyJit update it)
    with pytest.raises(NotImplementedError):
        opt.step()


def _mlp_params_with_realized_grads() -> tuple[list[Tensor], list[np.ndarray], list[np.ndarray]]:
    l1, l2 = Linear(3, 4), Linear(4, 2)
    assert l1.bias is not None and l2.bias is not None
    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    for p in params:
        p.requires_grad = True
    x = Tensor(np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32))
    l2(l1(x).relu()).sum().backward()
    grads = [p.grad for p in params]
    assert all(g is not None for g in grads)
    Tensor.realize(*grads)  # type: ignore[arg-type]
    return params, [p.numpy().astype(np.float64) for p in params], [g.numpy().astype(np.float64) for g in grads]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("cfg", "kernels_per_param"),
    [
        pytest.param({"lr": 0.1}, 1, id="plain"),
        pytest.param({"lr": 0.1, "weight_decay": 0.01}, 1, id="weight_decay"),
        # with momentum the buffer is a second output of the parameter's kernel, not a kernel of its own
        pytest.param({"lr": 0.1, "momentum": 0.9}, 1, id="momentum"),
        pytest.param({"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, 1, id="nesterov_wd"),
    ],
)
def test_step_kernel_count_with_realized_gradients(cfg: dict, kernels_per_param: int) -> None:
    params, p_np, g_np = _mlp_params_with_realized_grads()
    opt = optim.SGD(params, **cfg)
    to_realize = opt.schedule_step()
    sched = Tensor.schedule(*to_realize)
    kernels = [si for si in sched if si.kind == "kernel"]
    assert len(kernels) <= kernels_per_param * len(params)
    assert len(kernels) == len(sched), "an update of parameters already on the device needs no copies"
    # and the scheduled update is the right one
    Tensor.realize(*to_realize)
    expected = NumpySGD(**cfg).step(p_np, g_np)
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-5, atol=1e-6)
