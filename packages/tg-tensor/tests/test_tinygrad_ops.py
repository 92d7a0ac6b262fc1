"""Operations tinygrad code uses that tg lacked, checked against torch forward and backward: sort, argsort,
topk, nonzero, masked_select(size=), unfold, diag, diagonal, repeat_interleave, meshgrid, normalize,
logcumsumexp, logaddexp, log10, copysign, fmod, softmin, isclose, isinf(detect_*), nll_loss with weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check, rand

from tg_tensor import Tensor, dtypes
from tg_tensor.errors import ArgumentError

NAN, INF = float("nan"), float("inf")


def _distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """Values with no ties (so torch's unstable orders agree with tg's stable one)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n).astype(np.float32) / 3 - 2).reshape(shape)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort(dim: int, descending: bool) -> None:
    a = _distinct(3, 5)
    check(lambda x: x.sort(dim, descending).values, lambda x: x.sort(dim, descending).values, a)
    check(lambda x: x.argsort(dim, descending), lambda x: x.argsort(dim, descending), a, grad=False)


def test_sort_is_stable_with_nan_last() -> None:
    a = np.array([[2.0, NAN, 1.0, 2.0, 1.0, -INF], [0.0, 0.0, 0.0, NAN, NAN, INF]], dtype=np.float32)
    for descending in (False, True):
        v, i = Tensor(a).sort(-1, descending)
        tv, ti = torch.tensor(a).sort(dim=-1, descending=descending, stable=True)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    ints = np.array([3, 1, 2, 1, 3], dtype=np.int32)
    v, i = Tensor(ints).sort()
    assert v.dtype == dtypes.int32 and v.tolist() == [1, 1, 2, 3, 3] and i.tolist() == [1, 3, 2, 0, 4]


@pytest.mark.parametrize("k, dim, largest", [(2, -1, True), (3, 0, False), (1, 1, True), (0, -1, True)])
def test_topk(k: int, dim: int, largest: bool) -> None:
    a = _distinct(4, 5, seed=3)
    check(lambda x: x.topk(k, dim, largest).values, lambda x: x.topk(k, dim, largest).values, a)
    check(lambda x: x.topk(k, dim, largest).indices, lambda x: x.topk(k, dim, largest).indices, a, grad=False)
    with pytest.raises(ArgumentError, match="topk"):
        Tensor(a).topk(9)


def test_topk_ties_keep_their_order() -> None:  # tinygrad's documented behaviour: stable
    assert Tensor([1.0, 4.0, 3.0, 4.0, 4.0]).topk(2).indices.tolist() == [1, 3]


def test_nonzero_with_and_without_size() -> None:
    m = rand(3, 4, 2, seed=5) > 0
    want = torch.tensor(m).nonzero()
    assert Tensor(m).nonzero().tolist() == want.tolist()
    for size in (0, 3, 30):
        got = Tensor(m.astype(np.float32)).nonzero(size=size)
        assert got.tolist() == torch.nonzero_static(torch.tensor(m), size=size).tolist()
    assert Tensor([0, 5, 0]).nonzero(size=3, fill_value=9).tolist() == [[1], [9], [9]]


def test_masked_select_with_size() -> None:
    x, m = rand(3, 4, seed=1), rand(4, seed=2) > 0
    want = torch.masked_select(torch.tensor(x), torch.tensor(m))
    got = check(lambda a: a.masked_select(Tensor(m), size=want.numel()), lambda a: a.masked_select(torch.tensor(m)), x)
    assert got.shape == tuple(want.shape)
    padded = Tensor(x).masked_select(Tensor(m), size=12, fill_value=-1.0).numpy()
    np.testing.assert_allclose(padded, np.concatenate([want.numpy(), -np.ones(12 - want.numel(), np.float32)]))


@pytest.mark.parametrize("dim, size, step", [(0, 1, 1), (1, 2, 1), (2, 3, 1), (2, 2, 3), (2, 5, 1), (1, 1, 5)])
def test_unfold(dim: int, size: int, step: int) -> None:
    check(lambda x: x.unfold(dim, size, step), lambda x: x.unfold(dim, size, step), (2, 3, 5))


@pytest.mark.parametrize("offset", [-2, -1, 0, 1, 4])
@pytest.mark.parametrize("dims", [(0, 1), (1, 2), (2, 0), (-1, -2)])
def test_diagonal(offset: int, dims: tuple[int, int]) -> None:
    check(lambda x: x.diagonal(offset, *dims), lambda x: x.diagonal(offset, *dims), (3, 4, 5))


@pytest.mark.parametrize("k", [-2, 0, 1])
def test_diag(k: int) -> None:
    check(lambda x: x.diag(k), lambda x: x.diag(k), (4,))
    check(lambda x: x.diag(k), lambda x: x.diag(k), (3, 5))


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_repeat_interleave(dim: int | None) -> None:
    check(lambda x: x.repeat_interleave(3, dim), lambda x: x.repeat_interleave(3, dim), (2, 3))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing: str) -> None:
    a, b, c = rand(2), rand(3, seed=1), rand(4, seed=2)
    got = Tensor(a).meshgrid(Tensor(b), Tensor(c), indexing=indexing)
    want = torch.meshgrid(torch.tensor(a), torch.tensor(b), torch.tensor(c), indexing=indexing)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())


@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(p: float, dim: int) -> None:
    a = rand(3, 4)
    a[1] = 0.0  # a zero row stays zero, with a finite gradient
    check(lambda x: x.normalize(p, dim), lambda x: F.normalize(x, p, dim), a)


def test_logcumsumexp() -> None:
    check(lambda x: x.logcumsumexp(1), lambda x: x.logcumsumexp(1), (3, 6), low=-5, high=5)
    a = np.array([[-1000.0, 0.0, 1000.0, -INF], [-INF, -INF, 2.0, INF]], dtype=np.float32)
    np.testing.assert_allclose(Tensor(a).logcumsumexp(1).numpy(), torch.tensor(a).logcumsumexp(1).numpy())
    check(lambda x: x.logcumsumexp(0), lambda x: x.logcumsumexp(0), np.array([-1000.0, 0.0, 1000.0], np.float32))


def test_logaddexp() -> None:
    check(lambda x, y: x.logaddexp(y), lambda x, y: x.logaddexp(y), (3, 4), (4,), low=-5, high=5)
    a = np.array([-INF, INF, 1000.0, -INF, NAN, 3.0], dtype=np.float32)
    b = np.array([-INF, INF, 1000.0, 2.0, 1.0, INF], dtype=np.float32)
    np.testing.assert_allclose(Tensor(a).logaddexp(Tensor(b)).numpy(), torch.tensor(a).logaddexp(torch.tensor(b)))


def test_log10_softmin() -> None:
    check(lambda x: x.log10(), lambda x: x.log10(), (3, 4), low=0.1, high=100)
    check(lambda x: x.softmin(1), lambda x: F.softmin(x, 1), (3, 4))
    check(lambda x: x.softmin(), lambda x: F.softmin(x, -1), (3, 4))


def test_copysign() -> None:
    check(lambda x, y: x.copysign(y), lambda x, y: x.copysign(y), (3, 4), (4,))
    a = np.array([1.0, -2.0, 3.0, 0.0, NAN], dtype=np.float32)
    b = np.array([-0.0, 0.0, -INF, -1.0, -1.0], dtype=np.float32)
    np.testing.assert_array_equal(Tensor(a).copysign(Tensor(b)).numpy(), torch.tensor(a).copysign(torch.tensor(b)))
    ints = Tensor([1, -2]).copysign(-1)
    assert ints.dtype == dtypes.float32 and ints.tolist() == [-1.0, -2.0]


def test_fmod() -> None:
    check(lambda x, y: x.fmod(y), lambda x, y: x.fmod(y), (3, 4), (4,), low=0.5, high=3)
    check(lambda x: x.fmod(-1.5), lambda x: x.fmod(-1.5), (3, 4), low=-5, high=5)
    a, b = np.array([-7, 7, -7, 7, 0], dtype=np.int32), np.array([2, 2, -2, -2, 3], dtype=np.int32)
    assert Tensor(a).fmod(Tensor(b)).tolist() == torch.tensor(a).fmod(torch.tensor(b)).tolist()
    assert np.isnan(Tensor([1.0]).fmod(0.0).item())


def test_isclose() -> None:
    a = np.array([1.0, 1.0, INF, INF, NAN, 1e-9, 1.0], dtype=np.float32)
    b = np.array([1.0 + 1e-6, 1.1, INF, -INF, NAN, 0.0, INF], dtype=np.float32)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 0.0}):
        got = Tensor(a).isclose(Tensor(b), **kw)
        assert got.tolist() == torch.tensor(a).isclose(torch.tensor(b), **kw).tolist(), kw
    assert Tensor([1, 2]).isclose(Tensor([1, 3])).tolist() == [True, False]


def test_isinf_detect_flags() -> None:
    a = Tensor([1.0, INF, -INF, NAN])
    assert a.isinf().tolist() == [False, True, True, False]
    assert a.isinf(detect_negative=False).tolist() == [False, True, False, False]
    assert a.isinf(detect_positive=False).tolist() == [False, False, True, False]
    assert a.isinf(False, False).tolist() == [False] * 4


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_with_class_weights(reduction: str) -> None:
    logp = rand(5, 4, seed=3)
    target = np.array([0, 3, 1, 1, 2])
    weight = np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float32)
    check(
        lambda x: x.log_softmax(1).nll_loss(Tensor(target), weight=Tensor(weight), reduction=reduction),
        lambda x: F.nll_loss(x.log_softmax(1), torch.tensor(target), torch.tensor(weight), reduction=reduction),
        logp,
    )


POOLS = [
    (1, (2, 3, 9), {"kernel_size": 2}),
    (1, (2, 3, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    (2, (2, 3, 7, 6), {"kernel_size": 2}),
    (2, (2, 3, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
    (2, (3, 7, 6), {"kernel_size": (2, 3), "stride": (1, 2)}),
    (3, (1, 2, 5, 6, 4), {"kernel_size": 2}),
    (3, (1, 2, 5, 6, 4), {"kernel_size": 3, "stride": 2, "padding": 1}),
]


@pytest.mark.parametrize("nd, shape, kw", POOLS)
def test_max_pool_return_indices_and_max_unpool(nd: int, shape: tuple[int, ...], kw: dict) -> None:
    a = np.random.default_rng(nd).integers(0, 5, shape).astype(np.float32)  # ties: the first maximum is picked
    pool, unpool = f"max_pool{nd}d", f"max_unpool{nd}d"
    v, i = getattr(Tensor(a), pool)(**kw, return_indices=True)
    tv, ti = getattr(F, pool)(torch.tensor(a), **kw, return_indices=True)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    # the default output size is the pooled input's only when the windows tile it
    for size in [shape[-nd:]] + ([None] if "stride" not in kw else []):
        check(
            lambda x, size=size: getattr(x, unpool)(i, **kw, output_size=size),
            lambda x, size=size: getattr(F, unpool)(x, ti, **kw, output_size=size),
            tv.numpy(),
        )
    check(  # the values keep their gradient next to the indices
        lambda x: getattr(x, pool)(**kw, return_indices=True)[0],
        lambda x: getattr(F, pool)(x, **kw, return_indices=True)[0],
        _distinct(*shape),
    )
    with pytest.raises(ArgumentError, match=unpool):
        getattr(v, unpool)(i.reshape(-1), **kw)


def test_max_unpool_takes_tinygrads_dilation() -> None:
    a = np.arange(18, dtype=np.float32).reshape(1, 2, 9)
    v, i = Tensor(a).max_pool1d(2, stride=1, dilation=2, return_indices=True)
    out = v.max_unpool1d(i, 2, stride=1, dilation=2)  # (7 - 1) * 1 + 2 * (2 - 1) + 1 = 9 wide
    want = a.copy()
    want[..., :2] = 0.0  # the first two are never a window's maximum
    np.testing.assert_array_equal(out.numpy(), want)
