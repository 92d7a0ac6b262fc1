"""Regressions found while running the seed tutorials' examples (test_seeds.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tg_tensor import Tensor


def test_backward_of_a_one_element_tensor_needs_no_gradient() -> None:
    # PyTorch seeds any one-element output with 1; tg refused every shape but ()
    x = Tensor([3.0], requires_grad=True)
    (x * x).backward()
    assert x.grad is not None and x.grad.tolist() == [6.0]
    y = Tensor([[2.0]], requires_grad=True)
    assert (y * 5).gradient(y)[0].tolist() == [[5.0]]
    with pytest.raises(RuntimeError, match=r"non-scalar.*\(2,\)"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward()


def test_sum_over_an_axis_already_reduced_in_the_same_kernel() -> None:
    # x.sum(1, keepdim=True).sum(1, keepdim=True) fused into one kernel summed the row sums 4 times (tg-codegen)
    x = Tensor(np.arange(16, dtype=np.float32).reshape(4, 4)).realize()
    out = x.sum(axis=1, keepdim=True).sum(axis=1, keepdim=True)
    np.testing.assert_array_equal(out.numpy(), [[6.0], [22.0], [38.0], [54.0]])
    np.testing.assert_array_equal(x.max(axis=1, keepdim=True).max(axis=1).numpy(), [3.0, 7.0, 11.0, 15.0])
