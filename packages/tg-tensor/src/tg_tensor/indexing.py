"""Indexing: `t[...]`, `t[...] = v`, `gather`, `scatter` (and `scatter_add`, `scatter_reduce`), `index_select`,
`masked_fill` and `masked_select`, with PyTorch's semantics.

Basic indexing (ints, slices with any step, `None`, `...`) is a view: it is made of movement ops only
(flip, shrink, pad, reshape), so it runs no kernel of its own and a realized result is a view of the source
buffer. Advanced indexing (integer tensors, lists of ints, bool masks) and `gather` are built in the graph
from a one-hot comparison of the index with an `arange`, reduced with a sum: they are lazy and differentiable,
and cost O(N*K) work for N selected elements out of K candidates along the indexed axes (no scatter/gather
kernel yet). `scatter` is the same comparison the other way round: each target place reduces over the index
entries that point at it.

Decisions (where tg differs from PyTorch, or PyTorch leaves a choice):

- The index rule: every integer index a tensor holds is checked against its axis at the call, in `t[idx]`,
  `t[idx] = v`, `index_select`, `gather`, `scatter` (and `scatter_add`, `scatter_reduce`), `one_hot`, the
  class-index losses and tg-nn's `Embedding`, on every device: a value outside the axis raises `IndexError`
  naming the value, the op and the axis (as PyTorch does). The check reads the index to the host (one small
  copy, and a sync). The unchecked fast path is asked for explicitly, with `Context(CHECK_INDEX=0)` (or the
  environment variable `CHECK_INDEX=0`): nothing is read back, and an out-of-range index selects nothing,
  so `t[idx]` reads 0 there and `t[idx] = v` writes nothing there. Python lists and numpy arrays of indices
  are on the host and are always checked. A `TinyJit` replay checks the indices again (see `tg_tensor.jit`).
  Negative indices count from the end, in `t[idx]`, `gather` and `scatter` (PyTorch refuses them in the last
  two); `one_hot` and class labels take no negative values.
- `scatter` without a reduction: where several entries point at one place, the last one wins (PyTorch leaves
  it undefined).
- Negative slice steps are accepted, as in numpy and Python (PyTorch refuses them).
- A 0-d integer tensor index acts like an int (as in PyTorch, whose result layout differs from numpy's here).
- A bool mask (tensor, list or array) in `t[mask]` is read to the host at the call: the result's shape depends
  on its values. `t[mask] = v` with a scalar (or one-element) `v` and no other index stays lazy (a `where`).
- `t[idx] = v` writes into `t`'s buffer right away (an `assign`, realized at the call: one kernel), so views of
  that buffer see the new values, as in PyTorch. A tensor sliced from another one writes into that other
  tensor only if it was realized before the slice was taken (otherwise the slice gets a buffer of its own).
  With repeated indices the last value wins. Gradients flow through `t[idx] = v` to `v` and, for a tensor
  computed from others, to what `t` held before (the overwritten elements get none); a leaf tensor simply
  takes the new values and stays a leaf (PyTorch refuses an in-place write to a leaf that requires grad).

>>> from tg_tensor import Tensor
>>> t = Tensor([[1, 2, 3], [4, 5, 6]])
>>> t[1, ::-1].tolist()
[6, 5, 4]
>>> t[:, [2, 0]].tolist()
[[3, 1], [6, 4]]
>>> t[0, 1:] = 0
>>> t.tolist()
[[1, 0, 0], [4, 5, 6]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import Scalar, broadcast_shape
from tg_tensor.random import RandomMixin
from tg_uop.dtype import dtypes
from tg_uop.helpers import ContextVar, argsort, normalize_axis, prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp
from tg_uop.view import canonical_dim

# 1: integer indices held by tensors are checked against their axis at the call (the default); 0: not checked
CHECK_INDEX = ContextVar("CHECK_INDEX", 1)


@dataclass(frozen=True)
class IndexBound:
    """What one index check allows: values in [-size, size) (in [0, size) without `negative`), and `ignore`."""

    size: int
    op: str
    where: str
    negative: bool = True
    ignore: int | None = None

    def check(self, vals: np.ndarray) -> None:
        """Raise IndexError naming the first value of `vals` that is not allowed."""
        low = -self.size if self.negative else 0
        bad = (vals < low) | (vals >= self.size)
        if self.ignore is not None:
            bad &= vals != self.ignore
        if bad.any():
            raise IndexError(
                f"{self.op}: index {int(vals[bad][0])} is out of range for {self.where} of size {self.size}"
                f" (valid: {low} to {self.size - 1})"
            )


# the lists recording the checks made inside `record_index_checks()` blocks, innermost last
_recorders: list[list[tuple[Any, IndexBound]]] = []


@contextmanager
def record_index_checks() -> Iterator[list[tuple[Any, IndexBound]]]:
    """Collect (the realized index's UOp, its bound) for every check `check_indices` makes inside the block:
    TinyJit records them while capturing, to check the indices of every replay again.

    >>> from tg_tensor import Tensor
    >>> with record_index_checks() as checks:
    ...     check_indices(Tensor([0, 2]), 3, "demo", "axis 0")
    >>> [bound.size for _, bound in checks]
    [3]
    """
    checks: list[tuple[Any, IndexBound]] = []
    _recorders.append(checks)
    try:
        yield checks
    finally:
        _recorders.remove(checks)


def check_indices(index: Any, size: int, op: str, where: str, negative: bool = True, ignore: int | None = None) -> None:
    """Raise IndexError naming the first value of the integer tensor `index` outside [-size, size) (outside
    [0, size) without `negative`; the value `ignore` is allowed too). Reads the index to the host; does nothing
    under `Context(CHECK_INDEX=0)`.

    >>> from tg_tensor import Tensor
    >>> check_indices(Tensor([0, -1, 2]), 3, "demo", "axis 0")
    >>> check_indices(Tensor([[0, 1], [5, 2]]), 3, "demo", "axis 0")
    Traceback (most recent call last):
    ...
    IndexError: demo: index 5 is out of range for axis 0 of size 3 (valid: -3 to 2)
    """
    if not CHECK_INDEX.value or index.numel() == 0:
        return
    bound = IndexBound(size, op, where, negative, ignore)
    vals = index.realize().numpy()  # realized in place: the op reads the buffer, not a recomputation
    if _recorders:
        _recorders[-1].append((index.uop, bound))
    bound.check(vals)


@dataclass
class _Axis:
    """How one axis of the source is read: elements start + k*step for k < count (step may be negative)."""

    size: int
    start: int = 0
    step: int = 1
    count: int = 0

    @property
    def flipped_start(self) -> int:
        # a negative step reads the flipped axis with a positive one
        return self.size - 1 - self.start if self.step < 0 else self.start


@dataclass
class _Plan:
    """A parsed index: the basic part (a view) then the advanced part (index tensors on some view axes)."""

    axes: list[_Axis]
    # the view's axes, in order: ("axis", source axis) or ("new", 1 or 0) for None / a bool scalar
    layout: list[tuple[str, int]] = field(default_factory=list)
    # advanced indices: (axis of the view, integer index tensor with negatives already counted from the end)
    adv: list[tuple[int, Any]] = field(default_factory=list)  # Any: the class of the tensor indexed


@dataclass
class _Mask:
    """A bool mask index (on the host): it indexes as many axes as it has."""

    values: np.ndarray


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _host_index(x: Any) -> np.ndarray:
    """A list / tuple / numpy array used as an index, as a numpy array of ints or bools."""
    arr = np.asarray(x)
    if arr.size == 0 and arr.dtype.kind not in "iub":
        return arr.astype(np.int64)  # `t[[]]` selects nothing
    if arr.dtype.kind not in "iub":
        raise TypeError(f"index: only integers or bools can index a tensor, got an array of {arr.dtype}")
    return arr


def _index_item(it: Any) -> Any:
    """One item of an index with host lists and arrays as numpy arrays, and bool arrays as a bool or a `_Mask`."""
    if isinstance(it, (list, tuple, np.ndarray)):
        it = _host_index(it)
    if isinstance(it, np.ndarray) and it.dtype == np.bool_:
        return bool(it) if it.ndim == 0 else _Mask(it)
    return it


def _fill_ellipsis(items: list[Any], shape: tuple[int, ...]) -> list[Any]:
    """The index items with `...` (or the end) replaced by full slices of the axes no item indexes."""

    def ndims(it: Any) -> int:
        if it is None or it is Ellipsis or isinstance(it, (bool, np.bool_)):
            return 0
        return it.values.ndim if isinstance(it, _Mask) else 1

    if sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("index: an index can only have a single ellipsis ('...')")
    used = sum(ndims(it) for it in items)
    if used > len(shape):
        raise IndexError(f"index: too many indices for a tensor of shape {shape}: {used} axes indexed")
    fill = [slice(None)] * (len(shape) - used)
    if any(it is Ellipsis for it in items):
        at = next(i for i, it in enumerate(items) if it is Ellipsis)
        return items[:at] + fill + items[at + 1 :]
    return items + fill


def _plan_basic(plan: _Plan, it: Any, d: int) -> int:
    """Add a basic index item (None, a bool, an int or a slice) on source axis `d`; returns the next axis."""
    if it is None:
        plan.layout.append(("new", 1))
    elif isinstance(it, (bool, np.bool_)):
        plan.layout.append(("new", int(bool(it))))
    elif _is_int(it):
        i, size = int(it), plan.axes[d].size
        if not -size <= i < size:
            raise IndexError(f"index: index {i} is out of range for axis {d} of size {size}")
        plan.axes[d] = _Axis(size, i % size, 1, 1)  # read like i:i+1, and left out of the layout
        return d + 1
    elif isinstance(it, slice):
        for part in (it.start, it.stop, it.step):
            if part is not None and not _is_int(part):
                raise TypeError(f"index: slice bounds must be ints or None, got {type(part).__name__}")
        if it.step == 0:
            raise ArgumentError("index: slice step cannot be zero")
        size = plan.axes[d].size
        start, stop, step = it.indices(size)
        plan.axes[d] = _Axis(size, start, step, len(range(start, stop, step)))
        plan.layout.append(("axis", d))
        return d + 1
    else:
        raise TypeError(
            f"index: only ints, slices, None, '...', integer or bool tensors and lists of them can index a "
            f"tensor, got {type(it).__name__}"
        )
    return d


def _symbolic_index(index: Any, shape: tuple[Any, ...]) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    sliced = any(
        isinstance(it, UOp) or (isinstance(it, slice) and (isinstance(it.start, UOp) or isinstance(it.stop, UOp)))
        for it in items
    )
    return sliced or any(isinstance(s, UOp) for s in shape)


def _wrap_bound(x: Any, size: Any) -> Any:
    # negative ints count from the end of an int axis; a symbolic axis takes only bounds >= 0
    if isinstance(x, int) and x < 0:
        if isinstance(size, UOp):
            raise NotImplementedError(f"index: a negative index ({x}) on a symbolic axis")
        return max(x + size, 0)
    return min(x, size) if isinstance(x, int) and isinstance(size, int) else x


def _dim_sub(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return max(a - b, 0)
    return a if isinstance(b, int) and b == 0 else canonical_dim(a - b)


def _plan_advanced(plan: _Plan, idx: Any, d: int) -> None:
    """Source axis `d` is read whole by the view, then indexed by `idx`."""
    plan.axes[d] = _Axis(plan.axes[d].size, 0, 1, plan.axes[d].size)
    plan.adv.append((len(plan.layout), idx))
    plan.layout.append(("axis", d))


class IndexingMixin(RandomMixin):
    """Indexing; mixed into `Tensor`."""

    __slots__ = ()

    # ---- parsing ----

    def _parse_index(self, index: Any) -> _Plan:
        items = list(index) if isinstance(index, tuple) else [index]
        # bool masks are read on the host: each becomes integer indices, one per masked axis
        items = [_index_item(it.numpy() if isinstance(it, type(self)) and it.dtype.is_bool else it) for it in items]
        plan = _Plan([_Axis(s) for s in self.shape])
        d = 0  # next source axis
        for it in _fill_ellipsis(items, self.shape):
            if isinstance(it, _Mask):
                d = self._plan_mask(plan, it, d)
            elif isinstance(it, (type(self), np.ndarray)):
                _plan_advanced(plan, self._index_tensor(it, d), d)
                d += 1
            else:
                d = _plan_basic(plan, it, d)
        if plan.adv and any(kind == "new" and n == 0 for kind, n in plan.layout):
            raise NotImplementedError("index: a False index together with index tensors is not supported")
        return plan

    def _plan_mask(self, plan: _Plan, mask: _Mask, d: int) -> int:
        """A bool mask over several axes from `d` on: the index of its True positions; returns the next axis."""
        want = self.shape[d : d + mask.values.ndim]
        if mask.values.shape != want:
            raise IndexError(f"index: a mask of shape {mask.values.shape} cannot index axes {d}.. of shape {want}")
        for pos in np.nonzero(mask.values):
            _plan_advanced(plan, self._index_tensor(pos.astype(np.int32), d), d)
            d += 1
        return d

    def _index_tensor(self, idx: Any, axis: int) -> Self:
        """An integer index for `axis` as a tensor on this device, with negative indices counted from the end."""
        size = self.shape[axis]
        if isinstance(idx, np.ndarray):  # host indices: check them now, as PyTorch does
            bad = (idx < -size) | (idx >= size)
            if bad.any():
                raise IndexError(f"index: index {int(idx[bad][0])} is out of range for axis {axis} of size {size}")
            return type(self)(np.where(idx < 0, idx + size, idx).astype(np.int32), device=self.device)
        if not idx.dtype.is_int:
            raise TypeError(f"index: tensors used as indices must be integer or bool, got {idx.dtype!r}")
        if idx.device != self.device:
            raise ArgumentError(f"index: index tensor on {idx.device}, indexed tensor on {self.device}")
        check_indices(idx, size, "index", f"axis {axis}")
        return (idx < 0).where(idx + size, idx)

    # ---- basic indexing: a view ----

    def _basic(self, plan: _Plan) -> Self:
        """The view the basic part of `plan` selects, with the axes of `plan.layout`."""
        x = self
        flips = tuple(a.step < 0 for a in plan.axes)
        if any(flips):
            x = x._apply(lambda u: u.flip(flips))
        bounds, pads = [], []
        for a in plan.axes:
            begin, stride = a.flipped_start, abs(a.step)
            if a.count == 0:
                bounds.append((0, 0))
                pads.append((0, 0))
                continue
            end = min(begin + a.count * stride, a.size)  # the last stride may run off the end: pad it
            bounds.append((begin, end))
            pads.append((0, a.count * stride - (end - begin)))
        x = x._apply(lambda u: u.shrink(tuple(bounds)))
        x = x._apply(lambda u: u.pad(tuple(pads)))
        if any(abs(a.step) > 1 and a.count > 0 for a in plan.axes):
            # every step-th element: split each strided axis into (count, step) and keep column 0
            split = [(a.count, abs(a.step)) if abs(a.step) > 1 and a.count > 0 else (a.count,) for a in plan.axes]
            x = x.reshape(tuple(s for parts in split for s in parts))
            keep = tuple((0, 1) if i == 1 else (0, s) for parts in split for i, s in enumerate(parts))
            x = x._apply(lambda u: u.shrink(keep))
        shape = tuple(plan.axes[n].count if kind == "axis" else 1 for kind, n in plan.layout)
        x = x.reshape(shape)
        if any(kind == "new" and n == 0 for kind, n in plan.layout):  # `t[False]`: an empty new axis
            x = x._apply(
                lambda u: u.shrink(tuple((0, 0) if k == ("new", 0) else (0, s) for k, s in zip(plan.layout, shape)))
            )
        return x

    def _unbasic(self, y: Self, plan: _Plan) -> Self:
        """Place `y` (shaped like `self._basic(plan)`, not empty) where the basic part of `plan` reads; 0 elsewhere."""
        per_axis = tuple(a.count for a in plan.axes)
        y = y.reshape(per_axis)  # drop the new axes, bring back the int-indexed ones (count 1)
        if any(abs(a.step) > 1 for a in plan.axes):
            # each element back to column 0 of a (count, step) block, the other columns 0
            split, widen = [], []
            for a in plan.axes:
                split += [a.count, 1] if abs(a.step) > 1 else [a.count]
                widen += [(0, 0), (0, abs(a.step) - 1)] if abs(a.step) > 1 else [(0, 0)]
            y = y.reshape(tuple(split))._apply(lambda u: u.pad(tuple(widen)))
            y = y.reshape(tuple(a.count * abs(a.step) for a in plan.axes))
        spans = []
        for a in plan.axes:
            begin = a.flipped_start
            spans.append((begin, min(begin + a.count * abs(a.step), a.size)))
        y = y._apply(lambda u: u.shrink(tuple((0, e - b) for b, e in spans)))
        y = y._apply(lambda u: u.pad(tuple((b, a.size - e) for (b, e), a in zip(spans, plan.axes))))
        flips = tuple(a.step < 0 for a in plan.axes)
        return y._apply(lambda u: u.flip(flips)) if any(flips) else y

    # ---- advanced indexing: one-hot compare and sum ----

    def _adv_layout(self, plan: _Plan, ndim: int) -> tuple[list[int], tuple[int, ...], int]:
        """(the view's axes that are not advanced, the broadcast shape of the index tensors, where it goes)."""
        adv_axes = [a for a, _ in plan.adv]
        rest = [a for a in range(ndim) if a not in adv_axes]
        bshape: tuple[int, ...] = ()
        for _, idx in plan.adv:
            try:
                bshape = broadcast_shape(bshape, idx.shape, "index")
            except ValueError:
                shapes = [idx.shape for _, idx in plan.adv]
                raise IndexError(f"index: index tensors of shapes {shapes} cannot be broadcast together") from None
        # PyTorch's rule: a 0-d index acts like an int; the others stay in place when they are next to each
        # other, and go first when something separates them
        multi = [a for a, idx in plan.adv if idx.ndim > 0]
        zero_d = {a for a, idx in plan.adv if idx.ndim == 0}
        kept = [a for a in range(ndim) if a not in zero_d]
        pos = [kept.index(a) for a in multi]
        adjacent = pos == list(range(pos[0], pos[0] + len(pos))) if pos else True
        at = sum(1 for a in rest if multi and a < multi[0]) if adjacent else 0
        return rest, bshape, at

    def _onehot(self, plan: _Plan, bshape: tuple[int, ...], sizes: tuple[int, ...]) -> Self:
        """Bool of shape bshape + sizes: True where the index tensors point (all of them at once)."""
        k, nb = len(plan.adv), len(bshape)
        mask = None
        for j, (_, idx) in enumerate(plan.adv):
            col = idx.reshape((1,) * (nb - idx.ndim) + idx.shape + (1,) * k)
            ar = self.arange(sizes[j], device=self.device).reshape((1,) * (nb + j) + (sizes[j],) + (1,) * (k - j - 1))
            hit = col == ar
            mask = hit if mask is None else mask.where(hit, False)
        assert mask is not None
        return mask._broadcast_to(bshape + sizes)

    def _advanced(self, y: Self, plan: _Plan) -> Self:
        rest, bshape, at = self._adv_layout(plan, y.ndim)
        adv_axes = [a for a, _ in plan.adv]
        sizes = tuple(y.shape[a] for a in adv_axes)
        rshape = tuple(y.shape[a] for a in rest)
        nr, nb = len(rest), len(bshape)
        # laid out as the result (rest[:at], index dims, rest[at:]) followed by the indexed axes, which the sum
        # removes: no movement op after the reduction, so what follows fuses into its kernel
        yp = y.permute(rest + adv_axes).reshape(rshape[:at] + (1,) * nb + rshape[at:] + sizes)
        mask = self._onehot(plan, bshape, sizes).reshape((1,) * at + bshape + (1,) * (nr - at) + sizes)
        zero = False if y.dtype.is_bool else 0
        return mask.where(yp, zero).sum(axis=tuple(range(nr + nb, nr + nb + len(sizes)))).cast(y.dtype)

    # ---- public ----

    def __getitem__(self, index: Any) -> Self:
        """`t[index]` as in PyTorch: ints, slices (any step), None, `...`, integer tensors / lists, bool masks.

        >>> from tg_tensor import Tensor
        >>> t = Tensor([[0, 1, 2], [3, 4, 5]])
        >>> t[-1].tolist(), t[:, ::2].tolist(), t[None, 0, 1:].shape
        ([3, 4, 5], [[0, 2], [3, 5]], (1, 2))
        >>> t[[1, 0, 1], [2, 2, 0]].tolist()
        [5, 2, 3]
        """
        if _symbolic_index(index, self.shape):
            return self._symbolic_getitem(index)
        plan = self._parse_index(index)
        y = self._basic(plan)
        return self._advanced(y, plan) if plan.adv else y

    def _symbolic_getitem(self, index: Any) -> Self:
        """Basic indexing where a slice bound or an indexed axis is symbolic: ints, step-1 slices, None and
        `...`, as one shrink and one reshape."""
        items = list(index) if isinstance(index, tuple) else [index]
        if any(not (it is None or it is Ellipsis or isinstance(it, (slice, UOp)) or _is_int(it)) for it in items):
            raise NotImplementedError(
                "index: with symbolic sizes only ints, bound Variables, slices, None and '...' index a tensor"
            )
        bounds, shape, d = [], [], 0
        for it in _fill_ellipsis(items, self.shape):
            if it is None:
                shape.append(1)
                continue
            size = self.shape[d]
            if isinstance(it, slice):
                if it.step not in (None, 1):
                    raise NotImplementedError("index: with symbolic sizes a slice's step must be 1")
                start = 0 if it.start is None else _wrap_bound(it.start, size)
                stop = size if it.stop is None else _wrap_bound(it.stop, size)
                bounds.append((start, stop))
                shape.append(_dim_sub(stop, start))
            else:
                i = it if isinstance(it, UOp) else _wrap_bound(int(it), size)  # a bound Variable: one position
                bounds.append((i, i + 1))
            d += 1
        return self.shrink(tuple(bounds)).reshape(tuple(shape))

    def __setitem__(self, index: Any, value: Self | Scalar | list | np.ndarray) -> None:
        """`t[index] = value`: writes into `t`'s buffer now (see the module notes). `value` is broadcast to the
        shape `t[index]` has and cast to `t`'s dtype.

        >>> from tg_tensor import Tensor
        >>> t = Tensor.zeros(2, 3)
        >>> t[:, 1] = Tensor([5.0, 6.0])
        >>> t[t > 5] = -1.0
        >>> t.tolist()
        [[0.0, 5.0, 0.0], [0.0, -1.0, 0.0]]
        """
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            value = value.item()
        if isinstance(value, (bool, int, float)):
            value = type(self)(value, device=self.device, dtype=self.dtype)
        elif isinstance(value, (list, tuple, np.ndarray)):
            value = type(self)(np.asarray(value), device=self.device, dtype=self.dtype)
        elif not isinstance(value, type(self)):
            raise TypeError(f"setitem: cannot assign a {type(value).__name__} to a tensor")
        if value.device != self.device:
            raise ArgumentError(f"setitem: value on {value.device}, tensor on {self.device}")
        value = value.cast(self.dtype)
        new = self._masked_set(index, value)
        if new is None:
            plan = self._parse_index(index)
            if self.uop.base.op is not Ops.BUFFER:
                self.realize()  # the write needs a buffer; building `new` after this reads it, not the graph again
            new = self._set_plan(plan, value)
        if new is None:
            return  # nothing selected
        self._write(new)

    def _masked_set(self, index: Any, value: Self) -> Self | None:
        """`t[mask] = scalar` (a lone bool tensor, possibly after leading full slices) as a lazy `where`."""
        items = list(index) if isinstance(index, tuple) else [index]
        lead = 0
        while lead < len(items) and isinstance(items[lead], slice) and items[lead] == slice(None):
            lead += 1
        if lead != len(items) - 1 or value.numel() != 1:
            return None
        mask = items[-1]
        if isinstance(mask, (list, np.ndarray)) and _host_index(mask).dtype == np.bool_:
            mask = type(self)(_host_index(mask), device=self.device)
        if not (isinstance(mask, type(self)) and mask.dtype.is_bool and mask.ndim > 0):
            return None
        want = self.shape[lead : lead + mask.ndim]
        if mask.shape != want:
            raise IndexError(f"setitem: a mask of shape {mask.shape} cannot index axes {lead}.. of shape {want}")
        if mask.device != self.device:
            raise ArgumentError(f"setitem: mask on {mask.device}, tensor on {self.device}")
        if self.uop.base.op is not Ops.BUFFER:
            self.realize()
        m = mask.reshape((1,) * lead + mask.shape + (1,) * (self.ndim - lead - mask.ndim))
        return m.where(value.reshape(()), self)

    def _set_plan(self, plan: _Plan, value: Self) -> Self | None:
        """The whole tensor after `self[plan] = value` (None when the index selects nothing)."""
        y = self._basic(plan)
        target = self._advanced(y, plan).shape if plan.adv else y.shape
        while value.ndim > len(target) and value.shape[0] == 1:  # PyTorch drops leading 1s of the value
            value = value.reshape(value.shape[1:])
        if len(value.shape) > len(target) or any(
            v != t and v != 1 for v, t in zip(value.shape[::-1], target[::-1], strict=False)
        ):
            raise ArgumentError(
                f"setitem: a value of shape {value.shape} cannot be assigned to an index of shape {target}"
            )
        if prod(target) == 0:
            return None
        value = value._broadcast_to(target)
        new_y = self._set_advanced(y, plan, value) if plan.adv else value
        inside = self.full(y.shape, True, dtypes.bool, self.device)
        return self._unbasic(inside, plan).where(self._unbasic(new_y, plan), self)

    def _set_advanced(self, y: Self, plan: _Plan, value: Self) -> Self:
        """`y` with the elements the index tensors select replaced by `value` (shaped like `y[advanced part]`)."""
        rest, bshape, at = self._adv_layout(plan, y.ndim)
        adv_axes = [a for a, _ in plan.adv]
        sizes = tuple(y.shape[a] for a in adv_axes)
        nr, nb, k = len(rest), len(bshape), len(sizes)
        # value is laid out rest[:at] + bshape + rest[at:]: bring it to rest + bshape
        vr = value.permute(list(range(at)) + list(range(at + nb, nr + nb)) + list(range(at, at + nb)))
        mask = self._onehot(plan, bshape, sizes)  # bshape + sizes
        # where several index positions hit one element, the last one wins (as a sequential loop would)
        order = self.arange(max(prod(bshape), 1), device=self.device).reshape(bshape + (1,) * k)
        last = mask.where(order, -1).max(axis=tuple(range(nb))) if nb else mask.where(order, -1)
        pick = order == last.reshape((1,) * nb + sizes)  # bshape + sizes, True at the winning position
        picked = pick.reshape((1,) * nr + bshape + sizes).where(
            vr.reshape(vr.shape + (1,) * k), False if y.dtype.is_bool else 0
        )
        new_vals = picked.sum(axis=tuple(range(nr, nr + nb))).cast(y.dtype) if nb else picked  # rest + sizes
        hit = (last >= 0).reshape((1,) * nr + sizes)
        yp = y.permute(rest + adv_axes)
        return hit.where(new_vals, yp).permute(argsort(rest + adv_axes))

    def _write(self, new: Self) -> None:
        """Write `new` (a value of this shape) into this tensor's buffer now, keeping the gradient graph."""
        old_parents = self._parents
        self.assign(new)
        if new.requires_grad and (old_parents or not self.requires_grad):
            # a computed tensor takes the graph of its new value; what it was computed from stays reachable
            own = tuple((p, u) for p, u in new._parents if p is not self)
            self._parents = own + tuple(pu for pu in old_parents if all(pu[0] is not p for p, _ in own))
            self._graph = new._diff_uop
            self.requires_grad = True
        self.realize()

    def __iter__(self) -> Iterator[Self]:
        """The sub-tensors along the first axis (views)."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.shape[0]):
            yield self[i]

    def _index_arg(self, index: Any, op: str) -> Self:
        """The index of a gather or scatter as an integer tensor on this device (host lists and arrays are moved)."""
        if not isinstance(index, type(self)):
            index = type(self)(_host_index(index), device=self.device)
        if not index.dtype.is_int:
            raise TypeError(f"{op}: the index must be an integer tensor, got {index.dtype!r}")
        if index.device != self.device:
            raise ArgumentError(f"{op}: index on {index.device}, tensor on {self.device}")
        return index

    def _check_index_extent(self, index: Self, d: int, op: str) -> None:
        if any(i > s for a, (i, s) in enumerate(zip(index.shape, self.shape)) if a != d):
            raise ArgumentError(
                f"{op}: index of shape {index.shape} is larger than the input {self.shape} on an axis other than {d}"
            )

    def gather(self, dim: int, index: Self) -> Self:
        """PyTorch's gather: `out[i][j][k] = self[i][index[i][j][k]][k]` for `dim=1` (likewise for other dims).

        `index` has the same number of axes as `self`, and is no larger along the other axes; the result has
        its shape. Negative indices count from the end; out-of-range ones raise IndexError (the index rule in
        this module's docstring; 0 there under `Context(CHECK_INDEX=0)`).

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 2], [3, 4]]).gather(1, Tensor([[0, 0], [1, 0]])).tolist()
        [[1, 1], [4, 3]]
        """
        index = self._index_arg(index, "gather")
        if index.ndim != self.ndim:
            raise ArgumentError(
                f"gather: index of shape {index.shape} must have as many axes as the input {self.shape}"
            )
        d = normalize_axis(dim, self.ndim, "gather")
        if self.ndim == 0:
            return self.reshape(1).gather(0, index.reshape(1)).reshape(())
        self._check_index_extent(index, d, "gather")
        size = self.shape[d]
        check_indices(index, size, "gather", f"axis {d}")
        idx = (index < 0).where(index + size, index)
        # the input cut to the index's extent, gathered axis moved last and a 1 left in its place
        x = self._apply(lambda u: u.shrink(tuple((0, size if a == d else i) for a, i in enumerate(index.shape))))
        rest = [a for a in range(self.ndim) if a != d]
        x = x.permute(rest + [d]).reshape(tuple(1 if a == d else i for a, i in enumerate(index.shape)) + (size,))
        hit = idx.unsqueeze(-1) == self.arange(size, device=self.device).reshape((1,) * self.ndim + (size,))
        zero = False if self.dtype.is_bool else 0
        return hit.where(x, zero).sum(axis=-1).cast(self.dtype)

    def index_select(self, dim: int, index: Self | list | np.ndarray) -> Self:
        """The entries `index` picks along `dim` (a 1-d or 0-d integer index), like `torch.index_select`.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 2, 3], [4, 5, 6]]).index_select(1, Tensor([2, 0])).tolist()
        [[3, 1], [6, 4]]
        """
        if not isinstance(index, type(self)):
            index = _host_index(index)
            if index.dtype == np.bool_:
                raise TypeError("index_select: the index must be integer, got bool")
        elif not index.dtype.is_int:
            raise TypeError(f"index_select: the index must be an integer tensor, got {index.dtype!r}")
        if index.ndim > 1:
            raise ArgumentError(f"index_select: the index must be 1-d or 0-d, got shape {index.shape}")
        if self.ndim == 0:  # PyTorch treats a 0-d input as one element along dim 0 or -1
            normalize_axis(dim, 1, "index_select")
            if prod(index.shape) != 1:
                raise ArgumentError(f"index_select: a 0-d input takes one index, got an index of shape {index.shape}")
            return self.reshape(1).index_select(0, index).reshape(())
        d = normalize_axis(dim, self.ndim, "index_select")
        # a 0-d index still keeps the axis (size 1), unlike `t[i]`
        if index.ndim == 0:
            index = index.reshape(1)
        return self[(slice(None),) * d + (index,)]

    def masked_fill(self, mask: Self, value: Self | Scalar) -> Self:
        """`value` where the bool `mask` is True, this tensor elsewhere (broadcast together); keeps this tensor's
        dtype. `value` is a number or a 0-d tensor (its gradient is the sum over the filled places).

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 2.0, 3.0]).masked_fill(Tensor([True, False, True]), 0.0).tolist()
        [0.0, 2.0, 0.0]
        """
        if not isinstance(mask, type(self)) or not mask.dtype.is_bool:
            what = mask.dtype if isinstance(mask, type(self)) else type(mask).__name__
            raise TypeError(f"masked_fill: the mask must be a bool tensor, got {what!r}")
        if mask.device != self.device:
            raise ArgumentError(f"masked_fill: mask on {mask.device}, tensor on {self.device}")
        broadcast_shape(self.shape, mask.shape, "masked_fill")
        if isinstance(value, type(self)):
            if value.ndim != 0:
                raise ArgumentError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
            if value.device != self.device:
                raise ArgumentError(f"masked_fill: value on {value.device}, tensor on {self.device}")
            value = value.cast(self.dtype)
        elif isinstance(value, (bool, int, float, np.generic)):
            value = type(self)(np.asarray(value).item(), device=self.device, dtype=self.dtype)
        else:
            raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got {type(value).__name__}")
        return mask.where(value, self)

    def masked_select(self, mask: Self) -> Self:
        """The elements where the bool `mask` is True (broadcast together), as a 1-d tensor in row-major order,
        like `torch.masked_select`. The mask is read to the host at the call: the result's size depends on it.

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 2], [3, 4]]).masked_select(Tensor([True, False])).tolist()
        [1, 3]
        """
        if not isinstance(mask, type(self)) or not mask.dtype.is_bool:
            what = mask.dtype if isinstance(mask, type(self)) else type(mask).__name__
            raise TypeError(f"masked_select: the mask must be a bool tensor, got {what!r}")
        if mask.device != self.device:
            raise ArgumentError(f"masked_select: mask on {mask.device}, tensor on {self.device}")
        shape = broadcast_shape(self.shape, mask.shape, "masked_select")
        if shape == ():
            return self.reshape(1)[mask.reshape(1)]
        return self._broadcast_to(shape)[mask._broadcast_to(shape)]

    # ---- scatter: the inverse of gather ----

    def _scatter_parts(self, dim: int, index: Any, src: Any, op: str) -> tuple[int, Self, Self, Self] | None:
        """Check a scatter's arguments. Returns (dim, hit, src, order) with the scatter axis moved last, then a new
        axis of the target's size: hit[..., j, s] is True where index[..., j] points at s; src[..., j, 1] is the
        value written from j; order[j, 1] is j. None when the index is empty (nothing is written)."""
        index = self._index_arg(index, op)
        if self.ndim == 0:
            if index.ndim > 1:
                raise ArgumentError(f"{op}: index of shape {index.shape} for a 0-d input must have at most 1 axis")
            normalize_axis(dim, 1, op)
            x = self.reshape(1)
            if isinstance(src, type(self)) and src.ndim == 0:
                src = src.reshape(1)
            return x._scatter_parts(0, index.reshape(index.numel()), src, op)
        if index.ndim != self.ndim:
            raise ArgumentError(f"{op}: index of shape {index.shape} must have as many axes as the input {self.shape}")
        d = normalize_axis(dim, self.ndim, op)
        self._check_index_extent(index, d, op)
        if isinstance(src, type(self)):
            if src.device != self.device:
                raise ArgumentError(f"{op}: src on {src.device}, tensor on {self.device}")
            if src.ndim != self.ndim or any(i > s for i, s in zip(index.shape, src.shape)):
                raise ArgumentError(f"{op}: index of shape {index.shape} is larger than src of shape {src.shape}")
            src = src.cast(self.dtype)._apply(lambda u: u.shrink(tuple((0, i) for i in index.shape)))
        elif isinstance(src, (bool, int, float, np.generic)):
            src = type(self)(np.asarray(src).item(), device=self.device, dtype=self.dtype)._broadcast_to(index.shape)
        else:
            raise TypeError(f"{op}: src must be a tensor or a number, got {type(src).__name__}")
        if index.numel() == 0:
            return None
        size, n = self.shape[d], index.shape[d]
        check_indices(index, size, op, f"axis {d}")
        rest = [a for a in range(self.ndim) if a != d]
        idx = (index < 0).where(index + size, index).permute(rest + [d]).unsqueeze(-1)
        hit = idx == self.arange(size, device=self.device).reshape((1,) * self.ndim + (size,))
        order = self.arange(n, device=self.device).reshape(n, 1)
        return d, hit, src.permute(rest + [d]).unsqueeze(-1), order

    def _unscatter(self, d: int, y: Self) -> Self:
        """`y`, laid out (the index's other axes, the target axis), back in this tensor's layout and shape: zero
        (False) where the index does not reach. Callers select those places from this tensor with a `where`."""
        rest = [a for a in range(self.ndim) if a != d]
        y = y.permute(argsort(rest + [d]))
        pads = tuple((0, s - y.shape[a]) for a, s in enumerate(self.shape))
        return y._apply(lambda u: u.pad(pads))

    def scatter(self, dim: int, index: Self, src: Self | Scalar, reduce: str | None = None) -> Self:
        """PyTorch's out-of-place scatter: a copy of this tensor with `out[i][index[i][j][k]][k] = src[i][j][k]`
        for `dim=1` (likewise for other dims); `src` may be a number. Where several entries point at one place,
        the last one wins. `reduce='add'` or `'multiply'` combines instead. Negative indices count from the end;
        out-of-range ones raise IndexError (they write nothing under `Context(CHECK_INDEX=0)`).

        >>> from tg_tensor import Tensor
        >>> Tensor.zeros(2, 3).scatter(1, Tensor([[2], [0]]), Tensor([[1.0], [2.0]])).tolist()
        [[0.0, 0.0, 1.0], [2.0, 0.0, 0.0]]
        """
        if reduce is not None:
            modes = {"add": "sum", "multiply": "prod"}
            if reduce not in modes:
                raise ArgumentError(f"scatter: reduce must be None, 'add' or 'multiply', got {reduce!r}")
            return self._scatter_reduce(dim, index, src, modes[reduce], True, "scatter")
        parts = self._scatter_parts(dim, index, src, "scatter")
        if parts is None:
            return self.clone()
        d, hit, vals, order = parts
        x = self.reshape(1) if self.ndim == 0 else self
        # the last j that points at each place wins, as a sequential loop would write
        last = hit.where(order, -1).max(axis=-2)
        pick = hit.logical_and(order == last.unsqueeze(-2))
        zero = False if self.dtype.is_bool else 0
        new = pick.where(vals, zero).sum(axis=-2).cast(self.dtype)
        written = x._unscatter(d, last >= 0)
        out = written.where(x._unscatter(d, new), x)
        return out.reshape(self.shape)

    def scatter_add(self, dim: int, index: Self, src: Self) -> Self:
        """A copy of this tensor with every `src` entry added at the place `index` points to (`scatter`'s layout);
        repeated places accumulate.

        >>> from tg_tensor import Tensor
        >>> Tensor.zeros(3).scatter_add(0, Tensor([0, 2, 0]), Tensor([1.0, 2.0, 3.0])).tolist()
        [4.0, 0.0, 2.0]
        """
        return self._scatter_reduce(dim, index, src, "sum", True, "scatter_add")

    def scatter_reduce(self, dim: int, index: Self, src: Self, reduce: str, include_self: bool = True) -> Self:
        """Like `torch.Tensor.scatter_reduce`: the `src` entries pointing at one place are combined with `reduce`
        ('sum', 'prod', 'mean', 'amax', 'amin'), together with this tensor's value there when include_self.
        Places no entry points at keep this tensor's value. Integer 'mean' rounds toward minus infinity.

        >>> from tg_tensor import Tensor
        >>> Tensor([5.0, 0.0]).scatter_reduce(0, Tensor([0, 0, 1]), Tensor([1.0, 9.0, 2.0]), "amax").tolist()
        [9.0, 2.0]
        """
        if reduce not in ("sum", "prod", "mean", "amax", "amin"):
            raise ArgumentError(
                f"scatter_reduce: reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got {reduce!r}"
            )
        return self._scatter_reduce(dim, index, src, reduce, include_self, "scatter_reduce")

    def _scatter_reduce(self, dim: int, index: Any, src: Any, reduce: str, include_self: bool, op: str) -> Self:
        if op != "scatter" and not isinstance(src, type(self)):
            raise TypeError(f"{op}: src must be a tensor, got {type(src).__name__}")
        parts = self._scatter_parts(dim, index, src, op)
        if parts is None:
            return self.clone()
        d, hit, vals, _ = parts
        x = self.reshape(1) if self.ndim == 0 else self
        written = x._unscatter(d, hit.any(axis=-2))
        dt = self.dtype
        if reduce in ("sum", "mean"):
            total = x._unscatter(d, hit.where(vals, 0).sum(axis=-2).cast(dt))
            if include_self:
                total = total + x
            if reduce == "sum":
                return (total if include_self else written.where(total, x)).cast(dt).reshape(self.shape)
            count = x._unscatter(d, hit.sum(axis=-2)) + (1 if include_self else 0)
            count = written.where(count, 1)
            mean = total / count if dt.is_float else total // count
            return written.where(mean.cast(dt), x).reshape(self.shape)
        if reduce == "prod":
            combined = x._unscatter(d, hit.where(vals, 1).prod(axis=-2).cast(dt))
            if include_self:
                combined = combined * x
            return written.where(combined.cast(dt), x).reshape(self.shape)
        # amax / amin: entries that do not point here read as the identity of the reduction
        if dt.is_float:
            ident = -math.inf if reduce == "amax" else math.inf
        else:
            ident = (dt.min if reduce == "amax" else dt.max) if not dt.is_bool else reduce == "amin"
        best = hit.where(vals, ident)
        best = best.max(axis=-2) if reduce == "amax" else best.min(axis=-2)
        best = x._unscatter(d, best)
        if include_self:
            best = x.maximum(best) if reduce == "amax" else x.minimum(best)
        return written.where(best, x).reshape(self.shape)
