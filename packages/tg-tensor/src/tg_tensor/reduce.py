"""Reductions over all axes or some: sum, max, min, mean, softmax and friends.

>>> from tg_tensor import Tensor
>>> Tensor([[1, 2], [3, 4]]).sum(axis=0).tolist()
[4, 6]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tg_uop.dtype import dtypes, least_upper_float
from tg_uop.helpers import normalize_axis, prod
from tg_uop.ops import Ops

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor


class ReduceMixin:
    """Reductions; mixed into `Tensor`."""

    __slots__ = ()

    def _axes(self, axis: int | Sequence[int] | None, op: str) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        out = tuple(normalize_axis(a, self.ndim, op) for a in axes)
        if self.ndim == 0:
            return ()  # axis 0 or -1 of a scalar is accepted, as in PyTorch, and reduces nothing
        if len(set(out)) != len(out):
            raise ValueError(f"{op}: repeated axis in {axes}")
        return out

    def _reduce(self, op: Ops, axis: int | Sequence[int] | None, keepdim: bool, name: str) -> Tensor:
        axes = self._axes(axis, name)
        ret = self._apply(lambda u: u.reduce_axis(op, axes)) if axes else self
        return ret if keepdim else ret.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    def sum(self, axis: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        x = self.cast(dtypes.int32) if self.dtype.is_bool or (self.dtype.is_int and self.dtype.itemsize < 4) else self
        return x._reduce(Ops.ADD, axis, keepdim, "sum")

    def max(self, axis: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return self._reduce(Ops.MAX, axis, keepdim, "max")

    def min(self, axis: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        self._axes(axis, "min")
        return -((-self).max(axis, keepdim))

    def mean(self, axis: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        axes = self._axes(axis, "mean")
        count = prod(self.shape[i] for i in axes)
        return self.cast(least_upper_float(self.dtype)).sum(axis, keepdim) / max(count, 1)

    def log_softmax(self, axis: int = -1) -> Tensor:
        m = self - self.max(axis, keepdim=True).detach()
        return m - m.exp().sum(axis, keepdim=True).log()

    def softmax(self, axis: int = -1) -> Tensor:
        e = (self - self.max(axis, keepdim=True).detach()).exp()
        return e / e.sum(axis, keepdim=True)
