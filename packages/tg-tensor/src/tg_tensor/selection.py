"""Selecting by a mask: `nonzero` and `masked_select`, with a static `size=` that keeps the result's shape
fixed (tinygrad's jit-friendly form, PyTorch's `nonzero_static`): the first `size` hits, the rest filled.

Without `size` the number of hits is read from the device at the call (the shape depends on it). With it,
nothing is read: hit number r is found as the element whose running count of hits is r (a where-and-sum over
the elements, size*n work), so values keep their gradient.

>>> from tg_tensor import Tensor
>>> Tensor([[0, 3], [4, 0]]).nonzero().tolist()
[[0, 1], [1, 0]]
>>> Tensor([5.0, 6.0, 7.0]).masked_select(Tensor([True, False, True]), size=3).tolist()
[5.0, 7.0, 0.0]
"""

from __future__ import annotations

from typing import Self

from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import Scalar, broadcast_shape
from tg_tensor.sorting import SortingMixin
from tg_uop.dtype import dtypes


def _check_size(size: int, op: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ArgumentError(f"{op}: size must be an int >= 0, got {size!r}")


class SelectionMixin(SortingMixin):
    """nonzero, masked_select with a static size; mixed into `Tensor`."""

    __slots__ = ()

    def _hit_rows(self, size: int) -> Self:
        """For a flat bool tensor (n,): (size, n), True at [r, i] where element i is hit number r."""
        running = self.cast(dtypes.default_int).cumsum(0) - 1
        rows = self.arange(size, device=self.device).reshape(size, 1)
        return self.reshape(1, -1) & (running.reshape(1, -1) == rows)

    def nonzero(self, size: int | None = None, fill_value: int = -1) -> Self:
        """The coordinates (count, ndim) of the nonzero elements in row-major order, as `torch.nonzero`;
        with `size`, exactly `size` rows, missing ones `fill_value` (`torch.nonzero_static`). int32.

        >>> from tg_tensor import Tensor
        >>> Tensor([0, 1, 1]).nonzero(size=3).tolist()
        [[1], [2], [-1]]
        """
        flat = (self != 0).flatten() if self.ndim else (self != 0).reshape(1)
        if size is None:
            size = int(flat.cast(dtypes.default_int).sum().item())
        _check_size(size, "nonzero")
        n = flat.shape[0]
        hit = flat._hit_rows(size)
        pos = self.arange(n, device=self.device).reshape(1, n)
        index = hit.where(pos, 0).sum(-1, dtype=dtypes.default_int)  # flat index of hit r
        found = hit.any(-1)
        coords, stride = [], n
        for s in self.shape:
            stride //= s
            coords.append((index // stride) % s)
        if not coords:
            return self.zeros(size, 0, dtype=dtypes.default_int, device=self.device)
        return found.unsqueeze(-1).where(coords[0].stack(*coords[1:], dim=-1), fill_value)

    def masked_select(self, mask: Self, size: int | None = None, fill_value: Scalar = 0) -> Self:
        """The elements where the bool `mask` is True (broadcast together), 1-D in row-major order, as
        `torch.masked_select`; with `size`, exactly `size` elements, missing ones `fill_value`, and nothing
        is read from the device.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 2], [3, 4]]).masked_select(Tensor([True, False])).tolist()
        [1, 3]
        """
        if size is None:
            return super().masked_select(mask)
        _check_size(size, "masked_select")
        if not isinstance(mask, type(self)) or not mask.dtype.is_bool:
            what = mask.dtype if isinstance(mask, type(self)) else type(mask).__name__
            raise TypeError(f"masked_select: the mask must be a bool tensor, got {what!r}")
        shape = broadcast_shape(self.shape, mask.shape, "masked_select")
        x, m = self._broadcast_to(shape).reshape(-1), mask._broadcast_to(shape).reshape(-1)
        hit = m._hit_rows(size)
        values = hit.where(x.reshape(1, -1), 0).sum(-1, dtype=self.dtype)
        return hit.any(-1).where(values, fill_value)
