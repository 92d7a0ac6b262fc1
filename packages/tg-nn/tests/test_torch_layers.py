"""tg_nn's layers against torch.nn's: the same weights (a torch state dict loaded by name), the same inputs;
outputs and the gradients of the input and of every parameter must agree. Also BatchNorm's running
statistics, state dict names, initialisation bounds and the errors raised for bad input."""

from __future__ import annotations

import doctest
import math
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import tg_nn
from tg_nn import (
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    Embedding,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    Linear,
    RMSNorm,
    Sequential,
    conv,
    embedding,
    linear,
    norm,
    sequential,
)
from tg_nn.state import get_parameters, get_state_dict, load_state_dict
from tg_tensor import Tensor, TinyJit
from tg_uop.dtype import dtypes
from tg_uop.helpers import Context

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(autouse=True)
def _seed() -> None:
    Tensor.manual_seed(0)
    torch.manual_seed(0)


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _load_from_torch(layer: Any, module: torch.nn.Module) -> None:
    """Load the torch module's state dict (as numpy) into the tg layer by name; parameters get requires_grad."""
    sd = {k: Tensor(v.detach().numpy()) for k, v in module.state_dict().items()}
    load_state_dict(layer, sd)
    params = dict(module.named_parameters())
    for name, t in get_state_dict(layer).items():
        t.requires_grad = name in params


def _compare(
    layer: Callable[[Tensor], Tensor],
    module: torch.nn.Module,
    x_np: np.ndarray,
    train: bool = False,
    grad: bool = True,
    load: bool = True,
) -> None:
    """Forward (and backward through sum(out * G)) of both, compared: output, input gradient, parameter grads."""
    if load:
        _load_from_torch(layer, module)
    module.train(train)
    x_t = torch.tensor(x_np, requires_grad=grad)
    out_t = module(x_t)
    x = Tensor(x_np, requires_grad=grad or None)
    with Tensor.train(train):
        out = layer(x)
    assert out.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    if not grad:
        return
    g = _rand(*out.shape, seed=99)
    (out_t * torch.tensor(g)).sum().backward()
    (out * Tensor(g)).sum().backward()
    assert x.grad is not None and x_t.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=RTOL, atol=ATOL)
    tg_sd = get_state_dict(layer)
    for name, p in module.named_parameters():
        tg_grad = tg_sd[name].grad
        assert tg_grad is not None and p.grad is not None, name
        np.testing.assert_allclose(tg_grad.numpy(), p.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)


def _same_state_dict_names(layer: Any, module: torch.nn.Module) -> None:
    tg_sd, t_sd = get_state_dict(layer), module.state_dict()
    assert list(tg_sd) == list(t_sd)
    for k, v in t_sd.items():
        assert tg_sd[k].shape == tuple(v.shape), k
        assert tg_sd[k].dtype == (dtypes.int64 if v.dtype == torch.int64 else dtypes.float32), k


# ---------------------------------------------------------------------------------------------- linear, conv


@pytest.mark.parametrize(
    ("fin", "fout", "bias", "shape"), [(4, 3, True, (2, 5, 4)), (3, 2, False, (3,)), (5, 1, True, (2, 5))]
)
def test_linear(fin: int, fout: int, bias: bool, shape: tuple[int, ...]) -> None:
    layer, module = Linear(fin, fout, bias), torch.nn.Linear(fin, fout, bias)
    _same_state_dict_names(layer, module)
    _compare(layer, module, _rand(*shape))


CONV1D = [
    # (in, out, kernel, kwargs, input shape)
    (4, 6, 3, {"padding": "same", "groups": 2}, (2, 4, 7)),
    (3, 4, 3, {"stride": 2, "padding": 1, "bias": False}, (2, 3, 8)),
    (2, 4, 3, {"padding": 2, "dilation": 2, "padding_mode": "reflect"}, (1, 2, 9)),
    (2, 2, 2, {"padding": "valid"}, (2, 5)),  # unbatched
    (2, 3, 3, {"padding": 1, "padding_mode": "circular"}, (2, 2, 6)),
]


CONV2D = [
    (3, 4, 3, {"padding": 1}, (2, 3, 5, 5)),
    (4, 4, (3, 2), {"stride": (2, 1), "padding": (1, 0), "groups": 2}, (1, 4, 6, 5)),
    (2, 3, 3, {"padding": "same", "dilation": 2, "bias": False}, (2, 2, 6, 6)),
    (2, 2, 2, {"padding": 1, "padding_mode": "replicate"}, (2, 4, 4)),  # unbatched
]


@pytest.mark.parametrize(
    ("nd", "cin", "cout", "k", "kw", "shape"), [(1, *c) for c in CONV1D] + [(2, *c) for c in CONV2D]
)
def test_conv(nd: int, cin: int, cout: int, k: Any, kw: dict[str, Any], shape: tuple[int, ...]) -> None:
    ours, theirs = {1: (Conv1d, torch.nn.Conv1d), 2: (Conv2d, torch.nn.Conv2d)}[nd]
    layer, module = ours(cin, cout, k, **kw), theirs(cin, cout, k, **kw)
    _same_state_dict_names(layer, module)
    _compare(layer, module, _rand(*shape))


CONVT = [
    # (nd, in, out, kernel, kwargs, input shape)
    (1, 3, 4, 3, {"stride": 2, "padding": 1, "output_padding": 1}, (2, 3, 5)),
    (1, 4, 2, 2, {"groups": 2, "dilation": 2, "bias": False}, (1, 4, 4)),
    (2, 2, 3, 3, {"stride": 2, "padding": 1, "output_padding": 1}, (2, 2, 3, 3)),
    (2, 4, 4, (2, 3), {"stride": (1, 2), "groups": 2, "dilation": (2, 1)}, (1, 4, 3, 3)),
]


@pytest.mark.parametrize(("nd", "cin", "cout", "k", "kw", "shape"), CONVT)
def test_conv_transpose(nd: int, cin: int, cout: int, k: Any, kw: dict[str, Any], shape: tuple[int, ...]) -> None:
    ours, theirs = (
        (ConvTranspose1d, torch.nn.ConvTranspose1d) if nd == 1 else (ConvTranspose2d, torch.nn.ConvTranspose2d)
    )
    layer, module = ours(cin, cout, k, **kw), theirs(cin, cout, k, **kw)
    _same_state_dict_names(layer, module)
    _compare(layer, module, _rand(*shape))


def test_conv_transpose_output_size() -> None:
    layer, module = (
        ConvTranspose2d(2, 2, 3, stride=2, padding=1),
        torch.nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1),
    )
    _load_from_torch(layer, module)
    x = _rand(1, 2, 3, 3)
    out = layer(Tensor(x), output_size=(6, 6))
    expected = module(torch.tensor(x), output_size=[6, 6]).detach().numpy()
    assert out.shape == (1, 2, 6, 6)
    np.testing.assert_allclose(out.numpy(), expected, rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match=r"ConvTranspose2d.*output_size \(9, 9\).*\(1, 2, 3, 3\)"):
        layer(Tensor(x), output_size=(9, 9))


# ---------------------------------------------------------------------------------------------- normalization


@pytest.mark.parametrize(
    ("ours", "theirs", "shape", "kw"),
    [
        (BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 3, 2), {}),
        (BatchNorm1d, torch.nn.BatchNorm1d, (5, 3), {"momentum": 0.3}),
        (BatchNorm1d, torch.nn.BatchNorm1d, (2, 3, 4), {"momentum": None, "affine": False}),
        (BatchNorm, torch.nn.BatchNorm2d, (2, 3, 2, 2), {"eps": 1e-3}),  # tinygrad's name, any rank
    ],
)
def test_batchnorm_training_steps_then_eval(ours: Any, theirs: Any, shape: tuple[int, ...], kw: dict[str, Any]) -> None:
    layer, module = ours(3, **kw), theirs(3, **kw)
    _same_state_dict_names(layer, module)
    # three training steps: batch statistics, gradients, running statistics updated each step
    for step in range(3):
        _compare(layer, module, _rand(*shape, seed=step) * (step + 1) + step, train=True, load=step == 0)
    for name, v in module.state_dict().items():
        np.testing.assert_allclose(get_state_dict(layer)[name].numpy(), v.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    assert layer.num_batches_tracked is not None and layer.num_batches_tracked.item() == 3
    # evaluation: the running statistics, nothing updated
    _compare(layer, module, _rand(*shape, seed=7), train=False, load=False)
    assert layer.num_batches_tracked.item() == 3


def test_batchnorm_without_running_stats_uses_batch_statistics_in_eval() -> None:
    layer, module = BatchNorm2d(2, track_running_stats=False), torch.nn.BatchNorm2d(2, track_running_stats=False)
    _same_state_dict_names(layer, module)
    _compare(layer, module, _rand(3, 2, 2, 2), train=False)
    _compare(layer, module, _rand(3, 2, 2, 2, seed=1), train=True, load=False)


def test_batchnorm_running_stats_captured_by_tinyjit() -> None:
    layer, module = BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    _load_from_torch(layer, module)
    for p in get_parameters(layer):
        p.requires_grad = None

    @TinyJit
    def step(x: Tensor) -> Tensor:
        with Tensor.train():
            return layer(x).realize()

    module.train()
    for i in range(4):  # the last two are replays of the captured kernels
        x = _rand(4, 3, seed=i) + i
        out = step(Tensor(x))
        np.testing.assert_allclose(out.numpy(), module(torch.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)
    for name, v in module.state_dict().items():
        np.testing.assert_allclose(get_state_dict(layer)[name].numpy(), v.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)


def test_batchnorm_running_stats_are_not_parameters_to_optimize() -> None:
    layer = BatchNorm2d(4)
    assert layer.running_mean is not None and layer.num_batches_tracked is not None
    assert layer.running_mean.requires_grad is False and layer.num_batches_tracked.requires_grad is False
    assert layer.weight is not None and layer.weight.requires_grad is None  # an optimizer switches it on
    assert layer.num_batches_tracked.shape == () and layer.num_batches_tracked.dtype == dtypes.int64
    with Tensor.train(), pytest.raises(ValueError, match=r"BatchNorm1d\(4.*more than 1 value per channel.*\(1, 4\)"):
        BatchNorm1d(4)(Tensor.ones(1, 4))


@pytest.mark.parametrize(
    ("ours", "theirs", "shape", "kw"),
    [
        (InstanceNorm1d, torch.nn.InstanceNorm1d, (2, 3, 5), {}),
        (InstanceNorm1d, torch.nn.InstanceNorm1d, (3, 4), {"affine": True}),  # unbatched
        (InstanceNorm2d, torch.nn.InstanceNorm2d, (2, 3, 3, 3), {"affine": True, "eps": 1e-3}),
    ],
)
def test_instancenorm(ours: Any, theirs: Any, shape: tuple[int, ...], kw: dict[str, Any]) -> None:
    layer, module = ours(shape[-2] if len(shape) == 2 else 3, **kw), theirs(shape[-2] if len(shape) == 2 else 3, **kw)
    _same_state_dict_names(layer, module)
    _compare(layer, module, _rand(*shape) * 2 + 1, train=True)


def test_instancenorm_tracking_running_stats() -> None:
    layer, module = InstanceNorm2d(2, track_running_stats=True), torch.nn.InstanceNorm2d(2, track_running_stats=True)
    _same_state_dict_names(layer, module)
    for step in range(2):
        _compare(layer, module, _rand(3, 2, 3, 2, seed=step) + step, train=True, load=step == 0)
    for name, v in module.state_dict().items():
        np.testing.assert_allclose(get_state_dict(layer)[name].numpy(), v.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    _compare(layer, module, _rand(3, 2, 3, 2, seed=5), train=False, load=False)


@pytest.mark.parametrize(
    ("ns", "kw", "shape"),
    [
        (5, {}, (2, 3, 5)),
        ((3, 4), {"eps": 1e-3}, (2, 3, 4)),
        (4, {"elementwise_affine": False}, (3, 4)),
        (4, {"bias": False}, (2, 4)),
    ],
)
def test_layernorm(ns: Any, kw: dict[str, Any], shape: tuple[int, ...]) -> None:
    layer, module = LayerNorm(ns, **kw), torch.nn.LayerNorm(ns, **kw)
    _same_state_dict_names(layer, module)
    with torch.no_grad():  # non-trivial affine parameters
        for p in module.parameters():
            p.add_(torch.randn(p.shape))
    _compare(layer, module, _rand(*shape) * 3 - 1)


@pytest.mark.parametrize(
    ("ns", "kw", "shape"),
    [(4, {}, (2, 3, 4)), ((2, 4), {"eps": 1e-3}, (3, 2, 4)), (3, {"elementwise_affine": False}, (2, 3))],
)
def test_rmsnorm(ns: Any, kw: dict[str, Any], shape: tuple[int, ...]) -> None:
    layer, module = RMSNorm(ns, **kw), torch.nn.RMSNorm(ns, **kw)
    _same_state_dict_names(layer, module)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape))
    _compare(layer, module, _rand(*shape))


@pytest.mark.parametrize(
    ("groups", "channels", "kw", "shape"),
    [(2, 6, {}, (2, 6, 3)), (3, 6, {"affine": False}, (2, 6, 2, 2)), (1, 4, {"eps": 1e-3}, (3, 4))],
)
def test_groupnorm(groups: int, channels: int, kw: dict[str, Any], shape: tuple[int, ...]) -> None:
    layer, module = GroupNorm(groups, channels, **kw), torch.nn.GroupNorm(groups, channels, **kw)
    _same_state_dict_names(layer, module)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape))
    _compare(layer, module, _rand(*shape) + 2)


# ---------------------------------------------------------------------------------------------- embedding


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding(padding_idx: int | None) -> None:
    layer, module = Embedding(6, 4, padding_idx=padding_idx), torch.nn.Embedding(6, 4, padding_idx=padding_idx)
    _same_state_dict_names(layer, module)
    if padding_idx is not None:  # the padding row starts at zero
        assert not layer.weight.numpy()[padding_idx].any()
    _load_from_torch(layer, module)
    idx = np.array([[0, 2, 5, 2], [1, 1, 5, 3]])  # repeated indices: their gradients add up
    out_t = module(torch.tensor(idx))
    out = layer(Tensor(idx.astype(np.int32)))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = _rand(2, 4, 4, seed=3)
    (out_t * torch.tensor(g)).sum().backward()
    (out * Tensor(g)).sum().backward()
    assert layer.weight.grad is not None and module.weight.grad is not None
    np.testing.assert_allclose(layer.weight.grad.numpy(), module.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
    # a 0-d index gives one vector; int64 indices work too
    np.testing.assert_allclose(layer(Tensor(3, dtype=dtypes.int64)).numpy(), module.weight.detach().numpy()[3])


# ---------------------------------------------------------------------------------------------- sequential


def _small_cnn_pair() -> tuple[Sequential, torch.nn.Sequential]:
    ours = Sequential(
        Conv2d(2, 4, 3, padding=1),
        BatchNorm2d(4),
        Tensor.relu,
        lambda x: x.max_pool2d(2),
        lambda x: x.flatten(1),
        Linear(16, 3),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(1),
        torch.nn.Linear(16, 3),
    )
    return ours, theirs


def test_sequential_cnn_matches_torch_end_to_end() -> None:
    ours, theirs = _small_cnn_pair()
    _same_state_dict_names(ours, theirs)
    assert len(ours) == 6 and isinstance(ours[0], Conv2d) and ours[2] is Tensor.relu
    assert isinstance(ours[-1], Linear) and len(ours[1:3]) == 2 and list(ours)[1] is ours[1]
    x = _rand(3, 2, 4, 4)
    _compare(ours, theirs, x, train=True)  # batch statistics, gradients through every layer
    _compare(ours, theirs, _rand(2, 2, 4, 4, seed=1), train=False, load=False)


def test_torch_state_dict_loaded_by_name_gives_same_outputs() -> None:
    ours, theirs = _small_cnn_pair()
    theirs.train()
    for i in range(2):  # non-trivial running statistics
        theirs(torch.tensor(_rand(4, 2, 4, 4, seed=i)) + 1)
    theirs.eval()
    result = load_state_dict(ours, {k: Tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    assert result == (([], []))
    x = _rand(2, 2, 4, 4, seed=5)
    np.testing.assert_allclose(ours(Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)


def test_sequential_append_and_errors() -> None:
    model = Sequential()
    assert len(model) == 0 and model(Tensor([1.0])).tolist() == [1.0]
    model.append(lambda x: x * 2).append(Tensor.neg)
    assert model(Tensor([1.5])).tolist() == [-3.0]
    with pytest.raises(TypeError, match="Sequential: layer 1 is not callable"):
        Sequential(Tensor.relu, 3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize(
    ("make", "fan_in"),
    [
        (lambda: Conv2d(4, 64, 3), 4 * 9),
        (lambda: Conv1d(6, 63, 5, groups=3), 2 * 5),
        (lambda: ConvTranspose2d(4, 64, 2, groups=2), 32 * 4),
        (lambda: Linear(20, 64), 20),
    ],
)
def test_init_bounds_follow_torch(make: Callable[[], Any], fan_in: int) -> None:
    layer = make()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) and the bias both give 1/sqrt(fan_in)
    for t in (layer.weight, layer.bias):
        v = t.numpy().astype(np.float64)
        assert np.all(np.abs(v) <= bound * (1 + 1e-6))
        assert np.abs(v).max() > 0.8 * bound and v.min() < 0 < v.max()
    w = layer.weight.numpy().astype(np.float64)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)


def test_init_of_norms_and_embedding() -> None:
    layers: list[Any] = [BatchNorm2d(5), LayerNorm(5), GroupNorm(5, 5), InstanceNorm1d(5, affine=True), RMSNorm(5)]
    for layer in layers:
        assert layer.weight.tolist() == [1.0] * 5
        assert getattr(layer, "bias", None) is None or layer.bias.tolist() == [0.0] * 5
    bn: Any = BatchNorm1d(2)
    assert bn.running_mean.tolist() == [0.0, 0.0] and bn.running_var.tolist() == [1.0, 1.0]
    assert bn.num_batches_tracked.item() == 0
    w = Embedding(100, 50).weight.numpy()  # N(0, 1)
    assert abs(w.mean()) < 0.05 and w.std() == pytest.approx(1.0, rel=0.05)
    assert InstanceNorm2d(3).weight is None and LayerNorm(3, elementwise_affine=False).weight is None


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("layer", "x_shape", "match"),
    [
        (Linear(3, 2), (4, 5), r"Linear\(in_features=3, out_features=2.*matmul.*\(4, 5\)"),
        (Conv2d(3, 8, 3), (1, 4, 8, 8), r"Conv2d\(3, 8, kernel_size=\(3, 3\).*\(1, 4, 8, 8\) has 4 channels.*3"),
        (Conv2d(3, 8, 3), (2, 1, 3, 8, 8), r"Conv2d\(3, 8.*4 dims.*\(2, 1, 3, 8, 8\)"),
        (Conv1d(2, 2, 3), (2, 2, 2, 5), r"Conv1d\(2, 2.*\(2, 2, 2, 5\)"),
        (ConvTranspose2d(2, 3, 3), (1, 3, 4, 4), r"ConvTranspose2d\(2, 3.*\(1, 3, 4, 4\) has 3 channels"),
        (BatchNorm2d(3), (2, 3, 4), r"BatchNorm2d\(3.*4-d.*\(2, 3, 4\)"),
        (BatchNorm1d(3), (2, 4), r"BatchNorm1d\(3.*\(2, 4\) has 4 channels"),
        (BatchNorm(3), (3,), r"BatchNorm\(3.*at least 2-d.*\(3,\)"),
        (LayerNorm(4), (2, 5), r"LayerNorm\(\(4,\).*\(2, 5\)"),
        (RMSNorm((2, 3)), (3, 2), r"RMSNorm\(\(2, 3\).*\(3, 2\)"),
        (GroupNorm(2, 4), (2, 6, 3), r"GroupNorm\(2, 4.*\(2, 6, 3\)"),
        (InstanceNorm2d(3), (3, 4), r"InstanceNorm2d\(3.*\(3, 4\)"),
        (InstanceNorm1d(3), (2, 2, 4), r"InstanceNorm1d\(3.*\(2, 2, 4\) has 2 channels"),
    ],
)
def test_bad_input_raises_at_the_call(layer: Any, x_shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        layer(Tensor.ones(*x_shape))


def test_bad_arguments_raise_at_construction() -> None:
    with pytest.raises(ValueError, match=r"Conv2d: in_channels=3 and out_channels=4 must be divisible by groups=2"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"Conv1d: padding='same' needs stride 1"):
        Conv1d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"Conv2d: kernel_size must be an int >= 1 or 2 of them"):
        Conv2d(2, 2, (3, 3, 3))
    with pytest.raises(ValueError, match=r"ConvTranspose1d: output_padding \(2,\) must be smaller"):
        ConvTranspose1d(2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels=5 must be divisible by num_groups=2"):
        GroupNorm(2, 5)
    with pytest.raises(ValueError, match=r"Embedding: padding_idx=4 is out of range"):
        Embedding(4, 2, padding_idx=4)
    with pytest.raises(TypeError, match=r"Embedding\(4, 2\): indices must be an integer tensor.*float"):
        Embedding(4, 2)(Tensor([1.0]))


def test_embedding_index_out_of_range_raises() -> None:
    # tg-tensor's index rule: checked by default (PyTorch raises too), zero vectors only when asked for
    emb = Embedding(4, 2)
    with pytest.raises(IndexError, match=r"Embedding\(4, 2\): index 4 is out of range for num_embeddings of size 4"):
        emb(Tensor([[0, 4]]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        emb(Tensor([-1]))
    with Context(CHECK_INDEX=0):
        assert emb(Tensor([4])).tolist() == [[0.0, 0.0]]


def test_exports() -> None:
    for name in tg_nn.__all__:
        assert hasattr(tg_nn, name), name
    assert tg_nn.Linear is linear.Linear and tg_nn.BatchNorm2d is norm.BatchNorm2d


@pytest.mark.parametrize("module", [linear, conv, norm, embedding, sequential], ids=lambda m: m.__name__)
def test_docstring_examples(module: types.ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
