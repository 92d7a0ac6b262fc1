"""Loops and indices past 2^31 - 1: the index arithmetic of such a kernel is 64-bit on every device.

Inputs are constants or small buffers expanded lazily, so nothing past a few bytes is allocated. Loops of
billions of iterations run on the compiled devices only (the PYTHON device interprets the program: it gets
the views past 2^31 read through a small window instead). tg-codegen's test_index64 fuzzes more of these and
compiles them as CUDA C.
"""

from __future__ import annotations

import pytest

from tg_runtime import Device
from tg_tensor import Tensor
from tg_uop import dtypes

ALL = ["CPU", "PYTHON", *(["CL"] if Device.available()["CL"] is None else [])]
COMPILED = [d for d in ALL if d != "PYTHON"]


@pytest.mark.parametrize("device", COMPILED)
def test_sum_of_more_than_2_pow_32_elements(device: str) -> None:
    # the loop bound 2^32 + 5 was rendered as a C int: 5 iterations
    assert Tensor.ones(2**32 + 5, dtype=dtypes.int64, device=device).sum().item() == 2**32 + 5


@pytest.mark.parametrize("device", COMPILED)
def test_row_sums_of_2_pow_31_columns(device: str) -> None:
    # the loop bound 2^31 wrapped to a negative int: no iterations, zeros
    got = Tensor.ones(3, 2**31, dtype=dtypes.int64, device=device).sum(1).tolist()
    assert got == [2**31] * 3


def _rows(device: str) -> Tensor:
    # 3 * 2^31 elements: each of [1, 2, 3] repeated 2^31 times, never materialized
    return Tensor([1.0, 2.0, 3.0], device=device).reshape(3, 1).expand(3, 2**31).reshape(3 * 2**31)


@pytest.mark.parametrize("device", ALL)
def test_window_past_2_pow_31_of_an_expanded_tensor(device: str) -> None:
    x = _rows(device)
    assert x[-2:].tolist() == [3.0, 3.0]
    assert x[2**31 - 1 : 2**31 + 1].tolist() == [1.0, 2.0]
    assert x[2 * 2**31 + 1 : 2 * 2**31 + 3].tolist() == [3.0, 3.0]
    assert x[:: 2**31].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("device", ALL)
def test_padding_past_2_pow_32(device: str) -> None:
    x = Tensor([1.0, 2.0], device=device).pad(((2**32 + 3, 2**31),))
    assert x.shape == (2**32 + 2**31 + 5,)
    assert x[2**32 + 2 : 2**32 + 6].tolist() == [0.0, 1.0, 2.0, 0.0]
    assert (x[2**32 + 2 : 2**32 + 6] + _rows(device)[-4:]).tolist() == [3.0, 4.0, 5.0, 3.0]
