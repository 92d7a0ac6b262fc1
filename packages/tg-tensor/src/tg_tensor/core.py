"""`TensorCore`: what every Tensor operation builds on: the UOp a tensor stands for, its shape, dtype and
device, the gradient bookkeeping, and realizing a value. The operation mixins stack on it, one layer per
kind (movement, elementwise, reduce, creation, random, indexing, functional, nn_ops), and `Tensor` is the top.

>>> from tg_tensor import Tensor
>>> isinstance(Tensor([1.0]), TensorCore)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from tg_runtime.buffer import Buffer
from tg_runtime.device import Device, canonicalize, split_devices
from tg_schedule.item import ScheduleItem
from tg_schedule.schedule import create_schedule
from tg_tensor import multi
from tg_tensor.autograd import full_like, set_custom_gradient
from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import NP_TO_DTYPE, DTypeLike, Scalar, const_uop, dtype_arg, to_np_dtype, uop_from_numpy
from tg_uop.bound import concrete
from tg_uop.dtype import DType, dtypes
from tg_uop.helpers import prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp


class TensorCore:
    """The state of a lazy tensor and the operations on it that need no other layer."""

    __slots__ = ("uop", "requires_grad", "grad", "_graph", "_parents", "__weakref__")
    # _parents: (tensor, the graph it had when this one was built) for each input that requires grad
    training: ClassVar[bool] = False  # dropout and batch statistics apply only while True (`Tensor.train()`)
    no_grad: ClassVar[bool] = False  # while True, new tensors record no gradient graph (`tg_tensor.no_grad()`)

    if TYPE_CHECKING:  # defined by the layers above (creation.py, tensor.py), used by those below them
        # full and arange: any arguments here (creation.py checks them); spelled out, they would repeat creation.py
        @classmethod
        def full(cls, *args: Any, **kwargs: Any) -> Self: ...

        @classmethod
        def ones(
            cls,
            *shape: Any,
            dtype: DTypeLike | None = None,
            device: str | None = None,
            requires_grad: bool | None = None,
        ) -> Self: ...

        @classmethod
        def arange(cls, *args: Any, **kwargs: Any) -> Self: ...

        def zeros_like(
            self, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
        ) -> Self: ...

        def assign(self, x: Self | Scalar) -> Self: ...

        def where(self, x: Self | Scalar, y: Self | Scalar) -> Self: ...

    def __init__(
        self,
        data: Any,
        device: str | None = None,
        dtype: DTypeLike | None = None,
        requires_grad: bool | None = None,
    ) -> None:
        dev = canonicalize(device) if device is not None else Device.DEFAULT
        devices = split_devices(dev)  # data for a device tuple is made on its first device, then replicated
        dev = devices[0]
        if dtype is not None:
            dtype = dtype_arg(dtype, dtypes.default_float, "Tensor")
        if isinstance(data, np.generic):  # a numpy scalar is a 0-d array
            data = np.asarray(data)
        if isinstance(data, UOp):
            uop = data if dtype is None else data.cast(dtype)
        elif isinstance(data, (bool, int, float)) and requires_grad:
            # a buffer of its own: equal constants are one hash-consed UOp, and backward tells leaves apart by
            # their UOp (two Tensor(2.0, requires_grad=True) would share one gradient)
            dt = dtype or dtypes.from_py(data)
            uop = uop_from_numpy(np.array(data, dtype=to_np_dtype(dt)), dev, dt)
        elif isinstance(data, (bool, int, float)):
            uop = const_uop(dtype or dtypes.from_py(data), data, dev)
        elif isinstance(data, bytes):
            uop = uop_from_numpy(np.frombuffer(data, dtype=np.uint8), dev, dtype or dtypes.uint8)
        elif isinstance(data, (list, tuple)):
            dt = dtype or dtypes.from_py(data)
            try:
                arr = np.array(data, dtype=to_np_dtype(dt))
            except ValueError as e:
                raise ArgumentError(f"Tensor: cannot make a tensor from this nested list ({e})") from None
            uop = uop_from_numpy(arr, dev, dt)
        elif isinstance(data, np.ndarray):
            if data.dtype not in NP_TO_DTYPE and dtype is None:
                raise TypeError(f"Tensor: numpy dtype {data.dtype} is not supported")
            uop = uop_from_numpy(data, dev, dtype or NP_TO_DTYPE[data.dtype])
        else:
            raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__}")
        if requires_grad and not uop.dtype.is_float:  # as in PyTorch: a gradient of an integer makes no sense
            raise ArgumentError(f"Tensor: only floating point tensors can require gradients, not {uop.dtype!r}")
        self.uop: UOp = uop if len(devices) == 1 else multi.replicate(uop, devices)
        # None: not decided (an optimizer given this tensor turns it on), as in tinygrad
        self.requires_grad: bool | None = requires_grad
        self.grad: Self | None = None
        self._graph: UOp | None = None
        self._parents: tuple[tuple[Self, UOp], ...] = ()

    __hash__ = object.__hash__  # == builds a comparison tensor, so identity is the hash

    def __repr__(self) -> str:
        grad = " requires_grad" if self.requires_grad else ""
        return f"<Tensor shape={self.shape} dtype={self.dtype!r} device={self.device}{grad}>"

    @property
    def shape(self) -> tuple[int, ...]:
        s = self.uop.shape
        assert s is not None
        return tuple(s)

    @property
    def dtype(self) -> DType:
        return self.uop.dtype

    @property
    def device(self) -> str:
        d = self.uop.device
        assert d is not None
        return d

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        """The element count; for a symbolic shape an integer expression over its bound Variables."""
        size: Any = prod(self.shape)
        return size if isinstance(size, UOp) else int(size)  # type: ignore[return-value]

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        if isinstance(self.shape[0], UOp):  # len() must be an int: a symbolic length is t.shape[0]
            raise TypeError(f"len() of a symbolic axis ({self.shape[0].render()}); use t.shape[0]")
        return self.shape[0]

    @property
    def _diff_uop(self) -> UOp:
        # the graph gradients flow through: the graph this tensor was built as, even after it was realized
        return self._graph if self._graph is not None else self.uop

    def _apply(self, fn: Any, *others: Self) -> Self:
        parents = (self, *others)
        out = type(self).__new__(type(self))
        out.uop = multi.check(fn(*(p.uop for p in parents)))
        out.grad, out._graph, out._parents, out.requires_grad = None, None, (), None
        needs = () if type(self).no_grad else tuple((p, p._diff_uop) for p in parents if p.requires_grad)
        if needs:
            out.requires_grad, out._parents = True, needs
            if any(p._graph is not None for p in parents):
                out._graph = fn(*(p._diff_uop for p in parents))
        return out

    def apply_with_gradient(
        self, forward: Callable[..., Self], backward: Callable[..., Sequence[Self | None]], *others: Self
    ) -> Self:
        """`forward(self, *others)`, whose gradient is `backward(grad, self, *others)` (one tensor or None per
        input, in Tensor operations) instead of the gradients of the operations `forward` is built from.

        >>> from tg_tensor import Tensor
        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> y = x.apply_with_gradient(lambda a: a * a, lambda g, a: (g * a * 2,))  # the gradient of x*x
        >>> y.sum().backward().shape, x.grad.tolist()
        ((), [2.0, 4.0])
        """
        cls = type(self)

        def build(*uops: UOp) -> UOp:
            ins = tuple(cls._wrap(u) for u in uops)  # plain tensors: forward records no gradient graph

            def grads(g: UOp) -> tuple[UOp | None, ...]:
                got = backward(cls._wrap(g), *ins)
                return tuple(None if t is None else t.cast(i.dtype).uop for t, i in zip(got, ins, strict=True))

            return set_custom_gradient(forward(*ins).uop, uops, grads)

        return self._apply(build, *others)

    @classmethod
    def _wrap(cls, u: UOp) -> Self:
        out = cls.__new__(cls)
        out.uop, out.grad, out._graph, out._parents, out.requires_grad = u, None, None, (), None
        return out

    def contiguous(self) -> Self:
        """The same values in a buffer of their own, laid out in order (a kernel, when realized)."""
        return self._apply(lambda u: UOp(Ops.CONTIGUOUS, u.dtype, (u,)))

    def detach(self) -> Self:
        """The same value, cut from the gradient graph (a DETACH node, which kernels ignore)."""
        return self._wrap(UOp(Ops.DETACH, self.dtype, (self.uop,)))

    def schedule(self, *others: Self) -> list[ScheduleItem]:
        """The schedule items realizing these tensors would run (nothing runs)."""
        sched, _ = create_schedule(multi.per_device([t.uop for t in (self, *others)]))
        return sched

    def realize(self, *others: Self) -> Self:
        """Compute this tensor (and `others`, in one schedule). `Tensor.realize(a, b)` works too."""
        ts = (self, *others)
        olds = [t.uop for t in ts]  # read first: a tensor may be given twice
        becomes = multi.realize(olds)
        owner: dict[UOp, TensorCore] = {}
        for t, old in zip(ts, olds, strict=True):
            if t.requires_grad and t._parents and t._graph is None:
                t._graph = old  # keep the graph for backward after the value is realized
            t.uop = becomes[old]
            if not multi.is_realized(old) and owner.setdefault(old, t) is not t:
                # equal graphs are one hash-consed UOp and computed once, but two tensors built apart must not share
                # a buffer: an assign to one (two LayerNorms' Tensor.ones(n)) would change the other
                t.uop = _own_buffer(t.uop)
        return self

    def is_contiguous_buffer(self) -> bool:
        """Whether this tensor is its whole buffer, in order (a realized tensor that is not a view)."""
        u = self.uop
        while u.op is Ops.RESHAPE:
            u = u.src[0]
        return u.op is Ops.BUFFER and u.arg.size == self.numel()

    def buffer(self) -> Buffer:
        """The realized buffer holding this tensor in order (a contiguous copy is made for a view)."""
        return self._contiguous_buffer()

    def replace_uop(self, u: UOp) -> Self:
        """Point this tensor at another graph of the same shape and dtype (used by TinyJit)."""
        if u.shape != self.uop.shape or u.dtype != self.dtype:
            raise ArgumentError(
                f"replace_uop: shape/dtype {u.shape} {u.dtype!r} differ from {self.shape} {self.dtype!r}"
            )
        self.uop = u
        return self

    def _contiguous_buffer(self) -> Buffer:
        if (b := _in_order(self.uop)) is not None:  # realized already: nothing to schedule
            return b
        self.realize()
        u = self.uop
        if (b := _in_order(u)) is not None:
            return b
        if u.op is Ops.MULTI:  # the parts gathered on the first device
            u = multi.lower(UOp(Ops.COPY, u.dtype, (u,), split_devices(self.device)[0]))
        c = self._wrap(UOp(Ops.CONTIGUOUS, u.dtype, (u,))).realize()
        return c._contiguous_buffer()

    def numpy(self) -> np.ndarray:
        """The value as a numpy array (realizing it if needed)."""
        buf = self._contiguous_buffer()
        shape = tuple(concrete(s) for s in self.shape)  # a symbolic shape at its bound values
        data = np.frombuffer(bytes(buf.as_memoryview()), dtype=to_np_dtype(self.dtype))
        return data[: prod(shape)].reshape(shape).copy()

    def item(self) -> Scalar:
        if concrete(self.numel()) != 1:  # a symbolic size counts at its bound value
            raise ArgumentError(f"item: only a tensor of one element has an item, this one has shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Set `requires_grad` in place (PyTorch's spelling); returns self. Only float tensors may require grad."""
        if requires_grad and not self.dtype.is_float:
            raise ArgumentError(f"requires_grad_: only floating point tensors can require gradients, not {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def to(self, device: str | tuple[str, ...]) -> Self:
        """This tensor on another device (a COPY when realized; the same tensor if it is there already).
        Gradients flow back through the copy. A tuple of devices replicates it on each (see `shard`).

        >>> from tg_tensor import Tensor
        >>> Tensor([1, 2]).to("PYTHON").device
        'PYTHON'
        >>> Tensor([1, 2]).to(("CPU:0", "CPU:1")).device
        'CPU,CPU:1'
        """
        dev = canonicalize(device if isinstance(device, str) else ",".join(device))
        if dev == self.device:
            return self
        if "," in dev:
            return self._apply(lambda u: multi.replicate(u, split_devices(dev)))
        return self._apply(lambda u: UOp(Ops.COPY, u.dtype, (u,), dev))

    def clone(self) -> Self:
        """A copy with a buffer of its own (gradients flow through it, as in PyTorch).

        >>> from tg_tensor import Tensor
        >>> a = Tensor([1, 2]).realize()
        >>> b = a.clone()
        >>> b.realize().buffer() is a.buffer()
        False
        """
        return self.contiguous()

    def cast(self, dtype: DTypeLike) -> Self:
        """The values converted to `dtype` (a tg dtype or its name, e.g. `"float16"`). Float to integer truncates
        toward zero, and is the same on every device where C leaves it undefined: NaN gives 0, a value past the
        integer type's range its min or max (as OpenCL's `convert_T_sat`).

        >>> from tg_tensor import Tensor
        >>> Tensor([1.7, -2.5]).cast("int").tolist()
        [1, -2]
        >>> Tensor([float("nan"), float("inf"), -1e20, 300.0, -2.7]).cast("int8").tolist()
        [0, 127, -128, 127, -2]
        """
        dtype = dtype_arg(dtype, None, "cast")
        if self.dtype == dtype:
            return self
        if self.dtype.is_float and dtype.is_int:
            return self._apply(lambda u: saturating_cast(u, dtype))
        return self._apply(lambda u: u.cast(dtype))

    # last in the class: after these, `int`, `float` and `bool` in annotations would name the methods
    def float(self) -> Self:
        return self.cast(dtypes.float32)

    def int(self) -> Self:
        return self.cast(dtypes.int32)

    def bool(self) -> Self:
        return self.cast(dtypes.bool)


def _in_order(u: UOp) -> Buffer | None:
    """The buffer `u` is, in order, or None: reshapes of a whole buffer are still that buffer; a symbolic size is
    the buffer's first elements."""
    while u.op is Ops.RESHAPE or (u.op is Ops.SHRINK and _symbolic_prefix(u)):
        u = u.src[0]
    return u.arg if u.op is Ops.BUFFER else None


def _symbolic_prefix(u: UOp) -> bool:
    # SHRINK(BUFFER, (0, size)) with a symbolic size: how a realized symbolic tensor sits in its buffer
    return u.src[0].op is Ops.BUFFER and u.arg[0][0] == 0 and isinstance(u.arg[0][1], UOp)


def saturating_cast(u: UOp, dtype: DType) -> UOp:
    """Float `u` to integer `dtype`: NaN -> 0, at or past the range -> min or max, else truncated."""
    lo, hi = dtype.min, dtype.max
    src_max = float(u.dtype.max)
    # the bounds as the float type holds them (2**31 - 1 rounds up to 2**31, past float16's range is inf)
    f_hi = float(hi) if float(hi) <= src_max else float("inf")
    f_lo = float(lo) if -float(lo) <= src_max else float("-inf")
    inside = (full_like(u, f_lo) < u).where(u.cast(dtype), full_like(u, lo, dtype))
    out = (u < full_like(u, f_hi)).where(inside, full_like(u, hi, dtype))
    return u.ne(u).where(full_like(u, 0, dtype), out)


def _own_buffer(u: UOp) -> UOp:
    """`u` (movement ops over realized buffers, on one device or several) over copies of those buffers."""
    bufs = [b for b in u.toposort() if b.op is Ops.BUFFER]
    return u.substitute({b: UOp(Ops.BUFFER, b.dtype, (), b.arg.copy_to(b.arg.device)) for b in bufs})
