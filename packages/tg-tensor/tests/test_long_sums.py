"""Long reductions split in two levels (tg-schedule's split rule): each accumulator adds a bounded count, so a
float32 sum of billions of ones no longer stops at 2^24, and long random sums stay close to float64.

The billion-element inputs are lazily constant (nothing is allocated); the expected values are what torch 2.13
gives for the same float32 sums (`torch.ones(1).expand(2**32 + 5).sum()` is 4294967296.0).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tg_runtime import Device
from tg_tensor import Tensor

COMPILED = ["CPU", *(["CL"] if Device.available()["CL"] is None else [])]


@pytest.mark.parametrize("device", COMPILED)
def test_float32_sum_of_2_pow_32_ones_is_torchs(device: str) -> None:
    # one accumulator stopped at 2^24 (16777216.0): 1.0 is below its rounding step there
    assert Tensor.ones(2**32 + 5, device=device).sum().item() == 4294967296.0


@pytest.mark.parametrize("device", COMPILED)
def test_float32_row_sums_of_2_pow_31_ones(device: str) -> None:
    assert Tensor.ones(3, 2**31, device=device).sum(1).tolist() == [2147483648.0] * 3


def test_float32_sum_of_ten_million_randoms_is_close_to_float64() -> None:
    # one accumulator per SIMD lane (625,000 adds each) was 5e-6 off; chunks of at most 2^16 are within 1e-6
    x = np.random.default_rng(0).random(10**7, dtype=np.float32)
    want = x.astype(np.float64).sum()
    got = Tensor(x).sum().item()
    assert abs(got - want) <= 1e-6 * want
    assert abs(Tensor(x).mean().item() - want / x.size) <= 1e-6 * want / x.size
    assert abs(got - want) <= 4 * abs(torch.from_numpy(x).sum().item() - want) + 1.0


def test_few_long_channel_statistics_match_torch() -> None:
    # batch-norm statistics over 3 channels (few outputs, 2^17 elements each): split across the threads
    x = np.random.default_rng(1).standard_normal((32, 3, 64, 64), dtype=np.float32)
    t = torch.from_numpy(x)
    got = Tensor(x)
    np.testing.assert_allclose(got.mean((0, 2, 3)).numpy(), t.mean((0, 2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.var((0, 2, 3)).numpy(), t.var((0, 2, 3)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(got.max((0, 2, 3)).numpy(), t.amax((0, 2, 3)).numpy())
    np.testing.assert_allclose(got.min().numpy(), t.min().numpy())
