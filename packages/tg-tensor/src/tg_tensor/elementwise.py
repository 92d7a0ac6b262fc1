"""Elementwise operations: arithmetic with broadcasting and Python scalars, comparisons, math functions,
activations, where.

>>> from tg_tensor import Tensor
>>> (Tensor([1.0, -2.0]) * 3 + 1).relu().tolist()
[4.0, 0.0]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tg_tensor.autograd import full_like
from tg_tensor.helpers import Scalar, _broadcast_shape, _const, _scalar_dtype
from tg_uop.dtype import dtypes, least_upper_dtype, least_upper_float
from tg_uop.ops import Ops

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor


class ElementwiseMixin:
    """Elementwise operations; mixed into `Tensor`."""

    __slots__ = ()

    def _broadcasted(self, y: Tensor | Scalar, reverse: bool = False, op: str = "op") -> tuple[Tensor, Tensor]:
        x = self
        if not isinstance(y, type(self)):
            y = self._wrap(_const(_scalar_dtype(x.dtype, y), y, x.device))
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
        if isinstance(x, type(self)):
            x, y = x._broadcasted(y, op="where")
        elif isinstance(y, type(self)):
            y, x = y._broadcasted(x, op="where")
        else:
            dt = least_upper_dtype(dtypes.from_py(x), dtypes.from_py(y))
            x = self._wrap(_const(dt, x, self.device))
            y = self._wrap(_const(dt, y, self.device))
        assert isinstance(x, type(self)) and isinstance(y, type(self))
        shape = _broadcast_shape(self.shape, x.shape, "where")
        cond = self.cast(dtypes.bool)._broadcast_to(shape)
        return cond._apply(lambda c, a, b: c.alu(Ops.WHERE, a, b), x._broadcast_to(shape), y._broadcast_to(shape))
