"""Linear algebra and neural-network functions: matmul, linear, losses.

>>> from tg_tensor import Tensor
>>> (Tensor([[1.0, 2.0]]) @ Tensor([[3.0], [4.0]])).tolist()
[[11.0]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor


class FunctionalMixin:
    """Linear algebra and neural-network functions; mixed into `Tensor`."""

    __slots__ = ()

    def __matmul__(self, y: Tensor) -> Tensor:
        return self.matmul(y)

    def matmul(self, w: Tensor) -> Tensor:
        """Matrix product with numpy's rules for 1-D operands and batch broadcasting.
        One multiply over a broadcast (..., n, m, k) view and a sum over k: a single kernel."""
        x = self
        if x.ndim == 0 or w.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got {x.shape} and {w.shape}")
        k_x, k_w = x.shape[-1], w.shape[-2] if w.ndim > 1 else w.shape[0]
        if k_x != k_w:
            raise ValueError(f"matmul: shapes {x.shape} and {w.shape} do not match ({k_x} != {k_w})")
        x2 = x.reshape(1, k_x) if x.ndim == 1 else x
        w2 = w.reshape(k_w, 1) if w.ndim == 1 else w
        xr = x2.reshape(*x2.shape[:-1], 1, k_x)
        wt = w2.transpose(-1, -2)
        wr = wt.reshape(*wt.shape[:-2], 1, *wt.shape[-2:])
        out = (xr * wr).sum(-1)
        if x.ndim == 1:
            out = out.reshape(*out.shape[:-2], out.shape[-1])
        if w.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out

    def dot(self, w: Tensor) -> Tensor:
        return self.matmul(w)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """x @ weight.T + bias, with weight of shape (out, in) as in PyTorch."""
        out = self.matmul(weight.T)
        return out + bias if bias is not None else out

    def sparse_categorical_crossentropy(self, labels: Tensor) -> Tensor:
        """Mean cross-entropy of logits `self` (N, C) against integer class labels (N,)."""
        if self.ndim != 2 or labels.shape != self.shape[:1]:
            raise ValueError(
                f"sparse_categorical_crossentropy: logits {self.shape} and labels {labels.shape} do not match"
            )
        classes = self.arange(self.shape[1], device=self.device).reshape(1, self.shape[1])
        one_hot = (labels.reshape(self.shape[0], 1) == classes).float()
        return -(self.log_softmax(-1) * one_hot).sum(-1).mean()
