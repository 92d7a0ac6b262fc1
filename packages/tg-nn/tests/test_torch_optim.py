"""tg_nn.optim (SGD, Adam, AdamW, LAMB) and tg_nn.lr_scheduler, step by step against torch.optim (LAMB, which torch
lacks, against a float64 numpy version of the published update), plus kernel counts, TinyJit and bad input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tg_nn import lr_scheduler, optim
from tg_tensor import Tensor, TinyJit
from tg_uop.dtype import dtypes

SHAPES = [(3, 4), (5,), (), (2, 1, 3)]
STEPS = 5


def _params(seed: int, shapes: list[tuple[int, ...]] = SHAPES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _grads(rng: np.random.Generator, shapes: list[tuple[int, ...]] = SHAPES) -> list[np.ndarray]:
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _assert_close(tg: list[Tensor], ref: list[np.ndarray], rtol: float = 1e-5) -> None:
    for t, r in zip(tg, ref, strict=True):
        np.testing.assert_allclose(t.numpy(), r, rtol=rtol, atol=rtol * 1e-2)


def _run_against_torch(
    make_tg: Callable, make_torch: Callable, seed: int = 0, shapes: list[tuple[int, ...]] = SHAPES
) -> None:
    """The same parameters and gradients in both, STEPS steps, parameters compared after each."""
    p0 = _params(seed, shapes)
    tg_ps = [Tensor(p.copy(), requires_grad=True) for p in p0]
    th_ps = [torch.tensor(p.copy(), requires_grad=True) for p in p0]
    tg_opt, th_opt = make_tg(tg_ps), make_torch(th_ps)
    rng = np.random.default_rng(seed + 100)
    for _ in range(STEPS):
        gs = _grads(rng, shapes)
        for t, g in zip(tg_ps, gs, strict=True):
            t.grad = Tensor(g)
        for t, g in zip(th_ps, gs, strict=True):
            t.grad = torch.tensor(g)
        tg_opt.step()
        th_opt.step()
        _assert_close(tg_ps, [t.detach().numpy() for t in th_ps])


SGD_CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.03, "momentum": 0.9, "weight_decay": 0.2},
    {"lr": 0.03, "momentum": 0.5, "weight_decay": 0.3, "nesterov": True},
]
ADAM_CONFIGS = [
    {},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6},
]
ADAMW_CONFIGS = [
    {},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.02, "betas": (0.5, 0.9), "eps": 1e-4, "weight_decay": 0.0},
]


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=str)
def test_sgd_matches_torch(cfg: dict) -> None:
    _run_against_torch(lambda ps: optim.SGD(ps, **cfg), lambda ps: torch.optim.SGD(ps, **cfg))


@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=str)
def test_adam_matches_torch(cfg: dict) -> None:
    _run_against_torch(lambda ps: optim.Adam(ps, **cfg), lambda ps: torch.optim.Adam(ps, **cfg))


@pytest.mark.parametrize("cfg", ADAMW_CONFIGS, ids=str)
def test_adamw_matches_torch(cfg: dict) -> None:
    _run_against_torch(lambda ps: optim.AdamW(ps, **cfg), lambda ps: torch.optim.AdamW(ps, **cfg))


def test_adamw_default_weight_decay_is_torchs() -> None:
    p = Tensor([1.0], requires_grad=True)
    assert optim.AdamW([p]).decay == torch.optim.AdamW([torch.zeros(1, requires_grad=True)]).defaults["weight_decay"]
    assert optim.Adam([p], weight_decay=0.1).decay == 0.0  # L2 on the gradient, not decoupled decay


def test_tinygrad_beta_names() -> None:
    _run_against_torch(
        lambda ps: optim.Adam(ps, lr=0.01, b1=0.7, b2=0.95), lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.7, 0.95))
    )


def test_adam_through_backward_matches_torch() -> None:
    # gradients from backward() of the same loss in both frameworks, not set by hand
    x_np = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
    w0, b0 = _params(4, [(3, 2), (2,)])
    w, b = Tensor(w0, requires_grad=True), Tensor(b0, requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt, topt = optim.Adam([w, b], lr=0.05), torch.optim.Adam([tw, tb], lr=0.05)
    x, tx = Tensor(x_np), torch.tensor(x_np)
    for _ in range(STEPS):
        opt.zero_grad()
        topt.zero_grad()
        ((x @ w + b).tanh() ** 2).mean().backward()
        ((tx @ tw + tb).tanh() ** 2).mean().backward()
        opt.step()
        topt.step()
        _assert_close([w, b], [tw.detach().numpy(), tb.detach().numpy()])


class NumpyLAMB:
    """The published LAMB update (You et al. 2019, with Adam's bias correction), in float64."""

    def __init__(self, lr: float, b1: float, b2: float, eps: float, wd: float, adam: bool) -> None:
        self.lr, self.b1, self.b2, self.eps, self.wd, self.adam = lr, b1, b2, eps, wd, adam
        self.t = 0
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.m[i] = self.b1 * self.m.get(i, 0.0) + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v.get(i, 0.0) + (1 - self.b2) * g * g
            m_hat = self.m[i] / (1 - self.b1**self.t)
            v_hat = self.v[i] / (1 - self.b2**self.t)
            u = m_hat / (np.sqrt(v_hat) + self.eps) + self.wd * p
            ratio = 1.0
            if not self.adam:
                pn, un = np.linalg.norm(p), np.linalg.norm(u)
                ratio = pn / un if pn > 0 and un > 0 else 1.0
            out.append(p - self.lr * ratio * u)
        return out


LAMB_CONFIGS = [
    {},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.01},
    {"lr": 0.01, "adam": True, "weight_decay": 0.05},
]


@pytest.mark.parametrize("cfg", LAMB_CONFIGS, ids=str)
def test_lamb_matches_numpy_reference(cfg: dict) -> None:
    b1, b2 = cfg.get("betas", (0.9, 0.999))
    ref = NumpyLAMB(
        cfg.get("lr", 0.001), b1, b2, cfg.get("eps", 1e-6), cfg.get("weight_decay", 0.0), cfg.get("adam", False)
    )
    p0 = _params(7)
    p0[1][:] = 0.0  # a zero parameter: ||p|| = 0, so its trust ratio is 1
    ps = [Tensor(p.copy(), requires_grad=True) for p in p0]
    opt = optim.LAMB(ps, **cfg)
    rng = np.random.default_rng(8)
    expected = [p.astype(np.float64) for p in p0]
    for _ in range(STEPS):
        gs = _grads(rng)
        for t, g in zip(ps, gs, strict=True):
            t.grad = Tensor(g)
        opt.step()
        expected = ref.step(expected, [g.astype(np.float64) for g in gs])
        _assert_close(ps, expected)


def test_lamb_trust_ratio_scales_the_step() -> None:
    # one step from m = v = 0: u = g / (|g| + eps) elementwise = sign(g) (nearly); ratio = ||p|| / ||u||
    p = Tensor([3.0, 4.0], requires_grad=True)
    opt = optim.LAMB([p], lr=0.1, eps=0.0)
    p.grad = Tensor([1.0, -2.0])
    opt.step()
    ratio = 5.0 / np.sqrt(2.0)
    np.testing.assert_allclose(p.numpy(), [3.0 - 0.1 * ratio, 4.0 + 0.1 * ratio], rtol=1e-6)


def test_parameter_without_gradient_keeps_its_state() -> None:
    used, unused = Tensor([1.0, 2.0], requires_grad=True), Tensor([5.0], requires_grad=True)
    opt = optim.Adam([used, unused], lr=0.1)
    used.grad = Tensor([1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(unused.numpy(), [5.0])
    np.testing.assert_array_equal(opt.m[1].numpy(), [0.0])
    np.testing.assert_allclose(used.numpy(), [0.9, 2.1], rtol=1e-6)
    opt.zero_grad()
    assert opt.schedule_step() == []
    np.testing.assert_allclose(opt.bias_correction.numpy(), [0.1, 0.001], rtol=1e-6)  # the count did not move


# ---- kernels per step: N = 4 parameters, gradients already realized


def _kernels_per_step(
    make: Callable[[list[Tensor]], optim.Optimizer], shapes: list[tuple[int, ...]] | None = None
) -> int:
    ps = [Tensor(p, requires_grad=True) for p in _params(1, shapes or [(3, 4), (4,), (2, 3), (5,)])]
    opt = make(ps)
    rng = np.random.default_rng(2)
    counts = []
    for _ in range(2):  # the first step and a later one schedule alike
        for t, g in zip(ps, _grads(rng, [tuple(p.shape) for p in ps]), strict=True):
            t.grad = Tensor(g).realize()
        todo = opt.schedule_step()
        sched = Tensor.schedule(*todo)
        assert all(si.kind == "kernel" for si in sched), "the state is on the device: nothing to copy"
        counts.append(len(sched))
        Tensor.realize(*todo)
    assert counts[0] == counts[1]
    return counts[0]


@pytest.mark.parametrize(
    ("make", "kernels"),
    [
        pytest.param(lambda ps: optim.SGD(ps, lr=0.1), 4, id="SGD"),
        pytest.param(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1), 4, id="SGD-momentum"),
        pytest.param(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 4, id="SGD-nesterov"),
        # N: the bias-correction counter is advanced in the smallest parameter's kernel
        pytest.param(lambda ps: optim.Adam(ps, weight_decay=0.1), 4, id="Adam"),
        pytest.param(lambda ps: optim.AdamW(ps), 4, id="AdamW"),
        # 2N: a norms kernel and an update kernel per parameter
        pytest.param(lambda ps: optim.LAMB(ps, weight_decay=0.1), 8, id="LAMB"),
        pytest.param(lambda ps: optim.LAMB(ps, adam=True), 4, id="LAMB-adam"),
    ],
)
def test_kernel_count_per_step(make: Callable, kernels: int) -> None:
    assert _kernels_per_step(make) == kernels


# parameters of one shape (a norm layer's weight and bias) are updated from one loop: 3 shapes, 3 kernels
@pytest.mark.parametrize(
    ("make", "torch_make", "kernels"),
    [
        pytest.param(lambda ps: optim.SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1), 3, id="SGD"),
        pytest.param(
            lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
            3,
            id="SGD-momentum",
        ),
        pytest.param(lambda ps: optim.Adam(ps, lr=0.05), lambda ps: torch.optim.Adam(ps, lr=0.05), 3, id="Adam"),
        pytest.param(lambda ps: optim.AdamW(ps, lr=0.05), lambda ps: torch.optim.AdamW(ps, lr=0.05), 3, id="AdamW"),
        # the two (4,) parameters' norms share one reduction kernel (one loop nest, both read the counter)
        pytest.param(lambda ps: optim.LAMB(ps), None, 3 + 3, id="LAMB"),
    ],
)
def test_parameters_of_one_shape_share_a_kernel(make: Callable, torch_make: Callable | None, kernels: int) -> None:
    shapes = [(3, 4), (4,), (4,), (5,)]
    assert _kernels_per_step(make, shapes) == kernels
    if torch_make is not None:
        _run_against_torch(make, torch_make, seed=21, shapes=shapes)


def test_counter_shares_the_kernel_of_a_parameter_of_its_shape() -> None:
    # the smallest parameter has no gradient, another of its shape does: the counter is stored from that one's loop
    shapes = [(3, 4), (2,), (2,)]
    ps = [Tensor(p, requires_grad=True) for p in _params(22, shapes)]
    tps = [torch.tensor(t.numpy(), requires_grad=True) for t in ps]
    opt, topt = optim.Adam(ps, lr=0.05), torch.optim.Adam(tps, lr=0.05)
    rng = np.random.default_rng(23)
    for step in range(3):
        for i, (t, tt, g) in enumerate(zip(ps, tps, _grads(rng, shapes), strict=True)):
            skip = step == 1 and i == 1
            t.grad = None if skip else Tensor(g).realize()
            tt.grad = None if skip else torch.tensor(g)
        todo = opt.schedule_step()
        assert len(Tensor.schedule(*todo)) == 2
        Tensor.realize(*todo)
        topt.step()
        # torch counts steps per parameter: the skipped one differs from the third step on, by design
        _assert_close([ps[0], ps[2]], [tps[0].detach().numpy(), tps[2].detach().numpy()])


def test_adam_step_after_backward_adds_n_kernels() -> None:
    # unrealized gradients from backward(): the step's kernels come on top of the gradients', still N of them
    rng = np.random.default_rng(5)
    shapes = [(3, 8), (8,), (8, 2), (2,)]
    ps = [Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]
    opt = optim.Adam(ps, lr=0.01)
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32)).realize()
    loss = ((x @ ps[0] + ps[1]).relu() @ ps[2] + ps[3]).square().mean()
    loss.backward()
    grads_only = len(Tensor.schedule(loss, *[p.grad for p in ps if p.grad is not None]))
    assert len(Tensor.schedule(loss, *opt.schedule_step())) <= grads_only + len(ps)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_step_without_the_smallest_parameters_gradient(name: str) -> None:
    # the counter lives in the smallest parameter's kernel; when that one has no gradient it takes a kernel of
    # its own, and still counts the step: the parameters updated every step go on matching torch's
    shapes = [(3, 4), (2,), (2, 3)]
    p0 = _params(9, shapes)
    ps = [Tensor(p.copy(), requires_grad=True) for p in p0]
    tps = [torch.tensor(p.copy(), requires_grad=True) for p in p0]
    opt, topt = getattr(optim, name)(ps, lr=0.05), getattr(torch.optim, name)(tps, lr=0.05)
    rng = np.random.default_rng(10)
    for step in range(4):
        skip = step == 1  # the smallest parameter, ps[1], has no gradient in the second step
        for i, (t, tt, g) in enumerate(zip(ps, tps, _grads(rng, shapes), strict=True)):
            t.grad = None if skip and i == 1 else Tensor(g).realize()
            tt.grad = None if skip and i == 1 else torch.tensor(g)
        todo = opt.schedule_step()
        assert len(Tensor.schedule(*todo)) == 3  # 3 parameters, or 2 and the counter
        Tensor.realize(*todo)
        topt.step()
        _assert_close([ps[0], ps[2]], [tps[0].detach().numpy(), tps[2].detach().numpy()])
    np.testing.assert_allclose(opt.bias_correction.numpy(), [1 - 0.9**4, 1 - 0.999**4], rtol=1e-6)


def test_adam_with_empty_parameters() -> None:
    # an empty parameter cannot hold the counter: the smallest non-empty one does, or a tensor of its own
    p0 = _params(13, [(0,), (3,)])
    ps = [Tensor(p.copy(), requires_grad=True) for p in p0]
    tps = [torch.tensor(p.copy(), requires_grad=True) for p in p0]
    opt, topt = optim.Adam(ps, lr=0.1), torch.optim.Adam(tps, lr=0.1)
    for _ in range(2):
        for t, tt in zip(ps, tps, strict=True):
            t.grad, tt.grad = Tensor.ones(*t.shape).realize(), torch.ones(t.shape)
        todo = opt.schedule_step()
        assert len(Tensor.schedule(*todo)) == 2
        Tensor.realize(*todo)
        topt.step()
        _assert_close(ps, [t.detach().numpy() for t in tps])
    only_empty = Tensor(np.zeros((2, 0), np.float32), requires_grad=True)
    opt = optim.Adam([only_empty])
    only_empty.grad = Tensor(np.zeros((2, 0), np.float32))
    opt.step()
    np.testing.assert_allclose(opt.bias_correction.numpy(), [0.1, 0.001], rtol=1e-6)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_float16_parameters(name: str) -> None:
    # the counter is float32: a float16 parameter (here the smallest, which stores it) computes in float16
    p0 = [p.astype(np.float16) for p in _params(14, [(2,), (3, 2)])]
    ps = [Tensor(p0[0].copy(), requires_grad=True), Tensor(p0[1].astype(np.float32), requires_grad=True)]
    tps = [torch.tensor(p.astype(np.float32), requires_grad=True) for p in p0]
    opt, topt = getattr(optim, name)(ps, lr=0.05), getattr(torch.optim, name)(tps, lr=0.05)
    rng = np.random.default_rng(15)
    for _ in range(3):
        gs = [g.astype(np.float16).astype(np.float32) for g in _grads(rng, [(2,), (3, 2)])]
        ps[0].grad, ps[1].grad = Tensor(gs[0].astype(np.float16)).realize(), Tensor(gs[1]).realize()
        for tt, g in zip(tps, gs, strict=True):
            tt.grad = torch.tensor(g)
        todo = opt.schedule_step()
        assert len(Tensor.schedule(*todo)) == 2
        Tensor.realize(*todo)
        topt.step()
    assert ps[0].dtype == opt.m[0].dtype == opt.v[0].dtype == dtypes.float16
    np.testing.assert_allclose(ps[0].numpy().astype(np.float32), tps[0].detach().numpy(), rtol=5e-3, atol=5e-3)
    np.testing.assert_allclose(ps[1].numpy(), tps[1].detach().numpy(), rtol=1e-5, atol=1e-7)


def test_scheduler_step_is_one_kernel() -> None:
    opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.1)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10)
    assert len(Tensor.schedule(*sched.schedule_step())) == 1


# ---- TinyJit: the step count and lr are device tensors, so a replayed step advances them


def _jit_run(use_jit: bool, make_opt: Callable, with_sched: bool) -> tuple[list[np.ndarray], list[float]]:
    w0, b0 = _params(11, [(3, 2), (2,)])
    w, b = Tensor(w0, requires_grad=True), Tensor(b0, requires_grad=True)
    opt = make_opt([w, b])
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if with_sched else None

    def train_step(x: Tensor, y: Tensor) -> Tensor:
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return loss.realize()

    step = TinyJit(train_step) if use_jit else train_step
    rng = np.random.default_rng(12)
    losses = []
    for _ in range(6):
        x, y = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 2)).astype(np.float32)
        losses.append(float(step(Tensor(x), Tensor(y)).item()))
    if use_jit:
        assert isinstance(step, TinyJit) and step.captured is not None, "steps 3 to 6 were replays"
    return [w.numpy(), b.numpy()], losses


@pytest.mark.parametrize(
    "make_opt",
    [
        pytest.param(lambda ps: optim.Adam(ps, lr=0.05), id="Adam"),
        pytest.param(lambda ps: optim.LAMB(ps, lr=0.05, weight_decay=0.01), id="LAMB"),
    ],
)
@pytest.mark.parametrize("with_sched", [False, True], ids=["no_sched", "StepLR"])
def test_jitted_step_matches_plain_steps(make_opt: Callable, with_sched: bool) -> None:
    plain, plain_losses = _jit_run(False, make_opt, with_sched)
    jitted, jit_losses = _jit_run(True, make_opt, with_sched)
    np.testing.assert_allclose(jit_losses, plain_losses, rtol=1e-6)
    for a, e in zip(jitted, plain, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


# ---- learning-rate schedules against torch.optim.lr_scheduler

SCHEDULES = [
    pytest.param(
        lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        12,
        id="StepLR",
    ),
    pytest.param(
        lambda o: lr_scheduler.StepLR(o, step_size=1, gamma=0.0),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.0),
        3,
        id="StepLR-gamma0",
    ),
    pytest.param(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
        13,  # past T_max: the cosine goes back up, as torch's does
        id="CosineAnnealingLR",
    ),
    pytest.param(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7),
        7,
        id="CosineAnnealingLR-eta0",
    ),
    pytest.param(
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=10),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=10, cycle_momentum=False),
        9,
        id="OneCycleLR",
    ),
    pytest.param(
        lambda o: lr_scheduler.OneCycleLR(
            o, 0.2, 7, pct_start=0.25, anneal_strategy="linear", div_factor=10, final_div_factor=100
        ),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o,
            0.2,
            total_steps=7,
            pct_start=0.25,
            anneal_strategy="linear",
            div_factor=10,
            final_div_factor=100,
            cycle_momentum=False,
        ),
        6,
        id="OneCycleLR-linear",
    ),
]


@pytest.mark.parametrize(("make", "make_torch", "steps"), SCHEDULES)
@pytest.mark.parametrize("opt_name", ["SGD", "AdamW"])
def test_schedule_matches_torch(make: Callable, make_torch: Callable, steps: int, opt_name: str) -> None:
    opt = getattr(optim, opt_name)([Tensor([1.0], requires_grad=True)], lr=0.1)
    topt = getattr(torch.optim, opt_name)([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched, tsched = make(opt), make_torch(topt)
    got, want = [opt.lr.item()], [topt.param_groups[0]["lr"]]
    for _ in range(steps):
        topt.step()  # torch warns when the scheduler steps before the optimizer
        sched.step()
        tsched.step()
        got.append(opt.lr.item())
        want.append(topt.param_groups[0]["lr"])
    scale = max(want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * scale)


def test_onecycle_holds_the_final_lr_past_total_steps() -> None:
    opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.1)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=4)
    lrs = []
    for _ in range(6):
        sched.step()
        lrs.append(opt.lr.item())
    assert lrs[2] == pytest.approx(1.0 / 25 / 1e4)
    assert lrs[3:] == [lrs[2]] * 3


def test_scheduler_changes_the_update() -> None:
    # grad 1 each step: the parameter moves by lr, and StepLR halves lr every step
    p = Tensor([0.0], requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    values = []
    for _ in range(4):
        p.grad = Tensor([1.0])
        opt.step()
        sched.step()
        values.append(p.item())
    np.testing.assert_allclose(values, [-1.0, -1.5, -1.75, -1.875])


def test_lr_given_as_tensor_and_read_back() -> None:
    p = Tensor([1.0], requires_grad=True)
    opt = optim.Adam([p], lr=Tensor([0.25]))
    assert opt.lr.shape == () and opt.lr.item() == 0.25


# ---- bad input


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "LAMB"])
def test_negative_lr(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: lr must be >= 0"):
        getattr(optim, name)([Tensor([1.0], requires_grad=True)], lr=-0.1)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "LAMB"])
@pytest.mark.parametrize(("betas", "which"), [((1.0, 0.9), "betas\\[0\\]"), ((0.9, -0.1), "betas\\[1\\]")])
def test_betas_out_of_range(name: str, betas: tuple[float, float], which: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: {which} must be in \\[0.0, 1.0\\)"):
        getattr(optim, name)([Tensor([1.0], requires_grad=True)], betas=betas)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "LAMB"])
def test_duplicate_parameter(name: str) -> None:
    p = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=f"{name}: params contains a tensor more than once"):
        getattr(optim, name)([p, Tensor([2.0]), p])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "LAMB"])
def test_non_tensor_parameter(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: params must be Tensors, got a ndarray"):
        getattr(optim, name)([Tensor([1.0]), np.zeros(2)])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda ps: optim.SGD(ps, momentum=-1.0), "SGD: momentum must be >= 0"),
        (lambda ps: optim.SGD(ps, nesterov=True), "SGD: nesterov needs momentum > 0"),
        (lambda ps: optim.Adam(ps, eps=-1e-8), "Adam: eps must be >= 0"),
        (lambda ps: optim.AdamW(ps, weight_decay=-0.1), "AdamW: weight_decay must be >= 0"),
        (lambda ps: optim.SGD(ps, lr=Tensor([0.1, 0.2])), "SGD: lr must be a number or a 1-element tensor"),
        (lambda ps: optim.SGD(ps, lr="0.1"), "SGD: lr must be a number or a 1-element tensor"),
    ],
)
def test_other_bad_arguments(make: Callable, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make([Tensor([1.0], requires_grad=True)])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), "StepLR: step_size must be an int >= 1"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "CosineAnnealingLR: T_max must be an int >= 1"),
        (lambda o: lr_scheduler.OneCycleLR(o, 0.1, 10, pct_start=1.5), "OneCycleLR: pct_start must be in"),
        (lambda o: lr_scheduler.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), "OneCycleLR: anneal_strategy"),
        (lambda o: lr_scheduler.StepLR(object(), step_size=1), "StepLR: optimizer must be"),
    ],
)
def test_bad_scheduler_arguments(make: Callable, match: str) -> None:
    opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.1)
    before = opt.lr.item()
    with pytest.raises(ValueError, match=match):
        make(opt)
    assert opt.lr.item() == before
