"""Bad input is refused when the op is built (not at realize), with the op's name and the shapes involved."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tg_tensor import Tensor, dtypes

# the module (tg_schedule re-exports a function of the same name as the package attribute)
realize_mod = importlib.import_module("tg_schedule.run")


@pytest.fixture(autouse=True)
def nothing_runs(monkeypatch):
    """Every error here must come before anything is scheduled or run."""

    def refuse(*args, **kwargs):
        raise AssertionError("an invalid op reached realize")

    monkeypatch.setattr(realize_mod, "run_item", refuse)


def _ones(*shape: int) -> Tensor:
    return Tensor.ones(*shape)


@pytest.mark.parametrize(
    "name, fn",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("maximum", lambda a, b: a.maximum(b)),
        ("lt", lambda a, b: a < b),
        ("eq", lambda a, b: a == b),
        ("ne", lambda a, b: a != b),
    ],
)
def test_elementwise_shape_mismatch(name, fn):
    with pytest.raises(ValueError) as e:
        fn(_ones(2, 3), _ones(4, 3))
    msg = str(e.value)
    assert name in msg
    assert "(2, 3)" in msg and "(4, 3)" in msg


def test_elementwise_shape_mismatch_trailing_dims():
    with pytest.raises(ValueError, match=r"add.*\(3,\).*\(4,\)"):
        Tensor([1.0, 2.0, 3.0]) + Tensor([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="mul"):
        _ones(2, 3, 4) * _ones(3, 5)


def test_where_shape_mismatch():
    with pytest.raises(ValueError, match="where"):
        Tensor([True, False]).where(_ones(3), _ones(3))
    with pytest.raises(ValueError, match="where"):
        Tensor([True, False]).where(_ones(2), _ones(3))


@pytest.mark.parametrize(
    "sa, sb", [((2, 3), (2, 3)), ((3,), (4,)), ((2, 3), (4,)), ((5,), (4, 2)), ((2, 2, 3), (2, 4, 3))]
)
def test_matmul_mismatch(sa, sb):
    with pytest.raises(ValueError) as e:
        _ones(*sa) @ _ones(*sb)
    msg = str(e.value)
    assert "matmul" in msg
    assert str(sa) in msg and str(sb) in msg


def test_matmul_batch_mismatch():
    with pytest.raises(ValueError):
        _ones(2, 3, 4) @ _ones(3, 4, 5)


def test_matmul_of_scalar_is_refused():
    with pytest.raises(ValueError, match="matmul"):
        Tensor(2.0) @ _ones(2)


@pytest.mark.parametrize("shape", [(99, 99), (2, 2), (-1, 2), (4, -1), (0,)], ids=str)
def test_reshape_incompatible(shape):
    with pytest.raises(ValueError) as e:
        Tensor([1, 2, 3]).reshape(*shape)
    msg = str(e.value)
    assert "reshape" in msg and "(3,)" in msg


def test_reshape_bad_arguments():
    with pytest.raises(ValueError, match="reshape"):
        _ones(2, 3).reshape(-1, -1)
    with pytest.raises(ValueError, match="reshape"):
        _ones(2, 3).reshape(-2, -3)


@pytest.mark.parametrize(
    "name, fn",
    [
        ("sum", lambda t: t.sum(2)),
        ("sum", lambda t: t.sum(-3)),
        ("max", lambda t: t.max(axis=(0, 5))),
        ("mean", lambda t: t.mean(-4)),
        ("permute", lambda t: t.permute(0, 2)),
        ("transpose", lambda t: t.transpose(0, 3)),
        ("flatten", lambda t: t.flatten(3)),
        ("unsqueeze", lambda t: t.unsqueeze(4)),
        ("unsqueeze", lambda t: t.unsqueeze(-5)),
    ],
)
def test_axis_out_of_range(name, fn):
    with pytest.raises(IndexError, match=name):
        fn(_ones(2, 3))


def test_repeated_reduce_axis():
    with pytest.raises(ValueError, match="sum"):
        _ones(2, 3).sum(axis=(1, -1))


@pytest.mark.parametrize("order", [(0, 0), (1, 1, 0), (0,), (0, 1, 2)], ids=str)
def test_permute_not_a_permutation(order):
    with pytest.raises((ValueError, IndexError)) as e:
        _ones(2, 3).permute(*order)
    assert "permute" in str(e.value)


def test_permute_repeated_axis_is_value_error():
    with pytest.raises(ValueError, match=r"permute.*\(2, 3\)"):
        _ones(2, 3).permute(1, 1)


@pytest.mark.parametrize("target", [(4, 3), (2,), (3, 3), (2, 6)], ids=str)
def test_expand_incompatible(target):
    with pytest.raises(ValueError, match="expand"):
        _ones(2, 3).expand(*target)


def test_tensors_on_different_devices_are_refused():
    a = Tensor([1.0, 2.0], device="PYTHON")
    b = Tensor([1.0, 2.0], device="CPU")
    assert (a + a).shape == (2,)
    with pytest.raises(ValueError, match="add"):
        a + b
    with pytest.raises(ValueError, match="mul"):
        b * a


def test_cross_entropy_shape_mismatch():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        _ones(4, 3).sparse_categorical_crossentropy(Tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        _ones(4).sparse_categorical_crossentropy(Tensor([0, 1, 2, 0]))


def test_invalid_factory_shapes():
    with pytest.raises(ValueError, match="rand"):
        Tensor.rand(2, -3)
    with pytest.raises(ValueError, match="randn"):
        Tensor.randn(2.5)
    with pytest.raises(ValueError, match="full"):
        Tensor.full((-1,), 0.0)


def test_assign_mismatch_is_refused_and_changes_nothing(monkeypatch):
    monkeypatch.undo()  # the target is realized with real kernels here
    t = Tensor([1.0, 2.0, 3.0]).realize()
    with pytest.raises(ValueError, match=r"assign.*\(2,\).*\(3,\)"):
        t.assign(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="assign"):
        t.assign(Tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="assign"):
        t.assign(Tensor([[1.0, 2.0, 3.0]]))
    assert t.dtype == dtypes.float32 and t.shape == (3,)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])


def test_unknown_device_is_refused_at_creation():
    with pytest.raises(KeyError, match="NOPE"):
        Tensor([1.0], device="NOPE")
    with pytest.raises(KeyError):
        Tensor.zeros(2, device="NOPE")
