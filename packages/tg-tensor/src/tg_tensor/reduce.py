"""Reductions over all axes or some (sum, prod, max, min, mean, var, std, argmax, any, all, logsumexp),
softmax and log_softmax, and cumulative reductions along one axis (cumsum, cumprod, cummax, cummin).

Axes are given as `axis=` (tinygrad) or `dim=` (PyTorch): one int, a tuple of ints (negative ones count
from the end) or None for all axes. `keepdim=True` keeps reduced axes with size 1. A 0-d tensor accepts
axis 0 or -1, which reduce nothing. Everything is composed from REDUCE_AXIS, elementwise and movement ops, so
gradients and kernel fusion come for free.

Choices where PyTorch and tinygrad differ (see also the package README):

- `sum`, `prod` and `cumsum` of bool and of integers narrower than 32 bits give int32 (the tg default int),
  where PyTorch gives int64; wider integers keep their type. float16 accumulates in float32 and is rounded
  back to float16 at the end, as PyTorch does.
- `mean`, `var` and `std` of integers give the default float (tinygrad); PyTorch refuses integers.
- `max(axis)` and `min(axis)` return the values only (tinygrad); PyTorch's `max(dim)` also returns indices,
  use `argmax` for those. Gradients of tied maxima are shared equally, as PyTorch's `amax` does
  (PyTorch's `max(dim)` gives the whole gradient to one index).
- `argmax`/`argmin` give int32 (the tg default int), PyTorch int64.
- `axis=()` reduces nothing (numpy and tinygrad); PyTorch reduces every axis for an empty `dim`.
- `cummax`/`cummin` return `(values, indices)` as PyTorch does, with int32 indices. Tied running maxima share
  the gradient equally among the tied elements (PyTorch gives it to the position in `indices`).
- `var`/`std` take `correction` as the third positional argument (tinygrad); PyTorch's positional `unbiased`
  is keyword-only here.

>>> from tg_tensor import Tensor
>>> Tensor([[1, 2], [3, 4]]).sum(axis=0).tolist()
[4, 6]
>>> Tensor([[1.0, 5.0], [7.0, 3.0]]).argmax(dim=1).tolist()
[1, 0]
>>> Tensor([1, 2, 3, 4]).cumsum(0).tolist()
[1, 3, 6, 10]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Generic, NamedTuple, Self, TypeVar

from tg_tensor.autograd import full_like
from tg_tensor.elementwise import ElementwiseMixin
from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import DTypeLike, dtype_arg
from tg_uop.dtype import DType, dtypes, least_upper_float
from tg_uop.helpers import normalize_axis, prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp

T = TypeVar("T", bound="ReduceMixin")  # the tensor type the module's helper functions take and return


Axis = int | Sequence[int] | None


class CumResult(NamedTuple, Generic[T]):
    """What `cummax` and `cummin` return, as PyTorch does: the running values and the positions they come from."""

    values: T
    indices: T


# Cumulative ops over an axis longer than this are done in blocks of this length (see `_cumulative`)
_CUM_BLOCK = 256


def _pick_axis(axis: Axis, dim: Axis, op: str) -> Axis:
    """`axis` (tinygrad) and `dim` (PyTorch) name the same argument; only one may be given."""
    if dim is None:
        return axis
    if axis is not None:
        raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; they are the same argument, give one")
    return dim


def _pick_one(axis: int | None, dim: int | None, default: int, op: str) -> int:
    """One axis, from `axis` or `dim` (else `default`)."""
    ax = _pick_axis(axis, dim, op)
    if ax is None:
        return default
    if not isinstance(ax, int) or isinstance(ax, bool):
        raise TypeError(f"{op}: axis must be one int, got {ax!r}")
    return ax


def _correction(correction: float | None, unbiased: bool | None, op: str) -> float:
    """PyTorch's two spellings of the same choice: `correction=c`, or the older `unbiased` (True is 1, False 0)."""
    if unbiased is None:
        return 1 if correction is None else correction
    if correction is not None:
        raise TypeError(f"{op}: got both correction={correction!r} and unbiased={unbiased!r}; give one")
    return 1 if unbiased else 0


def _sum_dtype(dt: DType) -> DType:
    """The type sum and prod give: small integers and bool widen to the default int (int32)."""
    return dtypes.default_int if dt.is_bool or (dt.is_int and dt.itemsize < 4) else dt


def _acc_dtype(dt: DType) -> DType:
    """The type sums are accumulated in: 16-bit floats accumulate in float32 to keep precision."""
    return dtypes.float32 if dt.is_float and dt.itemsize < 4 else _sum_dtype(dt)


class ReduceMixin(ElementwiseMixin):
    """Reductions; mixed into `Tensor`."""

    __slots__ = ()

    # ---- axis arguments ----

    def _axes(self, axis: Axis, op: str) -> tuple[int, ...]:
        """The reduced axes as sorted non-negative ints (empty for a 0-d tensor), checked against the shape."""
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int) else tuple(axis) if isinstance(axis, Sequence) else (axis,)
        rank = max(self.ndim, 1)  # a 0-d tensor accepts axis 0 and -1, as in PyTorch
        for a in axes:
            if not isinstance(a, int) or isinstance(a, bool):
                raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
            if not -rank <= a < rank:
                raise IndexError(f"{op}: axis {a} is out of range for a tensor of shape {self.shape}")
        out = tuple(a % rank for a in axes)
        if len(set(out)) != len(out):
            raise ArgumentError(f"{op}: repeated axis in {axis!r} for a tensor of shape {self.shape}")
        return () if self.ndim == 0 else tuple(sorted(out))

    def _one_axis(self, axis: int, op: str) -> int:
        axes = self._axes(axis, op)
        return axes[0] if axes else 0

    def _nonempty(self, axes: tuple[int, ...], op: str) -> None:
        # the maximum of nothing is undefined (PyTorch raises too); sums and products of nothing are 0 and 1
        for a in axes:
            if self.shape[a] == 0:
                raise IndexError(f"{op}: cannot reduce over axis {a} of size 0 (tensor of shape {self.shape})")

    def _reduce_axes(self, op: Ops, axes: tuple[int, ...], keepdim: bool) -> Self:
        ret = self._apply(lambda u: u.reduce_axis(op, axes)) if axes else self
        return ret if keepdim else ret.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    def _reduce(self, op: Ops, axis: Axis, keepdim: bool, name: str) -> Self:
        return self._reduce_axes(op, self._axes(axis, name), keepdim)

    # ---- sum, prod, max, min ----

    def _accumulate(self, op: Ops, axes: tuple[int, ...], keepdim: bool, dtype: DTypeLike | None) -> Self:
        out_dt = dtype_arg(dtype, _sum_dtype(self.dtype), "sum" if op is Ops.ADD else "prod")
        acc_dt = _acc_dtype(out_dt)
        return self.cast(acc_dt)._reduce_axes(op, axes, keepdim).cast(out_dt)

    def sum(
        self, axis: Axis = None, keepdim: bool = False, dtype: DTypeLike | None = None, *, dim: Axis = None
    ) -> Self:
        """Sum over `axis` (all axes when None). Bool and small ints give int32; the sum of nothing is 0.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=-1, keepdim=True).tolist()
        [[3.0], [7.0]]
        """
        axes = self._axes(_pick_axis(axis, dim, "sum"), "sum")
        return self._accumulate(Ops.ADD, axes, keepdim, dtype)

    def prod(
        self, axis: Axis = None, keepdim: bool = False, dtype: DTypeLike | None = None, *, dim: Axis = None
    ) -> Self:
        """Product over `axis` (all axes when None); types as `sum`. The product of nothing is 1.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 2], [3, 4]]).prod(0).tolist()
        [3, 8]
        """
        axes = self._axes(_pick_axis(axis, dim, "prod"), "prod")
        return self._accumulate(Ops.MUL, axes, keepdim, dtype)

    def max(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Self:
        """Largest value over `axis` (values only; see `argmax`). Raises for an empty reduced axis.
        Tied maxima share the gradient equally, like PyTorch's `amax`.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 5], [7, 3]]).max(axis=0).tolist()
        [7, 5]
        """
        return self._extreme(axis, dim, keepdim, "max", largest=True)

    def _extreme(self, axis: Axis, dim: Axis, keepdim: bool, op: str, largest: bool) -> Self:
        """The maximum (largest) or minimum over axes; the minimum is the maximum of the order-reversed values."""
        axes = self._axes(_pick_axis(axis, dim, op), op)
        self._nonempty(axes, op)
        if largest:
            out = self._reduce_axes(Ops.MAX, axes, keepdim)
        else:
            out = self._flip_order()._reduce_axes(Ops.MAX, axes, keepdim)._flip_order()
        if not self.dtype.is_float:
            return out
        # the MAX reduction skips NaN (C's fmax); PyTorch's max is NaN when one is (fused into the same kernel)
        return self.isnan().any(axes, keepdim=keepdim).where(math.nan, out)

    def _flip_order(self) -> Self:
        """An order-reversing map that is its own inverse: -x for floats, ~x for ints (no overflow), not x."""
        if self.dtype.is_float or self.dtype.is_bool:
            return -self
        return self._apply(lambda u: u.alu(Ops.XOR, full_like(u, -1 if not self.dtype.is_unsigned else u.dtype.max)))

    def min(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Self:
        """Smallest value over `axis` (values only; see `argmin`). Raises for an empty reduced axis.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 5], [7, 3]]).min(axis=1).tolist()
        [1, 3]
        """
        return self._extreme(axis, dim, keepdim, "min", largest=False)

    def amax(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Self:
        """PyTorch's name for `max` over axes."""
        return self._extreme(axis, dim, keepdim, "amax", largest=True)

    def amin(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Self:
        """PyTorch's name for `min` over axes."""
        return self._extreme(axis, dim, keepdim, "amin", largest=False)

    # ---- any, all ----

    def any(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Self:
        """Whether any element over `axis` is nonzero (bool). `any` of nothing is False.

        >>> from tg_tensor import Tensor
        >>> Tensor([[0, 0], [0, 2]]).any(1).tolist()
        [False, True]
        """
        axes = self._axes(_pick_axis(axis, dim, "any"), "any")
        return self.bool()._reduce_axes(Ops.MAX, axes, keepdim)

    def all(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Self:
        """Whether every element over `axis` is nonzero (bool). `all` of nothing is True.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1.0, 0.0], [1.0, 2.0]]).all(1).tolist()
        [False, True]
        """
        axes = self._axes(_pick_axis(axis, dim, "all"), "all")
        return self.bool().logical_not()._reduce_axes(Ops.MAX, axes, keepdim).logical_not()

    # ---- mean, var, std ----

    def mean(
        self, axis: Axis = None, keepdim: bool = False, dtype: DTypeLike | None = None, *, dim: Axis = None
    ) -> Self:
        """Arithmetic mean over `axis`. Integers give the default float; the mean of nothing is NaN.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 2], [4, 8]]).mean(dim=0).tolist()
        [2.5, 5.0]
        """
        axes = self._axes(_pick_axis(axis, dim, "mean"), "mean")
        out_dt = dtype_arg(dtype, least_upper_float(self.dtype), "mean")
        count = prod(self.shape[i] for i in axes)
        total = self.cast(_acc_dtype(out_dt))._reduce_axes(Ops.ADD, axes, keepdim)
        if isinstance(count, UOp):  # a symbolic count: computed in the kernel (0 of nothing gives NaN)
            return (total / self._count(axes, keepdim, total.dtype)).cast(out_dt)
        return (total / count if count else total * math.nan).cast(out_dt)

    def _count(self, axes: tuple[int, ...], keepdim: bool, dtype: DType) -> Self:
        """How many elements a reduction over `axes` takes, as a tensor (for symbolic sizes: summed ones)."""
        return self._wrap(full_like(self.uop, 1, dtype))._reduce_axes(Ops.ADD, axes, keepdim)

    def _var(
        self, axis: Axis, dim: Axis, keepdim: bool, correction: float | None, unbiased: bool | None, op: str
    ) -> tuple[Self, Self]:
        axes = self._axes(_pick_axis(axis, dim, op), op)
        correction = _correction(correction, unbiased, op)
        x = self.cast(least_upper_float(self.dtype))
        m = x.mean(axes, keepdim=True)
        d = x - m
        n = prod(self.shape[i] for i in axes)
        # degrees of freedom <= 0 give inf or NaN, as in PyTorch (which also warns)
        sq = (d * d).sum(axes, keepdim=keepdim)
        if isinstance(n, UOp):
            dof_t = (x._count(axes, keepdim, sq.dtype) - correction).relu()
            return sq / dof_t, m if keepdim else m.reshape(sq.shape)
        dof = max(n - correction, 0)
        var = sq / dof if dof else sq * math.inf
        return var, m if keepdim else m.reshape(var.shape)

    def var(
        self,
        axis: Axis = None,
        keepdim: bool = False,
        correction: float | None = None,
        *,
        dim: Axis = None,
        unbiased: bool | None = None,
    ) -> Self:
        """Variance over `axis`: sum((x - mean)^2) / (N - correction). The default `correction=1` is the
        unbiased estimate, as in PyTorch; 0 gives the population variance (`unbiased=True`/`False` are PyTorch's
        older spelling of 1 and 0). When N - correction <= 0 the result is NaN or inf, as in PyTorch. Two kernels
        at most (mean, then the sum of squared deviations; one on the CPU over the last axes), which fuse with
        what comes before and after.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 2.0, 3.0, 4.0]).var().item()
        1.6666666269302368
        """
        return self._var(axis, dim, keepdim, correction, unbiased, "var")[0]

    def std(
        self,
        axis: Axis = None,
        keepdim: bool = False,
        correction: float | None = None,
        *,
        dim: Axis = None,
        unbiased: bool | None = None,
    ) -> Self:
        """Standard deviation over `axis`: the square root of `var` with the same `correction`.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 3.0]).std(correction=0).item()
        1.0
        """
        return self._var(axis, dim, keepdim, correction, unbiased, "std")[0].sqrt()

    def var_mean(
        self,
        axis: Axis = None,
        keepdim: bool = False,
        correction: float | None = None,
        *,
        dim: Axis = None,
        unbiased: bool | None = None,
    ) -> tuple[Self, Self]:
        """(var, mean) over `axis`, sharing the work (PyTorch's `torch.var_mean`)."""
        return self._var(axis, dim, keepdim, correction, unbiased, "var_mean")

    def std_mean(
        self,
        axis: Axis = None,
        keepdim: bool = False,
        correction: float | None = None,
        *,
        dim: Axis = None,
        unbiased: bool | None = None,
    ) -> tuple[Self, Self]:
        """(std, mean) over `axis`, sharing the work (PyTorch's `torch.std_mean`)."""
        var, m = self._var(axis, dim, keepdim, correction, unbiased, "std_mean")
        return var.sqrt(), m

    # ---- argmax, argmin ----

    def argmax(self, axis: int | None = None, keepdim: bool = False, *, dim: int | None = None) -> Self:
        """Index (int32) of the largest value along `axis`; the first one on ties. With axis None the index is
        into the flattened tensor. Raises for an empty axis.

        >>> from tg_tensor import Tensor
        >>> Tensor([[3, 9, 9], [4, 1, 0]]).argmax(1).tolist()
        [1, 0]
        >>> Tensor([[3, 9, 9], [4, 1, 0]]).argmax().item()
        1
        """
        return self._arg_extreme(axis, dim, keepdim, "argmax", largest=True)

    def argmin(self, axis: int | None = None, keepdim: bool = False, *, dim: int | None = None) -> Self:
        """Index (int32) of the smallest value along `axis`; the first one on ties. As `argmax` otherwise.

        >>> from tg_tensor import Tensor
        >>> Tensor([2.0, -1.0, -1.0]).argmin().item()
        1
        """
        return self._arg_extreme(axis, dim, keepdim, "argmin", largest=False)

    def _arg_extreme(self, axis: int | None, dim: int | None, keepdim: bool, op: str, largest: bool) -> Self:
        """argmax (largest) or argmin: the argmax of the order-reversed values. No axis: the flattened tensor."""
        x = self if largest else self._flip_order()
        return x._arg_best(None if axis is None and dim is None else _pick_one(axis, dim, 0, op), keepdim, op)

    def _arg_best(self, axis: int | None, keepdim: bool, op: str) -> Self:
        if axis is None:
            self._nonempty(tuple(range(self.ndim)), op)
            flat = self.reshape(-1)._arg_best(0, False, op)
            return flat.reshape((1,) * self.ndim) if keepdim else flat
        ax = self._one_axis(axis, op)
        if self.ndim == 0:
            return self.zeros_like().cast(dtypes.default_int)
        self._nonempty((ax,), op)
        n = self.shape[ax]
        # the first maximum has the largest (n - index) among the positions holding the maximum
        hit = self == self._reduce_axes(Ops.MAX, (ax,), True).detach()
        if self.dtype.is_float:  # as PyTorch: a NaN is the extreme (the first one)
            hit = self.isnan().any(ax, keepdim=True).where(self.isnan(), hit)
        countdown = (n - self.arange(n, device=self.device)).reshape(*(n if i == ax else 1 for i in range(self.ndim)))
        best = hit.where(countdown, 0).max(ax, keepdim=keepdim)
        return (n - best).cast(dtypes.default_int)

    # ---- softmax, log_softmax, logsumexp ----

    def _exp_shift(self, axes: tuple[int, ...]) -> Self | float:
        """The maximum over `axes` (kept), subtracted before exp so that large inputs do not overflow. It is a
        constant for the gradient, since the result does not depend on it. Over an empty axis there is no
        maximum, and nothing to protect: the shift is 0."""
        axes = axes if self.ndim else ()  # a 0-d tensor's axis 0 reduces nothing
        if any(self.shape[a] == 0 for a in axes):
            return 0.0
        return self._reduce_axes(Ops.MAX, axes, keepdim=True).detach()

    def softmax(self, axis: int | None = None, dtype: DTypeLike | None = None, *, dim: int | None = None) -> Self:
        """exp(x) / sum(exp(x)) along `axis`, shifted by the maximum so large inputs do not overflow.
        One kernel on the CPU (each row's max and sum computed before the row is stored), three at most.

        >>> from tg_tensor import Tensor
        >>> Tensor([0.0, 0.0]).softmax(dim=0).tolist()
        [0.5, 0.5]
        """
        ax = self._one_axis(_pick_one(axis, dim, -1, "softmax"), "softmax")
        x = self.cast(dtype_arg(dtype, least_upper_float(self.dtype), "softmax"))
        e = (x - x._exp_shift((ax,))).exp()
        return e / e.sum(ax, keepdim=True)

    def log_softmax(self, axis: int | None = None, dtype: DTypeLike | None = None, *, dim: int | None = None) -> Self:
        """log(softmax(x)) along `axis`, computed stably as x - max - log(sum(exp(x - max))).

        >>> from tg_tensor import Tensor
        >>> Tensor([0.0, 0.0]).log_softmax(0).exp().tolist()
        [0.5, 0.5]
        """
        ax = self._one_axis(_pick_one(axis, dim, -1, "log_softmax"), "log_softmax")
        x = self.cast(dtype_arg(dtype, least_upper_float(self.dtype), "log_softmax"))
        m = x - x._exp_shift((ax,))
        return m - m.exp().sum(ax, keepdim=True).log()

    def softmin(self, axis: int | None = None, dtype: DTypeLike | None = None, *, dim: int | None = None) -> Self:
        """softmax(-x) along `axis` (default -1), as `torch.nn.functional.softmin`.

        >>> from tg_tensor import Tensor
        >>> Tensor([0.0, 0.0]).softmin(0).tolist()
        [0.5, 0.5]
        """
        return (-self.cast(dtype_arg(dtype, least_upper_float(self.dtype), "softmin"))).softmax(axis, dim=dim)

    def logcumsumexp(self, axis: int | None = None, *, dim: int | None = None) -> Self:
        """log(cumsum(exp(x))) along `axis` (default 0), computed stably: each running term is shifted by the
        running maximum, so small terms before a large one are not lost (n*n work per row of n).

        >>> from tg_tensor import Tensor
        >>> [round(v, 3) for v in Tensor([-1000.0, 0.0, 1000.0]).logcumsumexp(0).tolist()]
        [-1000.0, 0.0, 1000.0]
        """
        ax = _pick_one(axis, dim, 0, "logcumsumexp")
        x = self.cast(least_upper_float(self.dtype))
        if x.ndim == 0:
            normalize_axis(ax, 1, "logcumsumexp")
            return x
        x = x.transpose(self._one_axis(ax, "logcumsumexp"), -1)
        n = x.shape[-1]
        # the shift cancels in the value and the gradient, so it is cut from the graph
        peak = x.detach().cummax(-1).values
        peak = peak.isfinite().where(peak, 0.0)
        upto = self.ones(n, n, dtype=dtypes.bool, device=self.device).tril()  # [i, j]: j <= i
        # masked before exp: a later, larger term would overflow, and its zero gradient times inf is NaN
        terms = upto.where(x.unsqueeze(-2) - peak.unsqueeze(-1), -math.inf).exp()
        out = terms.sum(-1).log() + peak
        return out.transpose(self._one_axis(ax, "logcumsumexp"), -1)

    def logsumexp(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Self:
        """log(sum(exp(x))) over `axis`, computed stably by shifting with the maximum. Rows of -inf give -inf.

        >>> from tg_tensor import Tensor
        >>> round(Tensor([1000.0, 1000.0]).logsumexp(0).item(), 3)
        1000.693
        """
        axes = self._axes(_pick_axis(axis, dim, "logsumexp"), "logsumexp")
        x = self.cast(least_upper_float(self.dtype))
        if not axes:
            return x
        # an infinite maximum is replaced by 0 so that inf - inf does not make NaN
        m = x._exp_shift(axes)
        if isinstance(m, ReduceMixin):
            m = (m == math.inf).where(0.0, (m == -math.inf).where(0.0, m))
        out = (x - m).exp().sum(axes, keepdim=True).log() + m
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    # ---- cumulative reductions ----

    def cumsum(self, axis: int | None = None, dtype: DTypeLike | None = None, *, dim: int | None = None) -> Self:
        """Running sum along `axis` (default 0); types as `sum`.

        Built from pad, expand, reshape, shrink and a sum, so it is differentiable and fuses like any reduce:
        an axis of length n <= 256 costs n*n additions per row in one kernel; longer axes go in blocks of 256
        (about 256*n additions and two more kernels per level of blocks).

        >>> from tg_tensor import Tensor
        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).cumsum(dim=1).tolist()
        [[1.0, 3.0], [3.0, 7.0]]
        """
        ax = _pick_one(axis, dim, 0, "cumsum")
        out_dt = dtype_arg(dtype, _sum_dtype(self.dtype), "cumsum")
        return self.cast(_acc_dtype(out_dt))._cumulative(Ops.ADD, ax, "cumsum").cast(out_dt)

    def cumprod(self, axis: int | None = None, dtype: DTypeLike | None = None, *, dim: int | None = None) -> Self:
        """Running product along `axis` (default 0); types and cost as `cumsum`.

        >>> from tg_tensor import Tensor
        >>> Tensor([1, 2, 3, 4]).cumprod(0).tolist()
        [1, 2, 6, 24]
        """
        ax = _pick_one(axis, dim, 0, "cumprod")
        out_dt = dtype_arg(dtype, _sum_dtype(self.dtype), "cumprod")
        return self.cast(_acc_dtype(out_dt))._cumulative(Ops.MUL, ax, "cumprod").cast(out_dt)

    def cummax(self, axis: int | None = None, *, dim: int | None = None) -> CumResult[Self]:
        """Running maximum along `axis` (default 0), as PyTorch: a named pair `(values, indices)`, where
        `indices` (int32) is the position of the running maximum, the last one on ties.

        >>> from tg_tensor import Tensor
        >>> values, indices = Tensor([1, 3, 2, 3, 5]).cummax(0)
        >>> values.tolist(), indices.tolist()
        ([1, 3, 3, 3, 5], [0, 1, 1, 3, 4])
        """
        return self._cum_extreme(axis, dim, "cummax", largest=True)

    def cummin(self, axis: int | None = None, *, dim: int | None = None) -> CumResult[Self]:
        """Running minimum along `axis` (default 0): `(values, indices)` as `cummax`.

        >>> from tg_tensor import Tensor
        >>> Tensor([4, 3, 5, 1]).cummin(0).values.tolist()
        [4, 3, 3, 1]
        """
        return self._cum_extreme(axis, dim, "cummin", largest=False)

    def _cum_extreme(self, axis: int | None, dim: int | None, op: str, largest: bool) -> CumResult[Self]:
        """cummax (largest) or cummin: the running maximum of the order-reversed values, reversed back."""
        ax = self._one_axis(_pick_one(axis, dim, 0, op), op)
        if largest:
            values = self._cumulative(Ops.MAX, ax, op)
        else:
            values = self._flip_order()._cumulative(Ops.MAX, ax, op)._flip_order()
        return CumResult(values, self._cum_indices(values, ax))

    def _cum_indices(self, values: Self, ax: int) -> Self:
        # the running best only changes at a position that equals it (a new best or a tie), so the index of the
        # running best at i is the last such position j <= i: a running maximum of (j where x[j] == best[j])
        if self.ndim == 0 or self.shape[ax] == 0:
            return self.zeros_like().cast(dtypes.default_int)
        n = self.shape[ax]
        pos = self.arange(n, device=self.device).reshape(*(n if i == ax else 1 for i in range(self.ndim)))
        hit = self.detach() == values.detach()
        return hit.where(pos, 0).cast(dtypes.default_int)._cumulative(Ops.MAX, ax, "cummax")

    def _cumulative(self, op: Ops, axis: int, name: str) -> Self:
        ax = self._one_axis(axis, name)
        if self.ndim == 0 or self.shape[ax] <= 1:
            return self
        last = self.ndim - 1
        x = self.transpose(ax, last) if ax != last else self
        if self.shape[ax] > _CUM_BLOCK:
            out = x._cumulative_last(op)
            return out.transpose(ax, last) if ax != last else out
        # the axis is moved back before the reduce, not after it: a permuted reduce result would not fuse with
        # the elementwise ops that follow
        windows = x._cum_windows(op)
        windows = windows.transpose(ax, last) if ax != last else windows
        return windows._reduce_axes(op, (self.ndim,), keepdim=False)

    def _identity(self, op: Ops) -> float | int | bool:
        if op is Ops.ADD:
            return 0
        if op is Ops.MUL:
            return 1
        return -math.inf if self.dtype.is_float else self.dtype.min

    def _cumulative_last(self, op: Ops) -> Self:
        n, lead = self.shape[-1], self.shape[:-1]
        keep = tuple((0, s) for s in lead)
        if n > _CUM_BLOCK:
            # blocks of B: a running reduce inside each block, then each block combined with the running reduce
            # of the totals of the blocks before it (a recursive call on n / B values)
            b = _CUM_BLOCK
            nb = -(-n // b)
            x = self.pad((*((0, 0) for _ in lead), (0, nb * b - n)), value=self._identity(op))
            inner = x.reshape(*lead, nb, b)._cumulative_last(op)
            totals = inner.shrink((*keep, (0, nb), (b - 1, b))).reshape(*lead, nb)
            before = totals._cumulative_last(op).pad((*((0, 0) for _ in lead), (1, 0)), value=self._identity(op))
            carry = before.shrink((*keep, (0, nb))).reshape(*lead, nb, 1)
            if op is Ops.ADD:
                out = inner + carry
            elif op is Ops.MUL:
                out = inner * carry
            else:
                out = inner.maximum(carry)
            return out.reshape(*lead, nb * b).shrink((*keep, (0, n)))
        return self._cum_windows(op)._reduce_axes(op, (self.ndim,), keepdim=False)

    def _cum_windows(self, op: Ops) -> Self:
        """A new last axis holding, at position i of the last axis, the n elements of the row up to i (the ones
        before the row start are the identity of `op`): shape (..., n, n). Reducing the new axis gives the
        running reduce."""
        n, lead = self.shape[-1], self.shape[:-1]
        keep = tuple((0, s) for s in lead)
        # window i of a row holds elements i-n+1 .. i (the ones before the row start are the identity): pad the
        # row on the left with n-1 identities (length p = 2n-1), repeat it n+1 times, and read the repeats with
        # rows of 2n: element (i, k) is then padded[(i*2n + k) mod p] = padded[i + k]
        p = 2 * n - 1
        padded = self.pad((*((0, 0) for _ in lead), (n - 1, 0)), value=self._identity(op))
        tiled = padded.reshape(*lead, 1, p).expand(*lead, n + 1, p).reshape(*lead, (n + 1) * p)
        return tiled.shrink((*keep, (0, 2 * n * n))).reshape(*lead, n, 2 * n).shrink((*keep, (0, n), (0, n)))
