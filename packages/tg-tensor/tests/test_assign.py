"""assign(): writes a value into the tensor's existing buffer when the tensor is next realized."""

from __future__ import annotations

import numpy as np
import pytest

from tg_tensor import Tensor, dtypes
from tg_uop.ops import Ops


def _buffer(t: Tensor):
    assert t.uop.base.op is Ops.BUFFER
    return t.uop.base.arg


def test_assign_writes_into_the_same_buffer():
    t = Tensor([1.0, 2.0, 3.0]).realize()
    buf = _buffer(t)
    t.assign(Tensor([4.0, 5.0, 6.0])).realize()
    assert _buffer(t) is buf
    assert t.tolist() == [4.0, 5.0, 6.0]


def test_assign_is_seen_through_views_taken_before():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]]).realize()
    view = t.T
    t.assign(Tensor([[10.0, 20.0], [30.0, 40.0]])).realize()
    assert view.tolist() == [[10.0, 30.0], [20.0, 40.0]]


def test_assign_is_lazy_until_realize():
    t = Tensor([1.0, 2.0]).realize()
    alias = t.reshape(2, 1)  # a view of the buffer as it is now
    t.assign(Tensor([7.0, 8.0]))
    assert alias.reshape(2).tolist() == [1.0, 2.0]
    t.realize()
    assert alias.reshape(2).tolist() == [7.0, 8.0]


def test_assign_from_itself():
    a = np.array([1.0, -2.0, 3.5], dtype=np.float32)
    t = Tensor(a).realize()
    buf = _buffer(t)
    t.assign(t * 2 + 1).realize()
    assert _buffer(t) is buf
    np.testing.assert_array_equal(t.numpy(), a * 2 + 1)
    t.assign(t.exp())
    np.testing.assert_allclose(t.numpy(), np.exp(a * 2 + 1), rtol=1e-6)


def test_assign_reading_itself_through_a_permuted_view_reads_old_values():
    # elements read other elements that the same kernel writes: what is read must be the old contents
    t = Tensor([1.0, 2.0, 3.0, 4.0]).realize()
    t.assign(t.reshape(2, 2).T.reshape(4) + t)
    assert t.tolist() == [2.0, 5.0, 5.0, 8.0]
    u = Tensor([1.0, 2.0, 3.0]).realize()
    u.assign(u.reshape(1, 3).expand(3, 3).sum(0) * 0 + u.sum() - u)
    assert u.tolist() == [5.0, 4.0, 3.0]


def test_assign_scalar():
    t = Tensor([1, 2, 3]).realize()
    t.assign(9).realize()
    assert t.dtype == dtypes.int32
    assert t.tolist() == [9, 9, 9]


def test_assign_to_unrealized_tensor_realizes_it_first():
    t = Tensor.zeros(2, 2)
    t.assign(Tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t.uop.base.op is Ops.BUFFER


def test_assign_repeatedly_accumulates():
    t = Tensor([0.0, 0.0]).realize()
    for i in range(3):
        t.assign(t + Tensor([1.0, float(i)])).realize()
    assert t.tolist() == [3.0, 3.0]


def test_assign_returns_self():
    t = Tensor([1.0]).realize()
    assert t.assign(Tensor([2.0])) is t


@pytest.mark.parametrize(
    "value, match",
    [
        (Tensor([1.0, 2.0]), r"shape"),
        (Tensor([[1.0, 2.0, 3.0]]), r"shape"),
        (Tensor([1, 2, 3]), r"dtype"),
        (Tensor([True, False, True]), r"dtype"),
    ],
)
def test_assign_mismatch_raises_and_keeps_the_value(value, match):
    t = Tensor([1.0, 2.0, 3.0]).realize()
    buf = _buffer(t)
    with pytest.raises(ValueError, match=match):
        t.assign(value)
    assert _buffer(t) is buf
    assert t.tolist() == [1.0, 2.0, 3.0]


def test_assign_device_mismatch_raises():
    t = Tensor([1.0, 2.0], device="PYTHON").realize()
    with pytest.raises(ValueError, match="device"):
        t.assign(Tensor([3.0, 4.0], device="CPU"))
    assert t.tolist() == [1.0, 2.0]


def test_tensors_with_equal_graphs_realized_together_get_buffers_of_their_own():
    # equal lazy graphs are one hash-consed UOp; realized in one call they must still not share storage
    c, d, e = Tensor.ones(4), Tensor.ones(4), Tensor.ones(4)
    Tensor.realize(c, d, e)
    c.assign(c + 1).realize()
    e.assign(e * 5).realize()
    assert (c.tolist(), d.tolist(), e.tolist()) == ([2.0] * 4, [1.0] * 4, [5.0] * 4)


def test_a_view_realized_with_its_base_still_follows_it():
    x = Tensor.ones(4).realize()
    v = x.reshape(2, 2)
    Tensor.realize(x, v)
    x.assign(x + 1).realize()
    assert v.tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_equal_graphs_on_a_device_tuple_realized_together_get_buffers_of_their_own():
    devs = ("CPU", "CPU:1")
    c, d = Tensor.ones(4).to(devs), Tensor.ones(4).to(devs)
    Tensor.realize(c, d)
    c.assign(c + 1).realize()
    assert (c.tolist(), d.tolist()) == ([2.0] * 4, [1.0] * 4)
