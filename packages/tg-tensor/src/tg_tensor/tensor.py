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
from typing import Self

from tg_tensor import multi
from tg_tensor.autograd import compute_gradient, full_like
from tg_tensor.core import TensorCore
from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import Scalar
from tg_tensor.sharding import ShardingMixin
from tg_uop.ops import Ops
from tg_uop.uop import UOp

# tensors holding an assign that has not run yet: TinyJit realizes them when it captures, so updates that no
# output depends on (running statistics) are part of the capture. Keyed by id: a WeakSet would compare two
# references to one tensor with Tensor.__eq__, which builds a tensor (and fails for a 0-d one)
_pending_assigns: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def flush_pending_assigns() -> list[Tensor]:
    """The tensors with an assign not yet realized. Tensors realized since are forgotten; the pending ones stay
    registered until they are realized, so a realize that fails leaves them pending."""
    for key, t in list(_pending_assigns.items()):
        if t.uop.op is not Ops.ASSIGN:
            del _pending_assigns[key]
    return list(_pending_assigns.values())


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


class Tensor(ShardingMixin):  # the operations live in one module per kind, stacked on TensorCore (core.py)
    """A lazy tensor. See the package README for the supported operations.

    `requires_grad=True` makes `backward()` fill `.grad`. Gradients come from rules over the graph
    (`tg_tensor.autograd`); a tensor remembers only the tensors it was computed from that need gradients.
    """

    __slots__ = ()

    def assign(self, x: Self | Scalar) -> Self:
        """Write `x` into this tensor's buffer (lazily: it happens when this tensor is next realized).

        The tensor is realized first if it has no buffer yet. Shapes and dtypes must match.
        """
        if not isinstance(x, TensorCore):
            x = self.full(self.shape, x, self.dtype, self.device)
        if x.shape != self.shape:
            raise ArgumentError(f"assign: shape {x.shape} does not match the target's shape {self.shape}")
        if x.dtype != self.dtype:
            raise ArgumentError(f"assign: dtype {x.dtype!r} does not match the target's dtype {self.dtype!r}")
        if x.device != self.device:
            raise ArgumentError(f"assign: device {x.device} does not match the target's device {self.device}")
        xu = x.uop
        if not multi.is_realized(self.uop):
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

    def _leaves(self) -> dict[UOp, list[Self]]:
        # leaves by the graph they had when used: a leaf realized or updated since still gets its gradient
        leaves: dict[UOp, list[Self]] = {} if self._parents else {self.uop: [self]}
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

    def _seed(self, gradient: Self | None, op: str) -> UOp:
        if gradient is None and self.numel() != 1:  # one element needs no gradient argument, as in PyTorch
            raise RuntimeError(f"{op}: a gradient is needed for a non-scalar tensor of shape {self.shape}")
        if gradient is not None and gradient.shape != self.shape:
            raise ArgumentError(f"{op}: gradient of shape {gradient.shape} for a tensor of shape {self.shape}")
        root = self._diff_uop
        return full_like(root, 1.0) if gradient is None else gradient.cast(self.dtype).uop

    def backward(self, gradient: Self | None = None) -> Self:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf tensor with requires_grad that self depends on.

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward().shape, x.grad.tolist()
        ((), [2.0, 4.0])
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no input had requires_grad=True)")
        seed = self._seed(gradient, "backward")
        leaves = self._leaves()
        grads = compute_gradient(self._diff_uop, seed, leaves.keys())
        for u, g in grads.items():
            for leaf in leaves[u]:
                gt = self._wrap(multi.lower(g) if multi.is_multi(self._diff_uop) else g)
                leaf.grad = gt if leaf.grad is None else leaf.grad + gt
        return self

    def gradient(self, *targets: Self, gradient: Self | None = None) -> list[Self]:
        """d(self)/d(target) for each target, as new tensors; `.grad` is left alone. A target self does not
        depend on gets zeros. Targets may be intermediate tensors, not only leaves, and need not have
        `requires_grad` (tinygrad's explicit API: the graph self was built as is differentiated).

        >>> x = Tensor([3.0], requires_grad=True)
        >>> y = x * x
        >>> [g.tolist() for g in (y * 2).sum().gradient(x, y)]
        [[12.0], [2.0]]
        """
        seed = self._seed(gradient, "gradient")
        want = [t._diff_uop for t in targets]
        grads = compute_gradient(self._diff_uop, seed, want)
        # from a root on a device tuple, a gradient on one device still holds MULTI nodes: lowered here
        low = multi.lower if multi.is_multi(self._diff_uop) else (lambda g: g)
        return [self._wrap(low(grads[u])) if u in grads else t.zeros_like() for u, t in zip(want, targets)]
