"""Elementwise ops against PyTorch (CPU) as the oracle: forward and backward, broadcasting corners, 0-d and empty
tensors, integer and bool dtypes, dtype promotion, in-place forms and errors at the call."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import ARITHMETIC, TORCH_DTYPE, assert_same, check, rand

from tg_tensor import Tensor, dtypes
from tg_uop import Ops


def _same_name(module: object, names_by_range: dict[tuple[float, float], str]) -> list[tuple]:
    """UNARY rows of the ops whose tg method and torch function (of `module`) share a name."""
    return [
        (name, operator.methodcaller(name), getattr(module, name), low, high)
        for (low, high), names in names_by_range.items()
        for name in names.split()
    ]


# (name, tg function, torch function, low, high): inputs are drawn from [low, high), inside the op's domain and away
# from kinks where the one-sided derivatives differ
UNARY = [
    *_same_name(
        torch,
        {
            (-2, 2): "abs sign relu",
            (0.5, 3): "reciprocal",
            (0.1, 4): "sqrt rsqrt log log2",
            (-3, 3): "exp exp2 expm1 sinh cosh tanh erf floor ceil round trunc frac square",
            (-0.9, 3): "log1p",
            (-4, 4): "sin cos sigmoid",
            (-1.3, 1.3): "tan",
            (-0.95, 0.95): "asin acos atanh",
            (-6, 6): "atan asinh",
            (1.05, 6): "acosh",
        },
    ),
    *_same_name(
        F,
        {
            (-3, 9): "relu6",
            (-3, 3): "selu",
            (-4, 4): "gelu silu mish softplus softsign",
            (-5, 5): "hardswish hardsigmoid logsigmoid",
        },
    ),
    ("neg", lambda x: -x, lambda x: -x, -2, 2),
    ("swish", lambda x: x.swish(), F.silu, -4, 4),
    ("leaky_relu", lambda x: x.leaky_relu(0.2), lambda x: F.leaky_relu(x, 0.2), -2, 2),
    ("elu", lambda x: x.elu(0.7), lambda x: F.elu(x, 0.7), -3, 3),
    ("celu", lambda x: x.celu(1.5), lambda x: F.celu(x, 1.5), -3, 3),
    ("gelu_tanh", lambda x: x.gelu(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), -4, 4),
    ("softplus_beta", lambda x: x.softplus(2.0, 3.0), lambda x: F.softplus(x, 2.0, 3.0), -4, 4),
    ("hardtanh", lambda x: x.hardtanh(-0.5, 1.5), lambda x: F.hardtanh(x, -0.5, 1.5), -3, 3),
]


@pytest.mark.parametrize("name,tg_fn,th_fn,low,high", UNARY, ids=[u[0] for u in UNARY])
def test_unary_forward_and_backward(name, tg_fn, th_fn, low, high):
    check(tg_fn, th_fn, (3, 5), low=low, high=high, rtol=1e-4, atol=1e-5, grad_rtol=2e-3, grad_atol=1e-4)


SPECIAL = np.array(
    [0.0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6, 0.5, -0.5, 1.5, 2.5, -2.5, 30.0, -30.0, 100.0, -100.0, 1e30, -1e30]
    + [math.inf, -math.inf, math.nan],
    dtype=np.float32,
)
# ops whose results at 0, +-inf, NaN, tiny and huge arguments PyTorch defines and tg matches (domains not checked
# here: asin/acos/atanh/acosh outside their domains give NaN in both)
SPECIAL_OPS = [
    "abs", "sign", "sqrt", "exp", "log", "log1p", "expm1", "sin", "tanh", "atan", "asin", "acos", "sinh", "cosh",
    "asinh", "acosh", "atanh", "erf", "sigmoid", "relu", "gelu", "silu", "softplus", "logsigmoid", "floor", "ceil",
    "round", "trunc", "frac", "isnan", "isinf", "isfinite",
]  # fmt: skip
_BY_NAME = {u[0]: (u[1], u[2]) for u in UNARY}


def _fns(name):
    """The tg and torch functions of a unary op by name (method of both, when not in UNARY)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    return (lambda x: getattr(x, name)()), getattr(torch, name)


@pytest.mark.parametrize("name", SPECIAL_OPS)
def test_unary_special_values(name):
    tg_fn, th_fn = _fns(name)
    with np.errstate(all="ignore"):
        # sin of a huge argument is argument-reduction noise in any library, compare it only where it means something
        x = SPECIAL[np.abs(SPECIAL) < 1e3] if name == "sin" else SPECIAL
        if name == "gelu":
            x = x[~np.isinf(x)]  # torch's gelu(inf) is NaN, tg's inf (the limit)
        assert_same(tg_fn(Tensor(x)), th_fn(torch.tensor(x)), rtol=2e-6, atol=1e-37, what=name)


def test_tiny_arguments_keep_relative_precision():
    x = np.array([1e-7, -1e-7, 3e-5, -3e-5, 1e-3], dtype=np.float32)
    for name in ["log1p", "expm1", "sinh", "asinh", "atanh", "atan", "asin", "erf", "tanh"]:
        got, want = getattr(Tensor(x), name)().numpy(), getattr(torch.tensor(x), name)().numpy()
        np.testing.assert_allclose(got, want, rtol=5e-6 if name != "tanh" else 1e-2, err_msg=name)


def test_float64_unary():
    for name in ["exp", "log1p", "expm1", "atan", "asinh", "erf", "sigmoid"]:
        check(lambda x, name=name: getattr(x, name)(), getattr(torch, name), rand(4, low=-2, high=2, dtype=np.float64))
    got = Tensor(np.array([0.3], dtype=np.float64)).atan()
    assert got.dtype == dtypes.float64 and abs(got.item() - math.atan(0.3)) < 1e-9


@pytest.mark.parametrize("name", ["exp", "sqrt", "sin", "sigmoid", "log1p", "atan", "relu"])
def test_unary_on_int_and_bool(name):
    # math functions of integers give the default float (PyTorch too); relu keeps the dtype
    tg_fn, th_fn = _fns(name)
    a = np.array([0, 1, 2, 3], dtype=np.int32)
    out = check(tg_fn, th_fn, a, grad=False)
    assert TORCH_DTYPE[out.dtype] == th_fn(torch.tensor(a)).dtype
    if name != "relu":
        check(tg_fn, th_fn, np.array([True, False]), grad=False)


def test_gelu_of_int_is_float():
    # torch has no integer gelu; tg computes it in the default float like the other math functions
    out = Tensor([-1, 0, 2]).gelu()
    assert out.dtype == dtypes.float32
    np.testing.assert_allclose(out.numpy(), F.gelu(torch.tensor([-1.0, 0.0, 2.0])).numpy(), rtol=1e-6)


# ---------------------------------------------------------------------- binary arithmetic and broadcasting

SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 1), (4,)), ((), (2, 3)), ((3,), ()), ((), ()), ((0, 3), (1, 3)),
          ((2, 0), (2, 1)), ((1, 1, 3), (2, 1, 1))]  # fmt: skip
BINARY = [(name, op, op) for name, op in ARITHMETIC] + [
    ("maximum", lambda a, b: a.maximum(b), torch.maximum),
    ("minimum", lambda a, b: a.minimum(b), torch.minimum),
    ("atan2", lambda a, b: a.atan2(b), torch.atan2),
    ("pow", lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b),
]


@pytest.mark.parametrize("sa,sb", SHAPES, ids=[f"{a}-{b}" for a, b in SHAPES])
@pytest.mark.parametrize("name,tg_fn,th_fn", BINARY, ids=[b[0] for b in BINARY])
def test_binary_broadcasting(name, tg_fn, th_fn, sa, sb):
    check(tg_fn, th_fn, sa, sb, low=0.5 if name == "div" else -2, rtol=1e-5, grad_rtol=1e-4, grad_atol=1e-5)


def test_div_and_atan2_signs_and_quadrants():
    # divisors of both signs; atan2 in all four quadrants, on the axes and at the origin
    y = np.array([1, 1, -1, -1, 0, 0, 2, -2, 0, 3e-8], dtype=np.float32)
    x = np.array([1, -1, 1, -1, 2, -2, 0, 0, 0, -1], dtype=np.float32)
    check(lambda a, b: a.atan2(b), torch.atan2, y, x, grad=False)
    check(lambda a, b: a.atan2(b), torch.atan2, y[:8], x[:8])
    check(lambda a, b: a / b, lambda a, b: a / b, y[:6], x[:6])
    check(lambda a: a.atan2(2.0), lambda a: torch.atan2(a, torch.tensor(2.0)), y)


@pytest.mark.parametrize("scalar", [2, -3, 0.5, True])
def test_python_scalars_both_sides(scalar):
    ops = [lambda a, s: a + s, lambda a, s: s + a, lambda a, s: a - s, lambda a, s: s - a, lambda a, s: a * s,
           lambda a, s: s * a, lambda a, s: a / s, lambda a, s: s / a, lambda a, s: a // s, lambda a, s: s // a,
           lambda a, s: a % s, lambda a, s: s % a]  # fmt: skip
    x = rand(2, 3, low=0.5, high=3.0, seed=3)
    for i, op in enumerate(ops):
        if i in (2, 3) and isinstance(scalar, bool):
            continue  # torch refuses to subtract a bool
        # torch has no derivative for floor_divide (tg's is 0), nor for remainder by its second operand
        grad = i not in (8, 9, 11)
        check(lambda a, op=op: op(a, scalar), lambda a, op=op: op(a, scalar), x, rtol=1e-5, grad=grad)
    ints = np.array([[1, -2, 3], [7, -7, 5]], dtype=np.int32)
    for i, op in enumerate(ops[:6]):
        if i in (2, 3) and isinstance(scalar, bool):
            continue
        check(lambda a, op=op: op(a, scalar), lambda a, op=op: op(a, scalar), ints)


def test_lerp():
    check(lambda a, b: a.lerp(b, 0.3), lambda a, b: torch.lerp(a, b, 0.3), (3, 4), (4,))
    check(lambda a, b, w: a.lerp(b, w), torch.lerp, (3, 1), (1, 4), rand(3, 4, low=0, high=1, seed=5))
    check(lambda a, b: a.lerp(b, 0.5), lambda a, b: torch.lerp(a, b, 0.5), (), (0,))


def test_float_floordiv_and_mod():
    a = rand(4, 5, low=-5, high=5, seed=1)
    b = rand(4, 5, low=0.3, high=2, seed=2) * np.where(rand(4, 5, seed=3) > 0, 1, -1).astype(np.float32)
    check(lambda x, y: x // y, lambda x, y: x // y, a, b, grad=False)
    check(lambda x, y: x % y, lambda x, y: x % y, a, b, grad=False)
    check(lambda x, y: x.remainder(y), torch.remainder, a, b, grad=False)
    # % is differentiable: the gradient of x - y floor(x/y)
    check(lambda x, y: x % y, lambda x, y: x % y, a, b, rtol=1e-5)
    # by zero: a // 0 is +-inf, a % 0 NaN (PyTorch too)
    z = np.array([1.0, -1.0, 0.0], dtype=np.float32)
    check(lambda x: x // 0.0, lambda x: x // 0.0, z, grad=False)
    check(lambda x: x % 0.0, lambda x: x % 0.0, z, grad=False)


INT_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64]


@pytest.mark.parametrize("dt", INT_DTYPES)
def test_int_floordiv_mod_python_rule(dt):
    lo = 0 if dt == np.uint8 else -20
    a = np.arange(lo, 21).astype(dt)
    b = np.array([3, 7, 1, 2, 5, 4, 9] * 10)[: len(a)].astype(dt)
    if dt != np.uint8:
        b = (b * np.where(np.arange(len(a)) % 2 == 0, 1, -1)).astype(dt)
    check(lambda x, y: x // y, lambda x, y: x // y, a, b)
    check(lambda x, y: x % y, lambda x, y: x % y, a, b)
    check(lambda x, y: x.div(y, rounding_mode="trunc"), lambda x, y: torch.div(x, y, rounding_mode="trunc"), a, b)
    check(lambda x, y: x.div(y, rounding_mode="floor"), lambda x, y: torch.div(x, y, rounding_mode="floor"), a, b)
    check(lambda x, y: x.floor_divide(y), torch.floor_divide, a, b)
    check(lambda x, y: x / y, lambda x, y: x / y, a, b)  # true division gives the default float


def test_int_division_by_zero_gives_zero_and_min_by_minus_one_wraps():
    # PyTorch raises ZeroDivisionError at run time; a kernel cannot, so tg gives 0 (documented in elementwise.py)
    a = Tensor([7, -7, 0], dtype=dtypes.int32)
    assert (a // 0).tolist() == [0, 0, 0]
    assert (a % 0).tolist() == [0, 0, 0]
    assert a.div(0, rounding_mode="trunc").tolist() == [0, 0, 0]
    lo = np.array([-128, 5], dtype=np.int8)
    check(lambda x: x // -1, lambda x: x // -1, lo)
    check(lambda x: x % -1, lambda x: x % -1, lo)


def test_pow_forms():
    x = rand(3, 4, low=-2, high=2, seed=4)
    for e in [0, 1, 2, 3, -1, -2, 0.5, 2.5, -1.5, 1.0 / 3, 100]:
        pos = np.abs(x) + 0.1 if not float(e).is_integer() else x
        check(lambda a, e=e: a**e, lambda a, e=e: a**e, pos, rtol=2e-5, grad_rtol=1e-4, grad_atol=1e-4)
    check(lambda a: 2.0**a, lambda a: 2.0**a, x)
    check(lambda a: 0.5**a, lambda a: 0.5**a, x)
    check(lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b, (3, 1), (4,))
    # negative base, whole exponent tensor: the sign comes from the exponent's parity
    check(lambda a, b: a**b, lambda a, b: a**b, x, np.array([0, 1, 2, 3], dtype=np.float32), grad=False)
    # x ** 0 is 1 for NaN and inf too, 1 ** y is 1 for NaN y
    s = np.array([math.nan, math.inf, -math.inf, 0.0], dtype=np.float32)
    check(lambda a: a**0, lambda a: a**0, s, grad=False)
    check(lambda a: 1.0**a, lambda a: 1.0**a, s, grad=False)
    check(lambda a: a**-1.0, lambda a: a**-1.0, s, grad=False)


def test_int_pow():
    a = np.array([-3, -2, -1, 0, 1, 2, 3, 5], dtype=np.int32)
    b = np.array([3, 2, 5, 0, 7, 10, -1, 3], dtype=np.int32)
    check(lambda x, y: x**y, lambda x, y: x**y, a[b >= 0], b[b >= 0])
    check(lambda x: x**3, lambda x: x**3, a)
    check(lambda x: 2**x, lambda x: 2**x, np.abs(b))
    check(lambda x: x**40, lambda x: x**40, a.astype(np.int64))  # wraps around exactly as PyTorch
    nb = np.array([1, -1, -1, 2, 0], dtype=np.int64)
    check(lambda x, y: x**y, lambda x, y: x**y, np.array([1, -1, -1, 2, 5], dtype=np.int64), -nb - 1)
    with pytest.raises(ValueError, match="pow"):
        Tensor([1, 2]) ** -1


# ---------------------------------------------------------------------- dtype promotion

PROMOTE = [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]


@pytest.mark.parametrize("da", PROMOTE)
def test_promotion_matches_torch(da):
    # tensor with tensor: least_upper_dtype agrees with torch.result_type on every pair of these dtypes
    for db in PROMOTE:
        a, b = Tensor(np.ones(2, dtype=da)), Tensor(np.ones(2, dtype=db))
        want = torch.result_type(torch.ones(2, dtype=torch.from_numpy(np.ones(1, da)).dtype),
                                 torch.ones(2, dtype=torch.from_numpy(np.ones(1, db)).dtype))  # fmt: skip
        got = (a * b).dtype
        assert TORCH_DTYPE[got] == want, f"{da} * {db}: {got!r} != {want}"
        assert (a == b).dtype == dtypes.bool


def test_promotion_with_python_scalars():
    # a Python scalar adapts to the tensor unless its kind is wider, as in PyTorch
    cases = [(np.int8, 1000), (np.uint8, 1), (np.int16, 2.5), (np.float16, 3), (np.float16, 2.5), (np.float64, 1.5),
             (np.int32, True), (np.float32, True)]  # fmt: skip
    for dt, s in cases:
        t = torch.ones(2, dtype=torch.from_numpy(np.ones(1, dt)).dtype)
        assert TORCH_DTYPE[(Tensor(np.ones(2, dtype=dt)) + s).dtype] == (t + s).dtype, (dt, s)
    # the one difference: bool tensor with an int scalar is the default int (int32), torch makes int64
    assert (Tensor([True]) + 1).dtype == dtypes.int32 and (torch.tensor([True]) + 1).dtype == torch.int64
    # int / int is the default float, as torch
    assert (Tensor([1]) / Tensor([2])).dtype == dtypes.float32


# ---------------------------------------------------------------------- comparisons, logical, bitwise


CMP = [("lt", "__lt__"), ("le", "__le__"), ("gt", "__gt__"), ("ge", "__ge__"), ("eq", "__eq__"), ("ne", "__ne__")]


@pytest.mark.parametrize("method,dunder", CMP)
def test_comparisons(method, dunder):
    a = np.array([[1.0, 2.0, math.nan], [-1.0, 2.0, math.inf]], dtype=np.float32)
    b = np.array([2.0, 2.0, math.nan], dtype=np.float32)
    for x, y in [(a, b), (a.astype(np.int32) if False else np.array([[1, 2, 3]], np.int32), np.array([3, 2, 1]))]:
        out = check(lambda p, q: getattr(p, method)(q), lambda p, q: getattr(p, method)(q), x, y)
        assert out.dtype == dtypes.bool
        check(lambda p, q: getattr(p, dunder)(q), lambda p, q: getattr(p, dunder)(q), x, y)
    check(lambda p: getattr(p, dunder)(2), lambda p: getattr(p, dunder)(2), a)
    check(lambda p: getattr(p, dunder)(1.5), lambda p: getattr(p, dunder)(1.5), np.array([1, 2], np.int32))
    check(lambda p, q: getattr(p, dunder)(q), lambda p, q: getattr(p, dunder)(q), np.array([True, False]),
          np.array([[True], [False]]))  # fmt: skip


def test_comparison_has_no_gradient_but_passes_through_where():
    x = rand(3, 4, seed=9)
    check(lambda a: (a > 0).where(a * 2, a * a), lambda a: torch.where(a > 0, a * 2, a * a), x)


def test_logical_ops():
    a = np.array([0, 1, 2, 0, -3], dtype=np.int32)
    b = np.array([[True], [False]])
    for name in ["logical_and", "logical_or", "logical_xor"]:
        out = check(
            lambda p, q, name=name: getattr(p, name)(q), lambda p, q, name=name: getattr(torch, name)(p, q), a, b
        )
        assert out.dtype == dtypes.bool
        check(
            lambda p, q, name=name: getattr(p, name)(q),
            lambda p, q, name=name: getattr(torch, name)(p, q),
            (2, 3),
            (3,),
        )
    check(lambda p: p.logical_not(), torch.logical_not, a)
    check(lambda p: p.logical_not(), torch.logical_not, np.array([0.0, -0.0, 0.5, math.nan], dtype=np.float32))


@pytest.mark.parametrize("dt", [np.bool_, np.int8, np.uint8, np.int32, np.int64])
def test_bitwise_ops(dt):
    if dt == np.bool_:
        a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    else:
        info = np.iinfo(dt)
        a = np.array([0, 1, 12, info.max, info.min, 77], dtype=dt)
        b = np.array([5, 3, 10, 6, 1, info.max], dtype=dt)
    for op in [lambda p, q: p & q, lambda p, q: p | q, lambda p, q: p ^ q]:
        check(op, op, a, b)
        check(op, op, a, b[:1])
    check(lambda p: ~p, lambda p: ~p, a)
    check(lambda p: 6 & p, lambda p: 6 & p, a if dt != np.bool_ else a.astype(np.int32))
    check(lambda p: p.bitwise_and(True), lambda p: p.bitwise_and(True), a)


@pytest.mark.parametrize("dt", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_shifts(dt):
    bits = np.dtype(dt).itemsize * 8
    a = np.array([1, 3, -5 if dt != np.uint8 else 250, 100, 7, -1 if dt != np.uint8 else 255], dtype=dt)
    s = np.array([0, 2, 1, 3, bits - 1, 1], dtype=dt)
    for op in [lambda p, q: p << q, lambda p, q: p >> q]:
        check(op, op, a, s)
    check(lambda p: p << 2, lambda p: p << 2, a)
    check(lambda p: p >> 1, lambda p: p >> 1, a)
    check(lambda p: 1 << p, lambda p: 1 << p, s)
    check(lambda p, q: p.bitwise_left_shift(q), torch.bitwise_left_shift, a, s)
    check(lambda p, q: p.bitwise_right_shift(q), torch.bitwise_right_shift, a, s)
    if dt != np.uint8:
        # out-of-range amounts: 0 (or -1 for >> of a negative value), as PyTorch
        far = np.array([bits, bits + 3, -1, -2, bits, 70], dtype=np.int64)
        check(lambda p, q: p >> q, lambda p, q: p >> q, a.astype(np.int64), far)
        check(lambda p, q: p << q, lambda p, q: p << q, a.astype(np.int64), far)


def test_isnan_isinf_isfinite():
    x = np.array([[0.0, math.nan, math.inf], [-math.inf, 1e38, -2.0]], dtype=np.float32)
    for name in ["isnan", "isinf", "isfinite"]:
        out = check(lambda p, name=name: getattr(p, name)(), getattr(torch, name), x)
        assert out.dtype == dtypes.bool
        check(lambda p, name=name: getattr(p, name)(), getattr(torch, name), np.array([1, -2], np.int32))
        check(lambda p, name=name: getattr(p, name)(), getattr(torch, name), np.zeros((0, 2), np.float32))


# ---------------------------------------------------------------------- where, clamp, maximum with NaN


def test_where_forms():
    c = rand(3, 1, seed=1) > 0
    check(lambda q, a, b: q.where(a, b), torch.where, c, (3, 4), (4,))
    check(lambda q, a: q.where(a, 0.5), lambda q, a: torch.where(q, a, 0.5), c, (1, 4))
    check(lambda q, b: q.where(2.0, b), lambda q, b: torch.where(q, 2.0, b), c, (4,))
    check(lambda q: q.where(1, 0), lambda q: torch.where(q, 1, 0), c)
    check(lambda q, a, b: q.where(a, b), torch.where, c, np.array([1, 2], np.int32), np.array([0.5], np.float32))
    check(lambda q, a, b: q.where(a, b), torch.where, np.array(True), (0,), ())
    # a numeric condition is nonzero-is-true (torch needs a bool condition)
    n = np.array([0.0, 2.0, -0.5], dtype=np.float32)
    assert Tensor(n).where(1, 0).tolist() == [0, 1, 1]


def test_clamp_forms():
    x = rand(3, 4, low=-3, high=3, seed=2)
    check(lambda a: a.clamp(-1, 1), lambda a: a.clamp(-1, 1), x)
    check(lambda a: a.clip(min=0.5), lambda a: a.clip(min=0.5), x)
    check(lambda a: a.clamp(max=0.0), lambda a: a.clamp(max=0.0), x)
    check(lambda a, lo, hi: a.clamp(lo, hi), torch.clamp, x, (4,), rand(3, 1, low=0, high=2, seed=3))
    check(lambda a: a.clamp(1, -1), lambda a: a.clamp(1, -1), x)  # min > max: everything is max
    check(lambda a: a.clamp(0.5, 2.5), lambda a: a.clamp(0.5, 2.5), np.array([0, 1, 2, 3], np.int32))
    check(lambda a: a.clamp(0, 2), lambda a: a.clamp(0, 2), np.array([-1, 1, 5], np.int32))
    # the gradient passes where min <= x <= max, bounds included
    check(lambda a: a.clamp(-1, 1), lambda a: a.clamp(-1, 1), np.array([-1.0, 1.0, 0.0, 2.0], np.float32))
    check(lambda a: a.clamp(-1, 1), lambda a: a.clamp(-1, 1), np.array([math.nan], np.float32), grad=False)


def test_nan_propagation():
    a = np.array([1.0, math.nan, math.nan, 2.0], dtype=np.float32)
    b = np.array([math.nan, 2.0, math.nan, 1.0], dtype=np.float32)
    for name in ["maximum", "minimum"]:
        check(lambda p, q, name=name: getattr(p, name)(q), getattr(torch, name), a, b, grad=False)
    for name in ["relu", "sigmoid", "gelu", "abs", "sign", "floor", "round"]:
        tg_fn, th_fn = _BY_NAME[name]
        check(tg_fn, th_fn, a, grad=False)


def test_maximum_minimum_ties_share_the_gradient():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    b = np.array([1.0, 5.0, 3.0], dtype=np.float32)
    check(lambda p, q: p.maximum(q), torch.maximum, a, b)
    check(lambda p, q: p.minimum(q), torch.minimum, a, b)
    check(lambda p, q: p.maximum(q), torch.maximum, np.array([3, -4], np.int32), np.array([2, 9], np.int8))


def test_activations_at_kinks_and_extremes():
    # gradients at 0 and far out, where naive formulas overflow
    x = np.array([0.0, -50.0, 50.0, -100.0, 100.0, 1e-3], dtype=np.float32)
    for name in ["relu", "sigmoid", "softplus", "logsigmoid", "silu", "mish", "elu", "tanh", "gelu", "abs",
                 "leaky_relu", "erf", "atan", "asinh"]:  # fmt: skip
        tg_fn, th_fn = _BY_NAME[name]
        check(tg_fn, th_fn, x, rtol=1e-5, atol=1e-6, grad_atol=1e-6)


def test_round_half_to_even_and_decimals():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 8388609.0, -1e30], dtype=np.float32)
    check(lambda a: a.round(), torch.round, x, grad=False)
    y = np.array([1.25, 1.35, -2.675, 0.0449], dtype=np.float32)
    check(lambda a: a.round(decimals=1), lambda a: torch.round(a, decimals=1), y, grad=False)
    check(lambda a: a.round(decimals=2), lambda a: torch.round(a, decimals=2), y, grad=False)
    check(lambda a: a.round(), torch.round, np.array([3, -4], np.int32))


# ---------------------------------------------------------------------- 0-d and empty tensors


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3)])
def test_zero_d_and_empty(shape):
    for name in ["exp", "sigmoid", "atan", "gelu", "round", "square"]:
        tg_fn, th_fn = _BY_NAME[name]
        check(tg_fn, th_fn, shape)
    check(lambda a, b: a * b + a / (b.abs() + 1), lambda a, b: a * b + a / (b.abs() + 1), shape, shape)
    check(lambda a: (a > 0) & (a < 1), lambda a: (a > 0) & (a < 1), shape)


# ---------------------------------------------------------------------- casts and bitcast


def test_casts():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 1.9, 300.0], dtype=np.float32)
    t, th = Tensor(x), torch.tensor(x)
    assert_same(t.int(), th.int())
    assert_same(t.long(), th.long())
    assert_same(t.short(), th.short())
    assert_same(t.bool(), th.bool())
    assert_same(t.half(), th.half(), rtol=1e-3)
    assert_same(t.double(), th.double())
    assert_same(t.cast(dtypes.int8)[:5], th.to(torch.int8)[:5])
    assert_same(Tensor([True, False]).float(), torch.tensor([True, False]).float())
    assert (t.half().dtype, t.double().dtype, t.long().dtype) == (dtypes.float16, dtypes.float64, dtypes.int64)
    # the gradient of a cast goes back to the input's dtype
    check(lambda a: a.double().exp().float(), lambda a: a.double().exp().float(), (3,))
    check(lambda a: a.half().float() * 2, lambda a: a.half().float() * 2, (3,), rtol=1e-3)


def test_bitcast():
    x = np.array([1.0, -2.5, 0.0, math.inf], dtype=np.float32)
    assert_same(Tensor(x).bitcast(dtypes.int32), torch.tensor(x).view(torch.int32))
    assert_same(Tensor(x).bitcast(dtypes.int32).bitcast(dtypes.float32), torch.tensor(x))
    h = np.array([1, -1, 256], dtype=np.int16)
    assert_same(Tensor(h).bitcast(dtypes.float16), torch.tensor(h).view(torch.float16))
    with pytest.raises(ValueError, match=r"bitcast: .*float32.*int16.*item size"):
        Tensor(x).bitcast(dtypes.int16)
    assert_same(Tensor(x).bitcast("int32"), torch.tensor(x).view(torch.int32))  # a dtype by name (tinygrad)
    with pytest.raises(TypeError, match="bitcast"):
        Tensor(x).bitcast("no_such_dtype")
    with pytest.raises(TypeError, match="bitcast"):
        Tensor(x).bitcast(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- in-place forms


def test_inplace_ops_write_into_the_buffer():
    x = rand(2, 3, low=0.5, high=2, seed=11)
    y = rand(3, low=0.5, high=2, seed=12)
    for name, op in [("iadd", "__iadd__"), ("isub", "__isub__"), ("imul", "__imul__"), ("itruediv", "__itruediv__"),
                     ("ipow", "__ipow__"), ("imod", "__imod__"), ("ifloordiv", "__ifloordiv__")]:  # fmt: skip
        t = Tensor(x).realize()
        view = t.reshape(6)  # a view taken before the update sees it (assign semantics)
        th = torch.tensor(x)
        getattr(th, op)(torch.tensor(y))
        assert getattr(t, op)(Tensor(y)) is t
        assert_same(t, th, rtol=1e-6, what=name)
        assert_same(view, th.reshape(6), rtol=1e-6, what=name)
    t = Tensor(x).realize()
    t += 1
    t *= 2
    assert_same(t, (torch.tensor(x) + 1) * 2)


def test_inplace_int_and_bitwise():
    a = np.array([5, -6, 7], dtype=np.int8)
    for op in ["__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__iadd__", "__ifloordiv__"]:
        t, th = Tensor(a).realize(), torch.tensor(a)
        getattr(t, op)(2)
        getattr(th, op)(2)
        assert_same(t, th)
        assert t.dtype == dtypes.int8
    # a wider result of the same kind is cast down (wrapping), as in PyTorch
    t, th = Tensor(a).realize(), torch.tensor(a)
    t += Tensor([300], dtype=dtypes.int32)
    th += torch.tensor([300], dtype=torch.int32)
    assert_same(t, th)


def test_inplace_errors_leave_the_tensor_alone():
    t = Tensor([1, 2, 3]).realize()
    with pytest.raises(TypeError, match=r"iadd: .*float32.*int32"):
        t += 1.5
    with pytest.raises(TypeError, match="itruediv"):
        t /= 2
    f = Tensor([1.0, 2.0, 3.0]).realize()
    with pytest.raises(ValueError, match=r"imul: .*\(2, 3\).*\(3,\)"):
        f *= Tensor.ones(2, 3)
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\)"):
        f += Tensor([1.0, 2.0, 3.0, 4.0])
    assert t.tolist() == [1, 2, 3] and f.tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------------- errors at the call


def test_errors_name_the_op_and_shapes():
    a, b = Tensor.ones(2, 3), Tensor.ones(4)
    for name, fn in [("add", lambda: a + b), ("sub", lambda: a - b), ("mul", lambda: a * b), ("div", lambda: a / b),
                     ("floordiv", lambda: a // b), ("mod", lambda: a % b), ("pow", lambda: a**b),
                     ("maximum", lambda: a.maximum(b)), ("minimum", lambda: a.minimum(b)), ("lt", lambda: a < b),
                     ("le", lambda: a <= b), ("gt", lambda: a > b), ("ge", lambda: a >= b), ("eq", lambda: a == b),
                     ("ne", lambda: a != b), ("atan2", lambda: a.atan2(b)), ("where", lambda: (a > 0).where(b, 1.0)),
                     ("logical_and", lambda: a.logical_and(b)), ("clip", lambda: a.clip(b, 2.0)),
                     ("bitwise_and", lambda: a.int() & b.int()), ("lshift", lambda: a.int() << b.int())]:  # fmt: skip
        with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
            fn()
    with pytest.raises(ValueError, match=r"lerp|sub|add|mul"):
        a.lerp(b, 0.5)


def test_dtype_errors():
    f, i, bl = Tensor([1.0, 2.0]), Tensor([1, 2]), Tensor([True, False])
    for name, fn in [("bitwise_and", lambda: f & i), ("bitwise_or", lambda: i | f), ("bitwise_xor", lambda: f ^ 1),
                     ("bitwise_and", lambda: 1 & f), ("bitwise_not", lambda: ~f), ("lshift", lambda: f << 1),
                     ("rshift", lambda: i >> 1.5), ("lshift", lambda: bl << bl)]:  # fmt: skip
        with pytest.raises(TypeError, match=name):
            fn()
    with pytest.raises(TypeError, match="sub: .*bool"):
        bl - bl
    with pytest.raises(TypeError, match="floordiv"):
        bl // bl
    with pytest.raises(TypeError, match="add: cannot combine a tensor with str"):
        f + "1"  # type: ignore[operator]
    with pytest.raises(ValueError, match="rounding_mode"):
        f.div(f, rounding_mode="round")
    with pytest.raises(ValueError, match="gelu: approximate"):
        f.gelu(approximate="fast")
    with pytest.raises(ValueError, match="clip: at least one"):
        f.clip()


def test_elementwise_chain_is_one_kernel(kernels):
    x = Tensor(rand(4, 5)).realize()
    y = Tensor(rand(5, seed=2)).realize()
    out = ((x * y + 1).gelu().atan().softplus() - x.asinh()).clamp(-1, 1).maximum(x.erf())
    assert kernels(out) == 1


def test_tanh_and_gelu_tanh_need_no_log2():
    # a LOG2 has no vector form in the C renderer, so it would make the GPT's MLP kernel call log2f lane by lane
    for t in [Tensor([0.1, 2.0]).tanh(), Tensor([0.1, 2.0]).gelu(approximate="tanh")]:
        assert Ops.LOG2 not in {u.op for u in t.uop.toposort()}
