"""Elementwise operations: arithmetic with broadcasting and Python scalars, comparisons, math functions,
activations, logical and bitwise ops, where, and dtype casts.

Everything is composed from the ALU ops of the tensor graph (plus CAST and BITCAST), so gradients come from
the rules in `tg_tensor.autograd` and a chain of elementwise ops fuses into one kernel.

Operands are broadcast (numpy rules) and promoted to one dtype with `tg_uop.dtype.least_upper_dtype`; a
Python scalar is weak (it takes the tensor's dtype unless its kind is wider: `int_tensor * 1.5` is a float).
Choices where PyTorch and tinygrad differ, or where tg differs from both:

- Integer `//` and `%` floor like Python and PyTorch (`-7 // 2 == -4`, `-7 % 2 == 1`). An integer division by
  zero gives 0 for both (PyTorch raises at run time; a kernel cannot), and never traps.
- Float `//` is `floor(a / b)` and `%` is `a - b * floor(a / b)`. PyTorch computes them from an exact fmod, so
  where `a / b` rounds up to a whole number they differ by one step: `1.0 // 0.1` is 10 here, 9 in PyTorch.
- `pow` with a small whole-number scalar exponent multiplies (exact for integers, gradient 0 at 0, as PyTorch);
  other exponents use exp2/log2, with the sign of a negative base taken from an odd whole exponent and NaN for
  a fractional one. Integer tensors to a negative scalar power raise, as in PyTorch; integer tensor exponents
  that are negative give 0 (or 1 / -1 for bases 1 / -1), as PyTorch does. The gradient with respect to a
  tensor exponent uses log|base| (PyTorch gives NaN for negative bases).
- `-bool_tensor` is `logical_not` (tinygrad; PyTorch raises). `bool - bool` raises TypeError as in PyTorch.
- `gelu()` is PyTorch's exact GELU (erf); tinygrad's `gelu()` is the tanh approximation, `gelu(approximate="tanh")`.
- `relu`, `clip`, `maximum`, `minimum` and the activations built on them keep NaN (as PyTorch).
- Functions without a primitive are series or fits composed from ALU ops: `erf` (error below 2e-7), `atan`,
  `atan2`, `asin`, `acos` (error below 1e-9, so exact in float32, not quite in float64); `log1p`, `expm1`, `sinh`,
  `tanh`, `asinh`, `atanh` keep full relative precision for tiny arguments. `atan2` does not tell -0 from 0 (for
  y = -0 and x < 0 it gives pi; PyTorch -pi) and gives NaN for two infinities (PyTorch a multiple of pi/4).
- Promotion of two tensors matches `torch.result_type` for bool, int8/16/32/64, uint8 and float16/32/64. A bool
  tensor with a Python int is the default int, int32 (PyTorch: int64).
- In-place forms (`x += y`, ...) are `x.assign(x + y)` as tinygrad: the result is written into x's buffer, seen by
  every view of it once realized, and not recorded for autograd. The result must have x's shape, and a float
  result cannot go into an integer tensor (TypeError, as PyTorch).
- `clip` passes the gradient to `x` where `min <= x <= max` (PyTorch's clamp); `maximum`/`minimum` share it
  equally between tied operands (PyTorch too).
- `floor`, `ceil`, `round`, `trunc` and `sign` pass a zero gradient to their input, as PyTorch; comparisons,
  whose results are bool, pass none.
- Shifts by a negative amount or by the bit width or more give 0 (`>>` of a negative value gives -1), as
  PyTorch; shifts of two bool tensors raise, as PyTorch.

>>> from tg_tensor import Tensor
>>> (Tensor([1.0, -2.0]) * 3 + 1).relu().tolist()
[4.0, 0.0]
>>> (Tensor([-7, 7]) // 2).tolist(), (Tensor([-7, 7]) % 3).tolist()
([-4, 3], [2, 1])
>>> (Tensor([0.5, 1.5, 2.5]).round()).tolist()
[0.0, 2.0, 2.0]
>>> (Tensor([12, 10]) & 6).tolist(), (Tensor([1, 2]) << 3).tolist()
([4, 2], [8, 16])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Self, TypeVar

from tg_tensor.autograd import full_like
from tg_tensor.core import TensorCore
from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import DTypeLike, Scalar, broadcast_shape, const_uop, dtype_arg, scalar_dtype
from tg_tensor.movement import MovementMixin
from tg_uop.dtype import DType, dtypes, least_upper_dtype, least_upper_float
from tg_uop.ops import Ops

T = TypeVar("T", bound="ElementwiseMixin")  # the tensor type the module's helper functions take and return


# whole-number scalar exponents up to this size are computed by multiplication (at most 2*log2 of it products)
_MAX_MUL_POW = 64
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _cast_to(dtype: DType, name: str) -> Callable[[T], T]:
    """A method casting to one dtype (PyTorch's shorthands: `half`, `double`, ...)."""

    def cast_to(self: T) -> T:
        return self.cast(dtype)

    cast_to.__name__, cast_to.__qualname__ = name, f"ElementwiseMixin.{name}"
    cast_to.__doc__ = f"Cast to {dtype.name}."
    return cast_to


class ElementwiseMixin(MovementMixin):
    """Elementwise operations; mixed into `Tensor`."""

    __slots__ = ()

    # ------------------------------------------------------------------ broadcasting and helpers

    def _broadcasted(self, y: Self | Scalar, reverse: bool = False, op: str = "op") -> tuple[Self, Self]:
        x = self
        if not isinstance(y, type(self)):
            if not isinstance(y, (bool, int, float)):
                raise TypeError(f"{op}: cannot combine a tensor with {type(y).__name__}")
            y = self._wrap(const_uop(scalar_dtype(x.dtype, y), y, x.device))
        if x.device != y.device:
            raise ArgumentError(f"{op}: tensors on different devices ({x.device} and {y.device})")
        if reverse:
            x, y = y, x
        out_dt = least_upper_dtype(x.dtype, y.dtype)
        shape = broadcast_shape(x.shape, y.shape, op)
        return x.cast(out_dt)._broadcast_to(shape), y.cast(out_dt)._broadcast_to(shape)

    def _broadcast_to(self, shape: tuple[int, ...]) -> Self:
        if self.shape == shape:
            return self
        padded = (1,) * (len(shape) - self.ndim) + self.shape
        return self.reshape(padded).expand(shape)

    def _alu(self, op: Ops, *others: Self) -> Self:
        # operands already share shape and dtype
        return self._apply(lambda u, *vs: u.alu(op, *vs), *others)

    def _full_like(self, value: Scalar, dtype: DType | None = None) -> Self:
        """A constant of this tensor's shape and device (its dtype unless given); not part of the gradient graph."""
        return self._wrap(full_like(self.uop, value, dtype))

    def _binary(self, op: Ops, y: Self | Scalar, reverse: bool = False, name: str = "op", swap: bool = False) -> Self:
        # reverse: `y op self` as the user wrote it (reflected operators); swap: `self > y` computed as `y < self`
        a, b = self._broadcasted(y, reverse, name)
        if swap:
            a, b = b, a
        return a._alu(op, b)

    # ------------------------------------------------------------------ arithmetic

    def add(self, y: Self | Scalar) -> Self:
        """`self + y` (for bools: logical or, as PyTorch)."""
        return self._binary(Ops.ADD, y, name="add")

    def sub(self, y: Self | Scalar, reverse: bool = False) -> Self:
        """`self - y`. Two bool operands raise TypeError (use `^` or `logical_xor`), as in PyTorch."""
        a, b = self._broadcasted(y, reverse, "sub")
        if a.dtype.is_bool:
            raise TypeError("sub: subtracting bool tensors is not supported, use ^ or logical_xor")
        return a._alu(Ops.SUB, b)

    def mul(self, y: Self | Scalar) -> Self:
        """`self * y` (for bools: logical and)."""
        return self._binary(Ops.MUL, y, name="mul")

    def div(self, y: Self | Scalar, reverse: bool = False, rounding_mode: str | None = None) -> Self:
        """True division (integer inputs give the default float); `rounding_mode` "trunc" or "floor" rounds the
        quotient and keeps integer dtypes, as PyTorch.

        >>> from tg_tensor import Tensor
        >>> Tensor([7, -7]).div(2, rounding_mode="trunc").tolist()
        [3, -3]
        """
        if rounding_mode == "floor":
            return self.floordiv(y, reverse)
        if rounding_mode == "trunc":
            a, b = self._broadcasted(y, reverse, "div")
            if a.dtype.is_float:
                return a.div(b).trunc()
            _refuse_bool(a.dtype, "div")
            return _int_divmod(a, b, floor=False)[0]
        if rounding_mode is not None:
            raise ArgumentError(f"div: rounding_mode must be None, 'trunc' or 'floor', not {rounding_mode!r}")
        a, b = self._broadcasted(y, reverse, "div")
        dt = least_upper_float(a.dtype)
        return a.cast(dt)._alu(Ops.FDIV, b.cast(dt))

    def floordiv(self, y: Self | Scalar, reverse: bool = False) -> Self:
        """`self // y`: the quotient rounded toward minus infinity (Python's and PyTorch's rule).

        >>> from tg_tensor import Tensor
        >>> Tensor([7, -7, 7]).floordiv(Tensor([2, 2, -2])).tolist()
        [3, -4, -4]
        """
        a, b = self._broadcasted(y, reverse, "floordiv")
        if a.dtype.is_float:
            return a.div(b).floor()
        _refuse_bool(a.dtype, "floordiv")
        return _int_divmod(a, b, floor=True)[0]

    def floor_divide(self, y: Self | Scalar) -> Self:
        """PyTorch's name for `//`."""
        return self.floordiv(y)

    def mod(self, y: Self | Scalar, reverse: bool = False) -> Self:
        """`self % y` with the sign of `y` (Python's rule, PyTorch's `remainder`).

        >>> from tg_tensor import Tensor
        >>> Tensor([7, -7, 7]).mod(Tensor([3, 3, -3])).tolist()
        [1, 2, -2]
        """
        a, b = self._broadcasted(y, reverse, "mod")
        if a.dtype.is_float:
            return a - b * a.div(b).floor()
        _refuse_bool(a.dtype, "mod")
        return _int_divmod(a, b, floor=True)[1]

    def remainder(self, y: Self | Scalar) -> Self:
        """PyTorch's name for `%`."""
        return self.mod(y)

    def pow(self, y: Self | Scalar, reverse: bool = False) -> Self:
        """`self ** y` (see the module notes for integers and negative bases).

        >>> from tg_tensor import Tensor
        >>> (Tensor([-2.0, 3.0]) ** 3).tolist(), (2 ** Tensor([0, 3])).tolist()
        ([-8.0, 27.0], [1, 8])
        """
        if not reverse and isinstance(y, (bool, int, float)):
            return self._pow_scalar(y)
        a, b = self._broadcasted(y, reverse, "pow")
        if a.dtype.is_bool:
            raise TypeError("pow: not supported for two bool operands")
        if not a.dtype.is_float:
            return _int_pow(a, b)
        if reverse and not isinstance(y, type(self)) and y == 1:
            return b._full_like(True, dtypes.bool).where(1.0, b * 0)  # 1 even for NaN and inf exponents (PyTorch)
        if reverse and not isinstance(y, TensorCore) and y > 0:
            return (b * math.log2(y)).exp2()  # a positive constant base: one exp2
        return _float_pow(a, b)

    def _pow_scalar(self, e: Scalar) -> Self:
        x, _ = self._broadcasted(e, op="pow")
        whole = float(e).is_integer()
        if not x.dtype.is_float:
            if e < 0:
                raise ArgumentError(f"pow: integers to negative integer powers are not allowed (exponent {e})")
            return _pow_by_mul(x, int(e))
        if whole and abs(e) <= _MAX_MUL_POW:
            n = int(e)
            if n == 0:
                # 1 even for NaN and inf, as PyTorch; the where keeps x in the graph so its gradient is 0, not missing
                return x._full_like(True, dtypes.bool).where(1.0, x * 0)
            # a negative power as powers of 1/x: its gradient at 0 is -inf as PyTorch's, not inf * 0
            return _pow_by_mul(x if n > 0 else x.reciprocal(), abs(n))
        if e == 0.5:
            return x.sqrt()
        return _float_pow(x, x._full_like(e))

    def __add__(self, y: Self | Scalar) -> Self:
        return self.add(y)

    def __radd__(self, y: Scalar) -> Self:
        return self._binary(Ops.ADD, y, True, "add")

    def __sub__(self, y: Self | Scalar) -> Self:
        return self.sub(y)

    def __rsub__(self, y: Scalar) -> Self:
        return self.sub(y, reverse=True)

    def __mul__(self, y: Self | Scalar) -> Self:
        return self.mul(y)

    def __rmul__(self, y: Scalar) -> Self:
        return self._binary(Ops.MUL, y, True, "mul")

    def __truediv__(self, y: Self | Scalar) -> Self:
        return self.div(y)

    def __rtruediv__(self, y: Scalar) -> Self:
        return self.div(y, reverse=True)

    def __floordiv__(self, y: Self | Scalar) -> Self:
        return self.floordiv(y)

    def __rfloordiv__(self, y: Scalar) -> Self:
        return self.floordiv(y, reverse=True)

    def __mod__(self, y: Self | Scalar) -> Self:
        return self.mod(y)

    def __rmod__(self, y: Scalar) -> Self:
        return self.mod(y, reverse=True)

    def __pow__(self, y: Self | Scalar) -> Self:
        return self.pow(y)

    def __rpow__(self, y: Scalar) -> Self:
        return self.pow(y, reverse=True)

    def __neg__(self) -> Self:
        return self.neg()

    def __abs__(self) -> Self:
        return self.abs()

    # in-place forms: `x += y` writes the result into x's buffer with `assign` (tinygrad's semantics), so every
    # view of x taken before sees it once realized. The result must fit x: same shape (x is not broadcast) and a
    # dtype of no higher kind (an int tensor cannot take a float result, as in PyTorch; a wider one of the same
    # kind is cast down). The update is not recorded for autograd.

    def _inplace(self, result: Self, op: str) -> Self:
        if result.shape != self.shape:
            raise ArgumentError(f"{op}: the result's shape {result.shape} does not fit the target's shape {self.shape}")
        if _KIND_RANK(result.dtype) > _KIND_RANK(self.dtype):
            raise TypeError(f"{op}: the result's dtype {result.dtype!r} cannot be written into {self.dtype!r} in place")
        return self.assign(result.cast(self.dtype))

    def __iadd__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.add(y), "iadd")

    def __isub__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.sub(y), "isub")

    def __imul__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.mul(y), "imul")

    def __itruediv__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.div(y), "itruediv")

    def __ifloordiv__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.floordiv(y), "ifloordiv")

    def __imod__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.mod(y), "imod")

    def __ipow__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.pow(y), "ipow")

    def __iand__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.bitwise_and(y), "iand")

    def __ior__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.bitwise_or(y), "ior")

    def __ixor__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.bitwise_xor(y), "ixor")

    def __ilshift__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.lshift(y), "ilshift")

    def __irshift__(self, y: Self | Scalar) -> Self:
        return self._inplace(self.rshift(y), "irshift")

    def lerp(self, end: Self | Scalar, weight: Self | Scalar) -> Self:
        """`self + weight * (end - self)`.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 2.0]).lerp(Tensor([3.0, 6.0]), 0.25).tolist()
        [1.5, 3.0]
        """
        return self + (end - self) * weight

    # ------------------------------------------------------------------ unary math

    def neg(self) -> Self:
        """`-self` (for bools: logical not, as tinygrad)."""
        return self.logical_not() if self.dtype.is_bool else self._apply(lambda u: u.alu(Ops.NEG))

    def sign(self) -> Self:
        """-1, 0 or 1 in the input's dtype (0 for NaN, as PyTorch); bools stay as they are. Gradient 0."""
        if self.dtype.is_bool:
            return self
        return self._flat((self > 0).cast(self.dtype)._alu(Ops.SUB, (self < 0).cast(self.dtype)))

    def _constant_part(self) -> Self:
        # the input of a step function, cut from the gradient graph (which `_flat` reconnects with gradient 0)
        return self.detach() if self.requires_grad else self

    def _flat(self, result: Self) -> Self:
        """`result` (a step function of self) with a zero gradient back to self, as PyTorch, instead of none."""
        if not self.requires_grad:
            return result
        return self._full_like(True, dtypes.bool).where(result, self.cast(result.dtype))

    def abs(self) -> Self:
        """|self|, as `self * sign(self)`: the gradient is sign(x), 0 at 0 (PyTorch's)."""
        if self.dtype.is_bool or self.dtype.is_unsigned:
            return self
        return self * self.sign()

    def square(self) -> Self:
        return self * self

    def _float_unary(self, op: Ops) -> Self:
        return self.cast(least_upper_float(self.dtype))._apply(lambda u: u.alu(op))

    def exp(self) -> Self:
        return (self.cast(least_upper_float(self.dtype)) * (1 / math.log(2)))._float_unary(Ops.EXP2)

    def exp2(self) -> Self:
        return self._float_unary(Ops.EXP2)

    def log(self) -> Self:
        return self._float_unary(Ops.LOG2) * math.log(2)

    def log2(self) -> Self:
        return self._float_unary(Ops.LOG2)

    def log10(self) -> Self:
        """The base-10 logarithm."""
        return self._float_unary(Ops.LOG2) * (math.log(2) / math.log(10))

    def sqrt(self) -> Self:
        return self._float_unary(Ops.SQRT)

    def rsqrt(self) -> Self:
        """1 / sqrt(self)."""
        return self.sqrt().reciprocal()

    def sin(self) -> Self:
        return self._float_unary(Ops.SIN)

    def cos(self) -> Self:
        """cos(x) as sin(pi/2 - x)."""
        return (math.pi / 2 - self.cast(least_upper_float(self.dtype))).sin()

    def tan(self) -> Self:
        return self.sin() / self.cos()

    def reciprocal(self) -> Self:
        return self._float_unary(Ops.RECIP)

    def log1p(self) -> Self:
        """log(1 + x), accurate for tiny x.

        With u = 1 + x rounded, log(u) * x / (u - 1) is exact to rounding (the factor corrects the rounding of u);
        the factor is detached because its own derivative is 0 in exact arithmetic but noise in floats.

        >>> from tg_tensor import Tensor
        >>> x = Tensor([1e-10])
        >>> x.log1p().item() == x.item()
        True
        """
        x = self.cast(least_upper_float(self.dtype))
        u = 1 + x
        # only near 0 does rounding u matter; there the factor is finite unless u == 1, where log1p(x) = x
        fix = (x.abs() < 0.5) & (u != 1)
        factor = fix.where(x / fix.where(u - 1, 1.0), 1.0).detach()
        return (u == 1).where(x, u.log() * factor)

    def expm1(self) -> Self:
        """exp(x) - 1, accurate for tiny x (with u = exp(x) rounded: (u - 1) * x / log(u), Kahan's trick)."""
        x = self.cast(least_upper_float(self.dtype))
        u = x.exp()
        # only near 0 does rounding u matter (and away from it log(u) can be off by more than x's rounding)
        fix = (x.abs() < 0.5) & (u != 1)
        factor = fix.where(x / fix.where(u.log(), 1.0), 1.0).detach()
        return (u == 1).where(x, (u - 1) * factor)

    def erf(self) -> Self:
        """The error function: a Taylor series near 0, else 1 - erfc from a Chebyshev fit (relative error of erfc
        below 1.2e-7, Numerical Recipes' erfcc)."""
        x = self.cast(least_upper_float(self.dtype))
        small = x.abs() < 0.5
        # 2/sqrt(pi) * sum (-1)^n z^(2n+1) / (n! (2n+1)); the first omitted term is below 2e-8 for |z| < 0.5
        xs = small.where(x, 0.0)  # the unused branch must not overflow, or its zero gradient becomes NaN
        coeffs = [(-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(7)]
        series = _horner(xs * xs, coeffs) * xs * (2 / math.sqrt(math.pi))
        z = x.abs()
        t = (1 + 0.5 * z).reciprocal()
        fit = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
               0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277]  # fmt: skip
        erfc = t * (_horner(t, fit) - z * z).exp()
        return small.where(series, (x < 0).where(erfc - 1, 1 - erfc))

    def atan(self) -> Self:
        """Arctangent. The argument is reduced to |t| <= tan(pi/8) (atan(x) = pi/4 + atan((x-1)/(x+1)) and
        atan(x) = pi/2 - atan(1/x)), then a Taylor series: absolute error below 1e-9."""
        x = self.cast(least_upper_float(self.dtype))
        s = (x < 0).where(-1.0, 1.0)  # a constant sign, so no gradient flows through it (unlike sign())
        ax = x * s
        big, mid = ax > 1 + math.sqrt(2), ax > math.sqrt(2) - 1
        t_big = -big.where(x, 1.0).reciprocal()  # guarded: 1/0 in the unused branch would make NaN gradients
        xm = big.where(0.0, x)
        t_mid = (xm - s) / (1 + xm * s)
        t = big.where(t_big, mid.where(t_mid, x))
        offset = big.where(s * (math.pi / 2), mid.where(s * (math.pi / 4), 0.0))
        return offset + _atan_series(t)

    def atan2(self, other: Self | Scalar) -> Self:
        """The angle of the point (x=other, y=self), in [-pi, pi] (PyTorch's `atan2(self, other)`).

        The series argument is min(|y|,|x|) / max(|y|,|x|), so nothing divides by 0 except at (0, 0) (which gives 0,
        gradient 0). Differs from PyTorch for signed zeros (y = -0 with x < 0 gives pi, not -pi) and where both
        are infinite (NaN, not a multiple of pi/4).

        >>> from tg_tensor import Tensor
        >>> round(Tensor([1.0]).atan2(Tensor([-1.0])).item(), 4)
        2.3562
        """
        y, x = self._broadcasted(other, op="atan2")
        dt = least_upper_float(y.dtype)
        y, x = y.cast(dt), x.cast(dt)
        swap = y.abs() > x.abs()
        den = swap.where(y, x)
        ratio = swap.where(x, y) / (den == 0).where(1.0, den)
        a = _atan_series_reduced(ratio)
        y_sign = (y < 0).where(-1.0, 1.0)
        steep = y_sign * (math.pi / 2) - a
        flat = a + (x < 0).where(y_sign * math.pi, 0.0)
        return swap.where(steep, flat)

    def asin(self) -> Self:
        """Arcsine, as atan2(x, sqrt((1 - x)(1 + x))) (NaN outside [-1, 1])."""
        x = self.cast(least_upper_float(self.dtype))
        return x.atan2(((1 - x) * (1 + x)).sqrt())

    def acos(self) -> Self:
        """Arccosine, as atan2(sqrt((1 - x)(1 + x)), x): accurate near 1, where pi/2 - asin(x) is not."""
        x = self.cast(least_upper_float(self.dtype))
        return ((1 - x) * (1 + x)).sqrt().atan2(x)

    def sinh(self) -> Self:
        """Hyperbolic sine: from expm1 for |x| < 1 (no cancellation), else exp(|x| - ln 2) - exp(-|x| - ln 2)."""
        x = self.cast(least_upper_float(self.dtype))
        small = x.abs() < 1
        xs = small.where(x, 0.0)  # the unused branch must not overflow, or its zero gradient becomes NaN
        near = 0.5 * (xs.expm1() - (-xs).expm1())
        s = (x < 0).where(-1.0, 1.0)
        ax = x * s
        far = s * ((ax - math.log(2)).exp() - (-ax - math.log(2)).exp())
        return small.where(near, far)

    def cosh(self) -> Self:
        """Hyperbolic cosine, as exp(x - ln 2) + exp(-x - ln 2) (finite up to where cosh itself overflows)."""
        x = self.cast(least_upper_float(self.dtype))
        return (x - math.log(2)).exp() + (-x - math.log(2)).exp()

    def asinh(self) -> Self:
        """Inverse hyperbolic sine: log1p(a + a^2 / (1 + sqrt(1 + a^2))) for a = |x|, log(2a) where a^2 would
        swamp the 1."""
        x = self.cast(least_upper_float(self.dtype))
        neg = x < 0
        a = neg.where(-x, x)  # |x| through where: the gradient at 0 is 1, not 0 as through abs
        big = a > _sqrt_eps_inverse(x.dtype)
        a_small, a_big = big.where(0.0, a), big.where(a, 1.0)  # unused branches must not overflow (NaN gradients)
        near = (a_small + a_small * a_small / (1 + (1 + a_small * a_small).sqrt())).log1p()
        far = a_big.log() + math.log(2)
        r = big.where(far, near)
        return neg.where(-r, r)

    def acosh(self) -> Self:
        """Inverse hyperbolic cosine: log1p(t + sqrt(t (t + 2))) with t = x - 1 (exact near 1), log(2x) for large
        x; NaN below 1."""
        x = self.cast(least_upper_float(self.dtype))
        big = x > _sqrt_eps_inverse(x.dtype)
        t = big.where(0.0, x - 1)
        near = (t + t.sqrt() * (t + 2).sqrt()).log1p()  # not sqrt(t (t + 2)): NaN, not inf, for huge negative x
        far = big.where(x, 1.0).log() + math.log(2)
        return big.where(far, near)

    def atanh(self) -> Self:
        """Inverse hyperbolic tangent, as log1p(2x / (1 - x)) / 2 (inf at 1, NaN outside [-1, 1])."""
        x = self.cast(least_upper_float(self.dtype))
        return 0.5 * (2 * x / (1 - x)).log1p()

    def frac(self) -> Self:
        """The fractional part, x - trunc(x), with the sign of x (PyTorch's `frac`)."""
        return self - self.trunc()

    def trunc(self) -> Self:
        """Round toward zero. Integer tensors are returned as they are."""
        return self._flat(self._apply(lambda u: u.alu(Ops.TRUNC))) if self.dtype.is_float else self

    def floor(self) -> Self:
        """Round toward minus infinity."""
        if not self.dtype.is_float:
            return self
        x = self._constant_part()
        t = x.trunc()
        return self._flat((t > x).where(t - 1, t))

    def ceil(self) -> Self:
        """Round toward plus infinity."""
        if not self.dtype.is_float:
            return self
        x = self._constant_part()
        t = x.trunc()
        return self._flat((t < x).where(t + 1, t))

    def round(self, decimals: int = 0) -> Self:
        """Round to the nearest whole number, halves to even (as PyTorch and numpy: 2.5 -> 2, 3.5 -> 4).
        With `decimals`, round(x * 10**decimals) / 10**decimals (PyTorch's rule)."""
        if not self.dtype.is_float:
            return self
        if decimals != 0:
            scale = 10.0**decimals
            return (self * scale).round() / scale
        x = self._constant_part()
        f = x.floor()
        frac = x - f  # exact: both are floats of the same binade or f is 0
        half = f * 0.5
        f_is_even = half.trunc() == half
        up = (frac > 0.5) | ((frac == 0.5) & f_is_even.logical_not())
        return self._flat(up.where(f + 1, f))

    # ------------------------------------------------------------------ activations

    def relu(self) -> Self:
        """max(x, 0); NaN stays NaN, the gradient at 0 is 0 (as PyTorch)."""
        if not self.dtype.is_float:
            return (self > 0).where(self, 0)
        return (self > 0).where(self, self.isnan().where(self, 0.0))

    def relu6(self) -> Self:
        """min(max(x, 0), 6)."""
        return self.clip(0, 6)

    def leaky_relu(self, neg_slope: float = 0.01) -> Self:
        """x for x > 0, else neg_slope * x."""
        return (self > 0).where(self, self * neg_slope)

    def _neg_part(self) -> Self:
        # x where x <= 0, else 0: the exp of it never overflows, so gradients of unused branches stay finite
        return (self > 0).where(0.0, self)

    def elu(self, alpha: float = 1.0) -> Self:
        """x for x > 0, else alpha * (exp(x) - 1)."""
        x = self.cast(least_upper_float(self.dtype))
        return (x > 0).where(x, alpha * (x._neg_part().exp() - 1))

    def celu(self, alpha: float = 1.0) -> Self:
        """x for x > 0, else alpha * (exp(x / alpha) - 1)."""
        x = self.cast(least_upper_float(self.dtype))
        return (x > 0).where(x, alpha * ((x._neg_part() / alpha).exp() - 1))

    def selu(self) -> Self:
        """scale * elu(x, alpha) with the self-normalizing constants."""
        return _SELU_SCALE * self.elu(_SELU_ALPHA)

    def sigmoid(self) -> Self:
        """1 / (1 + exp(-x)), computed from exp(-|x|) so that nothing overflows (nor its gradient)."""
        x = self.cast(least_upper_float(self.dtype))
        neg = x < 0
        e = neg.where(x, -x).exp()  # exp(-|x|); the where keeps the one-sided derivative right at 0
        p = (1 + e).reciprocal()
        return neg.where(e * p, p)

    def tanh(self) -> Self:
        """2 sigmoid(2x) - 1; for |x| < 0.5 the odd Taylor series, which keeps tiny values' precision (and needs no
        log, unlike expm1: only mul/add, so a vectorized kernel keeps its SIMD lanes)."""
        x = self.cast(least_upper_float(self.dtype))
        small = x.abs() < 0.5
        xs = small.where(x, 0.0)
        return small.where(_horner(xs * xs, _TANH_COEFFS) * xs, 2.0 * (2.0 * x).sigmoid() - 1.0)

    def hardsigmoid(self) -> Self:
        """relu6(x + 3) / 6 (PyTorch's)."""
        return (self / 6 + 0.5).clip(0, 1)

    def hardswish(self) -> Self:
        """x * hardsigmoid(x)."""
        return self * self.hardsigmoid()

    def hardtanh(self, min_val: float = -1.0, max_val: float = 1.0) -> Self:
        """clip(x, min_val, max_val)."""
        return self.clip(min_val, max_val)

    def gelu(self, approximate: str = "none") -> Self:
        """GELU as PyTorch: x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))) by default; `approximate="tanh"` gives
        0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), which is what tinygrad's `gelu()` computes.

        >>> from tg_tensor import Tensor
        >>> [round(v, 4) for v in Tensor([-1.0, 1.0]).gelu().tolist()]
        [-0.1587, 0.8413]
        """
        x = self.cast(least_upper_float(self.dtype))
        if approximate == "tanh":
            return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)).tanh())
        if approximate != "none":
            raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
        return 0.5 * x * (1 + (x * (1 / math.sqrt(2))).erf())

    def quick_gelu(self) -> Self:
        """x * sigmoid(1.702 x)."""
        return self * (self * 1.702).sigmoid()

    def silu(self) -> Self:
        """x * sigmoid(x)."""
        return self * self.sigmoid()

    def swish(self) -> Self:
        """The same as `silu`."""
        return self.silu()

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Self:
        """log(1 + exp(beta x)) / beta, as max(bx, 0) + log1p(exp(-|bx|)) so that nothing overflows; x itself
        where beta x > threshold (PyTorch's)."""
        x = self.cast(least_upper_float(self.dtype))
        bx = x * beta
        # MAX shares the gradient at its tie, which makes the derivative at 0 exactly 1/2
        smooth = (bx._alu(Ops.MAX, bx._full_like(0.0)) + (-bx._alu(Ops.MAX, -bx)).exp().log1p()) * (1 / beta)
        return (bx > threshold).where(x, smooth)

    def logsigmoid(self) -> Self:
        """log(sigmoid(x)) = -softplus(-x), without overflow for large |x|."""
        return -((-self).softplus())

    def mish(self) -> Self:
        """x * tanh(softplus(x))."""
        return self * self.softplus().tanh()

    def softsign(self) -> Self:
        """x / (1 + |x|)."""
        return self / (1 + self.abs())

    # ------------------------------------------------------------------ min, max, clip, where

    def maximum(self, y: Self | Scalar) -> Self:
        """Elementwise max (ties share the gradient); NaN if either is NaN (PyTorch's)."""
        a, b = self._broadcasted(y, op="maximum")
        m = a._alu(Ops.MAX, b)
        if not a.dtype.is_float:
            return m
        # the MAX op follows C's fmax, which returns the other operand when one is NaN
        return (a.isnan() | b.isnan()).where(a + b, m)

    def minimum(self, y: Self | Scalar) -> Self:
        """Elementwise min (ties share the gradient)."""
        a, b = self._broadcasted(y, op="minimum")
        if a.dtype.is_float:
            return -((-a).maximum(-b))
        return (a < b).where(a, b)  # negation would wrap around for unsigned integers

    def clip(self, min: Self | Scalar | None = None, max: Self | Scalar | None = None) -> Self:
        """Limit to [min, max] (either may be None; where min > max everything becomes max, as PyTorch).

        >>> from tg_tensor import Tensor
        >>> Tensor([-2.0, 0.5, 3.0]).clip(0, 1).tolist()
        [0.0, 0.5, 1.0]
        """
        if min is None and max is None:
            raise ArgumentError("clip: at least one of min and max must be given")
        for bound in (min, max):
            if isinstance(bound, type(self)):
                broadcast_shape(self.shape, bound.shape, "clip")
        x = self
        if min is not None:
            x = (x < min).where(min, x)
        if max is not None:
            x = (x > max).where(max, x)
        return x

    def clamp(self, min: Self | Scalar | None = None, max: Self | Scalar | None = None) -> Self:
        """PyTorch's name for `clip`."""
        return self.clip(min, max)

    def where(self, x: Self | Scalar, y: Self | Scalar) -> Self:
        """Elementwise `x if self else y` (self is the condition, as in tinygrad)."""
        if isinstance(x, TensorCore):
            x, y = x._broadcasted(y, op="where")
        elif isinstance(y, TensorCore):
            y, x = y._broadcasted(x, op="where")
        else:
            dt = least_upper_dtype(dtypes.from_py(x), dtypes.from_py(y))
            x = self._wrap(const_uop(dt, x, self.device))
            y = self._wrap(const_uop(dt, y, self.device))
        assert isinstance(x, type(self)) and isinstance(y, type(self))
        shape = broadcast_shape(self.shape, x.shape, "where")
        cond = self.cast(dtypes.bool)._broadcast_to(shape)
        return cond._apply(lambda c, a, b: c.alu(Ops.WHERE, a, b), x._broadcast_to(shape), y._broadcast_to(shape))

    # ------------------------------------------------------------------ comparisons

    def __lt__(self, y: Self | Scalar) -> Self:
        return self._binary(Ops.CMPLT, y, name="lt")

    def __gt__(self, y: Self | Scalar) -> Self:
        return self._binary(Ops.CMPLT, y, name="gt", swap=True)

    def __le__(self, y: Self | Scalar) -> Self:
        a, b = self._broadcasted(y, op="le")
        return _less_or_equal(a, b)

    def __ge__(self, y: Self | Scalar) -> Self:
        a, b = self._broadcasted(y, op="ge")
        return _less_or_equal(b, a)

    def __eq__(self, y: Self | Scalar) -> Self:  # type: ignore[override]
        return self._binary(Ops.CMPEQ, y, name="eq")

    def __ne__(self, y: Self | Scalar) -> Self:  # type: ignore[override]
        return self._binary(Ops.CMPNE, y, name="ne")

    def eq(self, y: Self | Scalar) -> Self:
        """`self == y`, as a bool tensor."""
        return self == y

    def ne(self, y: Self | Scalar) -> Self:
        """`self != y`, as a bool tensor."""
        return self != y

    def lt(self, y: Self | Scalar) -> Self:
        """`self < y`, as a bool tensor."""
        return self < y

    def le(self, y: Self | Scalar) -> Self:
        """`self <= y`, as a bool tensor."""
        return self <= y

    def gt(self, y: Self | Scalar) -> Self:
        """`self > y`, as a bool tensor."""
        return self > y

    def ge(self, y: Self | Scalar) -> Self:
        """`self >= y`, as a bool tensor."""
        return self >= y

    def isnan(self) -> Self:
        """True where the value is NaN (never for integers)."""
        return self != self

    def isinf(self, detect_positive: bool = True, detect_negative: bool = True) -> Self:
        """True where the value is +inf (if `detect_positive`) or -inf (if `detect_negative`), as tinygrad.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, float("inf"), -float("inf")]).isinf(detect_negative=False).tolist()
        [False, True, False]
        """
        if not self.dtype.is_float or not (detect_positive or detect_negative):
            return self._full_like(False, dtypes.bool)
        pos, neg = self == math.inf, self == -math.inf
        return (pos | neg) if detect_positive and detect_negative else pos if detect_positive else neg

    def isfinite(self) -> Self:
        """True where the value is neither NaN nor infinite."""
        return (self.isnan() | self.isinf()).logical_not()

    # ------------------------------------------------------------------ logical and bitwise

    def logical_not(self) -> Self:
        """True where the value is 0 (False)."""
        return self.cast(dtypes.bool)._apply(lambda u: u.alu(Ops.CMPNE, full_like(u, True)))

    def _logical(self, op: Ops, y: Self | Scalar, name: str) -> Self:
        a, b = self._broadcasted(y, op=name)
        return a.cast(dtypes.bool)._alu(op, b.cast(dtypes.bool))

    def logical_and(self, y: Self | Scalar) -> Self:
        """True where both are nonzero."""
        return self._logical(Ops.AND, y, "logical_and")

    def logical_or(self, y: Self | Scalar) -> Self:
        """True where either is nonzero."""
        return self._logical(Ops.OR, y, "logical_or")

    def logical_xor(self, y: Self | Scalar) -> Self:
        """True where exactly one is nonzero."""
        return self._logical(Ops.CMPNE, y, "logical_xor")

    def _bitwise(self, op: Ops, y: Self | Scalar, name: str, reverse: bool = False) -> Self:
        a, b = self._broadcasted(y, reverse, name)
        if a.dtype.is_float:
            other = y.dtype if isinstance(y, type(self)) else type(y).__name__
            raise TypeError(f"{name}: needs integer or bool operands, got {self.dtype!r} and {other}")
        return a._alu(op, b)

    def bitwise_and(self, y: Self | Scalar) -> Self:
        """`self & y` on integer or bool tensors."""
        return self._bitwise(Ops.AND, y, "bitwise_and")

    def bitwise_or(self, y: Self | Scalar) -> Self:
        """`self | y` on integer or bool tensors."""
        return self._bitwise(Ops.OR, y, "bitwise_or")

    def bitwise_xor(self, y: Self | Scalar) -> Self:
        """`self ^ y` on integer or bool tensors."""
        return self._bitwise(Ops.XOR, y, "bitwise_xor")

    def bitwise_not(self) -> Self:
        """`~self`: every bit flipped for integers, logical not for bools."""
        if self.dtype.is_bool:
            return self.logical_not()
        if not self.dtype.is_int:
            raise TypeError(f"bitwise_not: needs an integer or bool tensor, got {self.dtype!r}")
        return self._alu(Ops.XOR, self._full_like(self.dtype.max if self.dtype.is_unsigned else -1))

    def _shift(self, left: bool, y: Self | Scalar, reverse: bool = False) -> Self:
        name = "lshift" if left else "rshift"
        a, b = self._broadcasted(y, reverse, name)
        if not a.dtype.is_int:
            raise TypeError(f"{name}: needs integer operands (or a bool tensor with an integer), got {a.dtype!r}")
        bits = 8 * a.dtype.itemsize
        # shifting by a negative amount or by the width or more is undefined in C: PyTorch's results instead
        ok = (b < bits) if a.dtype.is_unsigned else ((b < bits) & (b >= 0))
        shifted = a._alu(Ops.SHL if left else Ops.SHR, ok.where(b, 0))
        if left or a.dtype.is_unsigned:
            return ok.where(shifted, 0)
        return ok.where(shifted, (a < 0).where(a._full_like(-1), 0))

    def lshift(self, y: Self | Scalar) -> Self:
        """`self << y` on integer tensors."""
        return self._shift(True, y)

    def rshift(self, y: Self | Scalar) -> Self:
        """`self >> y` on integer tensors (arithmetic: the sign is kept)."""
        return self._shift(False, y)

    def bitwise_left_shift(self, y: Self | Scalar) -> Self:
        """PyTorch's name for `<<`."""
        return self.lshift(y)

    def bitwise_right_shift(self, y: Self | Scalar) -> Self:
        """PyTorch's name for `>>`."""
        return self.rshift(y)

    def __and__(self, y: Self | Scalar) -> Self:
        return self.bitwise_and(y)

    def __rand__(self, y: Scalar) -> Self:
        return self._bitwise(Ops.AND, y, "bitwise_and", reverse=True)

    def __or__(self, y: Self | Scalar) -> Self:
        return self.bitwise_or(y)

    def __ror__(self, y: Scalar) -> Self:
        return self._bitwise(Ops.OR, y, "bitwise_or", reverse=True)

    def __xor__(self, y: Self | Scalar) -> Self:
        return self.bitwise_xor(y)

    def __rxor__(self, y: Scalar) -> Self:
        return self._bitwise(Ops.XOR, y, "bitwise_xor", reverse=True)

    def __invert__(self) -> Self:
        return self.bitwise_not()

    def __lshift__(self, y: Self | Scalar) -> Self:
        return self.lshift(y)

    def __rlshift__(self, y: Scalar) -> Self:
        return self._shift(True, y, reverse=True)

    def __rshift__(self, y: Self | Scalar) -> Self:
        return self.rshift(y)

    def __rrshift__(self, y: Scalar) -> Self:
        return self._shift(False, y, reverse=True)

    # ------------------------------------------------------------------ dtypes

    half = _cast_to(dtypes.float16, "half")
    double = _cast_to(dtypes.float64, "double")
    long = _cast_to(dtypes.int64, "long")
    short = _cast_to(dtypes.int16, "short")

    def bitcast(self, dtype: DTypeLike) -> Self:
        """The same bits read as another dtype of the same item size (PyTorch's `view(dtype)`).

        >>> from tg_tensor import Tensor, dtypes
        >>> Tensor([1.0]).bitcast(dtypes.int32).tolist()
        [1065353216]
        """
        dtype = dtype_arg(dtype, None, "bitcast")
        if dtype.itemsize != self.dtype.itemsize:
            raise ArgumentError(
                f"bitcast: {self.dtype!r} ({self.dtype.itemsize} bytes) and {dtype!r} ({dtype.itemsize} bytes)"
                " differ in item size"
            )
        return self if dtype == self.dtype else self._apply(lambda u: u.bitcast(dtype))

    # ---------------------------------------------------------------------- helpers over already promoted operands

    # ------------------------------------------------------------------ sign transfer, C remainder, closeness

    def copysign(self, other: Self | Scalar) -> Self:
        """|self| with the sign of `other` (its sign bit: -0.0 and negative NaN count as negative), as
        `torch.copysign`; integers give floats.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, -2.0, 3.0]).copysign(Tensor([-0.0, 1.0, -1.0])).tolist()
        [-1.0, 2.0, -3.0]
        """
        a, b = self._broadcasted(other, op="copysign")
        dt = least_upper_float(a.dtype)
        a, b = a.cast(dt), b.cast(dt)
        bits = {2: dtypes.int16, 4: dtypes.int32, 8: dtypes.int64}[dt.itemsize]
        negative = b._constant_part().bitcast(bits) < 0
        mag = a.abs()
        return b._flat(negative.where(-mag, mag))  # other gets a zero gradient, as in PyTorch

    def fmod(self, other: Self | Scalar) -> Self:
        """The remainder of the division rounded toward zero (C's fmod: the sign of `self`), as `torch.fmod`.
        Floats: x - trunc(x / y) * y (NaN for y = 0); integers: exact (0 for y = 0, as `%` in tg).

        >>> from tg_tensor import Tensor
        >>> Tensor([-7, 7]).fmod(2).tolist(), Tensor([-7.5, 7.5]).fmod(-2).tolist()
        ([-1, 1], [-1.5, 1.5])
        """
        a, b = self._broadcasted(other, op="fmod")
        if a.dtype.is_float:
            return a - a.div(b, rounding_mode="trunc") * b
        _refuse_bool(a.dtype, "fmod")
        r = a.mod(b)
        # Python's remainder has the divisor's sign: move it to the dividend's
        return ((r != 0) & ((r < 0) != (a < 0))).where(r - b, r)

    def logaddexp(self, other: Self | Scalar) -> Self:
        """log(exp(self) + exp(other)) without overflow, as `torch.logaddexp` (-inf with -inf gives -inf).

        >>> from tg_tensor import Tensor
        >>> round(Tensor([1000.0]).logaddexp(Tensor([1000.0])).item(), 3)
        1000.693
        """
        a, b = self._broadcasted(other, op="logaddexp")
        dt = least_upper_float(a.dtype)
        a, b = a.cast(dt), b.cast(dt)
        # equal values (infinities too) add log 2; else the smaller one's share, which is never NaN for infinities
        gap = (a == b).where(0.0, -(a - b).abs())
        return a.maximum(b) + gap.exp().log1p()

    def isclose(self, other: Self | Scalar, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Self:
        """|self - other| <= atol + rtol * |other| elementwise, as `torch.isclose`: equal infinities are close,
        NaN is close to NaN only with `equal_nan`.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 1.1, float("nan")]).isclose(Tensor([1.0 + 1e-6, 1.0, float("nan")]), equal_nan=True).tolist()
        [True, False, True]
        """
        a, b = self._broadcasted(other, op="isclose")
        if not a.dtype.is_float:
            a, b = a.cast(dtypes.float64), b.cast(dtypes.float64)
        diff = (a - b).abs()
        out = (a == b) | (diff.isfinite() & (diff <= atol + rtol * b.abs()))
        return out | (a.isnan() & b.isnan()) if equal_nan else out


def _KIND_RANK(dt: DType) -> int:  # noqa: N802
    return 2 if dt.is_float else (0 if dt.is_bool else 1)


def _refuse_bool(dt: DType, op: str) -> None:
    if dt.is_bool:
        raise TypeError(f"{op}: not supported for two bool operands (cast one to an integer first)")


def _less_or_equal(a: T, b: T) -> T:
    if a.dtype.is_float:  # not (b < a) would be True for NaN
        return a._alu(Ops.CMPLT, b) | a._alu(Ops.CMPEQ, b)
    return b._alu(Ops.CMPLT, a).logical_not()


def _int_divmod(a: T, b: T, floor: bool) -> tuple[T, T]:
    """Quotient and remainder of integer tensors of one dtype, rounded toward minus infinity (`floor`) or zero.

    C's division traps on x / 0 and on MIN / -1, so those divisors are replaced by 1 and fixed up after:
    x / 0 gives 0 (remainder 0), x / -1 gives -x (wrapping for MIN, as PyTorch)."""
    zero = b == 0
    special = (zero | (b == -1)) if not a.dtype.is_unsigned else zero
    d = special.where(1, b)
    q, r = a._alu(Ops.IDIV, d), a._alu(Ops.MOD, d)
    if floor and not a.dtype.is_unsigned:
        # C truncates toward zero: a nonzero remainder whose sign differs from the divisor's is one step off
        off = (r != 0) & ((r < 0) != (d < 0))
        q, r = off.where(q - 1, q), off.where(r + d, r)
    if not a.dtype.is_unsigned:
        q = (b == -1).where(-a, q)
    return zero.where(0, q), r


def _pow_by_mul(x: T, n: int) -> T:
    """x ** n for a whole n >= 0 by repeated squaring (exact for integers, wrapping like PyTorch)."""
    result: T | None = None
    base = x
    while n:
        if n & 1:
            result = base if result is None else result * base
        n >>= 1
        if n:
            base = base * base
    return result if result is not None else x._full_like(1)


def _int_pow(a: T, b: T) -> T:
    """a ** b for integer tensors of one dtype: square-and-multiply over every bit of the exponent, so the
    result wraps exactly as PyTorch's. Negative exponents give 0, except for bases 1 and -1 (as PyTorch)."""
    signed = not a.dtype.is_unsigned
    e = (b < 0).where(0, b) if signed else b
    result, base = a._full_like(1), a
    for bit in range(8 * a.dtype.itemsize - (1 if signed else 0)):
        result = (e._alu(Ops.AND, e._full_like(1 << bit)) != 0).where(result * base, result)
        base = base * base
    if not signed:
        return result
    odd = b._alu(Ops.AND, b._full_like(1)) != 0
    one = a._full_like(1)
    negative_power = (a == 1).where(one, (a == -1).where(odd.where(a._full_like(-1), one), 0))
    return (b < 0).where(negative_power, result)


def _float_pow_value(a: T, b: T) -> T:
    """a ** b for float tensors of one dtype, from exp2(b * log2|a|) with the sign of a negative base."""
    r = (b * a.abs().log2()).exp2()
    whole = b.trunc() == b
    half = b * 0.5
    odd = whole & (half.trunc() != half)
    signed = (a < 0).where(whole.where(odd.where(-r, r), math.nan), r)
    # C's pow (and PyTorch): -inf to a power that is not an odd integer is +inf or +0; -1 ** +-inf is 1
    signed = ((a == -math.inf) & odd.logical_not() & (b == b)).where((b > 0).where(math.inf, 0.0), signed)
    # x ** 0 and 1 ** y are 1 even for NaN and inf
    return ((b == 0) | (a == 1) | ((a == -1) & b.isinf())).where(1.0, signed)


def _float_pow(a: T, b: T) -> T:
    """a ** b with PyTorch's gradients: b * a ** (b - 1) for the base (0, not NaN, at a = 0 for b > 1), and
    a ** b * log(a) for the exponent (0 where a = 0 and b >= 0), instead of the rules' through exp2 and log2."""

    def grads(g: T, x: T, y: T) -> tuple[T, T]:
        at_zero = (x == 0) & (y >= 0)
        base = (y == 0).where(0.0, g * y * _float_pow_value(x, y - 1))  # x ** 0 is constant, even at x = 0
        return base, at_zero.where(0.0, g * _float_pow_value(x, y) * x.log())

    return a.apply_with_gradient(_float_pow_value, grads, b)


def _horner(x: T, coeffs: list[float]) -> T:
    """coeffs[0] + coeffs[1] x + coeffs[2] x^2 + ..., by Horner's rule."""
    acc = x * coeffs[-1] + coeffs[-2]
    for c in reversed(coeffs[:-2]):
        acc = acc * x + c
    return acc


# tanh(x) = sum 2^2n (2^2n - 1) B_2n x^(2n-1) / (2n)!; with |x| < 0.5 the first omitted term is below 1e-8 of tanh
_TANH_COEFFS = [1.0, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075, -929569 / 638512875]

# atan(t) = sum (-1)^n t^(2n+1) / (2n+1); with |t| <= tan(pi/8) the first omitted term (n = 10) is below 5e-10
_ATAN_COEFFS = [(-1) ** n / (2 * n + 1) for n in range(10)]


def _atan_series(t: T) -> T:
    """atan(t) for |t| <= tan(pi/8)."""
    return _horner(t * t, _ATAN_COEFFS) * t


def _atan_series_reduced(t: T) -> T:
    """atan(t) for |t| <= 1: atan(t) = +-pi/4 + atan((t -+ 1) / (1 +- t)) brings |t| below tan(pi/8)."""
    s = (t < 0).where(-1.0, 1.0)
    mid = t * s > math.sqrt(2) - 1
    reduced = mid.where((t - s) / (1 + t * s), t)
    return mid.where(s * (math.pi / 4), 0.0) + _atan_series(reduced)


def _sqrt_eps_inverse(dt: DType) -> float:
    """A value beyond which 1 + a^2 rounds to a^2 in `dt` (2 ** (mantissa bits / 2 + 1))."""
    return {dtypes.float16: 2.0**6, dtypes.bfloat16: 2.0**5, dtypes.float64: 2.0**27}.get(dt, 2.0**13)
