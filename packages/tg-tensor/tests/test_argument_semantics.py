"""tinygrad's argument semantics: argument errors are both ValueError and RuntimeError (torch's and tinygrad's
kind), IndexError for indices, TypeError for dtype misuse; dtypes accepted by name everywhere and checked at the
call; arange past int32 gives int64; sum/prod(dtype=); wide Python ints in bitwise ops promote."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tg_tensor import Tensor, dtypes
from tg_tensor.errors import ArgumentError


@pytest.mark.parametrize(
    "fn",
    [
        lambda: Tensor.ones(2, 3).reshape(4),
        lambda: Tensor.ones(2, 3) + Tensor.ones(4),
        lambda: Tensor.ones(2, 3).permute(0, 0),
        lambda: Tensor.ones(2, 3) @ Tensor.ones(2, 3),
        lambda: Tensor.ones(1, 1, 3, 3).conv2d(Tensor.ones(1, 2, 2, 2)),
    ],
)
def test_argument_errors_are_value_and_runtime_errors(fn) -> None:
    with pytest.raises(RuntimeError) as info:
        fn()
    assert isinstance(info.value, ValueError) and isinstance(info.value, ArgumentError)


def test_index_and_dtype_errors_keep_their_kind() -> None:
    with pytest.raises(IndexError):
        Tensor.ones(2, 3).sum(5)
    with pytest.raises(TypeError, match="unknown dtype name 'floaty'"):
        Tensor.zeros(2, dtype="floaty")
    with pytest.raises(TypeError, match="unknown dtype"):
        Tensor([1.0]).cast("no_such_type")
    with pytest.raises(TypeError, match="unknown dtype"):
        Tensor([1.0], dtype="nope")


@pytest.mark.parametrize(
    "name, dt",
    [("int", dtypes.int32), ("float32", dtypes.float32), ("half", dtypes.float16), ("bool", dtypes.bool),
     ("float16", dtypes.float16), ("long", dtypes.int64), ("uint8", dtypes.uint8)],
)  # fmt: skip
def test_dtypes_by_name(name: str, dt) -> None:
    assert Tensor([1, 0, 2], dtype=name).dtype == dt
    assert Tensor([1.5, 0.0]).cast(name).dtype == dt
    assert Tensor.zeros(2, dtype=name).dtype == dt and Tensor.ones(2, dtype=name).dtype == dt
    assert Tensor.full((2,), 1, dtype=name).dtype == dt and Tensor([1.0]).zeros_like(dtype=name).dtype == dt
    want = torch.tensor([1.5, 0.0]).to({"int": torch.int32, "long": torch.int64}.get(name, getattr(torch, name)))
    np.testing.assert_array_equal(Tensor([1.5, 0.0]).cast(name).numpy(), want.numpy())


def test_reductions_take_dtypes_by_value_and_name() -> None:
    a = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    for dt, tdt in ((dtypes.float32, torch.float32), ("float", torch.float32), ("int64", torch.int64)):
        for op in ("sum", "prod", "cumsum"):
            got = getattr(Tensor(a), op)(1, dtype=dt)
            want = getattr(torch.tensor(a), op)(1, dtype=tdt)
            assert got.numpy().dtype == want.numpy().dtype and got.tolist() == want.tolist()
    assert Tensor([1.0, 2.0]).softmax(0, dtype="float64").dtype == dtypes.float64
    assert Tensor([1.0, 2.0]).bitcast("int32").tolist() == torch.tensor([1.0, 2.0]).view(torch.int32).tolist()


def test_arange_past_int32_is_int64() -> None:
    for args in ((2**31, 2**31 + 3), (-(2**31) - 2, -(2**31) + 1), (0, 2**33, 2**32)):
        got, want = Tensor.arange(*args), torch.arange(*args)
        assert got.dtype == dtypes.int64 and got.tolist() == want.tolist()
    assert Tensor.arange(5).dtype == dtypes.int32  # the default int stays int32 within range


def test_wide_python_ints_promote_in_bitwise_ops() -> None:
    a = np.array([1, 2, -3], dtype=np.int32)
    for y in (2**40 + 5, 2**31, -(2**33)):
        for op in ("__and__", "__or__", "__xor__", "__rand__"):
            got = getattr(Tensor(a), op)(y)
            want = getattr(torch.tensor(a, dtype=torch.int64), op)(y)
            assert got.dtype == dtypes.int64 and got.tolist() == want.tolist(), (op, y)
    assert (Tensor(a) & 3).dtype == dtypes.int32  # a small int keeps the tensor's dtype
