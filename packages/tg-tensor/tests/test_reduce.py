"""Reductions: sum, max, min, mean over everything or given axes (negative too), keepdim; and softmax."""

from __future__ import annotations

import numpy as np
import pytest

from tg_tensor import Tensor, dtypes

RNG = np.random.default_rng(7)
A3 = RNG.uniform(-5, 5, (2, 3, 4)).astype(np.float32)

REDUCE = [
    ("sum", np.sum),
    ("max", np.max),
    ("min", np.min),
    ("mean", np.mean),
]

AXES = [None, 0, -1, -2, (0, 2), (-1, 0)]


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name, ref", REDUCE)
def test_reduce_float(name, ref, axis, keepdim):
    got = getattr(Tensor(A3), name)(axis=axis, keepdim=keepdim)
    want = ref(A3.astype(np.float64), axis=axis, keepdims=keepdim)
    assert got.shape == want.shape
    assert got.dtype == dtypes.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_reduce_positional_axis():
    np.testing.assert_allclose(Tensor(A3).sum(1).numpy(), A3.sum(1), rtol=1e-5)
    np.testing.assert_allclose(Tensor(A3).max(-1, True).numpy(), A3.max(-1, keepdims=True))


def test_full_reduce_gives_scalar():
    t = Tensor(A3)
    for name, ref in REDUCE:
        r = getattr(t, name)()
        assert r.shape == ()
        assert r.item() == pytest.approx(float(ref(A3.astype(np.float64))), rel=1e-5, abs=1e-5)


def test_reduce_1d_and_0d():
    assert Tensor([3.0, -1.0, 2.0]).max().item() == 3.0
    assert Tensor([3.0, -1.0, 2.0]).min().item() == -1.0
    assert Tensor(5.0).sum().item() == 5.0
    assert Tensor(5.0).sum().shape == ()


def test_reduce_over_size_one_axis():
    a = A3[:, :1, :]
    np.testing.assert_allclose(Tensor(a).sum(1).numpy(), a.sum(1))
    np.testing.assert_allclose(Tensor(a).max(1, keepdim=True).numpy(), a.max(1, keepdims=True))
    assert Tensor([[1.0, 2.0]]).sum(0).tolist() == [1.0, 2.0]
    assert Tensor([[1.0], [2.0]]).mean(1).tolist() == [1.0, 2.0]


def test_sum_int_stays_int():
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    got = Tensor(a).sum(axis=1)
    assert got.dtype == dtypes.int32
    assert got.tolist() == a.sum(axis=1).tolist()
    assert Tensor(a).sum().item() == int(a.sum())


def test_max_min_int():
    a = np.array([[3, -7, 2], [0, 9, -1]], dtype=np.int32)
    assert Tensor(a).max(axis=0).tolist() == a.max(axis=0).tolist()
    assert Tensor(a).min(axis=1).tolist() == a.min(axis=1).tolist()
    assert Tensor(a).max().dtype == dtypes.int32


def test_sum_bool_counts():
    b = np.array([[True, False, True], [True, True, True]])
    got = Tensor(b).sum(axis=1)
    assert got.dtype == dtypes.int32
    assert got.tolist() == [2, 3]
    assert Tensor(b).sum().item() == 5


def test_mean_int_is_float():
    got = Tensor([1, 2, 3, 4]).mean()
    assert got.dtype == dtypes.float32
    assert got.item() == 2.5
    assert Tensor([[1, 2], [4, 8]]).mean(axis=0).tolist() == [2.5, 5.0]


def test_reduce_of_an_expression():
    a, b = A3, RNG.uniform(-1, 1, (3, 4)).astype(np.float32)
    got = ((Tensor(a) * Tensor(b)).exp() + 1).sum(axis=(0, 2))
    want = (np.exp(a.astype(np.float64) * b) + 1).sum(axis=(0, 2))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_reduce_then_elementwise_then_reduce():
    t = Tensor(A3)
    got = (t - t.max(axis=-1, keepdim=True)).exp().sum(axis=-1).log().mean()
    a = A3.astype(np.float64)
    want = np.log(np.exp(a - a.max(-1, keepdims=True)).sum(-1)).mean()
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_reduce_of_a_permuted_view():
    t = Tensor(A3).permute(2, 0, 1)
    np.testing.assert_allclose(t.sum(axis=1).numpy(), A3.transpose(2, 0, 1).sum(axis=1), rtol=1e-5, atol=1e-6)


def test_max_with_ties_and_negatives():
    a = np.array([[-3.0, -1.0, -1.0], [-5.0, -5.0, -5.0]], dtype=np.float32)
    assert Tensor(a).max(axis=1).tolist() == [-1.0, -5.0]
    assert Tensor(a).min(axis=1).tolist() == [-3.0, -5.0]


def test_large_sum():
    a = RNG.uniform(0, 1, (64, 300)).astype(np.float32)
    got = Tensor(a).sum(axis=1).numpy()
    np.testing.assert_allclose(got, a.astype(np.float64).sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_and_log_softmax(axis):
    x = RNG.uniform(-10, 10, (4, 5)).astype(np.float32)
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max(axis, keepdims=True))
    soft = e / e.sum(axis, keepdims=True)
    np.testing.assert_allclose(Tensor(x).softmax(axis).numpy(), soft, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(Tensor(x).log_softmax(axis).numpy(), np.log(soft), rtol=1e-5, atol=1e-5)


def test_log_softmax_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1001.0, 1002.0]], dtype=np.float32)
    got = Tensor(x).log_softmax().numpy()
    shifted = np.array([-2.0, -1.0, 0.0])
    want = shifted - np.log(np.exp(shifted).sum())
    np.testing.assert_allclose(got[0], want, rtol=1e-5)


def test_sparse_categorical_crossentropy_value():
    logits = RNG.uniform(-3, 3, (5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2], dtype=np.int32)
    got = Tensor(logits).sparse_categorical_crossentropy(Tensor(labels))
    assert got.shape == ()
    ld = logits.astype(np.float64)
    logp = ld - ld.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    want = -logp[np.arange(5), labels].mean()
    assert got.item() == pytest.approx(want, rel=1e-5)
