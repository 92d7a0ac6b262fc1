"""Neural-network functions (nn_ops.py) against PyTorch: normalization, dropout, one-hot, attention, losses.
Forward and backward through the oracle harness; dropout statistically; bad input raises at the call."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_same, check, rand

from tg_tensor import Tensor, dtypes
from tg_uop.helpers import Context

# ---------------------------------------------------------------- batchnorm


def _others(ndim: int, axis: int) -> tuple[int, ...]:
    return tuple(i for i in range(ndim) if i != axis)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 2, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_training_batch_statistics(shape: tuple[int, ...], affine: bool) -> None:
    eps = 1e-5

    def tg_fn(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        axes = _others(x.ndim, 1)
        mean = x.mean(axes)  # (C,)
        centred = x - x.mean(axes, keepdim=True)
        invstd = ((centred * centred).mean(axes) + eps).sqrt().reciprocal()
        return x.batchnorm(w if affine else None, b if affine else None, mean, invstd)

    def torch_fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, None, None, w if affine else None, b if affine else None, training=True, eps=eps)

    check(tg_fn, torch_fn, shape, (shape[1],), (shape[1],), grad_atol=1e-3, grad_rtol=1e-3)


def test_batchnorm_eval_running_statistics_keepdim_params() -> None:
    shape, eps = (3, 4, 2, 2), 1e-3
    rm, rv = rand(4, seed=1), rand(4, low=0.5, high=2.0, seed=2)

    def tg_fn(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        invstd = (Tensor(rv) + eps).sqrt().reciprocal()
        # the parameters may also come already shaped to broadcast (C along axis 1, ones elsewhere)
        return x.batchnorm(w.reshape(1, 4, 1, 1), b, Tensor(rm), invstd.reshape(1, 4, 1, 1))

    def torch_fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, torch.tensor(rm), torch.tensor(rv), w, b, training=False, eps=eps)

    check(tg_fn, torch_fn, shape, (4,), (4,))


def test_batchnorm_channels_last_axis() -> None:
    def tg_fn(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        mean = x.mean((0, 1))
        var = ((x - mean) * (x - mean)).mean((0, 1))
        return x.batchnorm(w, b, mean, (var + 1e-5).sqrt().reciprocal(), axis=-1)

    def torch_fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = F.batch_norm(x.permute(0, 2, 1), None, None, w, b, training=True)
        return out.permute(0, 2, 1)

    check(tg_fn, torch_fn, (2, 5, 3), (3,), (3,), grad_atol=1e-3, grad_rtol=1e-3)


def test_batchnorm_several_channel_axes() -> None:
    x, mean, invstd = rand(2, 3, 4), rand(3, 4, seed=1), rand(3, 4, low=0.5, high=2, seed=2)
    got = Tensor(x).batchnorm(None, None, Tensor(mean), Tensor(invstd), axis=(1, 2))
    np.testing.assert_allclose(got.numpy(), (x - mean) * invstd, rtol=1e-6)


def test_batchnorm_bad_parameter_shape() -> None:
    x = Tensor.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"batchnorm: mean has shape \(4,\), expected \(3,\).*\(2, 3, 4\)"):
        x.batchnorm(None, None, Tensor.zeros(4), Tensor.ones(3))
    with pytest.raises(ValueError, match=r"batchnorm: weight"):
        x.batchnorm(Tensor.ones(2), None, Tensor.zeros(3), Tensor.ones(3))
    with pytest.raises(IndexError, match="batchnorm"):
        x.batchnorm(None, None, Tensor.zeros(3), Tensor.ones(3), axis=3)


# ---------------------------------------------------------------- layer norm, rms norm, group norm


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (0, 4)])
def test_layernorm_matches_layer_norm_without_affine(shape: tuple[int, ...]) -> None:
    check(lambda x: x.layernorm(), lambda x: F.layer_norm(x, shape[-1:]), shape, grad_atol=1e-3)


def test_layernorm_over_several_axes_and_eps() -> None:
    check(lambda x: x.layernorm((1, 2), eps=0.1), lambda x: F.layer_norm(x, (3, 4), eps=0.1), (2, 3, 4))


@pytest.mark.parametrize("normalized", [4, (4,), (3, 4)])
def test_layer_norm_affine(normalized: int | tuple[int, ...]) -> None:
    ns = (normalized,) if isinstance(normalized, int) else normalized
    check(
        lambda x, w, b: x.layer_norm(normalized, w, b, eps=1e-4),
        lambda x, w, b: F.layer_norm(x, ns, w, b, eps=1e-4),
        (2, 3, 4),
        ns,
        ns,
        grad_atol=1e-3,
    )


def test_layer_norm_weight_only_and_int_input() -> None:
    check(lambda x, w: x.layer_norm(3, w), lambda x, w: F.layer_norm(x, (3,), w), (4, 3), (3,))
    got = Tensor([[1, 3]]).layer_norm(2)
    assert got.dtype == dtypes.float32
    np.testing.assert_allclose(got.numpy(), [[-1.0, 1.0]], rtol=1e-4)


def test_layer_norm_bad_shapes() -> None:
    x = Tensor.ones(2, 3)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4,\) does not match.*\(2, 3\)"):
        x.layer_norm(4)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(1, 2, 3\)"):
        x.layer_norm((1, 2, 3))
    with pytest.raises(ValueError, match=r"layer_norm: weight has shape \(2,\)"):
        x.layer_norm(3, weight=Tensor.ones(2))
    with pytest.raises(ValueError, match=r"layer_norm: bias has shape \(3, 1\)"):
        x.layer_norm(3, bias=Tensor.ones(3, 1))


@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm(eps: float | None, with_weight: bool) -> None:
    check(
        lambda x, w: x.rms_norm((3, 4), w if with_weight else None, eps=eps),
        lambda x, w: F.rms_norm(x, (3, 4), w if with_weight else None, eps=eps),
        (2, 3, 4),
        (3, 4),
        grad_atol=1e-3,
    )


def test_rms_norm_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape \(5,\).*\(2, 3\)"):
        Tensor.ones(2, 3).rms_norm(5)


@pytest.mark.parametrize(
    "shape, groups", [((2, 6, 3), 1), ((2, 6, 3), 2), ((2, 6, 3), 6), ((3, 4, 2, 2), 2), ((2, 4), 4)]
)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(shape: tuple[int, ...], groups: int, affine: bool) -> None:
    c = shape[1]
    check(
        lambda x, w, b: x.group_norm(groups, w if affine else None, b if affine else None, eps=1e-4),
        lambda x, w, b: F.group_norm(x, groups, w if affine else None, b if affine else None, eps=1e-4),
        shape,
        (c,),
        (c,),
        grad_atol=1e-3,
        grad_rtol=1e-3,
    )


def test_group_norm_bad_input() -> None:
    with pytest.raises(ValueError, match=r"group_norm: 6 channels of shape \(2, 6, 3\) cannot be split into 4"):
        Tensor.ones(2, 6, 3).group_norm(4)
    with pytest.raises(ValueError, match=r"group_norm: need an input \(N, C, ...\).*\(6,\)"):
        Tensor.ones(6).group_norm(2)
    with pytest.raises(ValueError, match=r"group_norm: weight has shape \(3,\)"):
        Tensor.ones(2, 6).group_norm(2, weight=Tensor.ones(3))


def test_kernel_counts_of_norms_and_losses(kernels) -> None:
    x = Tensor(rand(8, 16)).realize()
    w, b = Tensor(rand(16, seed=1)).realize(), Tensor(rand(16, seed=2)).realize()
    y = Tensor(rand(8, low=0, high=16, dtype=np.int32)).realize()
    assert kernels(x.layernorm()) <= 3  # mean, variance, normalize
    assert kernels(x.layer_norm(16, w, b)) <= 3  # the affine part fuses into the normalize kernel
    assert kernels(x.rms_norm(16, w)) <= 2
    assert kernels(x.batch_norm(None, None, w, b, training=True)) <= 3
    # max, sum of exp, and one reduction over every axis of the per-(sample, class) terms; 'mean' one more
    # kernel for the count of targets not ignored
    assert kernels(x.cross_entropy(y, reduction="sum")) <= 3
    assert kernels(x.cross_entropy(y, reduction="none")) <= 3
    assert kernels(x.cross_entropy(y)) <= 4
    assert kernels(x.cross_entropy(y, label_smoothing=0.1)) <= 4
    assert kernels(x.sparse_categorical_crossentropy(y)) <= 4
    assert kernels(x.sigmoid().binary_crossentropy(x.sigmoid())) == 1
    assert kernels(x.binary_crossentropy_logits(x.sigmoid())) == 1


# ---------------------------------------------------------------- dropout


@pytest.fixture
def training() -> Iterator[None]:
    old = Tensor.training
    Tensor.training = True
    try:
        yield
    finally:
        Tensor.training = old


def test_dropout_is_identity_when_not_training() -> None:
    assert Tensor.training is False
    x = Tensor(rand(3, 4))
    assert x.dropout(0.5) is x
    assert x.dropout(1.0) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scale(training: None, p: float) -> None:
    Tensor.manual_seed(1)
    x = rand(100, 100, low=1.0, high=2.0)
    got = Tensor(x).dropout(p).numpy()
    zeros = got == 0
    # 10000 draws: the standard deviation of the fraction is at most 0.005, the tolerance is 6 of them
    assert abs(zeros.mean() - p) < 0.03
    np.testing.assert_allclose(got[~zeros], x[~zeros] / (1 - p), rtol=1e-6)


def test_dropout_draws_a_new_mask_each_call(training: None) -> None:
    x = Tensor.ones(64, 64)
    assert not np.array_equal(x.dropout(0.5).numpy(), x.dropout(0.5).numpy())


def test_dropout_backward_uses_the_forward_mask(training: None) -> None:
    p = 0.4
    x = Tensor(rand(30, 30, low=1.0, high=2.0), requires_grad=True)
    out = x.dropout(p)
    kept = out.numpy() != 0  # forward realized first: the backward must reuse this very mask
    upstream = rand(30, 30, low=0.5, high=1.5, seed=3)
    (out * Tensor(upstream)).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, upstream / (1 - p), 0), rtol=1e-6)
    # and the value read again is the same draw
    np.testing.assert_array_equal(out.numpy() != 0, kept)


def test_dropout_edge_probabilities(training: None) -> None:
    x = Tensor(rand(4, 5), requires_grad=True)
    assert x.dropout(0.0) is x
    out = x.dropout(1.0)
    np.testing.assert_array_equal(out.numpy(), np.zeros((4, 5), np.float32))
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 5), np.float32))  # zero, not NaN


def test_dropout_empty_and_scalar(training: None) -> None:
    assert Tensor.ones(0, 3).dropout(0.5).numpy().shape == (0, 3)
    assert Tensor(2.0).dropout(0.5).item() in (0.0, 4.0)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_probability(p: float) -> None:
    with pytest.raises(ValueError, match=r"dropout: probability p must be in \[0, 1\]"):
        Tensor.ones(3).dropout(p)


# ---------------------------------------------------------------- one_hot


@pytest.mark.parametrize("shape", [(5,), (2, 3), (), (0,)])
def test_one_hot(shape: tuple[int, ...]) -> None:
    y = np.asarray(rand(*shape, low=0, high=4, dtype=np.int32))
    got = Tensor(y).one_hot(4)
    assert got.dtype == dtypes.int32
    assert_same(got, F.one_hot(torch.tensor(y).long(), 4), what="one_hot")


def test_one_hot_of_small_ints_and_out_of_range() -> None:
    assert Tensor(np.array([1, 0], np.uint8)).one_hot(2).tolist() == [[0, 1], [1, 0]]
    # the unchecked fast path: values outside [0, num_classes) give zero rows instead of an error
    with Context(CHECK_INDEX=0):
        assert Tensor([3, -1]).one_hot(2).tolist() == [[0, 0], [0, 0]]
    assert Tensor([1, 2]).one_hot(0).shape == (2, 0)


def test_one_hot_bad_input() -> None:
    with pytest.raises(TypeError, match=r"one_hot: needs an integer tensor, got dtype .*float"):
        Tensor([1.0]).one_hot(3)
    with pytest.raises(ValueError, match="one_hot: num_classes must be an int >= 0"):
        Tensor([1]).one_hot(-1)


# ---------------------------------------------------------------- scaled dot-product attention


def _sdpa_check(q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...], **kw: object) -> None:
    check(
        lambda a, b, c: a.scaled_dot_product_attention(b, c, **kw),
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **kw),
        q,
        k,
        v,
        grad_atol=1e-4,
    )


@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_plain(scale: float | None) -> None:
    _sdpa_check((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6), scale=scale)


def test_sdpa_unbatched_and_3d() -> None:
    _sdpa_check((3, 4), (5, 4), (5, 2))
    _sdpa_check((2, 3, 4), (2, 3, 4), (2, 3, 4))


@pytest.mark.parametrize("n_k", [4, 6])
def test_sdpa_causal(n_k: int) -> None:
    _sdpa_check((2, 4, 3), (2, n_k, 3), (2, n_k, 5), is_causal=True)


def test_sdpa_bool_mask_keeps_true() -> None:
    mask = rand(2, 1, 3, 5, seed=9, dtype=np.bool_)
    mask[..., 0] = True  # every query keeps at least one key (a fully masked row is NaN in both)

    def tg_fn(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return q.scaled_dot_product_attention(k, v, attn_mask=Tensor(mask))

    def torch_fn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(mask))

    check(tg_fn, torch_fn, (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6), grad_atol=1e-4)


def test_sdpa_float_mask_is_added() -> None:
    check(
        lambda q, k, v, m: q.scaled_dot_product_attention(k, v, attn_mask=m),
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        (2, 3, 4),
        (2, 5, 4),
        (2, 5, 6),
        (3, 5),
        grad_atol=1e-4,
    )


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_sdpa_grouped_query_attention(kv_heads: int) -> None:
    _sdpa_check((2, 4, 3, 4), (2, kv_heads, 5, 4), (2, kv_heads, 5, 6), enable_gqa=True, is_causal=True)


def test_sdpa_dropout() -> None:
    q, k, v = Tensor(rand(2, 3, 4)), Tensor(rand(2, 5, 4, seed=1)), Tensor(rand(2, 5, 6, seed=2))
    # as in PyTorch, dropout_p applies whatever Tensor.training says
    assert Tensor.training is False
    np.testing.assert_array_equal(q.scaled_dot_product_attention(k, v, dropout_p=1.0).numpy(), np.zeros((2, 3, 6)))
    Tensor.manual_seed(0)
    dropped = q.scaled_dot_product_attention(k, v, dropout_p=0.5).numpy()
    assert not np.allclose(dropped, q.scaled_dot_product_attention(k, v).numpy())


def test_sdpa_bad_input() -> None:
    q, k, v = Tensor.ones(2, 3, 4), Tensor.ones(2, 5, 4), Tensor.ones(2, 5, 6)
    op = "scaled_dot_product_attention"
    with pytest.raises(ValueError, match=rf"{op}: query \(2, 3, 4\), key \(2, 5, 3\) and value"):
        q.scaled_dot_product_attention(Tensor.ones(2, 5, 3), v)
    with pytest.raises(ValueError, match=rf"{op}: .*key \(2, 5, 4\) and value \(2, 4, 6\)"):
        q.scaled_dot_product_attention(k, Tensor.ones(2, 4, 6))
    with pytest.raises(ValueError, match=rf"{op}: shapes \(2,\) and \(3,\) cannot be broadcast"):
        q.scaled_dot_product_attention(Tensor.ones(3, 5, 4), Tensor.ones(3, 5, 6))
    with pytest.raises(ValueError, match=rf"{op}: attn_mask \(4, 5\) does not broadcast to the scores \(2, 3, 5\)"):
        q.scaled_dot_product_attention(k, v, attn_mask=Tensor.ones(4, 5))
    with pytest.raises(ValueError, match=rf"{op}: attn_mask \(3, 2, 3, 5\) does not broadcast"):
        q.scaled_dot_product_attention(k, v, attn_mask=Tensor.ones(3, 2, 3, 5))
    with pytest.raises(TypeError, match=rf"{op}: attn_mask must be bool or float, got .*int"):
        q.scaled_dot_product_attention(k, v, attn_mask=Tensor.ones(3, 5, dtype=dtypes.int32))
    with pytest.raises(ValueError, match=rf"{op}: the 3 heads of key \(2, 3, 5, 4\) must divide the 4 of query"):
        Tensor.ones(2, 4, 3, 4).scaled_dot_product_attention(
            Tensor.ones(2, 3, 5, 4), Tensor.ones(2, 4, 5, 6), enable_gqa=True
        )
    with pytest.raises(ValueError, match=rf"{op}: query, key and value need 2 or more dimensions"):
        Tensor.ones(4).scaled_dot_product_attention(k, v)


# ---------------------------------------------------------------- cross-entropy, nll


def _targets(*shape: int, n_cls: int, ignore: int | None = None, seed: int = 5) -> np.ndarray:
    t = rand(*shape, low=0, high=n_cls, dtype=np.int32, seed=seed)
    if ignore is not None and t.size:
        t.reshape(-1)[:: max(t.size // 3, 1)] = ignore  # a few targets ignored, not all
    return t


CE_LAYOUTS = [((6, 4), (6,)), ((4,), ()), ((2, 3, 2, 2), (2, 2, 2))]


@pytest.mark.parametrize("x_shape, t_shape", CE_LAYOUTS, ids=["N,C", "C", "N,C,d1,d2"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_class_indices(x_shape: tuple[int, ...], t_shape: tuple[int, ...], reduction: str) -> None:
    n_cls = x_shape[0] if len(x_shape) == 1 else x_shape[1]
    check(
        lambda x, t: x.cross_entropy(t, reduction=reduction),
        lambda x, t: F.cross_entropy(x, t.long(), reduction=reduction),
        x_shape,
        _targets(*t_shape, n_cls=n_cls),
        low=-3,
        high=3,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_weight_ignore_smoothing(
    reduction: str, smoothing: float, ignore_index: int, weighted: bool
) -> None:
    w = rand(5, low=0.2, high=2.0, seed=11)
    tw = torch.tensor(w) if weighted else None

    def tg_fn(x: Tensor, t: Tensor) -> Tensor:
        wt = Tensor(w) if weighted else None
        return x.cross_entropy(t, weight=wt, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)

    def torch_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            x, t.long(), weight=tw, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing
        )

    check(tg_fn, torch_fn, (2, 5, 3), _targets(2, 3, n_cls=5, ignore=ignore_index), low=-3, high=3)


@pytest.mark.parametrize("x_shape", [(6, 4), (4,), (2, 4, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing, weighted", [(0.0, False), (0.3, False), (0.1, True)])
def test_cross_entropy_probability_targets(
    x_shape: tuple[int, ...], reduction: str, smoothing: float, weighted: bool
) -> None:
    cdim = 0 if len(x_shape) == 1 else 1
    probs = torch.softmax(torch.tensor(rand(*x_shape, seed=21)), cdim).numpy()
    w = rand(x_shape[cdim], low=0.2, high=2.0, seed=12)

    def tg_fn(x: Tensor, p: Tensor) -> Tensor:
        wt = Tensor(w) if weighted else None
        return x.cross_entropy(p, weight=wt, reduction=reduction, label_smoothing=smoothing)

    def torch_fn(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        wt = torch.tensor(w) if weighted else None
        return F.cross_entropy(x, p, weight=wt, reduction=reduction, label_smoothing=smoothing)

    # the probabilities are an input too: tg's gradient for them is checked against torch's
    check(tg_fn, torch_fn, x_shape, probs, low=-3, high=3)


def test_cross_entropy_probability_target_gradient() -> None:
    check(lambda x, p: x.cross_entropy(p), lambda x, p: F.cross_entropy(x, p), (3, 4), (3, 4))


def test_cross_entropy_edge_cases() -> None:
    # an empty batch: 'none' is empty, 'mean' is NaN (0 / 0) as in PyTorch, 'sum' is 0
    x, t = Tensor.ones(0, 3), Tensor(np.zeros(0, np.int32))
    assert x.cross_entropy(t, reduction="none").shape == (0,)
    assert np.isnan(x.cross_entropy(t).item())
    assert x.cross_entropy(t, reduction="sum").item() == 0
    # every target ignored: NaN as in PyTorch
    assert np.isnan(Tensor.ones(2, 3).cross_entropy(Tensor([-100, -100])).item())
    # huge logits stay finite
    big = Tensor([[1000.0, -1000.0, 0.0]])
    assert big.cross_entropy(Tensor([0])).item() == pytest.approx(0.0, abs=1e-6)
    assert big.cross_entropy(Tensor([1])).item() == pytest.approx(2000.0, rel=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction: str) -> None:
    w = rand(4, low=0.2, high=2.0, seed=13)
    check(
        lambda x, t: x.log_softmax(1).nll_loss(t, weight=Tensor(w), ignore_index=2, reduction=reduction),
        lambda x, t: F.nll_loss(
            x.log_softmax(1), t.long(), weight=torch.tensor(w), ignore_index=2, reduction=reduction
        ),
        (5, 4, 2),
        _targets(5, 2, n_cls=4, ignore=2),
    )
    check(lambda x, t: x.nll_loss(t), lambda x, t: F.nll_loss(x, t.long()), (6, 3), _targets(6, n_cls=3))


def test_cross_entropy_bad_input() -> None:
    x = Tensor.ones(4, 3)
    with pytest.raises(ValueError, match=r"cross_entropy: input \(4, 3\) and target \(3,\) do not match"):
        x.cross_entropy(Tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy: probability target \(4, 2\) must have the input's shape"):
        x.cross_entropy(Tensor.ones(4, 2))
    with pytest.raises(TypeError, match=r"cross_entropy: class-index target needs an integer dtype"):
        x.cross_entropy(Tensor([True, False, True, True]))
    with pytest.raises(ValueError, match=r"cross_entropy: input needs a class dimension, got shape \(\)"):
        Tensor(1.0).cross_entropy(Tensor(0))
    with pytest.raises(ValueError, match=r"cross_entropy: weight has shape \(4,\), expected \(3,\)"):
        x.cross_entropy(Tensor([0, 1, 2, 0]), weight=Tensor.ones(4))
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be one of"):
        x.cross_entropy(Tensor([0, 1, 2, 0]), reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\]"):
        x.cross_entropy(Tensor([0, 1, 2, 0]), label_smoothing=1.5)
    with pytest.raises(TypeError, match=r"nll_loss: target needs an integer dtype"):
        x.nll_loss(Tensor.ones(4, 3))
    with pytest.raises(ValueError, match=r"nll_loss: input \(4, 3\) and target \(4, 1\) do not match"):
        x.nll_loss(Tensor([[0], [1], [2], [0]]))


# ---------------------------------------------------------------- sparse_categorical_crossentropy (tinygrad's)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_sparse_categorical_crossentropy(reduction: str, smoothing: float) -> None:
    # tinygrad's layout puts the classes last: (B, T, C) logits, (B, T) labels; -1 labels ignored by default
    check(
        lambda x, y: x.sparse_categorical_crossentropy(y, label_smoothing=smoothing, reduction=reduction),
        lambda x, y: F.cross_entropy(
            x.permute(0, 2, 1), y.long(), ignore_index=-1, label_smoothing=smoothing, reduction=reduction
        ),
        (2, 3, 5),
        _targets(2, 3, n_cls=5, ignore=-1),
        low=-3,
        high=3,
    )


def test_sparse_categorical_crossentropy_2d_and_ignore_index() -> None:
    check(
        lambda x, y: x.sparse_categorical_crossentropy(y, ignore_index=0),
        lambda x, y: F.cross_entropy(x, y.long(), ignore_index=0),
        (7, 3),
        _targets(7, n_cls=3),
    )
    # unbatched: (C,) logits and a 0-d label
    check(
        lambda x, y: x.sparse_categorical_crossentropy(y),
        lambda x, y: F.cross_entropy(x, y.long()),
        (4,),
        np.array(2, np.int32),
    )


def test_sparse_categorical_crossentropy_bad_input() -> None:
    op = "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match=rf"{op}: logits \(4, 3\) and labels \(3,\) do not match"):
        Tensor.ones(4, 3).sparse_categorical_crossentropy(Tensor([0, 1, 2]))
    with pytest.raises(TypeError, match=rf"{op}: labels need an integer dtype"):
        Tensor.ones(4, 3).sparse_categorical_crossentropy(Tensor.ones(4))
    with pytest.raises(ValueError, match=rf"{op}: reduction must be one of"):
        Tensor.ones(4, 3).sparse_categorical_crossentropy(Tensor([0, 1, 2, 0]), reduction="all")


# ---------------------------------------------------------------- binary cross-entropy


@pytest.mark.parametrize("shape", [(6,), (3, 4), (), (0, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_crossentropy(shape: tuple[int, ...], reduction: str) -> None:
    p = rand(*shape, low=0.05, high=0.95, seed=3)
    y = rand(*shape, low=0.0, high=1.0, seed=4)
    check(
        lambda a, b: a.binary_crossentropy(b, reduction=reduction),
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
        p,
        y,
        grad_rtol=2e-3,
    )


def test_binary_crossentropy_weight_and_clamped_log() -> None:
    p, y, w = rand(3, 4, low=0.05, high=0.95), rand(3, 4, low=0, high=1, seed=1), rand(4, low=0.5, high=2, seed=2)
    check(
        lambda a, b: a.binary_crossentropy(b, weight=Tensor(w)),
        lambda a, b: F.binary_cross_entropy(a, b, weight=torch.tensor(w)),
        p,
        y,
    )
    # p of exactly 0 or 1: the log is clamped at -100, as in PyTorch
    edge_p, edge_y = np.array([0.0, 1.0, 0.0, 1.0], np.float32), np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    got = Tensor(edge_p).binary_crossentropy(Tensor(edge_y), reduction="none")
    assert_same(got, F.binary_cross_entropy(torch.tensor(edge_p), torch.tensor(edge_y), reduction="none"))


@pytest.mark.parametrize("shape", [(6,), (3, 4), (), (0, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_crossentropy_logits(shape: tuple[int, ...], reduction: str) -> None:
    check(
        lambda a, b: a.binary_crossentropy_logits(b, reduction=reduction),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
        rand(*shape, low=-5, high=5),
        rand(*shape, low=0, high=1, seed=1),
    )


def test_binary_crossentropy_logits_pos_weight_weight_and_extremes() -> None:
    pw, w = rand(4, low=0.5, high=3, seed=2), rand(3, 1, low=0.5, high=2, seed=3)
    check(
        lambda a, b: a.binary_crossentropy_logits(b, pos_weight=Tensor(pw), weight=Tensor(w)),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=torch.tensor(pw), weight=torch.tensor(w)),
        rand(3, 4, low=-4, high=4),
        rand(3, 4, low=0, high=1, seed=1),
    )
    # huge logits stay finite, and the gradient at exactly 0 is sigmoid(0) - y
    x = np.array([-200.0, 200.0, 0.0, 0.0, 90.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.3, 1.0], np.float32)
    check(
        lambda a, b: a.binary_crossentropy_logits(b, reduction="none"),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
        x,
        y,
    )


def test_binary_crossentropy_bad_input() -> None:
    with pytest.raises(ValueError, match=r"binary_crossentropy: input \(4,\) and target \(3,\) must have the same"):
        Tensor.ones(4).binary_crossentropy(Tensor.ones(3))
    with pytest.raises(ValueError, match=r"binary_crossentropy_logits: input \(2, 2\) and target \(2,\)"):
        Tensor.ones(2, 2).binary_crossentropy_logits(Tensor.ones(2))
    with pytest.raises(ValueError, match=r"binary_crossentropy_logits: pos_weight \(3,\) does not broadcast"):
        Tensor.ones(2, 2).binary_crossentropy_logits(Tensor.ones(2, 2), pos_weight=Tensor.ones(3))
    with pytest.raises(ValueError, match=r"binary_crossentropy: weight \(2, 2, 2\) does not broadcast"):
        Tensor.ones(2, 2).binary_crossentropy(Tensor.ones(2, 2), weight=Tensor.ones(2, 2, 2))
    with pytest.raises(ValueError, match=r"binary_crossentropy: reduction must be one of"):
        Tensor.ones(2).binary_crossentropy(Tensor.ones(2), reduction="mean ")


def test_binary_cross_entropy_torch_names() -> None:
    p, y, w = rand(3, 4, low=0.05, high=0.95), rand(3, 4, low=0, high=1, seed=1), rand(4, low=0.5, high=2, seed=2)
    check(
        lambda a, b: a.binary_cross_entropy(b, Tensor(w), reduction="sum"),
        lambda a, b: F.binary_cross_entropy(a, b, torch.tensor(w), reduction="sum"),
        p,
        y,
    )
    check(
        lambda a, b: a.binary_cross_entropy_with_logits(b, Tensor(w), pos_weight=Tensor(w)),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, torch.tensor(w), pos_weight=torch.tensor(w)),
        rand(3, 4, low=-4, high=4),
        y,
    )


# ---------------------------------------------------------------- batch_norm (PyTorch's form)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 2, 2)])
def test_batch_norm_training_updates_running_statistics(shape: tuple[int, ...]) -> None:
    c = shape[1]
    rm, rv = rand(c, seed=1), rand(c, low=0.5, high=2.0, seed=2)
    tg_rm, tg_rv = Tensor(rm).realize(), Tensor(rv).realize()
    th_rm, th_rv = torch.tensor(rm), torch.tensor(rv)
    check(
        lambda x, w, b: x.batch_norm(tg_rm, tg_rv, w, b, training=True, momentum=0.3, eps=1e-4),
        lambda x, w, b: F.batch_norm(x, th_rm, th_rv, w, b, training=True, momentum=0.3, eps=1e-4),
        shape,
        (c,),
        (c,),
        grad_atol=1e-3,
        grad_rtol=1e-3,
    )
    # the running statistics were updated once (by the forward, not again by the backward); the variance
    # folded in is the unbiased one
    assert_same(tg_rm, th_rm, what="running_mean")
    assert_same(tg_rv, th_rv, what="running_var")


def test_batch_norm_training_without_running_statistics_and_eval() -> None:
    check(
        lambda x: x.batch_norm(None, None, training=True),
        lambda x: F.batch_norm(x, None, None, training=True),
        (5, 2, 3),
        grad_atol=1e-3,
    )
    rm, rv = rand(3, seed=1), rand(3, low=0.5, high=2.0, seed=2)
    check(
        lambda x, w, b: x.batch_norm(Tensor(rm), Tensor(rv), w, b, eps=1e-3),
        lambda x, w, b: F.batch_norm(x, torch.tensor(rm), torch.tensor(rv), w, b, eps=1e-3),
        (4, 3, 2),
        (3,),
        (3,),
    )


def test_batch_norm_bad_input_leaves_running_statistics_alone() -> None:
    rm, rv = Tensor([1.0, 2.0, 3.0]).realize(), Tensor([1.0, 1.0, 1.0]).realize()
    x = Tensor.ones(4, 3, 2)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(2,\), expected \(3,\).*\(4, 3, 2\)"):
        x.batch_norm(Tensor.zeros(2), rv, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight has shape \(4,\)"):
        x.batch_norm(rm, rv, weight=Tensor.ones(4), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: bias has shape \(3, 1\)"):
        x.batch_norm(rm, rv, bias=Tensor.ones(3, 1), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var are needed when not training"):
        x.batch_norm(None, None)
    with pytest.raises(ValueError, match=r"batch_norm: training needs more than one value per channel.*\(1, 3\)"):
        Tensor.ones(1, 3).batch_norm(rm, rv, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: need an input \(N, C, ...\).*\(3,\)"):
        Tensor.ones(3).batch_norm(rm, rv)
    assert rm.tolist() == [1.0, 2.0, 3.0]
    assert rv.tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- regression losses, KL divergence

REGRESSION = [
    ("mse_loss", {}, F.mse_loss),
    ("l1_loss", {}, F.l1_loss),
    ("huber_loss", {"delta": 0.7}, F.huber_loss),
    ("smooth_l1_loss", {"beta": 0.7}, F.smooth_l1_loss),
    ("smooth_l1_loss", {"beta": 0.0}, F.smooth_l1_loss),
]


@pytest.mark.parametrize("name, kw, torch_loss", REGRESSION, ids=[f"{n}{kw}" for n, kw, _ in REGRESSION])
@pytest.mark.parametrize("shape", [(3, 4), (), (0, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(name: str, kw: dict, torch_loss, shape: tuple[int, ...], reduction: str) -> None:
    check(
        lambda a, b: getattr(a, name)(b, reduction=reduction, **kw),
        lambda a, b: torch_loss(a, b, reduction=reduction, **kw),
        shape,
        shape,
    )


def test_regression_losses_at_equal_values_and_int_inputs() -> None:
    # d = 0 exactly: the L1 gradient is 0 (the sign of 0), the quadratic branch's is 0 too
    x, y = np.array([1.0, 2.0, 3.0], np.float32), np.array([1.0, 0.5, 3.0], np.float32)
    for name, kw, torch_loss in REGRESSION:
        tg_fn = lambda a, b, name=name, kw=kw: getattr(a, name)(b, **kw)  # noqa: E731
        torch_fn = lambda a, b, loss=torch_loss, kw=kw: loss(a, b, **kw)  # noqa: E731
        check(tg_fn, torch_fn, x, y)
    got = Tensor([1, 2]).mse_loss(Tensor([1, 4]))
    assert got.dtype == dtypes.float32
    assert got.item() == 2.0


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # torch's note that 'batchmean' is the true KL
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    logp = torch.log_softmax(torch.tensor(rand(3, 4, seed=1)), 1).numpy()
    target = torch.softmax(torch.tensor(rand(3, 4, seed=2)), 1).numpy()
    if log_target:
        target = np.log(target)
    check(
        lambda a, b: a.kl_div(b, reduction=reduction, log_target=log_target),
        lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
        logp,
        target,
    )


def test_kl_div_zero_target_and_empty() -> None:
    # a target of 0 adds 0 (0 * log 0 = 0); its input still gets the gradient -target = 0
    logp, target = np.log(np.array([0.2, 0.3, 0.5], np.float32)), np.array([0.0, 0.4, 0.6], np.float32)
    x = Tensor(logp, requires_grad=True)
    got = x.kl_div(Tensor(target), reduction="sum")
    assert_same(got, F.kl_div(torch.tensor(logp), torch.tensor(target), reduction="sum"))
    got.backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), -target)
    empty = Tensor.ones(0, 3).kl_div(Tensor.ones(0, 3), reduction="batchmean")  # 0 / 0, as in PyTorch
    assert_same(empty, F.kl_div(torch.ones(0, 3), torch.ones(0, 3), reduction="batchmean"))
    assert Tensor(0.5).kl_div(Tensor(0.25), reduction="batchmean").item() == pytest.approx(
        F.kl_div(torch.tensor(0.5), torch.tensor(0.25), reduction="batchmean").item()
    )


def test_losses_fuse_into_one_kernel(kernels) -> None:
    x, y = Tensor(rand(8, 16)).realize(), Tensor(rand(8, 16, seed=1)).realize()
    assert kernels(x.mse_loss(y)) == 1
    assert kernels(x.huber_loss(y, reduction="sum")) == 1
    assert kernels(x.l1_loss(y, reduction="none")) == 1
    assert kernels(x.log_softmax(1).kl_div(y.softmax(1), reduction="batchmean")) <= 5


def test_regression_losses_bad_input() -> None:
    with pytest.raises(ValueError, match=r"mse_loss: input \(4, 1\) and target \(4,\) must have the same shape"):
        Tensor.ones(4, 1).mse_loss(Tensor.ones(4))
    with pytest.raises(ValueError, match=r"l1_loss: reduction must be one of"):
        Tensor.ones(4).l1_loss(Tensor.ones(4), reduction="batchmean")
    with pytest.raises(ValueError, match=r"huber_loss: delta must be > 0, got 0"):
        Tensor.ones(4).huber_loss(Tensor.ones(4), delta=0)
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be >= 0, got -1"):
        Tensor.ones(4).smooth_l1_loss(Tensor.ones(4), beta=-1)
    with pytest.raises(ValueError, match=r"smooth_l1_loss: input \(2,\) and target \(3,\)"):
        Tensor.ones(2).smooth_l1_loss(Tensor.ones(3))
    with pytest.raises(ValueError, match=r"kl_div: input \(2, 3\) and target \(3,\) must have the same shape"):
        Tensor.ones(2, 3).kl_div(Tensor.ones(3))
    with pytest.raises(ValueError, match=r"kl_div: reduction must be one of"):
        Tensor.ones(3).kl_div(Tensor.ones(3), reduction="avg")
