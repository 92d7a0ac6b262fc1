"""Movement: reshape, permute, expand, pad, shrink, flip and everything built from them (squeeze, repeat,
roll, cat, stack, split, chunk, tril, triu, ...). None of these copies data on its own: they change how a
later kernel indexes its input, and they get their gradients from the rules of the six movement ops.

Choices where PyTorch and tinygrad differ or where PyTorch is silent:

- `pad` takes either form. A sequence of pairs (or None for "no padding") is tinygrad's form: one
  (before, after) pair per axis, from the first axis, exactly `ndim` of them. A flat sequence of ints is
  PyTorch's `F.pad` form: (before, after) pairs starting from the LAST axis, `(left, right, top, bottom)`,
  for at most `ndim` axes. Negative amounts crop. Modes 'reflect', 'replicate' and 'circular' work on any
  axes of a tensor of any rank (PyTorch limits them to the last 1-3 axes of a batched input); where PyTorch
  mixes cropping and padding they follow it: reflect and replicate pad then crop, circular crops then pads.
- `cat` and `stack` are methods (`a.cat(b, c, dim=1)`, tinygrad) and class calls
  (`Tensor.cat([a, b], dim=1)`, PyTorch); dim may also be given as a trailing positional int. Inputs of
  different dtypes are promoted to their least upper dtype, as PyTorch does. `cat` adds zero-padded views, so
  it is one kernel fused with its consumers, not a copy per input; a side effect is that a -0.0 input comes
  out as +0.0. As in PyTorch, 1-D empty tensors of shape (0,) are skipped whatever the other inputs' rank.
- `split` and `chunk` return lists (PyTorch returns tuples), of views.
- `T` reverses all axes for any rank (PyTorch warns beyond 2-D); `transpose()` without axes swaps 0 and 1.
- `view` is `reshape`: every tg tensor can be viewed, contiguous or not.

>>> from tg_tensor import Tensor
>>> Tensor([[1, 2], [3, 4]]).T.tolist()
[[1, 3], [2, 4]]
>>> Tensor([1, 2, 3]).pad((1, 2)).tolist()
[0, 1, 2, 3, 0, 0]
>>> Tensor([1, 2]).cat(Tensor([3]), dim=0).tolist()
[1, 2, 3]
>>> Tensor([[1, 2]]).pad(((1, 0), (0, 1)), value=9).tolist()
[[9, 9, 9], [1, 2, 9]]
>>> Tensor([1, 2, 3]).pad((2, 1), mode="reflect").tolist()
[3, 2, 1, 2, 3, 2]
>>> Tensor.cat([Tensor([[1, 2]]), Tensor([[3, 4]])], dim=1).tolist()
[[1, 2, 3, 4]]
>>> Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], dim=1).tolist()
[[1, 3], [2, 4]]
>>> [t.tolist() for t in Tensor([1, 2, 3, 4, 5]).split(2)]
[[1, 2], [3, 4], [5]]
>>> [t.tolist() for t in Tensor([1, 2, 3, 4, 5, 6]).chunk(4)]
[[1, 2], [3, 4], [5, 6]]
>>> Tensor([1, 2]).repeat(2, 2).tolist()
[[1, 2, 1, 2], [1, 2, 1, 2]]
>>> Tensor([1, 2, 3, 4]).roll(1).tolist()
[4, 1, 2, 3]
>>> Tensor.zeros(2, 6).unflatten(1, (3, -1)).shape
(2, 3, 2)
>>> Tensor.ones(2, 3).triu(1).tolist()
[[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, Self, TypeVar

from tg_tensor.core import TensorCore
from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import dim_eq, symbolic_dim, varargs
from tg_uop.bound import concrete, max_size
from tg_uop.dtype import dtypes, least_upper_dtype
from tg_uop.helpers import normalize_axis, prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp

T = TypeVar("T", bound="MovementMixin")  # the tensor type the module's helper functions take and return


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _as_int(x: Any, op: str, what: str) -> int:
    """An int from anything that is one (numpy integers too); bools and floats are refused."""
    if isinstance(x, bool):
        raise TypeError(f"{op}: {what} must be ints, got {x!r}")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{op}: {what} must be ints, got {x!r}") from None


def _dim(x: Any, op: str, what: str) -> Any:
    """A size or bound: an int, or a symbolic integer over bound Variables."""
    return symbolic_dim(x, op) if isinstance(x, UOp) else _as_int(x, op, what)


def _same_count(new: Any, old: Any) -> bool:
    # a symbolic count must equal the old one for every value; a fixed count is met at the bound values (the
    # symbolic sizes then name the fixed sizes: x.reshape(BS, -1) of a (10, 10) tensor binds BS to 10)
    return dim_eq(new, old) or (isinstance(old, int) and concrete(new) == old)


def _ge0(x: Any) -> bool:
    return bool(x.vmin >= 0) if isinstance(x, UOp) else bool(x >= 0)


def _ints(xs: Any, op: str, what: str) -> tuple[int, ...]:
    """One int or a sequence of them, as a tuple."""
    if isinstance(xs, (tuple, list)):
        return tuple(_as_int(x, op, what) for x in xs)
    return (_as_int(xs, op, what),)


def _unique_axes(dims: Sequence[int], ndim: int, op: str) -> tuple[int, ...]:
    axes = tuple(normalize_axis(d, ndim, op) for d in dims)
    if len(set(axes)) != len(axes):
        raise ArgumentError(f"{op}: dims {tuple(dims)} name an axis more than once (tensor of {ndim} dimension(s))")
    return axes


def _tensor_list(op: str, first: Any, rest: tuple[Any, ...], dim: int | None) -> tuple[list[Any], int]:
    """The tensors and dim of `cat`/`stack`, called as `a.op(b, c, dim=d)` or `Tensor.op([a, b], d)`."""
    rest_list = list(rest)
    if rest_list and isinstance(rest_list[-1], int) and not isinstance(rest_list[-1], bool):
        if dim is not None:
            raise TypeError(f"{op}: dim given twice ({rest_list[-1]} and dim={dim})")
        dim = rest_list.pop()
    if isinstance(first, (list, tuple)):
        if rest_list:
            raise TypeError(f"{op}: give the tensors as one list or as separate arguments, not both")
        ts = list(first)
    else:
        ts = [first, *rest_list]
    if not ts:
        raise ArgumentError(f"{op}: expected a non-empty list of tensors")
    cls = next((type(t) for t in ts if hasattr(t, "uop")), None)
    if cls is None or any(not isinstance(t, cls) for t in ts):
        raise TypeError(f"{op}: expected tensors, got {[type(t).__name__ for t in ts]}")
    if len({t.device for t in ts}) > 1:
        raise ArgumentError(f"{op}: tensors on different devices {[t.device for t in ts]}")
    return ts, 0 if dim is None else dim


class MovementMixin(TensorCore):
    """Movement operations; mixed into `Tensor`."""

    __slots__ = ()

    # ---- the primitives: reshape, permute, expand, pad, shrink, flip

    def reshape(self, *shape: Any) -> Self:
        """The same elements in a new shape (one size may be -1: inferred; None keeps the size of the axis in its
        place, as tinygrad). `t.reshape(2, 3)` or `((2, 3))`.

        >>> from tg_tensor import Tensor
        >>> Tensor.ones(2, 3, 4).reshape(None, -1, 2).shape
        (2, 6, 2)
        """
        new = varargs(shape)
        if any(s is None for s in new[self.ndim :]):
            raise ArgumentError(f"reshape: a None past the {self.ndim} axes of shape {self.shape} in {new}")
        # tinygrad: None keeps the size of the axis in its place
        new = tuple(self.shape[i] if s is None else self._bind_free(s, i) for i, s in enumerate(new))
        try:
            new = tuple(_dim(s, "reshape", "sizes") for s in new)
        except TypeError:
            raise ArgumentError(f"reshape: invalid shape {new}") from None
        ints = [s for s in new if isinstance(s, int)]
        if sum(1 for s in ints if s == -1) > 1:
            raise ArgumentError(f"reshape: only one dimension can be -1, got {new}")
        if any(s < -1 for s in ints):
            raise ArgumentError(f"reshape: invalid shape {new}")
        if -1 in ints:
            new = self._infer_size(new)
        if not _same_count(prod(new), self.numel()):
            raise ArgumentError(f"reshape: cannot reshape tensor of shape {self.shape} (size {self.numel()}) to {new}")
        if new == self.shape:
            return self
        count, numel = prod(new), self.numel()
        if isinstance(count, UOp) and isinstance(numel, int) and not dim_eq(count, numel):
            # fixed elements named by symbolic sizes: the graph reads the first `count` of them, which are all of
            # them at the bound values, so the reshape stays provable for kernels that see only the variables
            return self._apply(lambda u: u.reshape((numel,)).shrink(((0, count),)).reshape(new))
        return self._apply(lambda u: u.reshape(new))

    def _bind_free(self, s: Any, i: int) -> Any:
        # an unbound Variable names the axis in its place: it is bound to that axis's size (x.reshape(BS, -1))
        if not isinstance(s, UOp) or s.op is not Ops.DEFINE_VAR:
            return s
        size = self.shape[i] if i < self.ndim else None
        if isinstance(size, UOp) and size.op is Ops.BIND and size.src[0] is s:
            return size
        if not isinstance(size, int):
            raise ArgumentError(f"reshape: the unbound Variable {s.arg[0]!r} has no axis size to take; bind it")
        try:
            return s.bind(size)
        except ValueError as e:
            raise ArgumentError(f"reshape: {e}") from None

    def _infer_size(self, new: tuple[Any, ...]) -> tuple[Any, ...]:
        """`new` with its -1 replaced by the size that keeps the element count."""
        known = prod(s for s in new if not (isinstance(s, int) and s == -1))
        numel = self.numel()
        if isinstance(numel, int):  # a fixed count: symbolic sizes in `new` name it at their bound values
            if concrete(known) == 0 or numel % concrete(known):
                raise ArgumentError(f"reshape: cannot reshape tensor of shape {self.shape} to {new}")
            size: Any = numel // concrete(known)
        else:
            size = (numel // known).simplify() if isinstance(numel, UOp) else UOp.const(known.dtype, numel) // known
            if not dim_eq(size * known, numel):
                raise ArgumentError(f"reshape: the -1 in {new} is not provably a whole size for shape {self.shape}")
        return tuple(size if isinstance(s, int) and s == -1 else s for s in new)

    def view(self, *shape: Any) -> Self:
        """`reshape` (any tg tensor can be viewed, contiguous or not)."""
        return self.reshape(*shape)

    def permute(self, *order: Any) -> Self:
        """Reorder the axes: axis i of the result is axis `order[i]` of this tensor."""
        want = _ints(varargs(order), "permute", "axes")
        o = tuple(normalize_axis(a, self.ndim, "permute") for a in want)
        if len(o) != self.ndim or sorted(o) != list(range(self.ndim)):
            raise ArgumentError(f"permute: {want} is not a permutation of the axes of shape {self.shape}")
        return self._apply(lambda u: u.permute(o))

    def expand(self, *shape: Any) -> Self:
        """Broadcast size-1 axes (and new leading axes) to a larger shape; -1 (or None, as tinygrad) keeps an
        existing size."""
        want = tuple(_dim(-1 if w is None else w, "expand", "sizes") for w in varargs(shape))
        if len(want) < self.ndim:
            raise ArgumentError(f"expand: cannot expand shape {self.shape} to {want} (fewer dimensions)")
        lead = len(want) - self.ndim
        if any(isinstance(w, int) and w == -1 for w in want[:lead]):
            raise ArgumentError(f"expand: -1 is not allowed for a new leading dimension, shape {self.shape} to {want}")
        if any(isinstance(w, int) and w < -1 for w in want):
            raise ArgumentError(f"expand: invalid size in {want}")
        src = (1,) * lead + self.shape
        new = tuple(s if isinstance(w, int) and w == -1 else w for s, w in zip(src, want, strict=True))
        if any(not dim_eq(s, n) and not dim_eq(s, 1) for s, n in zip(src, new, strict=True)):
            raise ArgumentError(f"expand: cannot expand shape {self.shape} to {want} (only size-1 axes expand)")
        return self.reshape(src)._apply(lambda u: u.expand(new))

    def pad(self, padding: Sequence[Any], mode: str | float = "constant", value: float | None = None) -> Self:
        """Pad (or, with negative amounts, crop) axes.

        `padding` is tinygrad's form, one (before, after) pair (or None) per axis from the first axis, or
        PyTorch's F.pad form, a flat sequence of ints from the last axis: `(left, right, top, bottom, ...)`.
        `mode` is 'constant' (fill with `value`, 0 by default), 'reflect', 'replicate' or 'circular'.
        `t.pad(pairs, 5.0)` (a number as the second argument) is constant padding with that value.
        """
        if not isinstance(mode, str):  # the older form pad(padding, value)
            if value is not None:
                raise TypeError("pad: value given twice")
            value, mode = mode, "constant"
        if mode not in PAD_MODES:
            raise ArgumentError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
        if mode != "constant" and value not in (None, 0):
            raise ArgumentError(f"pad: mode {mode!r} does not take a value (got {value})")
        pairs = self._pad_pairs(padding)
        if all(p == (0, 0) for p in pairs):
            return self
        if mode != "constant" and any(isinstance(x, UOp) for p in pairs for x in p):
            raise ArgumentError(f"pad: mode {mode!r} needs int amounts; symbolic amounts pad with a constant")
        if mode == "constant":
            return self._pad_constant(pairs, 0.0 if value is None else value)
        return self._pad_mode(pairs, mode)

    def _pad_pairs(self, padding: Sequence[Any]) -> tuple[tuple[int, int], ...]:
        """Both forms of `pad`'s argument as one (before, after) pair per axis, from the first axis."""
        items = list(padding)
        if not items:
            return ((0, 0),) * self.ndim
        if all(p is None or isinstance(p, (tuple, list)) for p in items):  # tinygrad: pairs from the first axis
            if len(items) != self.ndim:
                raise ArgumentError(
                    f"pad: {len(items)} (before, after) pairs for a tensor of shape {self.shape}; need one per axis"
                )
            if any(p is not None and len(p) != 2 for p in items):
                raise ArgumentError(f"pad: each per-axis entry must be a (before, after) pair or None, got {padding}")
            return tuple(
                (0, 0) if p is None else (_dim(p[0], "pad", "amounts"), _dim(p[1], "pad", "amounts")) for p in items
            )
        flat = [_as_int(p, "pad", "amounts (all ints, or all pairs)") for p in items]  # F.pad: from the last axis
        if len(flat) % 2:
            raise ArgumentError(f"pad: a flat padding needs an even number of ints, got {tuple(flat)}")
        if len(flat) // 2 > self.ndim:
            raise ArgumentError(f"pad: {tuple(flat)} pads {len(flat) // 2} axes of a tensor of shape {self.shape}")
        from_last = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)]
        return ((0, 0),) * (self.ndim - len(from_last)) + tuple(reversed(from_last))

    def _pad_constant(self, pairs: tuple[tuple[int, int], ...], value: float) -> Self:
        x = self._crop(pairs, "pad")
        grow = tuple((b if isinstance(b, UOp) else max(b, 0), a if isinstance(a, UOp) else max(a, 0)) for b, a in pairs)
        if all(g == (0, 0) for g in grow):
            return x
        out = x._apply(lambda u: u.pad(grow))
        if value == 0:
            return out
        # PAD fills with 0; elsewhere a mask of where the input lies picks `value`
        fill = value if self.dtype.is_float else (bool(value) if self.dtype.is_bool else int(value))
        inside = self.ones(*x.shape, dtype=dtypes.bool, device=self.device)._apply(lambda u: u.pad(grow))
        return inside.where(out, self.full((), fill, self.dtype, self.device))

    def _crop(self, pairs: tuple[tuple[int, int], ...], op: str) -> Self:
        """Drop the elements that negative pad amounts remove."""
        if all(_ge0(b) and _ge0(a) for b, a in pairs):
            return self
        if any(isinstance(x, UOp) for p in pairs for x in p):
            raise ArgumentError(f"{op}: symbolic pad amounts must be >= 0 for every value, got {pairs}")
        bounds = tuple((max(-b, 0), s - max(-a, 0)) for (b, a), s in zip(pairs, self.shape, strict=True))
        if any(lo > hi for lo, hi in bounds):
            raise ArgumentError(f"pad: negative padding {pairs} crops more than the shape {self.shape} in {op}")
        return self.shrink(bounds)

    def _pad_mode(self, pairs: tuple[tuple[int, int], ...], mode: str) -> Self:
        x = self._crop(pairs, mode) if mode == "circular" else self  # PyTorch: circular crops first, others last
        for ax, (b, a) in enumerate(pairs):
            b, a, n = max(b, 0), max(a, 0), x.shape[ax]
            if b == a == 0:
                continue
            if mode == "reflect":
                if b >= n or a >= n:
                    raise ArgumentError(
                        f"pad: reflect padding ({b}, {a}) must be less than axis {ax}'s size in {x.shape}"
                    )
                parts = [x._axis_slice(ax, 1, b + 1).flip(ax), x, x._axis_slice(ax, n - 1 - a, n - 1).flip(ax)]
                x = parts[0].cat(*parts[1:], dim=ax)
            elif mode == "replicate":
                if n == 0:
                    raise ArgumentError(f"pad: replicate padding of axis {ax}, which is empty in {x.shape}")
                edge = list(x.shape)
                first = x._axis_slice(ax, 0, 1).expand(*edge[:ax], b, *edge[ax + 1 :])
                last = x._axis_slice(ax, n - 1, n).expand(*edge[:ax], a, *edge[ax + 1 :])
                x = first.cat(x, last, dim=ax)
            else:  # circular: a window of three copies side by side, all one view
                if b > n or a > n:
                    raise ArgumentError(
                        f"pad: circular padding ({b}, {a}) wraps around axis {ax} of {x.shape} more than once"
                    )
                x = x._tile_axis(ax, 3)._axis_slice(ax, n - b, 2 * n + a)
        return x if mode == "circular" else x._crop(pairs, mode)

    def shrink(self, arg: Sequence[tuple[int, int] | None]) -> Self:
        """Keep elements [begin, end) of each axis (one pair per axis; None keeps the whole axis)."""
        if len(arg) != self.ndim:
            raise ArgumentError(f"shrink: {arg} does not have one (begin, end) pair per axis of shape {self.shape}")
        bounds = tuple(
            (0, s) if p is None else (_dim(p[0], "shrink", "bounds"), _dim(p[1], "shrink", "bounds"))
            for p, s in zip(arg, self.shape, strict=True)
        )
        # symbolic bounds: inside the shape at the bound values, and never past a fixed size for any value
        if any(
            not 0 <= concrete(b) <= concrete(e) <= concrete(s) or (isinstance(s, int) and max_size(e) > s)
            for (b, e), s in zip(bounds, self.shape, strict=True)
        ):
            raise ArgumentError(f"shrink: {arg} is not inside shape {self.shape}")
        return self._apply(lambda u: u.shrink(bounds))

    def flip(self, *dims: Any) -> Self:
        """Reverse the order of the elements along the given axes: `t.flip(0)`, `t.flip((0, 1))`, `t.flip(0, 1)`."""
        axes = _unique_axes(_ints(varargs(dims), "flip", "dims"), self.ndim, "flip")
        if self.ndim == 0:
            return self
        arg = tuple(i in axes for i in range(self.ndim))
        return self._apply(lambda u: u.flip(arg))

    def _axis_slice(self, axis: int, begin: int, end: int) -> Self:
        return self.shrink(tuple((begin, end) if i == axis else None for i in range(self.ndim)))

    def _tile_axis(self, axis: int, times: int) -> Self:
        """`times` copies of this tensor side by side along one axis (a view: reshape, expand, reshape)."""
        s = self.shape
        x = self.reshape(*s[:axis], 1, *s[axis:]).expand(*s[:axis], times, *s[axis:])
        return x.reshape(*s[:axis], times * s[axis], *s[axis + 1 :])

    # ---- axes

    def transpose(self, dim0: int = 1, dim1: int = 0) -> Self:
        """Swap two axes."""
        order = list(range(self.ndim))
        a, b = normalize_axis(dim0, self.ndim, "transpose"), normalize_axis(dim1, self.ndim, "transpose")
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self) -> Self:
        """All axes reversed (the transpose of a matrix; a 0-d or 1-D tensor is unchanged)."""
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Self:
        """The last two axes swapped: the transpose of each matrix in a batch."""
        if self.ndim < 2:
            raise ArgumentError(f"mT: needs a matrix or a batch of matrices, got shape {self.shape}")
        return self.transpose(-2, -1)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Self:
        """Merge axes start_dim..end_dim (inclusive) into one; a 0-d tensor becomes shape (1,)."""
        if self.ndim == 0:
            normalize_axis(start_dim, 0, "flatten")
            normalize_axis(end_dim, 0, "flatten")
            return self.reshape(1)
        s, e = normalize_axis(start_dim, self.ndim, "flatten"), normalize_axis(end_dim, self.ndim, "flatten")
        if s > e:
            raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        return self.reshape(*self.shape[:s], prod(self.shape[s : e + 1]), *self.shape[e + 1 :])

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Self:
        """Split axis `dim` into axes of the given sizes (one may be -1: inferred)."""
        if self.ndim == 0:
            raise ArgumentError("unflatten: a 0-d tensor has no axis to unflatten")
        d = normalize_axis(dim, self.ndim, "unflatten")
        want = _ints(tuple(sizes), "unflatten", "sizes")
        n = self.shape[d]
        if not want:
            raise ArgumentError(f"unflatten: sizes must be non-empty (axis {dim} of shape {self.shape})")
        if sum(1 for s in want if s == -1) > 1 or any(s < -1 for s in want):
            raise ArgumentError(f"unflatten: invalid sizes {want}")
        if -1 in want:
            known = prod(s for s in want if s != -1)
            if known == 0 or n % known:
                raise ArgumentError(f"unflatten: sizes {want} do not fit axis {dim} of size {n} in shape {self.shape}")
            want = tuple(n // known if s == -1 else s for s in want)
        if prod(want) != n:
            raise ArgumentError(
                f"unflatten: sizes {want} do not multiply to axis {dim}'s size {n} in shape {self.shape}"
            )
        return self.reshape(*self.shape[:d], *want, *self.shape[d + 1 :])

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Self:
        """Drop size-1 axes: all of them, or those among `dim` (an int or a tuple); others named are kept."""
        if dim is None:
            axes = tuple(range(self.ndim))
        else:
            axes = _unique_axes(_ints(dim, "squeeze", "dims"), self.ndim, "squeeze")
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1)))

    def unsqueeze(self, dim: int) -> Self:
        """Insert an axis of size 1 at position `dim` (negative counts from the end of the result)."""
        d = normalize_axis(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(*self.shape[:d], 1, *self.shape[d:])

    # ---- copies of the data, as views

    def repeat(self, *repeats: Any) -> Self:
        """Tile the tensor: `repeats[i]` copies along axis i (more repeats than axes add leading axes)."""
        reps = _ints(varargs(repeats), "repeat", "repeats")
        if len(reps) < self.ndim:
            raise ArgumentError(
                f"repeat: {len(reps)} repeats for a tensor of shape {self.shape}; need at least one per axis"
            )
        if any(r < 0 for r in reps):
            raise ArgumentError(f"repeat: repeats must be >= 0, got {reps}")
        shape = (1,) * (len(reps) - self.ndim) + self.shape
        # each axis s becomes (1, s), is expanded to (r, s) and merged: r copies of the axis, one after another
        pairs = [d for s in shape for d in (1, s)]
        tiled = [d for r, s in zip(reps, shape, strict=True) for d in (r, s)]
        return self.reshape(pairs).expand(tiled).reshape(tuple(r * s for r, s in zip(reps, shape, strict=True)))

    def roll(self, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Self:
        """Shift elements along axes, wrapping around; without `dims` the flattened tensor is rolled."""
        sh = _ints(shifts, "roll", "shifts")
        if dims is None:
            if len(sh) != 1:
                raise ArgumentError(f"roll: {len(sh)} shifts need as many dims, got none")
            return self.flatten().roll(sh[0], 0).reshape(self.shape)
        ds = tuple(normalize_axis(d, self.ndim, "roll") for d in _ints(dims, "roll", "dims"))
        if len(ds) != len(sh):
            raise ArgumentError(f"roll: shifts {sh} and dims {ds} must have the same length")
        x = self
        for s, d in zip(sh, ds, strict=True):
            n = x.shape[d] if x.ndim else 1
            if n == 0 or s % n == 0:
                continue
            # out[i] = x[(i - s) mod n]: a window of two copies side by side
            k = s % n
            x = x._tile_axis(d, 2)._axis_slice(d, n - k, 2 * n - k)
        return x

    def tril(self, diagonal: int = 0) -> Self:
        """Zero the elements above the `diagonal`-th diagonal of the last two axes (0: the main diagonal)."""
        return self._triangle(diagonal, upper=False)

    def triu(self, diagonal: int = 0) -> Self:
        """Zero the elements below the `diagonal`-th diagonal of the last two axes (0: the main diagonal)."""
        return self._triangle(diagonal, upper=True)

    def _triangle(self, k: int, upper: bool) -> Self:
        op = "triu" if upper else "tril"
        if self.ndim < 2:
            raise ArgumentError(f"{op}: needs at least 2 dimensions, got shape {self.shape}")
        k = _as_int(k, op, "diagonal")
        r, c = self.shape[-2:]
        if isinstance(r, UOp) or isinstance(c, UOp):  # symbolic sizes: the mask compares column and row numbers
            cols = self.arange(c, device=self.device).reshape(1, c)
            rows_ = self.arange(r, device=self.device).reshape(r, 1)
            keep = (cols - rows_ >= k) if upper else (cols - rows_ <= k)
            return keep.where(self, self.full((), False if self.dtype.is_bool else 0, self.dtype, self.device))
        if r == 0 or c == 0:
            return self
        # A mask with no buffer: a 1-D step over t = j - i + r (in [1, r + c - 1]), laid out with rows of
        # length L - 1 over copies of length L, so row i starts i elements further back: element (i, j) reads t.
        L = r + c
        step = max(0, min(L, r + k if upper else r + k + 1))
        ones = self.ones(L - step if upper else step, dtype=dtypes.bool, device=self.device)
        v = ones.pad((((step, 0) if upper else (0, L - step)),))
        rows = v.reshape(1, L).expand(r, L).reshape(r * L)._axis_slice(0, r, r + r * (L - 1))
        mask = rows.reshape(r, L - 1)._axis_slice(1, 0, c)
        zero = False if self.dtype.is_bool else 0
        return mask.where(self, self.full((), zero, self.dtype, self.device))

    # ---- joining and splitting

    def cat(self, *tensors: Any, dim: int | None = None) -> Self:
        """Join tensors along an existing axis: `a.cat(b, c, dim=0)` or `Tensor.cat([a, b, c], dim=0)`.

        dtypes are promoted as in PyTorch; the other axes must match. One kernel when realized: the inputs
        are padded to the result's shape (free views) and added.
        """
        ts, dim = _tensor_list("cat", self, tensors, dim)
        for i, t in enumerate(ts):
            if t.ndim == 0:
                raise ArgumentError(f"cat: a 0-d tensor (input {i}) cannot be concatenated")
        dt = least_upper_dtype(*(t.dtype for t in ts))
        # PyTorch skips 1-D empty tensors next to tensors of any rank
        kept = [t for t in ts if t.shape != (0,)] or ts[:1]
        first = kept[0]
        d = normalize_axis(dim, first.ndim, "cat")
        for t in kept:
            if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != d):
                raise ArgumentError(
                    f"cat: shapes {[t.shape for t in ts]} must match except along dim {dim} (tensor of shape {t.shape})"
                )
        kept = [t.cast(dt) for t in kept]
        nonempty = [t for t in kept if t.shape[d] > 0]
        if len(nonempty) <= 1:  # nothing to join
            return nonempty[0] if nonempty else kept[0]
        total = sum(t.shape[d] for t in nonempty)
        parts, offset = [], 0
        for t in nonempty:
            size = t.shape[d]
            pad = tuple((offset, total - offset - size) if i == d else (0, 0) for i in range(t.ndim))
            parts.append(t._apply(lambda u, pad=pad: u.pad(pad)))
            offset += size
        return functools.reduce(lambda a, b: a + b, parts)

    def stack(self, *tensors: Any, dim: int | None = None) -> Self:
        """Join tensors of one shape along a new axis: `a.stack(b, dim=0)` or `Tensor.stack([a, b], dim=0)`."""
        ts, dim = _tensor_list("stack", self, tensors, dim)
        if any(t.shape != ts[0].shape for t in ts):
            raise ArgumentError(f"stack: all tensors must have the same shape, got {[t.shape for t in ts]}")
        d = normalize_axis(dim, ts[0].ndim + 1, "stack")
        return ts[0].unsqueeze(d).cat(*[t.unsqueeze(d) for t in ts[1:]], dim=d)

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> list[Self]:
        """Views of consecutive pieces along `dim`: of one size (the last may be smaller) or of the given sizes."""
        d = normalize_axis(dim, self.ndim, "split")
        if self.ndim == 0:
            raise ArgumentError("split: a 0-d tensor cannot be split")
        n = self.shape[d]
        if isinstance(split_size_or_sections, (list, tuple)):
            sizes = _ints(split_size_or_sections, "split", "sizes")
            if any(s < 0 for s in sizes) or sum(sizes) != n:
                raise ArgumentError(
                    f"split: sizes {sizes} must be >= 0 and sum to {n}, the size of dim {dim} of {self.shape}"
                )
        else:
            size = _as_int(split_size_or_sections, "split", "split_size")
            if size < 0 or (size == 0 and n > 0):
                raise ArgumentError(
                    f"split: split_size must be > 0 (or 0 for an empty axis), got {size} for {self.shape}"
                )
            sizes = (n,) if n == 0 else (size,) * (n // size) + ((n % size,) if n % size else ())
        out, begin = [], 0
        for s in sizes:
            out.append(self._axis_slice(d, begin, begin + s))
            begin += s
        return out

    def chunk(self, chunks: int, dim: int = 0) -> list[Self]:
        """Split into pieces of size ceil(n / chunks) along `dim`: as in PyTorch, there may be fewer than `chunks`."""
        chunks = _as_int(chunks, "chunk", "chunks")
        if chunks <= 0:
            raise ArgumentError(f"chunk: chunks must be > 0, got {chunks}")
        d = normalize_axis(dim, self.ndim, "chunk")
        if self.ndim == 0:
            raise ArgumentError("chunk: a 0-d tensor cannot be chunked")
        n = self.shape[d]
        if n == 0:  # PyTorch gives `chunks` empty pieces
            return [self] * chunks
        return self.split(-(-n // chunks), d)

    # ---- diagonals, sliding windows, interleaved repeats: views built from pad, reshape, expand and shrink

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Self:
        """The diagonal of the matrices over axes dim1, dim2 (above it for offset > 0, below for < 0) as a new
        last axis, as `torch.diagonal` (a view: differentiable, no gather).

        >>> from tg_tensor import Tensor
        >>> Tensor([[1, 2, 3], [4, 5, 6]]).diagonal(1).tolist()
        [2, 6]
        """
        a, b = normalize_axis(dim1, self.ndim, "diagonal"), normalize_axis(dim2, self.ndim, "diagonal")
        if a == b:
            raise ArgumentError(f"diagonal: dim1 and dim2 are the same axis ({dim1}, {dim2}) of shape {self.shape}")
        rest = [i for i in range(self.ndim) if i not in (a, b)]
        x = self.permute(*rest, a, b)
        rows, cols = x.shape[-2], x.shape[-1]
        r0, c0 = max(-offset, 0), max(offset, 0)
        n = max(min(rows - r0, cols - c0), 0)
        lead = x.shape[:-2]
        x = x.shrink([None] * len(lead) + [(min(r0, rows), min(r0, rows) + n), (min(c0, cols), min(c0, cols) + n)])
        if n == 0:
            return x.reshape(*lead, 0)
        # n*n elements padded by n make rows of n+1: the diagonal is the first column
        x = x.reshape(*lead, n * n).pad([(0, 0)] * len(lead) + [(0, n)]).reshape(*lead, n, n + 1)
        return x.shrink([None] * len(lead) + [None, (0, 1)]).reshape(*lead, n)

    def diag(self, diagonal: int = 0) -> Self:
        """A 1-D tensor as the diagonal of a square matrix (shifted by `diagonal`), or a matrix's diagonal as a
        1-D tensor, as `torch.diag`.

        >>> from tg_tensor import Tensor
        >>> Tensor([1, 2]).diag().tolist()
        [[1, 0], [0, 2]]
        """
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise ArgumentError(f"diag: needs a 1-D or 2-D tensor, got shape {self.shape}")
        n, k = self.shape[0], abs(diagonal)
        # each element followed by n zeros, cut to n*n: the elements land on the diagonal
        x = self.reshape(n, 1).pad(((0, 0), (0, n))).reshape(n * (n + 1)).shrink(((0, n * n),)).reshape(n, n)
        return x.pad(((0, k), (k, 0)) if diagonal >= 0 else ((k, 0), (0, k)))

    def unfold(self, dimension: int, size: int, step: int) -> Self:
        """Windows of `size` elements every `step` along `dimension`: that axis becomes the window count and a
        new last axis of `size` holds each window, as `torch.Tensor.unfold` (a view).

        >>> from tg_tensor import Tensor
        >>> Tensor([1, 2, 3, 4, 5]).unfold(0, 2, 2).tolist()
        [[1, 2], [3, 4]]
        """
        ax = normalize_axis(dimension, max(self.ndim, 1), "unfold")
        x = self.reshape(1) if self.ndim == 0 else self
        n = x.shape[ax]
        if step < 1 or size < 0 or size > n:
            raise ArgumentError(f"unfold: size {size} and step {step} do not fit an axis of {n} (shape {self.shape})")
        nw = (n - size) // step + 1
        x = x.transpose(ax, -1)
        lead = x.shape[:-1]
        # rows of n+step in a tiling of the axis start `step` further along each: window w is row w's head
        reps = nw + -(-nw * step // n)
        x = x.reshape(*lead, 1, n).expand(*lead, reps, n).reshape(*lead, reps * n)
        x = x.shrink([None] * len(lead) + [(0, nw * (n + step))]).reshape(*lead, nw, n + step)
        x = x.shrink([None] * len(lead) + [None, (0, size)])
        out = x.transpose(ax, -2)
        return out.reshape(size) if self.ndim == 0 else out

    def repeat_interleave(self, repeats: int, dim: int | None = None) -> Self:
        """Each element `repeats` times in a row along `dim` (the flattened tensor when None), as
        `torch.repeat_interleave` with an int count.

        >>> from tg_tensor import Tensor
        >>> Tensor([1, 2]).repeat_interleave(2).tolist()
        [1, 1, 2, 2]
        """
        if isinstance(repeats, bool) or not isinstance(repeats, int):
            raise TypeError(f"repeat_interleave: repeats must be an int, got {type(repeats).__name__}")
        if repeats < 0:
            raise ArgumentError(f"repeat_interleave: repeats must be >= 0, got {repeats}")
        x = self.flatten() if dim is None else self
        ax = 0 if dim is None else normalize_axis(dim, self.ndim, "repeat_interleave")
        s = x.shape
        x = x.reshape(*s[: ax + 1], 1, *s[ax + 1 :]).expand(*s[: ax + 1], repeats, *s[ax + 1 :])
        return x.reshape(*s[:ax], s[ax] * repeats, *s[ax + 1 :])

    def meshgrid(self, *tensors: Self, indexing: str = "ij") -> tuple[Self, ...]:
        """Coordinate grids of 1-D tensors (this one first), as `torch.meshgrid`: 'ij' (matrix) or 'xy'
        (Cartesian: the first two axes swapped).

        >>> from tg_tensor import Tensor
        >>> [g.tolist() for g in Tensor([1, 2]).meshgrid(Tensor([3, 4, 5]))][1]
        [[3, 4, 5], [3, 4, 5]]
        """
        if indexing not in ("ij", "xy"):
            raise ArgumentError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
        ts = (self, *tensors)
        if any(t.ndim > 1 for t in ts):
            raise ArgumentError(f"meshgrid: needs 0-d or 1-D tensors, got shapes {[t.shape for t in ts]}")
        sizes = [t.numel() for t in ts]
        order = list(range(len(ts)))
        if indexing == "xy" and len(ts) >= 2:
            order[0], order[1] = 1, 0
        out_shape = tuple(sizes[i] for i in order)
        grids = []
        for i, t in enumerate(ts):
            pos = order.index(i)
            shape = [1] * len(ts)
            shape[pos] = sizes[i]
            grids.append(t.reshape(*shape).expand(*out_shape))
        return tuple(grids)
