"""`Tensor`: a lazy n-dimensional array. Operations build a tensor graph of UOps; nothing runs until a value
is needed (`realize`, `numpy`, `item`, `tolist`), then tg-schedule cuts the graph into kernels and runs them.

>>> from tg_tensor import Tensor
>>> a = Tensor([[1.0, 2.0], [3.0, 4.0]])
>>> (a @ a).sum(axis=1).tolist()
[17.0, 37.0]
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tg_runtime.buffer import Buffer
from tg_runtime.device import Device, canonicalize
from tg_schedule.item import ScheduleItem
from tg_schedule.run import realize as realize_uops
from tg_schedule.schedule import create_schedule
from tg_tensor.autograd import compute_gradient, full_like
from tg_uop.dtype import DType, dtypes, least_upper_dtype, least_upper_float
from tg_uop.helpers import normalize_axis, prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp

Scalar = int | float | bool
_HOST = "PYTHON"  # host memory: data from Python and numpy lands here before it is copied to its device

_NP_TO_DTYPE = {np.dtype(d.fmt): d for d in dtypes.all() if d.fmt is not None}

# tensors holding an assign that has not run yet: TinyJit realizes them when it captures, so updates that no
# output depends on (running statistics) are part of the capture
_pending_assigns: weakref.WeakSet[Tensor] = weakref.WeakSet()


def flush_pending_assigns() -> list[Tensor]:
    """The tensors with an assign not yet realized (and forget them)."""
    out = [t for t in list(_pending_assigns) if t.uop.op is Ops.ASSIGN]
    _pending_assigns.clear()
    return out


def _to_np_dtype(dt: DType) -> np.dtype:
    if dt.fmt is None:
        raise TypeError(f"{dt!r} has no numpy equivalent")
    return np.dtype(dt.fmt)


class Tensor:
    """A lazy tensor. See the package README for the supported operations.

    `requires_grad=True` makes `backward()` fill `.grad`. Gradients come from rules over the graph
    (`tg_tensor.autograd`); a tensor remembers only the tensors it was computed from that need gradients.
    """

    __slots__ = ("uop", "requires_grad", "grad", "_graph", "_parents", "__weakref__")
    # _parents: (tensor, the graph it had when this one was built) for each input that requires grad
    training: ClassVar[bool] = False
    _rng: ClassVar[np.random.Generator] = np.random.default_rng(0)

    def __init__(
        self,
        data: Any,
        device: str | None = None,
        dtype: DType | None = None,
        requires_grad: bool | None = None,
    ) -> None:
        dev = canonicalize(device) if device is not None else Device.DEFAULT
        if isinstance(data, UOp):
            uop = data if dtype is None else data.cast(dtype)
        elif isinstance(data, (bool, int, float)):
            uop = _const(dtype or dtypes.from_py(data), data, dev)
        elif isinstance(data, bytes):
            uop = _from_numpy(np.frombuffer(data, dtype=np.uint8), dev, dtype or dtypes.uint8)
        elif isinstance(data, (list, tuple)):
            dt = dtype or dtypes.from_py(data)
            try:
                arr = np.array(data, dtype=_to_np_dtype(dt))
            except ValueError as e:
                raise ValueError(f"Tensor: cannot make a tensor from this nested list ({e})") from None
            uop = _from_numpy(arr, dev, dt)
        elif isinstance(data, np.ndarray):
            if data.dtype not in _NP_TO_DTYPE and dtype is None:
                raise TypeError(f"Tensor: numpy dtype {data.dtype} is not supported")
            uop = _from_numpy(data, dev, dtype or _NP_TO_DTYPE[data.dtype])
        else:
            raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__}")
        self.uop: UOp = uop
        # None: not decided (an optimizer given this tensor turns it on), as in tinygrad
        self.requires_grad: bool | None = requires_grad
        self.grad: Tensor | None = None
        self._graph: UOp | None = None
        self._parents: tuple[tuple[Tensor, UOp], ...] = ()

    def __repr__(self) -> str:
        grad = " requires_grad" if self.requires_grad else ""
        return f"<Tensor shape={self.shape} dtype={self.dtype!r} device={self.device}{grad}>"

    __hash__ = object.__hash__

    # ---- properties ----

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
        return int(prod(self.shape))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ---- building the graph ----

    @property
    def _diff_uop(self) -> UOp:
        # the graph gradients flow through: the graph this tensor was built as, even after it was realized
        return self._graph if self._graph is not None else self.uop

    def _apply(self, fn: Any, *others: Tensor) -> Tensor:
        parents = (self, *others)
        out = Tensor.__new__(Tensor)
        out.uop = fn(*(p.uop for p in parents))
        out.grad, out._graph, out._parents, out.requires_grad = None, None, (), None
        needs = tuple((p, p._diff_uop) for p in parents if p.requires_grad)
        if needs:
            out.requires_grad, out._parents = True, needs
            if any(p._graph is not None for p in parents):
                out._graph = fn(*(p._diff_uop for p in parents))
        return out

    @staticmethod
    def _wrap(u: UOp) -> Tensor:
        out = Tensor.__new__(Tensor)
        out.uop, out.grad, out._graph, out._parents, out.requires_grad = u, None, None, (), None
        return out

    def contiguous(self) -> Tensor:
        """The same values in a buffer of their own, laid out in order (a kernel, when realized)."""
        return self._apply(lambda u: UOp(Ops.CONTIGUOUS, u.dtype, (u,)))

    def detach(self) -> Tensor:
        """The same value, cut from the gradient graph (a DETACH node, which kernels ignore)."""
        return Tensor._wrap(UOp(Ops.DETACH, self.dtype, (self.uop,)))

    # ---- creation ----

    @staticmethod
    def full(
        shape: Sequence[int] | int, fill_value: Scalar, dtype: DType | None = None, device: str | None = None
    ) -> Tensor:
        """A tensor of one value (a broadcast constant: no memory until it is realized)."""
        shp = _shape_arg((shape,) if isinstance(shape, int) else tuple(shape), "full")
        dev = canonicalize(device) if device is not None else Device.DEFAULT
        c = _const(dtype or dtypes.from_py(fill_value), fill_value, dev)
        return Tensor._wrap(c.reshape((1,) * len(shp)).expand(shp) if shp else c)

    @staticmethod
    def zeros(*shape: Any, dtype: DType | None = None, device: str | None = None) -> Tensor:
        return Tensor.full(_varargs(shape), 0.0 if dtype is None else 0, dtype or dtypes.default_float, device)

    @staticmethod
    def ones(*shape: Any, dtype: DType | None = None, device: str | None = None) -> Tensor:
        return Tensor.full(_varargs(shape), 1.0 if dtype is None else 1, dtype or dtypes.default_float, device)

    def zeros_like(self) -> Tensor:
        return Tensor.full(self.shape, 0, self.dtype, self.device)

    def ones_like(self) -> Tensor:
        return Tensor.full(self.shape, 1, self.dtype, self.device)

    @staticmethod
    def arange(
        start: int, stop: int | None = None, step: int = 1, dtype: DType | None = None, device: str | None = None
    ) -> Tensor:
        if stop is None:
            start, stop = 0, start
        return Tensor(np.arange(start, stop, step), device=device, dtype=dtype or dtypes.default_int)

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Seed the random number generator (host-side for now; see the README)."""
        Tensor._rng = np.random.default_rng(seed)

    @staticmethod
    def rand(
        *shape: Any, dtype: DType | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Tensor:
        """Uniform in [0, 1)."""
        shp = _shape_arg(_varargs(shape), "rand")
        dt = dtype or dtypes.default_float
        data = Tensor._rng.random(shp).astype(_to_np_dtype(dt))
        return Tensor(data, device=device, dtype=dt, requires_grad=requires_grad)

    @staticmethod
    def randn(
        *shape: Any, dtype: DType | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Tensor:
        """Standard normal."""
        shp = _shape_arg(_varargs(shape), "randn")
        dt = dtype or dtypes.default_float
        data = Tensor._rng.standard_normal(shp).astype(_to_np_dtype(dt))
        return Tensor(data, device=device, dtype=dt, requires_grad=requires_grad)

    @staticmethod
    def uniform(*shape: Any, low: float = 0.0, high: float = 1.0, **kwargs: Any) -> Tensor:
        return (
            Tensor.rand(*shape, **{k: v for k, v in kwargs.items() if k != "requires_grad"}) * (high - low) + low
        )._set_grad(kwargs.get("requires_grad"))

    @staticmethod
    def kaiming_uniform(*shape: Any, a: float = 0.01, **kwargs: Any) -> Tensor:
        """He-uniform init for a weight of shape (out, in, ...): bound sqrt(6 / ((1 + a^2) * fan_in))."""
        shp = _varargs(shape)
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + a**2)) / math.sqrt(prod(shp[1:]))
        return Tensor.uniform(*shp, low=-bound, high=bound, **kwargs)

    def _set_grad(self, requires_grad: bool | None) -> Tensor:
        t = self.detach()
        t.requires_grad = requires_grad
        return t

    # ---- realization ----

    def schedule(self, *others: Tensor) -> list[ScheduleItem]:
        """The schedule items realizing these tensors would run (nothing runs)."""
        sched, _ = create_schedule([t.uop for t in (self, *others)])
        return sched

    def realize(self, *others: Tensor) -> Tensor:
        """Compute this tensor (and `others`, in one schedule). `Tensor.realize(a, b)` works too."""
        ts = (self, *others)
        becomes = realize_uops([t.uop for t in ts])
        for t in ts:
            if t.requires_grad and t._parents and t._graph is None:
                t._graph = t.uop  # keep the graph for backward after the value is realized
            t.uop = becomes[t.uop]
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

    def replace_uop(self, u: UOp) -> Tensor:
        """Point this tensor at another graph of the same shape and dtype (used by TinyJit)."""
        if u.shape != self.uop.shape or u.dtype != self.dtype:
            raise ValueError(f"replace_uop: shape/dtype {u.shape} {u.dtype!r} differ from {self.shape} {self.dtype!r}")
        self.uop = u
        return self

    def _contiguous_buffer(self) -> Buffer:
        self.realize()
        u = self.uop
        while u.op is Ops.RESHAPE:  # reshapes of a whole buffer are still that buffer, in order
            u = u.src[0]
        if u.op is Ops.BUFFER:
            return u.arg  # type: ignore[no-any-return]
        c = Tensor._wrap(UOp(Ops.CONTIGUOUS, u.dtype, (u,))).realize()
        return c._contiguous_buffer()

    def numpy(self) -> np.ndarray:
        """The value as a numpy array (realizing it if needed)."""
        buf = self._contiguous_buffer()
        data = np.frombuffer(bytes(buf.as_memoryview()), dtype=_to_np_dtype(self.dtype))
        return data.reshape(self.shape).copy()

    def item(self) -> Scalar:
        if self.numel() != 1:
            raise ValueError(f"item: only a tensor of one element has an item, this one has shape {self.shape}")
        return self.numpy().reshape(()).item()  # type: ignore[no-any-return]

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def assign(self, x: Tensor | Scalar) -> Tensor:
        """Write `x` into this tensor's buffer (lazily: it happens when this tensor is next realized).

        The tensor is realized first if it has no buffer yet. Shapes and dtypes must match.
        """
        if not isinstance(x, Tensor):
            x = Tensor.full(self.shape, x, self.dtype, self.device)
        if x.shape != self.shape:
            raise ValueError(f"assign: shape {x.shape} does not match the target's shape {self.shape}")
        if x.dtype != self.dtype:
            raise ValueError(f"assign: dtype {x.dtype!r} does not match the target's dtype {self.dtype!r}")
        if x.device != self.device:
            raise ValueError(f"assign: device {x.device} does not match the target's device {self.device}")
        if self.uop.base.op is not Ops.BUFFER:
            self.realize()
        self.uop = UOp(Ops.ASSIGN, self.dtype, (self.uop, x.uop))
        _pending_assigns.add(self)
        return self

    # ---- autograd ----

    def backward(self, gradient: Tensor | None = None) -> Tensor:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf tensor with requires_grad that self depends on."""
        if gradient is None and self.shape != ():
            raise RuntimeError(f"backward: a gradient is needed for a non-scalar tensor of shape {self.shape}")
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no input had requires_grad=True)")
        # leaves by the graph they had when used: a leaf realized or updated since still gets its gradient
        leaves: dict[UOp, list[Tensor]] = {} if self._parents else {self.uop: [self]}
        seen: set[int] = {id(self)}
        stack = [self]
        while stack:
            for p, used_as in stack.pop()._parents:
                if not p._parents:
                    if not any(t is p for t in leaves.setdefault(used_as, [])):
                        leaves[used_as].append(p)
                elif id(p) not in seen:
                    seen.add(id(p))
                    stack.append(p)
        root = self._diff_uop
        seed = full_like(root, 1.0) if gradient is None else gradient.uop
        grads = compute_gradient(root, seed, leaves.keys())
        for u, g in grads.items():
            for leaf in leaves[u]:
                gt = Tensor._wrap(g)
                leaf.grad = gt if leaf.grad is None else leaf.grad + gt
        return self

    # ---- elementwise ----

    def _broadcasted(self, y: Tensor | Scalar, reverse: bool = False, op: str = "op") -> tuple[Tensor, Tensor]:
        x = self
        if not isinstance(y, Tensor):
            y = Tensor._wrap(_const(_scalar_dtype(x.dtype, y), y, x.device))
        if x.device != y.device:
            raise ValueError(f"{op}: tensors on different devices ({x.device} and {y.device})")
        if reverse:
            x, y = y, x
        out_dt = least_upper_dtype(x.dtype, y.dtype)
        shape = _broadcast_shape(x.shape, y.shape, op)
        return x.cast(out_dt)._broadcast_to(shape), y.cast(out_dt)._broadcast_to(shape)

    def _broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        if self.shape == shape:
            return self
        padded = (1,) * (len(shape) - self.ndim) + self.shape
        return self.reshape(padded).expand(shape)

    def _binary(
        self, op: Ops, y: Tensor | Scalar, reverse: bool = False, name: str = "op", swap: bool = False
    ) -> Tensor:
        # reverse: `y op self` as the user wrote it (reflected operators); swap: `self > y` computed as `y < self`
        a, b = self._broadcasted(y, reverse, name)
        if swap:
            a, b = b, a
        return a._apply(lambda u, v: u.alu(op, v), b)

    def add(self, y: Tensor | Scalar) -> Tensor:
        return self._binary(Ops.ADD, y, name="add")

    def sub(self, y: Tensor | Scalar) -> Tensor:
        return self._binary(Ops.SUB, y, name="sub")

    def mul(self, y: Tensor | Scalar) -> Tensor:
        return self._binary(Ops.MUL, y, name="mul")

    def div(self, y: Tensor | Scalar, reverse: bool = False) -> Tensor:
        """True division: integer inputs give the default float."""
        a, b = self._broadcasted(y, reverse, "div")
        dt = least_upper_float(a.dtype)
        return a.cast(dt)._apply(lambda u, v: u.alu(Ops.FDIV, v), b.cast(dt))

    def __add__(self, y: Tensor | Scalar) -> Tensor:
        return self.add(y)

    def __radd__(self, y: Scalar) -> Tensor:
        return self._binary(Ops.ADD, y, True, "add")

    def __sub__(self, y: Tensor | Scalar) -> Tensor:
        return self.sub(y)

    def __rsub__(self, y: Scalar) -> Tensor:
        return self._binary(Ops.SUB, y, True, "sub")

    def __mul__(self, y: Tensor | Scalar) -> Tensor:
        return self.mul(y)

    def __rmul__(self, y: Scalar) -> Tensor:
        return self._binary(Ops.MUL, y, True, "mul")

    def __truediv__(self, y: Tensor | Scalar) -> Tensor:
        return self.div(y)

    def __rtruediv__(self, y: Scalar) -> Tensor:
        return self.div(y, reverse=True)

    def __neg__(self) -> Tensor:
        return self.neg()

    def __matmul__(self, y: Tensor) -> Tensor:
        return self.matmul(y)

    def __lt__(self, y: Tensor | Scalar) -> Tensor:  # type: ignore[override]
        return self._binary(Ops.CMPLT, y, name="lt")

    def __gt__(self, y: Tensor | Scalar) -> Tensor:  # type: ignore[override]
        return self._binary(Ops.CMPLT, y, name="gt", swap=True)

    def __le__(self, y: Tensor | Scalar) -> Tensor:  # type: ignore[override]
        return self._binary(Ops.CMPLT, y, name="le", swap=True).logical_not()

    def __ge__(self, y: Tensor | Scalar) -> Tensor:  # type: ignore[override]
        return self._binary(Ops.CMPLT, y, name="ge").logical_not()

    def __eq__(self, y: Tensor | Scalar) -> Tensor:  # type: ignore[override]
        return self._binary(Ops.CMPEQ, y, name="eq")

    def __ne__(self, y: Tensor | Scalar) -> Tensor:  # type: ignore[override]
        return self._binary(Ops.CMPNE, y, name="ne")

    def logical_not(self) -> Tensor:
        return self.cast(dtypes.bool)._apply(lambda u: u.alu(Ops.CMPNE, full_like(u, True)))

    def neg(self) -> Tensor:
        return self.logical_not() if self.dtype.is_bool else self._apply(lambda u: u.alu(Ops.NEG))

    def _float_unary(self, op: Ops) -> Tensor:
        return self.cast(least_upper_float(self.dtype))._apply(lambda u: u.alu(op))

    def exp(self) -> Tensor:
        return (self.cast(least_upper_float(self.dtype)) * (1 / math.log(2)))._float_unary(Ops.EXP2)

    def exp2(self) -> Tensor:
        return self._float_unary(Ops.EXP2)

    def log(self) -> Tensor:
        return self._float_unary(Ops.LOG2) * math.log(2)

    def log2(self) -> Tensor:
        return self._float_unary(Ops.LOG2)

    def sqrt(self) -> Tensor:
        return self._float_unary(Ops.SQRT)

    def sin(self) -> Tensor:
        return self._float_unary(Ops.SIN)

    def reciprocal(self) -> Tensor:
        return self._float_unary(Ops.RECIP)

    def relu(self) -> Tensor:
        return (self > 0).where(self, 0)

    def sigmoid(self) -> Tensor:
        return (1 + (-self).exp()).reciprocal()

    def tanh(self) -> Tensor:
        return 2.0 * (2.0 * self).sigmoid() - 1.0

    def maximum(self, y: Tensor | Scalar) -> Tensor:
        return self._binary(Ops.MAX, y, name="maximum")

    def minimum(self, y: Tensor | Scalar) -> Tensor:
        a, b = self._broadcasted(y, op="minimum")
        return -((-a).maximum(-b))

    def where(self, x: Tensor | Scalar, y: Tensor | Scalar) -> Tensor:
        """Elementwise `x if self else y` (self is the condition, as in tinygrad)."""
        if isinstance(x, Tensor):
            x, y = x._broadcasted(y, op="where")
        elif isinstance(y, Tensor):
            y, x = y._broadcasted(x, op="where")
        else:
            dt = least_upper_dtype(dtypes.from_py(x), dtypes.from_py(y))
            x = Tensor._wrap(_const(dt, x, self.device))
            y = Tensor._wrap(_const(dt, y, self.device))
        assert isinstance(x, Tensor) and isinstance(y, Tensor)
        shape = _broadcast_shape(self.shape, x.shape, "where")
        cond = self.cast(dtypes.bool)._broadcast_to(shape)
        return cond._apply(lambda c, a, b: c.alu(Ops.WHERE, a, b), x._broadcast_to(shape), y._broadcast_to(shape))

    def cast(self, dtype: DType) -> Tensor:
        return self if self.dtype == dtype else self._apply(lambda u: u.cast(dtype))

    # ---- reductions ----

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

    def sparse_categorical_crossentropy(self, labels: Tensor) -> Tensor:
        """Mean cross-entropy of logits `self` (N, C) against integer class labels (N,)."""
        if self.ndim != 2 or labels.shape != self.shape[:1]:
            raise ValueError(
                f"sparse_categorical_crossentropy: logits {self.shape} and labels {labels.shape} do not match"
            )
        classes = Tensor.arange(self.shape[1], device=self.device).reshape(1, self.shape[1])
        one_hot = (labels.reshape(self.shape[0], 1) == classes).float()
        return -(self.log_softmax(-1) * one_hot).sum(-1).mean()

    # ---- movement ----

    def reshape(self, *shape: Any) -> Tensor:
        new = _varargs(shape)
        if sum(1 for s in new if s == -1) > 1:
            raise ValueError(f"reshape: only one dimension can be -1, got {new}")
        if any((not isinstance(s, int)) or s < -1 for s in new):
            raise ValueError(f"reshape: invalid shape {new}")
        if -1 in new:
            known = prod(s for s in new if s != -1)
            if known == 0 or self.numel() % known:
                raise ValueError(f"reshape: cannot reshape tensor of shape {self.shape} to {new}")
            new = tuple(self.numel() // known if s == -1 else s for s in new)
        if prod(new) != self.numel():
            raise ValueError(f"reshape: cannot reshape tensor of shape {self.shape} (size {self.numel()}) to {new}")
        return self if new == self.shape else self._apply(lambda u: u.reshape(new))

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def permute(self, *order: Any) -> Tensor:
        o = tuple(normalize_axis(a, self.ndim, "permute") for a in _varargs(order))
        if sorted(o) != list(range(self.ndim)):
            raise ValueError(f"permute: {_varargs(order)} is not a permutation of the axes of shape {self.shape}")
        return self._apply(lambda u: u.permute(o))

    def expand(self, *shape: Any) -> Tensor:
        want = _varargs(shape)
        if len(want) < self.ndim:
            raise ValueError(f"expand: cannot expand shape {self.shape} to {want}")
        src = (1,) * (len(want) - self.ndim) + self.shape
        new = tuple(s if w == -1 else w for s, w in zip(src, want, strict=True))
        if any(s != n and s != 1 for s, n in zip(src, new, strict=True)):
            raise ValueError(f"expand: cannot expand shape {self.shape} to {want}")
        return self.reshape(src)._apply(lambda u: u.expand(new))

    def transpose(self, dim0: int = 1, dim1: int = 0) -> Tensor:
        order = list(range(self.ndim))
        a, b = normalize_axis(dim0, self.ndim, "transpose"), normalize_axis(dim1, self.ndim, "transpose")
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def pad(self, padding: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
        """Pad each axis by (before, after) elements of `value` (one pair per axis, from the first axis)."""
        arg = tuple((int(b), int(a)) for b, a in padding)
        if len(arg) != self.ndim or any(b < 0 or a < 0 for b, a in arg):
            raise ValueError(f"pad: need one (before, after) pair >= 0 per axis of shape {self.shape}, got {padding}")
        out = self._apply(lambda u: u.pad(arg))
        if value == 0:
            return out
        inside = Tensor.ones(*self.shape, dtype=dtypes.bool, device=self.device)._apply(lambda u: u.pad(arg))
        return inside.where(out, value)

    def shrink(self, arg: Sequence[tuple[int, int]]) -> Tensor:
        """Keep elements [begin, end) of each axis (one pair per axis)."""
        bounds = tuple((int(b), int(e)) for b, e in arg)
        if len(bounds) != self.ndim or any(not 0 <= b <= e <= s for (b, e), s in zip(bounds, self.shape, strict=True)):
            raise ValueError(f"shrink: {arg} is not inside shape {self.shape}")
        return self._apply(lambda u: u.shrink(bounds))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = normalize_axis(start_dim, self.ndim, "flatten"), normalize_axis(end_dim, self.ndim, "flatten")
        return self.reshape(*self.shape[:s], prod(self.shape[s : e + 1]), *self.shape[e + 1 :])

    def unsqueeze(self, dim: int) -> Tensor:
        d = normalize_axis(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(*self.shape[:d], 1, *self.shape[d:])

    # ---- linear algebra ----

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

    # last in the class: after these, `int`, `float` and `bool` in annotations would name the methods
    def float(self) -> Tensor:
        return self.cast(dtypes.float32)

    def int(self) -> Tensor:
        return self.cast(dtypes.int32)

    def bool(self) -> Tensor:
        return self.cast(dtypes.bool)


def _varargs(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _shape_arg(shape: tuple[Any, ...], op: str) -> tuple[int, ...]:
    if any(not isinstance(s, int) or s < 0 for s in shape):
        raise ValueError(f"{op}: invalid shape {shape}")
    return tuple(shape)


def _const(dtype: DType, value: Scalar, device: str) -> UOp:
    return UOp.const(dtype, value, (UOp(Ops.DEVICE, arg=device),))


def _from_numpy(arr: np.ndarray, device: str, dtype: DType) -> UOp:
    data = np.ascontiguousarray(arr.astype(_to_np_dtype(dtype), copy=False))
    buf = Buffer(_HOST, int(data.size), dtype).copyin(memoryview(data.tobytes()))
    u = UOp(Ops.BUFFER, dtype, (), buf).reshape(tuple(int(s) for s in data.shape))
    return u if device == _HOST else UOp(Ops.COPY, dtype, (u,), device)


def _scalar_dtype(tensor_dtype: DType, y: Scalar) -> DType:
    """The dtype a Python scalar takes next to a tensor: it adapts to the tensor unless its kind is wider."""
    if isinstance(y, bool):
        return tensor_dtype
    if isinstance(y, int):
        return tensor_dtype if not tensor_dtype.is_bool else dtypes.default_int
    return tensor_dtype if tensor_dtype.is_float else dtypes.default_float


def _broadcast_shape(a: tuple[int, ...], b: tuple[int, ...], op: str) -> tuple[int, ...]:
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(pa, pb, strict=True):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {a} and {b} cannot be broadcast together")
        out.append(y if x == 1 else x)
    return tuple(out)
