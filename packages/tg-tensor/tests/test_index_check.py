"""The index rule: an integer index held by a tensor is checked against its axis at the call, on every device,
and a value outside it raises IndexError naming it (PyTorch raises too). `Context(CHECK_INDEX=0)` is the
unchecked fast path: nothing is read back and an out-of-range index selects nothing."""

from __future__ import annotations

import pytest

from tg_runtime import Device
from tg_tensor import Tensor, dtypes
from tg_uop.helpers import Context

DEVICES = ["CPU", "PYTHON", *(["CL"] if Device.available()["CL"] is None else [])]


def _x(device: str) -> Tensor:
    return Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device)


def _i(values: list, device: str) -> Tensor:
    return Tensor(values, device=device, dtype=dtypes.int32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("name", "fn", "bad"),
    [
        ("getitem", lambda x, i: x[i([5])], "index 5 is out of range for axis 0 of size 3"),
        ("getitem negative", lambda x, i: x[i([0, -4])], "index -4 is out of range for axis 0 of size 3"),
        ("getitem second axis", lambda x, i: x[:, i([1, 2])], "index 2 is out of range for axis 1 of size 2"),
        ("getitem computed", lambda x, i: x[i([1, 2]) * 2], "index 4 is out of range for axis 0"),
        ("index_select", lambda x, i: x.index_select(1, i([0, 7])), "index 7 is out of range for axis 1 of size 2"),
        ("gather", lambda x, i: x.gather(1, i([[0], [3], [1]])), "gather: index 3 is out of range for axis 1"),
        ("scatter", lambda x, i: x.scatter(0, i([[3, 0]]), 9.0), "scatter: index 3 is out of range for axis 0"),
        ("scatter_add", lambda x, i: x.scatter_add(0, i([[0, -9]]), x), "scatter_add: index -9 is out of range"),
        (
            "scatter_reduce",
            lambda x, i: x.scatter_reduce(1, i([[2]]), x, "amax"),
            "scatter_reduce: index 2 is out of range for axis 1",
        ),
        ("one_hot", lambda x, i: i([0, 2, 3]).one_hot(3), "one_hot: index 3 is out of range for num_classes"),
        ("one_hot negative", lambda x, i: i([-1]).one_hot(3), "one_hot: index -1 is out of range"),
        ("cross_entropy", lambda x, i: x.cross_entropy(i([0, 2, 1])), "cross_entropy: index 2 is out of range"),
        ("nll_loss", lambda x, i: x.nll_loss(i([0, -1, 1])), "nll_loss: index -1 is out of range"),
        (
            "sparse_categorical_crossentropy",
            lambda x, i: x.sparse_categorical_crossentropy(i([0, 1, 2])),
            "sparse_categorical_crossentropy: index 2",
        ),
    ],
)
def test_out_of_range_index_raises(device: str, name: str, fn, bad: str) -> None:
    with pytest.raises(IndexError, match=bad):
        fn(_x(device), lambda v: _i(v, device))


@pytest.mark.parametrize("device", DEVICES)
def test_setitem_out_of_range_raises_and_writes_nothing(device: str) -> None:
    x = _x(device).realize()
    with pytest.raises(IndexError, match="index 3 is out of range for axis 0 of size 3"):
        x[_i([0, 3], device)] = 0.0
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


@pytest.mark.parametrize("device", DEVICES)
def test_in_range_indices_still_work(device: str) -> None:
    x, i = _x(device), (lambda v: _i(v, device))
    assert x[i([-1, 0])].tolist() == [[5.0, 6.0], [1.0, 2.0]]
    assert x.gather(1, i([[1], [0], [-2]])).tolist() == [[2.0], [3.0], [5.0]]
    assert i([2, 0]).one_hot(3).tolist() == [[0, 0, 1], [1, 0, 0]]
    # the ignored label is not a class index: no error
    loss = x.cross_entropy(i([0, -100, 1])).item()
    assert loss == pytest.approx(x[i([0, 2])].cross_entropy(i([0, 1])).item())


@pytest.mark.parametrize("device", DEVICES)
def test_unchecked_fast_path_is_asked_for(device: str) -> None:
    x, i = _x(device), (lambda v: _i(v, device))
    with Context(CHECK_INDEX=0):
        assert x[i([5])].tolist() == [[0.0, 0.0]]
        assert x.gather(1, i([[2], [0], [1]])).tolist() == [[0.0], [3.0], [6.0]]
        assert x.scatter(0, i([[3, 0]]), 9.0).tolist() == [[1.0, 9.0], [3.0, 4.0], [5.0, 6.0]]
        assert i([3]).one_hot(3).tolist() == [[0, 0, 0]]
