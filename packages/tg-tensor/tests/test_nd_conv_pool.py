"""tinygrad's N-d forms through the 2-D entry points: conv2d / conv_transpose2d with a weight of any rank,
max_pool2d / avg_pool2d with a 1- or 3-int kernel, per-side padding tuples (F.pad's order) for pools; torch's
1d/2d/3d functions are the oracle (forward and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import check

CONVS = [
    ((2, 3, 9), (4, 3, 3), F.conv1d, {"padding": 1}),
    ((2, 4, 9), (4, 2, 2), F.conv1d, {"stride": 2, "groups": 2}),
    ((1, 2, 5, 6, 4), (3, 2, 2, 3, 2), F.conv3d, {"padding": 1}),
    ((1, 2, 5, 6, 4), (3, 2, 2, 2, 2), F.conv3d, {"stride": 2, "dilation": 1}),
]


@pytest.mark.parametrize("x, w, fn, kw", CONVS)
def test_conv2d_takes_weights_of_any_rank(x, w, fn, kw) -> None:
    check(lambda a, b: a.conv2d(b, **kw), lambda a, b: fn(a, b, **kw), x, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "x, w, fn, kw",
    [
        ((2, 3, 7), (3, 4, 3), F.conv_transpose1d, {"stride": 2}),
        ((1, 2, 3, 4, 3), (2, 3, 2, 2, 2), F.conv_transpose3d, {}),
    ],
)
def test_conv_transpose2d_takes_weights_of_any_rank(x, w, fn, kw) -> None:
    check(lambda a, b: a.conv_transpose2d(b, **kw), lambda a, b: fn(a, b, **kw), x, w, rtol=1e-4, atol=1e-4)


def test_conv2d_per_side_padding() -> None:
    pad = (1, 2, 0, 1)  # F.pad's order: left, right, top, bottom
    check(
        lambda a, b: a.conv2d(b, padding=pad),
        lambda a, b: F.conv2d(F.pad(a, pad), b),
        (1, 2, 6, 7),
        (3, 2, 3, 3),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("kernel, shape, fn", [((2,), (2, 3, 9), "1d"), ((2, 2, 2), (1, 2, 5, 6, 4), "3d")])
def test_pool2d_with_another_rank_of_kernel(kernel, shape, fn) -> None:
    check(lambda a: a.max_pool2d(kernel), lambda a: getattr(F, f"max_pool{fn}")(a, kernel), shape)
    check(lambda a: a.avg_pool2d(kernel), lambda a: getattr(F, f"avg_pool{fn}")(a, kernel), shape)


@pytest.mark.parametrize("pad", [(1, 1, 0, 1), (0, 1, 1, 0)])
def test_pools_take_per_side_padding(pad) -> None:
    check(
        lambda a: a.max_pool2d(3, stride=1, padding=pad),
        lambda a: F.max_pool2d(F.pad(a, pad, value=-float("inf")), 3, stride=1),
        (1, 2, 6, 7),
    )
    check(lambda a: a.avg_pool2d(3, stride=2, padding=pad), lambda a: F.avg_pool2d(F.pad(a, pad), 3, 2), (1, 2, 6, 7))

    def torch_no_pad_count(a: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool2d(F.pad(a, pad), 3, 1, divisor_override=1)
        return total / F.avg_pool2d(F.pad(torch.ones_like(a), pad), 3, 1, divisor_override=1)

    check(lambda a: a.avg_pool2d(3, stride=1, padding=pad, count_include_pad=False), torch_no_pad_count, (1, 2, 6, 7))
