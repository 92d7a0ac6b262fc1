"""`Tensor`: a lazy n-dimensional array. Operations build a tensor graph of UOps; nothing runs until a value
is needed (`realize`, `numpy`, `item`, `tolist`), then tg-schedule cuts the graph into kernels and runs them.

>>> from tg_tensor import Tensor
>>> a = Tensor([[1.0, 2.0], [3.0, 4.0]])
>>> (a @ a).sum(axis=1).tolist()
[17.0, 37.0]
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, ClassVar

import numpy as np

from tg_runtime.buffer import Buffer
from tg_runtime.device import Device, canonicalize
from tg_schedule.item import ScheduleItem
from tg_schedule.run import realize as realize_uops
from tg_schedule.schedule import create_schedule
from tg_tensor.autograd import compute_gradient, full_like
from tg_tensor.creation import CreationMixin
from tg_tensor.elementwise import ElementwiseMixin
from tg_tensor.functional import FunctionalMixin
from tg_tensor.helpers import _NP_TO_DTYPE, Scalar, _const, _from_numpy, _to_np_dtype
from tg_tensor.indexing import IndexingMixin
from tg_tensor.movement import MovementMixin
from tg_tensor.nn_ops import NNOpsMixin
from tg_tensor.random import RandomMixin
from tg_tensor.reduce import ReduceMixin
from tg_uop.dtype import DType, dtypes
from tg_uop.helpers import prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp

# tensors holding an assign that has not run yet: TinyJit realizes them when it captures, so updates that no
# output depends on (running statistics) are part of the capture. Keyed by id: a WeakSet would compare two
# references to one tensor with Tensor.__eq__, which builds a tensor (and fails for a 0-d one)
_pending_assigns: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def flush_pending_assigns() -> list[Tensor]:
    """The tensors with an assign not yet realized (and forget them)."""
    out = [t for t in list(_pending_assigns.values()) if t.uop.op is Ops.ASSIGN]
    _pending_assigns.clear()
    return out


class _Mode(contextlib.ContextDecorator):
    """Sets a boolean class attribute of Tensor inside a `with` block (or a decorated function)."""

    def __init__(self, name: str, value: bool) -> None:
        self.name, self.value = name, value
        self.saved: list[bool] = []

    def __enter__(self) -> _Mode:
        self.saved.append(getattr(Tensor, self.name))
        setattr(Tensor, self.name, self.value)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(Tensor, self.name, self.saved.pop())


def no_grad() -> _Mode:
    """`with no_grad():` (or `@no_grad()`): tensors made inside record no gradient graph, as in PyTorch.

    >>> x = Tensor([1.0], requires_grad=True)
    >>> with no_grad():
    ...     print((x * 2).requires_grad)
    None
    """
    return _Mode("no_grad", True)


class Tensor(  # the operations live in one module per kind, mixed in here
    ElementwiseMixin,
    ReduceMixin,
    MovementMixin,
    IndexingMixin,
    FunctionalMixin,
    NNOpsMixin,
    CreationMixin,
    RandomMixin,
):
    """A lazy tensor. See the package README for the supported operations.

    `requires_grad=True` makes `backward()` fill `.grad`. Gradients come from rules over the graph
    (`tg_tensor.autograd`); a tensor remembers only the tensors it was computed from that need gradients.
    """

    __slots__ = ("uop", "requires_grad", "grad", "_graph", "_parents", "__weakref__")
    # _parents: (tensor, the graph it had when this one was built) for each input that requires grad
    training: ClassVar[bool] = False  # dropout and batch statistics apply only while True (`Tensor.train()`)
    no_grad: ClassVar[bool] = False  # while True, new tensors record no gradient graph (`tg_tensor.no_grad()`)

    def __init__(
        self,
        data: Any,
        device: str | None = None,
        dtype: DType | None = None,
        requires_grad: bool | None = None,
    ) -> None:
        dev = canonicalize(device) if device is not None else Device.DEFAULT
        if isinstance(data, np.generic):  # a numpy scalar is a 0-d array
            data = np.asarray(data)
        if isinstance(data, UOp):
            uop = data if dtype is None else data.cast(dtype)
        elif isinstance(data, (bool, int, float)) and requires_grad:
            # a buffer of its own: equal constants are one hash-consed UOp, and backward tells leaves apart by
            # their UOp (two Tensor(2.0, requires_grad=True) would share one gradient)
            dt = dtype or dtypes.from_py(data)
            uop = _from_numpy(np.array(data, dtype=_to_np_dtype(dt)), dev, dt)
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
        return int(prod(self.shape))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def _diff_uop(self) -> UOp:
        # the graph gradients flow through: the graph this tensor was built as, even after it was realized
        return self._graph if self._graph is not None else self.uop

    def _apply(self, fn: Any, *others: Tensor) -> Tensor:
        parents = (self, *others)
        out = Tensor.__new__(Tensor)
        out.uop = fn(*(p.uop for p in parents))
        out.grad, out._graph, out._parents, out.requires_grad = None, None, (), None
        needs = () if Tensor.no_grad else tuple((p, p._diff_uop) for p in parents if p.requires_grad)
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

    def _set_grad(self, requires_grad: bool | None) -> Tensor:
        t = self.detach()
        t.requires_grad = requires_grad
        return t

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
        xu = x.uop
        if self.uop.base.op is not Ops.BUFFER:
            pending = self.uop
            self.realize()
            # x may read this tensor's old graph (a pending assign): read the value just realized instead of
            # computing that graph again, which would apply a pending update twice
            xu = xu.substitute({pending: self.uop})
        self.uop = UOp(Ops.ASSIGN, self.dtype, (self.uop, xu))
        _pending_assigns[id(self)] = self
        return self

    @staticmethod
    def train(mode: bool = True) -> _Mode:
        """`with Tensor.train():` (or as a decorator): `Tensor.training` is `mode` inside, restored after.

        >>> with Tensor.train():
        ...     Tensor.training
        True
        """
        return _Mode("training", mode)

    def _leaves(self) -> dict[UOp, list[Tensor]]:
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
        return leaves

    def _seed(self, gradient: Tensor | None, op: str) -> UOp:
        if gradient is None and self.numel() != 1:  # one element needs no gradient argument, as in PyTorch
            raise RuntimeError(f"{op}: a gradient is needed for a non-scalar tensor of shape {self.shape}")
        if not self.requires_grad:
            raise RuntimeError(f"{op}: this tensor does not require grad (no input had requires_grad=True)")
        if gradient is not None and gradient.shape != self.shape:
            raise ValueError(f"{op}: gradient of shape {gradient.shape} for a tensor of shape {self.shape}")
        root = self._diff_uop
        return full_like(root, 1.0) if gradient is None else gradient.cast(self.dtype).uop

    def backward(self, gradient: Tensor | None = None) -> Tensor:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf tensor with requires_grad that self depends on.

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward().shape, x.grad.tolist()
        ((), [2.0, 4.0])
        """
        seed = self._seed(gradient, "backward")
        leaves = self._leaves()
        grads = compute_gradient(self._diff_uop, seed, leaves.keys())
        for u, g in grads.items():
            for leaf in leaves[u]:
                gt = Tensor._wrap(g)
                leaf.grad = gt if leaf.grad is None else leaf.grad + gt
        return self

    def gradient(self, *targets: Tensor, gradient: Tensor | None = None) -> list[Tensor]:
        """d(self)/d(target) for each target, as new tensors; `.grad` is left alone. A target self does not
        depend on gets zeros. Targets may be intermediate tensors, not only leaves.

        >>> x = Tensor([3.0], requires_grad=True)
        >>> y = x * x
        >>> [g.tolist() for g in (y * 2).sum().gradient(x, y)]
        [[12.0], [2.0]]
        """
        seed = self._seed(gradient, "gradient")
        want = [t._diff_uop for t in targets]
        grads = compute_gradient(self._diff_uop, seed, want)
        return [Tensor._wrap(grads[u]) if u in grads else t.zeros_like() for u, t in zip(want, targets)]

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set `requires_grad` in place (PyTorch's spelling); returns self."""
        self.requires_grad = requires_grad
        return self

    def to(self, device: str) -> Tensor:
        """This tensor on another device (a COPY when realized; the same tensor if it is there already).
        Gradients flow back through the copy.

        >>> Tensor([1, 2]).to("PYTHON").device
        'PYTHON'
        """
        dev = canonicalize(device)
        if dev == self.device:
            return self
        return self._apply(lambda u: UOp(Ops.COPY, u.dtype, (u,), dev))

    def clone(self) -> Tensor:
        """A copy with a buffer of its own (gradients flow through it, as in PyTorch).

        >>> a = Tensor([1, 2]).realize()
        >>> b = a.clone()
        >>> b.realize().buffer() is a.buffer()
        False
        """
        return self.contiguous()

    def cast(self, dtype: DType) -> Tensor:
        return self if self.dtype == dtype else self._apply(lambda u: u.cast(dtype))

    # last in the class: after these, `int`, `float` and `bool` in annotations would name the methods
    def float(self) -> Tensor:
        return self.cast(dtypes.float32)

    def int(self) -> Tensor:
        return self.cast(dtypes.int32)

    def bool(self) -> Tensor:
        return self.cast(dtypes.bool)
