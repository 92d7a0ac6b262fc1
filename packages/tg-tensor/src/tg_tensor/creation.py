"""Tensors made from nothing: constants of a shape, uninitialized buffers, ranges, identity matrices.

Everything here is lazy and most of it needs no memory until it is realized: `full` is one constant
broadcast to a shape, `arange` and `eye` are built from padded constants (no host data, no copy), so they
fuse into the kernels that read them.

How `arange` is built in the graph: the values 0..n-1 are the sum of their binary digits. Digit j of the
index is a view of the two-element constant `[0, 2**j]` (one padded constant), broadcast over a (2, 2, ..., 2)
shape in which axis j is that digit, and flattened. Adding the k = log2(n) digit views gives 0..2**k-1; a
shrink keeps the first n. A kernel computes each element from its own index (k compares and adds), with no
reduction and no buffer. `eye(n)` is one padded constant: a column of ones padded to (n, n + 1) and read as
(n, n) puts every one on the diagonal.

>>> from tg_tensor import Tensor
>>> Tensor.full((2, 2), 7).tolist()
[[7, 7], [7, 7]]
>>> Tensor.arange(1, 2, 0.25).tolist()
[1.0, 1.25, 1.5, 1.75]
>>> Tensor.linspace(0, 1, 5).tolist()
[0.0, 0.25, 0.5, 0.75, 1.0]
>>> Tensor.eye(2, 3, dtype=dtypes.int32).tolist()
[[1, 0, 0], [0, 1, 0]]
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from tg_runtime.buffer import Buffer
from tg_runtime.device import Device, canonicalize, split_devices
from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import DTypeLike, Scalar, const_uop, dtype_arg, symbolic_dim, varargs
from tg_tensor.reduce import ReduceMixin
from tg_uop.bound import max_size
from tg_uop.dtype import DType, dtypes
from tg_uop.helpers import prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp

__all__ = [
    "CreationMixin",
    "check_grad",
    "check_supported",
    "device_arg",
    "dtype_arg",
    "full_uop",
    "index_range",
    "number_arg",
    "shape_arg",
]


# ---- argument checks shared with random.py: every bad argument is refused at the call, naming the op ----


def shape_arg(shape: tuple[Any, ...], op: str) -> tuple[Any, ...]:
    """Sizes given as varargs (`zeros(2, 3)`) or one sequence (`zeros((2, 3))`), as ints >= 0."""
    sizes = varargs(shape)
    out: list[Any] = []
    for s in sizes:
        if isinstance(s, UOp):
            out.append(symbolic_dim(s, op))
            continue
        try:
            if isinstance(s, bool):
                raise TypeError
            out.append(operator.index(s))  # numpy integers are fine, floats and bools are not
        except TypeError:
            raise ArgumentError(f"{op}: invalid shape {sizes}: sizes must be ints") from None
    if any(isinstance(s, int) and s < 0 for s in out):
        raise ArgumentError(f"{op}: invalid shape {sizes}: sizes must be >= 0")
    return tuple(out)


def device_arg(device: str | None, op: str) -> str:
    if device is None:
        return Device.DEFAULT
    if not isinstance(device, str):
        raise TypeError(f"{op}: device must be a name like 'CPU', got {device!r}")
    try:
        return canonicalize(device)
    except KeyError as e:
        raise KeyError(f"{op}: {e.args[0]}") from None


def check_supported(dtype: DType, device: str, op: str) -> None:
    """Refuse a dtype the device cannot compute in now, rather than when a kernel fails to compile."""
    for d in split_devices(device):  # each device of a device tuple
        if dtype not in Device[d].caps.dtypes:
            raise TypeError(f"{op}: device {d} does not support {dtype!r}")


def _check_fits(value: Scalar, dtype: DType, op: str) -> None:
    """Refuse a value the dtype cannot hold (as PyTorch does) instead of letting it wrap or become inf."""
    if isinstance(value, bool) or dtype.is_bool or (isinstance(value, float) and not math.isfinite(value)):
        return
    if dtype.is_int:
        fits = dtype.min <= int(value) <= dtype.max
    elif dtype.fmt is not None:  # a float type numpy knows: does the value overflow it?
        with np.errstate(over="ignore"):
            fits = bool(np.isfinite(np.array(value, dtype=np.dtype(dtype.fmt))))
    else:
        fits = True
    if not fits:
        raise ArgumentError(f"{op}: the value {value} does not fit in {dtype!r}")


def check_grad(requires_grad: bool | None, dtype: DType, op: str) -> None:
    if requires_grad and not dtype.is_float:
        raise ArgumentError(f"{op}: only floating point tensors can require gradients, not {dtype!r}")


def number_arg(x: Any, op: str, what: str) -> Scalar:
    """A Python number (numpy scalars are unwrapped); anything else is refused."""
    if isinstance(x, np.generic):
        x = x.item()
    if not isinstance(x, (bool, int, float)):
        raise TypeError(f"{op}: {what} must be a number, got {type(x).__name__}")
    return x


def index_range(n: int, dtype: DType, device: str) -> UOp:
    """The lazy tensor-graph UOp of 0, 1, ..., n-1 (shape (n,), an integer `dtype`): no buffer, no reduction.

    The sum of the binary digits of each index, each digit a padded two-element constant viewed across a
    (2, ..., 2) shape (see the module docstring). random.py numbers its elements with this.
    """
    if n <= 1:
        return const_uop(dtype, 0, device).reshape((1,)).expand((n,))
    k = (n - 1).bit_length()
    digits = (2,) * k
    total: UOp | None = None
    for j in range(k):
        # axis j of the (2, ..., 2) shape is the digit worth 2**(k-1-j) (the first axis varies slowest)
        pair = const_uop(dtype, 2 ** (k - 1 - j), device).reshape((1,)).pad(((1, 0),))  # [0, 2**(k-1-j)]
        digit = pair.reshape(tuple(2 if a == j else 1 for a in range(k))).expand(digits)
        # flatten and shrink each term (not the sum), so the sum itself has shape (n,): realizing an arange
        # then stores n elements, not 2**k
        term = digit.reshape((2**k,)).shrink(((0, n),))
        total = term if total is None else total + term
    assert total is not None
    return total


class CreationMixin(ReduceMixin):
    """Constants of a shape, uninitialized buffers, ranges and identity matrices; mixed into `Tensor`."""

    __slots__ = ()

    @classmethod
    def _leaf(cls, u: UOp, requires_grad: bool | None, op: str) -> Self:
        check_grad(requires_grad, u.dtype, op)
        t = cls._wrap(u)
        if requires_grad:
            # a parameter gets a buffer of its own: equal constants are one hash-consed UOp, and autograd
            # tells leaves apart by their UOp, so two `zeros(3, requires_grad=True)` must not be one node
            out = cls.empty(t.shape, dtype=t.dtype, device=t.device)
            out.assign(t)
            t = out
        t.requires_grad = requires_grad
        return t

    @classmethod
    def empty(
        cls, *shape: Any, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """A tensor whose memory is allocated but not set: its values are whatever the memory held.

        It is a realized buffer already (no kernel): the target to `assign` into.
        """
        shp = shape_arg(shape, "empty")
        dt, dev = dtype_arg(dtype, dtypes.default_float, "empty"), device_arg(device, "empty")
        check_grad(requires_grad, dt, "empty")
        check_supported(dt, dev, "empty")
        buf = UOp(Ops.BUFFER, dt, (), Buffer(dev, prod(shp), dt))
        t = cls._wrap(buf.reshape(shp))
        t.requires_grad = requires_grad
        return t

    @classmethod
    def full(
        cls,
        shape: Sequence[int] | int,
        fill_value: Scalar,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """A tensor of one value: a constant broadcast to the shape (no memory until it is realized).

        The dtype follows the value (bool, default int or default float) unless given.
        """
        shp = shape_arg((shape,) if not isinstance(shape, (tuple, list)) else tuple(shape), "full")
        value = number_arg(fill_value, "full", "fill_value")
        dt = dtype_arg(dtype, dtypes.from_py(value), "full")
        _check_fits(value, dt, "full")
        dev = device_arg(device, "full")
        check_supported(dt, dev, "full")
        c = const_uop(dt, value, dev)
        return cls._leaf(c.reshape((1,) * len(shp)).expand(shp) if shp else c, requires_grad, "full")

    @classmethod
    def zeros(
        cls, *shape: Any, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """Zeros of a shape (default float). `Tensor.zeros(2, 3)` or `Tensor.zeros((2, 3))`."""
        return cls._named_full("zeros", shape, 0, dtype, device, requires_grad)

    @classmethod
    def ones(
        cls, *shape: Any, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """Ones of a shape (default float). `Tensor.ones(2, 3)` or `Tensor.ones((2, 3))`."""
        return cls._named_full("ones", shape, 1, dtype, device, requires_grad)

    @classmethod
    def _named_full(
        cls, op: str, shape: tuple[Any, ...], value: int, dtype: Any, device: Any, requires_grad: bool | None
    ) -> Self:
        shp, dt, dev = shape_arg(shape, op), dtype_arg(dtype, dtypes.default_float, op), device_arg(device, op)
        check_supported(dt, dev, op)
        c = const_uop(dt, value, dev)
        return cls._leaf(c.reshape((1,) * len(shp)).expand(shp) if shp else c, requires_grad, op)

    # ---- the *_like forms: this tensor's shape, and its dtype and device unless given ----

    def full_like(
        self,
        fill_value: Scalar,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """`full` with this tensor's shape, dtype and device (dtype and device can be overridden)."""
        dt = dtype_arg(dtype, self.dtype, "full_like")
        return self.full(self.shape, fill_value, dt, device or self.device, requires_grad)

    def zeros_like(
        self, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """Zeros with this tensor's shape, dtype and device (dtype and device can be overridden)."""
        return self.full_like(0, dtype, device, requires_grad)

    def ones_like(
        self, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """Ones with this tensor's shape, dtype and device (dtype and device can be overridden)."""
        return self.full_like(1, dtype, device, requires_grad)

    def empty_like(
        self, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """`empty` with this tensor's shape, dtype and device (dtype and device can be overridden)."""
        dt = dtype_arg(dtype, self.dtype, "empty_like")
        return self.empty(self.shape, dtype=dt, device=device or self.device, requires_grad=requires_grad)

    # ---- ranges ----

    @classmethod
    def arange(
        cls,
        start: Scalar,
        stop: Scalar | None = None,
        step: Scalar = 1,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """start, start + step, ... up to (not including) stop; `arange(n)` is 0 .. n-1.

        As in PyTorch: ceil((stop - start) / step) elements, a step of the wrong sign for the bounds is an
        error, and the dtype is the default int when start, stop and step are ints (int64 when a bound is past
        the int32 range, as tinygrad), else the default float (PyTorch's default int is int64, tg's int32).
        Values are `start + i * step` computed in the dtype
        (PyTorch computes float ranges in double, so a float32 value can differ from PyTorch's in the last
        bit); an integer dtype truncates start and step to integers first, as PyTorch does.
        """
        if stop is None:
            start, stop = 0, start
        if isinstance(stop, UOp):  # a symbolic length: the first elements of the range up to the largest stop
            if not isinstance(start, int) or not isinstance(step, int) or step != 1:
                raise ArgumentError("arange: a symbolic stop needs an int start and step 1")
            whole = cls.arange(start, max(max_size(stop), start), 1, dtype, device, requires_grad)
            return whole.shrink(((0, stop - start if start else symbolic_dim(stop, "arange")),))
        start, stop, step = (
            number_arg(v, "arange", name) for v, name in ((start, "start"), (stop, "stop"), (step, "step"))
        )
        if step == 0:
            raise ArgumentError("arange: step must be nonzero")
        if any(isinstance(v, float) and not math.isfinite(v) for v in (start, stop, step)):
            raise ArgumentError(f"arange: start, stop and step must be finite, got {start}, {stop}, {step}")
        if (stop - start) * step < 0:
            raise ArgumentError(f"arange: the step {step} goes away from stop (start {start}, stop {stop})")
        all_int = all(isinstance(v, int) for v in (start, stop, step))
        # tinygrad: an int range reaching past int32 is int64
        wide = all_int and any(not -(2**31) <= v < 2**31 for v in (start, stop, start + step))
        int_dt = dtypes.int64 if wide else dtypes.default_int
        dt = dtype_arg(dtype, int_dt if all_int else dtypes.default_float, "arange")
        if dt == dtypes.bool:
            raise TypeError("arange: a range of bools is not supported (as in PyTorch)")
        dev = device_arg(device, "arange")
        check_supported(dt, dev, "arange")
        n = int(-((start - stop) // step) if all_int else math.ceil((stop - start) / step))
        if n >= 2**31:
            raise ArgumentError(f"arange: {n} elements is too many (at most 2**31 - 1)")
        idx = index_range(n, dtypes.int32, dev)
        if dt.is_int:
            # as PyTorch: the length comes from the float bounds, the values from start and step truncated to
            # integers (arange(0.5, 4, 1.5, dtype=int32) is [0, 1, 2])
            start, step, calc = int(start), int(step), dt
        else:
            calc = dtypes.float64 if dt == dtypes.float64 else dtypes.float32
        vals = idx.cast(calc)
        if step != 1:
            vals = vals * full_uop(vals, step)
        if start != 0:
            vals = vals + full_uop(vals, start)
        return cls._leaf(vals.cast(dt), requires_grad, "arange")

    @classmethod
    def linspace(
        cls,
        start: Scalar,
        stop: Scalar,
        steps: int,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """`steps` evenly spaced values from start to stop, both included.

        As in PyTorch, the first half is computed from start (start + i * step) and the second from stop
        (stop - (steps - 1 - i) * step), so both ends are exact; integer dtypes truncate the float values.
        """
        start, stop = number_arg(start, "linspace", "start"), number_arg(stop, "linspace", "stop")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ArgumentError(f"linspace: steps must be an int >= 0, got {steps!r}")
        steps = int(steps)
        dt = dtype_arg(dtype, dtypes.default_float, "linspace")
        dev = device_arg(device, "linspace")
        check_supported(dt, dev, "linspace")
        calc = dtypes.float64 if dt in (dtypes.float64, dtypes.int64) else dtypes.float32
        if steps <= 1:
            c = const_uop(calc, start, dev).reshape((1,)).expand((steps,))
            return cls._leaf(c.cast(dt), requires_grad, "linspace")
        # the step in the computing type, as PyTorch computes it: (stop - start) / (steps - 1)
        np_calc = np.float64 if calc == dtypes.float64 else np.float32
        step = float((np_calc(stop) - np_calc(start)) / np_calc(steps - 1))
        i = index_range(steps, dtypes.int32, dev)
        fi = i.cast(calc)
        from_start = full_uop(fi, start) + fi * full_uop(fi, step)
        from_stop = full_uop(fi, stop) - (full_uop(fi, steps - 1) - fi) * full_uop(fi, step)
        first_half = i.alu(Ops.CMPLT, full_uop(i, steps // 2))
        return cls._leaf(first_half.where(from_start, from_stop).cast(dt), requires_grad, "linspace")

    @classmethod
    def eye(
        cls,
        n: int,
        m: int | None = None,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """The n x m identity matrix (ones on the main diagonal; m defaults to n)."""
        rows, cols = shape_arg((n, n if m is None else m), "eye")
        dt, dev = dtype_arg(dtype, dtypes.default_float, "eye"), device_arg(device, "eye")
        check_supported(dt, dev, "eye")
        k = min(rows, cols)
        one = const_uop(dt, 1, dev)
        # a column of k ones padded to (k, k + 1): read flat and as (k, k), element (i, j) is at i*k + j,
        # which is a multiple of k + 1 (a one) exactly where i == j
        square = (
            one.reshape((1, 1))
            .expand((k, 1))
            .pad(((0, 0), (0, k)))
            .reshape((k * (k + 1),))
            .shrink(((0, k * k),))
            .reshape((k, k))
        )
        return cls._leaf(square.pad(((0, rows - k), (0, cols - k))), requires_grad, "eye")


def full_uop(like: UOp, value: Scalar) -> UOp:
    """A constant of `like`'s dtype, device and shape."""
    assert like.shape is not None and like.device is not None
    c = const_uop(like.dtype, value, like.device)
    return c.reshape((1,) * len(like.shape)).expand(like.shape) if like.shape else c
