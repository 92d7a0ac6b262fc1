"""Ordering by value: `sort`, `argsort`, `topk`, as PyTorch (and tinygrad) name them.

There is no sorting kernel: each element's rank is the count of the elements that go before it (smaller,
or equal and earlier: a stable order, NaN last as in PyTorch), and the sorted values are gathered by rank
with a where-and-sum, so the values' gradient flows back to the elements they came from. It costs n*n
comparisons per row of n, in one or two kernels; meant for the short axes of top-k sampling and ranking.

>>> from tg_tensor import Tensor
>>> values, indices = Tensor([3.0, 1.0, 2.0]).sort()
>>> values.tolist(), indices.tolist()
([1.0, 2.0, 3.0], [1, 2, 0])
"""

from __future__ import annotations

from typing import Generic, NamedTuple, Self, TypeVar

from tg_tensor.errors import ArgumentError
from tg_tensor.nn_ops import NNOpsMixin
from tg_uop.dtype import dtypes
from tg_uop.helpers import normalize_axis

T = TypeVar("T", bound="SortingMixin")


class SortResult(NamedTuple, Generic[T]):
    """What `sort` and `topk` return, as PyTorch does: the values and the positions (int32) they come from."""

    values: T
    indices: T


def _goes_before(a: T, b: T, descending: bool) -> T:
    """Whether value a sorts strictly before value b; NaN is the largest value (last ascending, first
    descending), as in PyTorch."""
    lo, hi = (b, a) if descending else (a, b)
    less = lo < hi
    if not a.dtype.is_float:
        return less
    return less | (lo.isnan().logical_not() & hi.isnan())


def _same(a: T, b: T) -> T:
    same = a == b
    return same | (a.isnan() & b.isnan()) if a.dtype.is_float else same


class SortingMixin(NNOpsMixin):
    """sort, argsort, topk; mixed into `Tensor`."""

    __slots__ = ()

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = True) -> SortResult[Self]:
        """The values along `dim` in order and their positions, as `torch.sort` (always stable: equal values
        keep their order). Gradients reach the values' elements.

        >>> from tg_tensor import Tensor
        >>> Tensor([[2, 1], [0, 5]]).sort(dim=1, descending=True).values.tolist()
        [[2, 1], [5, 0]]
        """
        if self.ndim == 0:
            normalize_axis(dim, 1, "sort")
            return SortResult(self, self.zeros_like(dtype=dtypes.default_int))
        ax = normalize_axis(dim, self.ndim, "sort")
        x = self.transpose(ax, -1)
        n = x.shape[-1]
        xi, xj = x.unsqueeze(-1), x.unsqueeze(-2)  # (..., i, 1) and (..., 1, j)
        pos = self.arange(n, device=self.device)
        earlier = pos.reshape(1, n) < pos.reshape(n, 1)  # [i, j]: j comes before i
        before = _goes_before(xj, xi, descending) | (_same(xj, xi) & earlier)
        rank = before.cast(dtypes.default_int).sum(-1)  # (..., i): where element i goes
        hit = rank.unsqueeze(-2) == pos.reshape(n, 1)  # (..., r, i): element i is at rank r
        values = hit.where(x.unsqueeze(-2), 0).sum(-1, dtype=x.dtype)
        indices = hit.where(pos.reshape(1, n), 0).sum(-1, dtype=dtypes.default_int)
        return SortResult(values.transpose(ax, -1), indices.transpose(ax, -1))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = True) -> Self:
        """The positions that sort the values along `dim` (stable), as `torch.argsort`.

        >>> from tg_tensor import Tensor
        >>> Tensor([3, 1, 2]).argsort().tolist()
        [1, 2, 0]
        """
        return self.sort(dim, descending).indices

    def topk(
        self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, sorted_: bool | None = None
    ) -> SortResult[Self]:
        """The k largest (or smallest) values along `dim` and their positions, in order, as `torch.topk`
        (`sorted_` is tinygrad's spelling of `sorted`; the result is always in order); ties keep their order.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 4.0, 3.0, 4.0]).topk(2).indices.tolist()
        [1, 3]
        """
        n = self.shape[normalize_axis(dim, self.ndim, "topk")] if self.ndim else 1
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n:
            raise ArgumentError(f"topk: k must be an int in [0, {n}] for shape {self.shape}, got {k!r}")
        values, indices = self.sort(dim, descending=largest)
        if self.ndim == 0:
            return SortResult(values, indices)
        ax = normalize_axis(dim, self.ndim, "topk")
        keep = [(0, k) if i == ax else None for i in range(self.ndim)]
        return SortResult(values.shrink(keep), indices.shrink(keep))
