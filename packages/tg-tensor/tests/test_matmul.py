"""matmul / @ with numpy's rules (1-D, 2-D, batched, broadcast batches), and how many kernels it takes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import MATMUL_SHAPES

from tg_tensor import Tensor, dtypes

RNG = np.random.default_rng(11)


def _f32(*shape: int) -> np.ndarray:
    return RNG.uniform(-2, 2, shape).astype(np.float32)


@pytest.mark.parametrize(
    "sa, sb",
    MATMUL_SHAPES
    + [
        ((1, 1), (1, 1)),
        ((5, 1), (1, 6)),
        ((1, 3), (3, 1)),
        ((7, 9), (9, 3)),
        ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (4,)),
        ((3, 4), (2, 4, 6)),
    ],  # fmt: skip
    ids=str,
)
def test_matmul_matches_numpy(sa, sb):
    a, b = _f32(*sa), _f32(*sb)
    want = a.astype(np.float64) @ b.astype(np.float64)
    for got in (Tensor(a) @ Tensor(b), Tensor(a).matmul(Tensor(b)), Tensor(a).dot(Tensor(b))):
        assert got.shape == want.shape
        assert got.dtype == dtypes.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_matmul_int():
    a = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32)
    b = np.array([[7, -8, 9], [0, 1, -2]], dtype=np.int32)
    got = Tensor(a) @ Tensor(b)
    assert got.dtype == dtypes.int32
    assert got.tolist() == (a @ b).tolist()


def test_matmul_int_by_float_is_float():
    a = np.array([[1, 2]], dtype=np.int32)
    b = np.array([[0.5], [0.25]], dtype=np.float32)
    got = Tensor(a) @ Tensor(b)
    assert got.dtype == dtypes.float32
    assert got.tolist() == [[1.0]]


def test_matmul_1d_1d_is_scalar():
    got = Tensor([1.0, 2.0, 3.0]) @ Tensor([4.0, 5.0, 6.0])
    assert got.shape == ()
    assert got.item() == 32.0


def test_matmul_of_transposed_operands():
    a, b = _f32(5, 3), _f32(4, 5)
    got = Tensor(a).T @ Tensor(b).T
    np.testing.assert_allclose(got.numpy(), a.T.astype(np.float64) @ b.T, rtol=1e-5, atol=1e-5)


def test_linear():
    x, w, bias = _f32(3, 4), _f32(5, 4), _f32(5)
    got = Tensor(x).linear(Tensor(w), Tensor(bias))
    np.testing.assert_allclose(got.numpy(), x.astype(np.float64) @ w.T + bias, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Tensor(x).linear(Tensor(w)).numpy(), x.astype(np.float64) @ w.T, rtol=1e-5, atol=1e-5)


def test_identity_matmul():
    a = _f32(4, 4)
    np.testing.assert_allclose((Tensor(a) @ Tensor(np.eye(4, dtype=np.float32))).numpy(), a, rtol=1e-6)


def test_2d_matmul_of_realized_inputs_is_one_kernel(kernels):
    a, b = _f32(8, 16), _f32(16, 4)
    ta, tb = Tensor(a).realize(), Tensor(b).realize()
    out = ta @ tb
    assert kernels(out) == 1
    np.testing.assert_allclose(out.numpy(), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_batched_matmul_of_realized_inputs_is_one_kernel(kernels):
    a, b = _f32(3, 4, 5), _f32(3, 5, 2)
    ta, tb = Tensor(a).realize(), Tensor(b).realize()
    assert kernels(ta @ tb) == 1


def test_fused_elementwise_reduce_is_one_kernel(kernels):
    a, b = _f32(6, 7), _f32(6, 7)
    ta, tb = Tensor(a).realize(), Tensor(b).realize()
    out = (ta + tb).relu().sum()
    assert kernels(out) == 1
    assert out.item() == pytest.approx(float(np.maximum(a.astype(np.float64) + b, 0).sum()), rel=1e-5)


def test_chained_matmuls():
    a, b, c = _f32(3, 4), _f32(4, 5), _f32(5, 2)
    got = (Tensor(a) @ Tensor(b)) @ Tensor(c)
    want = (a.astype(np.float64) @ b) @ c
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)
