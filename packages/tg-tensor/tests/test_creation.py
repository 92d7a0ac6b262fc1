"""Making tensors: from Python data, numpy arrays and bytes; the factory functions; reading values back."""

from __future__ import annotations

import numpy as np
import pytest

from tg_tensor import Tensor, dtypes


@pytest.mark.parametrize(
    "data, dtype, np_dtype",
    [
        ([1.0, 2.5, -3.0], dtypes.float32, np.float32),
        ([1, 2, -3], dtypes.int32, np.int32),
        ([True, False, True], dtypes.bool, np.bool_),
        ([1, 2.5], dtypes.float32, np.float32),  # one float makes the whole list float
        ([[1, 2, 3], [4, 5, 6]], dtypes.int32, np.int32),
        ([[[0.5], [1.5]], [[2.5], [3.5]]], dtypes.float32, np.float32),
    ],
)
def test_from_list_infers_dtype_and_shape(data, dtype, np_dtype):
    t = Tensor(data)
    want = np.array(data, dtype=np_dtype)
    assert t.dtype == dtype
    assert t.shape == want.shape
    assert t.ndim == want.ndim
    assert t.numel() == want.size
    got = t.numpy()
    assert got.dtype == np_dtype
    np.testing.assert_array_equal(got, want)


def test_empty_tensors():
    for t in (Tensor([]), Tensor(np.zeros((0, 3), np.float32)), Tensor.zeros(0), Tensor.arange(0)):
        assert t.numel() == 0
        assert t.numpy().size == 0
    assert Tensor([]).shape == (0,)
    assert Tensor([]).tolist() == []
    assert Tensor(np.zeros((2, 0), np.float32)).sum(axis=1).tolist() == [0.0, 0.0]


def test_from_tuple():
    assert Tensor((1.0, 2.0)).tolist() == [1.0, 2.0]


def test_from_list_with_explicit_dtype():
    t = Tensor([1, 2, 3], dtype=dtypes.float32)
    assert t.dtype == dtypes.float32
    assert t.numpy().dtype == np.float32
    assert t.tolist() == [1.0, 2.0, 3.0]
    i = Tensor([1.0, 2.0, -3.0], dtype=dtypes.int32)
    assert i.dtype == dtypes.int32
    assert i.tolist() == [1, 2, -3]


def test_ragged_list_is_refused():
    with pytest.raises(ValueError):
        Tensor([[1, 2], [3]])


def test_unsupported_data_type_is_refused():
    with pytest.raises(TypeError):
        Tensor({"a": 1})
    with pytest.raises(TypeError):
        Tensor(np.array(["a", "b"]))


@pytest.mark.parametrize(
    "value, dtype, py_type",
    [(3, dtypes.int32, int), (-2.5, dtypes.float32, float), (True, dtypes.bool, bool), (False, dtypes.bool, bool)],
)
def test_from_python_scalar(value, dtype, py_type):
    t = Tensor(value)
    assert t.shape == ()
    assert t.ndim == 0
    assert t.numel() == 1
    assert t.dtype == dtype
    got = t.item()
    assert type(got) is py_type
    assert got == value
    assert t.tolist() == value
    assert t.numpy().shape == ()


@pytest.mark.parametrize("np_dtype, dtype", [(np.float32, dtypes.float32), (np.int32, dtypes.int32)])
def test_from_numpy_keeps_dtype(np_dtype, dtype):
    arr = (np.arange(12).reshape(3, 4) - 5).astype(np_dtype)
    t = Tensor(arr)
    assert t.dtype == dtype
    assert t.shape == (3, 4)
    got = t.numpy()
    assert got.dtype == np_dtype
    np.testing.assert_array_equal(got, arr)


def test_from_numpy_float64_is_kept_and_computes_in_float64():
    arr = np.array([1.0 + 1e-12, 2.0, 1e300], dtype=np.float64)  # none of these survive float32
    t = Tensor(arr)
    assert t.dtype == dtypes.float64
    got = t.numpy()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, arr)
    np.testing.assert_array_equal((t * 2).numpy(), arr * 2)


def test_from_numpy_copies_the_data():
    arr = np.array([1.0, 2.0], dtype=np.float32)
    t = Tensor(arr)
    arr[0] = 100.0
    assert t.tolist() == [1.0, 2.0]


def test_from_non_contiguous_numpy():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4).T
    np.testing.assert_array_equal(Tensor(arr).numpy(), arr)


def test_from_bytes():
    t = Tensor(b"\x00\x01\xfftg")
    assert t.dtype == dtypes.uint8
    assert t.shape == (5,)
    assert t.tolist() == [0, 1, 255, ord("t"), ord("g")]


def test_numpy_returns_an_independent_array():
    t = Tensor([1.0, 2.0])
    a = t.numpy()
    a[0] = 50.0
    assert t.numpy()[0] == 1.0


def test_item_tolist_types():
    assert type(Tensor([2.5]).item()) is float
    assert type(Tensor([[7]]).item()) is int
    assert Tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    nested = Tensor([[0.5, 1.5]]).tolist()
    assert nested == [[0.5, 1.5]] and type(nested[0][0]) is float


def test_item_of_many_elements_is_refused():
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        Tensor([[1, 2], [3, 4]]).item()


def test_len():
    assert len(Tensor([[1, 2, 3], [4, 5, 6]])) == 2
    with pytest.raises(TypeError):
        len(Tensor(1.0))


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 3)])
def test_zeros_ones(shape):
    z, o = Tensor.zeros(*shape), Tensor.ones(*shape)
    assert z.dtype == o.dtype == dtypes.float32
    assert z.shape == o.shape == shape
    np.testing.assert_array_equal(z.numpy(), np.zeros(shape, np.float32))
    np.testing.assert_array_equal(o.numpy(), np.ones(shape, np.float32))


def test_zeros_ones_shape_as_tuple_and_dtype():
    z = Tensor.zeros((2, 3), dtype=dtypes.int32)
    assert z.dtype == dtypes.int32 and z.shape == (2, 3)
    assert z.numpy().dtype == np.int32
    assert z.tolist() == [[0, 0, 0], [0, 0, 0]]
    assert Tensor.ones([4], dtype=dtypes.int32).tolist() == [1, 1, 1, 1]


def test_zeros_like_ones_like():
    t = Tensor([[1, 2], [3, 4]])
    assert t.zeros_like().tolist() == [[0, 0], [0, 0]]
    assert t.ones_like().dtype == dtypes.int32
    assert t.ones_like().tolist() == [[1, 1], [1, 1]]


@pytest.mark.parametrize(
    "value, dtype, np_dtype",
    [(2.5, dtypes.float32, np.float32), (-7, dtypes.int32, np.int32), (True, dtypes.bool, bool)],
)
def test_full(value, dtype, np_dtype):
    t = Tensor.full((2, 3), value)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.full((2, 3), value, dtype=np_dtype))


def test_full_with_dtype_and_int_shape():
    t = Tensor.full(4, 3, dtype=dtypes.float32)
    assert t.shape == (4,) and t.dtype == dtypes.float32
    assert t.tolist() == [3.0] * 4


def test_full_negative_shape_is_refused():
    with pytest.raises(ValueError, match="full"):
        Tensor.full((2, -1), 1.0)


@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 10, 3), (10, 0, -2), (3, 3)])
def test_arange(args):
    t = Tensor.arange(*args)
    want = np.arange(*args)
    assert t.dtype == dtypes.int32
    assert t.shape == want.shape
    assert t.tolist() == want.tolist()


def test_arange_float_dtype():
    t = Tensor.arange(4, dtype=dtypes.float32)
    assert t.dtype == dtypes.float32
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_rand_range_and_shape():
    Tensor.manual_seed(0)
    t = Tensor.rand(50, 40)
    assert t.shape == (50, 40) and t.dtype == dtypes.float32
    v = t.numpy()
    assert v.min() >= 0.0 and v.max() < 1.0
    # 2000 uniform samples: the mean is 0.5 within a few standard errors (0.0065)
    assert abs(v.mean() - 0.5) < 0.05
    assert len(np.unique(v)) > 1900


def test_randn_statistics():
    Tensor.manual_seed(1)
    v = Tensor.randn(4000).numpy()
    assert v.dtype == np.float32
    assert abs(v.mean()) < 0.1
    assert abs(v.std() - 1.0) < 0.1
    assert (v < 0).any() and (v > 0).any()


def test_manual_seed_reproducible():
    Tensor.manual_seed(42)
    a, b = Tensor.rand(3, 4).numpy(), Tensor.randn(5).numpy()
    Tensor.manual_seed(42)
    a2, b2 = Tensor.rand(3, 4).numpy(), Tensor.randn(5).numpy()
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    Tensor.manual_seed(43)
    assert not np.array_equal(Tensor.rand(3, 4).numpy(), a)


def test_successive_random_tensors_differ():
    Tensor.manual_seed(7)
    assert not np.array_equal(Tensor.rand(8).numpy(), Tensor.rand(8).numpy())


def test_rand_requires_grad_flag():
    assert Tensor.rand(2, requires_grad=True).requires_grad is True
    assert Tensor.randn(2).requires_grad is None


def test_requires_grad_default_and_set():
    assert Tensor([1.0]).requires_grad is None
    assert Tensor([1.0], requires_grad=True).requires_grad is True
    assert (Tensor([1.0]) + 1).requires_grad is None


def test_cast_between_float32_and_int32():
    f = Tensor([1.7, -2.7, 3.0])
    i = f.cast(dtypes.int32)
    assert i.dtype == dtypes.int32
    assert i.tolist() == np.array([1.7, -2.7, 3.0], np.float32).astype(np.int32).tolist()
    assert Tensor([1, 2]).float().dtype == dtypes.float32
    assert Tensor([1, 2]).float().tolist() == [1.0, 2.0]
    assert f.int().dtype == dtypes.int32
    assert Tensor([0.0, 2.0]).bool().tolist() == [False, True]


def test_default_device_and_repr():
    t = Tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(t.device, str) and t.device
    r = repr(t)
    assert "(2,)" in r and "requires_grad" in r
