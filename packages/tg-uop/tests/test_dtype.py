"""dtypes: sizes and limits, vector and pointer types, the promotion lattice, truncate and exec_alu."""

from __future__ import annotations

import itertools
import math
import struct
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tg_uop import DType, Ops, PtrDType, dtypes, exec_alu, least_upper_dtype, least_upper_float
from tg_uop.dtype import truncate

# ---------------------------------------------------------------------------------------------------------------
# scalar types
# ---------------------------------------------------------------------------------------------------------------

# name -> (itemsize, kind, min, max), written out by hand
SCALARS = {
    "bool": (1, "bool", False, True),
    "int8": (1, "int", -128, 127),
    "int16": (2, "int", -32768, 32767),
    "int32": (4, "int", -2147483648, 2147483647),
    "int64": (8, "int", -9223372036854775808, 9223372036854775807),
    "uint8": (1, "uint", 0, 255),
    "uint16": (2, "uint", 0, 65535),
    "uint32": (4, "uint", 0, 4294967295),
    "uint64": (8, "uint", 0, 18446744073709551615),
    "float16": (2, "float", -math.inf, math.inf),
    "bfloat16": (2, "float", -math.inf, math.inf),
    "float32": (4, "float", -math.inf, math.inf),
    "float64": (8, "float", -math.inf, math.inf),
}


@pytest.mark.parametrize("name", list(SCALARS))
def test_scalar_itemsize_kind_and_limits(name: str) -> None:
    dt = getattr(dtypes, name)
    itemsize, kind, lo, hi = SCALARS[name]
    assert dt.name == name and dt.itemsize == itemsize and dt.kind == kind and dt.count == 1
    assert dt.min == lo and dt.max == hi
    assert type(dt.min) is type(lo) and type(dt.max) is type(hi)
    assert dt.is_float == (kind == "float")
    assert dt.is_int == (kind in ("int", "uint"))
    assert dt.is_unsigned == (kind == "uint")
    assert dt.is_bool == (kind == "bool")
    assert dtypes.from_name(name) is dt


def test_all_lists_every_scalar_once() -> None:
    assert [d.name for d in dtypes.all()] == list(SCALARS)


@pytest.mark.parametrize("name", [n for n in SCALARS if n != "bfloat16"])
def test_struct_format_matches_itemsize(name: str) -> None:
    dt = getattr(dtypes, name)
    assert dt.fmt is not None and struct.calcsize("<" + dt.fmt) == dt.itemsize


def test_void_and_aliases() -> None:
    assert dtypes.void.itemsize == 0
    aliases = {
        "half": "float16",
        "float": "float32",
        "double": "float64",
        "char": "int8",
        "short": "int16",
        "int": "int32",
        "long": "int64",
        "uchar": "uint8",
        "ushort": "uint16",
        "uint": "uint32",
        "ulong": "uint64",
    }
    for alias, name in aliases.items():
        assert getattr(dtypes, alias) is getattr(dtypes, name)
        assert dtypes.from_name(alias) is getattr(dtypes, name)
    assert dtypes.default_float is dtypes.float32 and dtypes.default_int is dtypes.int32
    assert dtypes.index is dtypes.int32


def test_from_name_unknown_names_the_choices() -> None:
    with pytest.raises(KeyError, match="float32"):
        dtypes.from_name("float33")
    with pytest.raises(KeyError):
        dtypes.from_name("all")  # a staticmethod of the namespace, not a dtype


def test_from_py() -> None:
    assert dtypes.from_py(True) is dtypes.bool
    assert dtypes.from_py(3) is dtypes.int32
    assert dtypes.from_py(3.5) is dtypes.float32
    assert dtypes.from_py([True, False]) is dtypes.bool
    assert dtypes.from_py([True, 2]) is dtypes.int32
    assert dtypes.from_py([[1, 2], [3, 4.0]]) is dtypes.float32
    assert dtypes.from_py([]) is dtypes.float32


def test_dtypes_hash_and_compare_by_value() -> None:
    assert DType("int32", 4, "i", "int") == dtypes.int32
    assert hash(DType("int32", 4, "i", "int")) == hash(dtypes.int32)
    assert dtypes.int32 != dtypes.uint32 and dtypes.float16 != dtypes.bfloat16
    assert len(set(dtypes.all())) == len(SCALARS)
    with pytest.raises(AttributeError):
        dtypes.int32.itemsize = 8  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------------
# vector and pointer types
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCALARS))
@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_vec(name: str, n: int) -> None:
    dt = getattr(dtypes, name)
    v = dt.vec(n)
    assert v.count == n and v.itemsize == n * dt.itemsize and v.kind == dt.kind
    assert v.scalar() is dt and v != dt
    assert v == dt.vec(n) and hash(v) == hash(dt.vec(n))
    assert v.min == dt.min and v.max == dt.max
    assert repr(v) == f"dtypes.{name}.vec({n})"
    with pytest.raises(ValueError):
        v.vec(2)


def test_vec_of_one_is_the_scalar() -> None:
    assert dtypes.float32.vec(1) is dtypes.float32
    assert dtypes.float32.scalar() is dtypes.float32
    assert repr(dtypes.float32) == "dtypes.float32"


def test_ptr() -> None:
    p = dtypes.float32.ptr()
    assert isinstance(p, PtrDType) and isinstance(p, DType)
    assert p.base is dtypes.float32 and p.size == -1 and not p.local
    assert p == dtypes.float32.ptr() and hash(p) == hash(dtypes.float32.ptr())
    assert p != dtypes.float32 and dtypes.float32 != p
    assert p != dtypes.int32.ptr()
    q = dtypes.int8.ptr(16, local=True)
    assert q.base is dtypes.int8 and q.size == 16 and q.local
    assert q != dtypes.int8.ptr(16) and q != dtypes.int8.ptr(15, local=True)
    assert repr(p) == "dtypes.float32.ptr(-1)"
    assert repr(q) == "dtypes.int8.ptr(16, local=True)"
    v = dtypes.half.vec(4).ptr(8)
    assert v.base == dtypes.half.vec(4) and v.count == 4


# ---------------------------------------------------------------------------------------------------------------
# promotion lattice
# ---------------------------------------------------------------------------------------------------------------

# Written by hand from the rules: bool is below everything; within a kind the wider type wins; signed and unsigned
# meet at the next wider signed integer (and, where none exists, at the join of the two 16-bit floats: float32);
# every integer promotes to any float; float16 and bfloat16 meet at float32; floats otherwise widen.
_ABBR = {
    "b": "bool",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "f16": "float16",
    "bf16": "bfloat16",
    "f32": "float32",
    "f64": "float64",
}

# The table is symmetric, so only its upper triangle is written: row `a` lists the joins with `a` itself and
# every type to its right.
_TABLE = """
       b    i8   i16  i32  i64  u8   u16  u32  u64  f16  bf16 f32  f64
b      b    i8   i16  i32  i64  u8   u16  u32  u64  f16  bf16 f32  f64
i8          i8   i16  i32  i64  i16  i32  i64  f32  f16  bf16 f32  f64
i16              i16  i32  i64  i16  i32  i64  f32  f16  bf16 f32  f64
i32                   i32  i64  i32  i32  i64  f32  f16  bf16 f32  f64
i64                        i64  i64  i64  i64  f32  f16  bf16 f32  f64
u8                              u8   u16  u32  u64  f16  bf16 f32  f64
u16                                  u16  u32  u64  f16  bf16 f32  f64
u32                                       u32  u64  f16  bf16 f32  f64
u64                                            u64  f16  bf16 f32  f64
f16                                                 f16  f32  f32  f64
bf16                                                     bf16 f32  f64
f32                                                           f32  f64
f64                                                                f64
"""


def _promotion_table() -> dict[tuple[DType, DType], DType]:
    rows = [line.split() for line in _TABLE.strip().splitlines()]
    cols = rows[0]
    out = {}
    for k, row in enumerate(rows[1:]):
        assert row[0] == cols[k] and len(row) == 1 + len(cols) - k, f"row {row[0]} is not the upper triangle's"
        a = getattr(dtypes, _ABBR[row[0]])
        for col, cell in zip(cols[k:], row[1:], strict=True):
            b, c = getattr(dtypes, _ABBR[col]), getattr(dtypes, _ABBR[cell])
            out[a, b] = out[b, a] = c
    return out


PROMOTION = _promotion_table()


def test_promotion_table_is_complete_and_symmetric() -> None:
    # a check on the hand-written table itself
    assert len(PROMOTION) == len(SCALARS) ** 2
    for (a, b), c in PROMOTION.items():
        assert PROMOTION[b, a] is c


@pytest.mark.parametrize(("a", "b"), list(PROMOTION), ids=lambda d: d.name)
def test_least_upper_dtype_table(a: DType, b: DType) -> None:
    assert least_upper_dtype(a, b) == PROMOTION[a, b]


def test_least_upper_dtype_single_and_vectors() -> None:
    for dt in dtypes.all():
        assert least_upper_dtype(dt) is dt
    # vector types promote by their scalar type
    assert least_upper_dtype(dtypes.int8.vec(4), dtypes.uint8) == dtypes.int16
    with pytest.raises(ValueError):
        least_upper_dtype()


def test_least_upper_dtype_several() -> None:
    assert least_upper_dtype(dtypes.bool, dtypes.uint8, dtypes.int8) == dtypes.int16
    assert least_upper_dtype(dtypes.int8, dtypes.uint16, dtypes.bool) == dtypes.int32
    assert least_upper_dtype(dtypes.float16, dtypes.bfloat16, dtypes.int8) == dtypes.float32
    assert least_upper_dtype(dtypes.uint32, dtypes.int16, dtypes.float16) == dtypes.float16


def test_least_upper_dtype_result_is_an_upper_bound_of_every_input() -> None:
    # "is an upper bound" checked through the hand table: promoting the result with each input changes nothing
    for a, b, c in itertools.product(dtypes.all(), repeat=3):
        out = least_upper_dtype(a, b, c)
        for x in (a, b, c):
            assert PROMOTION[x, out] == out


def test_least_upper_float() -> None:
    for dt in dtypes.all():
        want = dt if dt.is_float else dtypes.float32
        assert least_upper_float(dt) == want


# ---------------------------------------------------------------------------------------------------------------
# truncate: integers wrap (two's complement), floats round to nearest even
# ---------------------------------------------------------------------------------------------------------------


def _wrap(v: int, bits: int, signed: bool) -> int:
    m = v % (2**bits)
    return m - 2**bits if signed and m >= 2 ** (bits - 1) else m


INT_TYPES = [d for d in SCALARS if SCALARS[d][1] in ("int", "uint")]


@pytest.mark.parametrize("name", INT_TYPES)
def test_truncate_int_edges(name: str) -> None:
    dt = getattr(dtypes, name)
    lo, hi = dt.min, dt.max
    assert truncate(dt, hi) == hi and truncate(dt, lo) == lo
    assert truncate(dt, hi + 1) == lo
    assert truncate(dt, lo - 1) == hi
    assert truncate(dt, 0) == 0 and truncate(dt, 3.9) == 3
    assert isinstance(truncate(dt, 3.9), int)


@given(st.sampled_from(INT_TYPES), st.integers(min_value=-(2**70), max_value=2**70))
@settings(max_examples=200, deadline=None)
def test_truncate_int_wraps(name: str, v: int) -> None:
    dt = getattr(dtypes, name)
    got = truncate(dt, v)
    assert got == _wrap(v, 8 * dt.itemsize, dt.kind == "int")
    assert dt.min <= got <= dt.max


def test_truncate_known_values() -> None:
    assert truncate(dtypes.int8, 200) == -56
    assert truncate(dtypes.uint8, -1) == 255
    assert truncate(dtypes.int32, 2**31) == -(2**31)
    assert truncate(dtypes.uint16, 65536 + 7) == 7
    assert truncate(dtypes.int8, -3.7) == -3  # toward zero, like a C cast
    assert truncate(dtypes.bool, 2) is True and truncate(dtypes.bool, 0) is False
    assert truncate(dtypes.bool, 0.0) is False and truncate(dtypes.bool, -0.5) is True


def _ref_round(x: float, mant_bits: int, emin: int, emax: int) -> float:
    """Round a finite double to a binary format with `mant_bits` stored fraction bits, to nearest, ties to even."""
    if x == 0 or math.isnan(x) or math.isinf(x):
        return x
    a = abs(Fraction(x))
    e = max(math.frexp(x)[1] - 1, emin)  # exponent of the leading bit, clamped to the subnormal range
    ulp = Fraction(2) ** (e - mant_bits)
    r = round(a / ulp) * ulp  # Fraction rounding is half-to-even
    if r >= Fraction(2) ** (emax + 1):
        return math.copysign(math.inf, x)
    return math.copysign(float(r), x)


FLOAT_FORMATS = {"float16": (10, -14, 15), "bfloat16": (7, -126, 127), "float32": (23, -126, 127)}


def test_truncate_float_known_values() -> None:
    assert truncate(dtypes.float16, 65504.0) == 65504.0
    assert truncate(dtypes.float16, 65519.0) == 65504.0
    assert truncate(dtypes.float16, 65520.0) == math.inf
    assert truncate(dtypes.float16, -1e6) == -math.inf
    assert truncate(dtypes.float16, 1 + 2**-11) == 1.0  # tie, to even
    assert truncate(dtypes.float16, 1 + 3 * 2**-11) == 1 + 2**-9  # tie, to even (upward)
    assert truncate(dtypes.float16, 2**-24) == 2**-24  # smallest subnormal
    assert truncate(dtypes.float16, 2**-26) == 0.0
    assert truncate(dtypes.float32, 0.1) == struct.unpack("<f", bytes.fromhex("cdcccc3d"))[0]
    assert truncate(dtypes.float32, 1e39) == math.inf and truncate(dtypes.float32, -1e39) == -math.inf
    assert truncate(dtypes.bfloat16, 1 + 2**-8) == 1.0  # tie, to even
    assert truncate(dtypes.bfloat16, 1 + 3 * 2**-8) == 1 + 2**-6
    assert truncate(dtypes.bfloat16, 3.0e38) == _ref_round(3.0e38, *FLOAT_FORMATS["bfloat16"]) < math.inf
    assert truncate(dtypes.bfloat16, 3.4e38) == math.inf
    assert truncate(dtypes.float64, 0.1) == 0.1
    assert isinstance(truncate(dtypes.float32, 3), float)
    for name in ("float16", "bfloat16", "float32", "float64"):
        dt = getattr(dtypes, name)
        assert math.isnan(truncate(dt, math.nan))
        assert truncate(dt, math.inf) == math.inf and truncate(dt, -math.inf) == -math.inf
        assert math.copysign(1.0, truncate(dt, -0.0)) == -1.0


@given(st.sampled_from(["float16", "float32"]), st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_truncate_float_rounds_like_reference(name: str, x: float) -> None:
    got = truncate(getattr(dtypes, name), x)
    want = _ref_round(x, *FLOAT_FORMATS[name])
    assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_truncate_bfloat16_rounds_like_reference(x: float) -> None:
    # float32 inputs only: for wider inputs truncate rounds twice (see the report)
    got = truncate(dtypes.bfloat16, x)
    assert got == _ref_round(x, *FLOAT_FORMATS["bfloat16"])


def test_truncate_is_idempotent() -> None:
    for dt in dtypes.all():
        for v in (0, 1, -1, 100, -100, 70000, 3.3, -2.5e10):
            once = truncate(dt, v)
            assert truncate(dt, once) == once


# ---------------------------------------------------------------------------------------------------------------
# exec_alu: C semantics
# ---------------------------------------------------------------------------------------------------------------


def _c_trunc_div(a: int, b: int) -> int:
    return math.trunc(Fraction(a, b))


@given(st.integers(-1000, 1000), st.integers(-50, 50).filter(lambda b: b != 0))
@settings(max_examples=300, deadline=None)
def test_idiv_mod_truncate_toward_zero(a: int, b: int) -> None:
    q = exec_alu(Ops.IDIV, dtypes.int32, (a, b))
    r = exec_alu(Ops.MOD, dtypes.int32, (a, b))
    assert q == _c_trunc_div(a, b)
    assert r == a - b * _c_trunc_div(a, b)
    assert q * b + r == a
    assert abs(r) < abs(b)
    assert r == 0 or (r > 0) == (a > 0)  # the remainder takes the dividend's sign


def test_idiv_mod_examples() -> None:
    assert exec_alu(Ops.IDIV, dtypes.int32, (-7, 2)) == -3
    assert exec_alu(Ops.IDIV, dtypes.int32, (7, -2)) == -3
    assert exec_alu(Ops.IDIV, dtypes.int32, (-7, -2)) == 3
    assert exec_alu(Ops.MOD, dtypes.int32, (-7, 2)) == -1
    assert exec_alu(Ops.MOD, dtypes.int32, (7, -2)) == 1
    assert exec_alu(Ops.MOD, dtypes.int32, (-7, -2)) == -1
    # INT_MIN / -1 overflows in C; tg wraps it
    assert exec_alu(Ops.IDIV, dtypes.int32, (-(2**31), -1)) == -(2**31)


@given(
    st.sampled_from(INT_TYPES),
    st.sampled_from([Ops.ADD, Ops.SUB, Ops.MUL]),
    st.integers(-(2**64), 2**64),
    st.integers(-(2**64), 2**64),
)
@settings(max_examples=300, deadline=None)
def test_integer_arithmetic_wraps(name: str, op: Ops, a: int, b: int) -> None:
    dt = getattr(dtypes, name)
    a, b = _wrap(a, 8 * dt.itemsize, dt.kind == "int"), _wrap(b, 8 * dt.itemsize, dt.kind == "int")
    exact = {Ops.ADD: a + b, Ops.SUB: a - b, Ops.MUL: a * b}[op]
    assert exec_alu(op, dt, (a, b)) == _wrap(exact, 8 * dt.itemsize, dt.kind == "int")


def test_integer_wrap_examples() -> None:
    assert exec_alu(Ops.ADD, dtypes.uint8, (250, 10)) == 4
    assert exec_alu(Ops.ADD, dtypes.int8, (127, 1)) == -128
    assert exec_alu(Ops.SUB, dtypes.uint32, (0, 1)) == 2**32 - 1
    assert exec_alu(Ops.MUL, dtypes.int16, (300, 300)) == 90000 - 65536
    assert exec_alu(Ops.NEG, dtypes.int8, (-128,)) == -128
    assert exec_alu(Ops.SHL, dtypes.int8, (1, 7)) == -128
    assert exec_alu(Ops.SHL, dtypes.uint8, (3, 7)) == 128
    assert exec_alu(Ops.SHR, dtypes.uint32, (2**31, 31)) == 1
    assert exec_alu(Ops.MULACC, dtypes.uint8, (16, 16, 5)) == 5


def test_bitwise_and_comparisons() -> None:
    assert exec_alu(Ops.AND, dtypes.int32, (12, 10)) == 8
    assert exec_alu(Ops.OR, dtypes.int32, (12, 10)) == 14
    assert exec_alu(Ops.XOR, dtypes.int32, (12, 10)) == 6
    assert exec_alu(Ops.MAX, dtypes.int32, (-3, -7)) == -3
    assert exec_alu(Ops.CMPLT, dtypes.bool, (3, 4)) is True
    assert exec_alu(Ops.CMPLT, dtypes.bool, (4, 4)) is False
    assert exec_alu(Ops.CMPNE, dtypes.bool, (4, 4)) is False
    assert exec_alu(Ops.CMPEQ, dtypes.bool, (4, 4)) is True
    assert exec_alu(Ops.WHERE, dtypes.int32, (True, 1, 2)) == 1
    assert exec_alu(Ops.WHERE, dtypes.int32, (False, 1, 2)) == 2


def test_bool_arithmetic_is_logic() -> None:
    for a, b in itertools.product((False, True), repeat=2):
        assert exec_alu(Ops.ADD, dtypes.bool, (a, b)) is (a or b)
        assert exec_alu(Ops.MUL, dtypes.bool, (a, b)) is (a and b)
        assert exec_alu(Ops.MAX, dtypes.bool, (a, b)) is (a or b)
        assert exec_alu(Ops.XOR, dtypes.bool, (a, b)) is (a != b)
    assert exec_alu(Ops.NEG, dtypes.bool, (True,)) is False


def test_float_ops_special_values() -> None:
    f32 = dtypes.float32
    assert exec_alu(Ops.FDIV, f32, (1.0, 0.0)) == math.inf
    assert exec_alu(Ops.FDIV, f32, (-1.0, 0.0)) == -math.inf
    assert exec_alu(Ops.FDIV, f32, (1.0, -0.0)) == -math.inf
    assert math.isnan(exec_alu(Ops.FDIV, f32, (0.0, 0.0)))
    assert exec_alu(Ops.RECIP, f32, (0.0,)) == math.inf
    assert exec_alu(Ops.RECIP, f32, (4.0,)) == 0.25
    assert math.isnan(exec_alu(Ops.SQRT, f32, (-1.0,)))
    assert exec_alu(Ops.SQRT, f32, (9.0,)) == 3.0
    assert exec_alu(Ops.LOG2, f32, (0.0,)) == -math.inf
    assert math.isnan(exec_alu(Ops.LOG2, f32, (-1.0,)))
    assert exec_alu(Ops.LOG2, f32, (8.0,)) == 3.0
    assert exec_alu(Ops.EXP2, f32, (3.0,)) == 8.0
    assert exec_alu(Ops.EXP2, f32, (5000.0,)) == math.inf
    assert exec_alu(Ops.EXP2, f32, (-5000.0,)) == 0.0
    assert math.isnan(exec_alu(Ops.SIN, f32, (math.inf,)))
    assert exec_alu(Ops.TRUNC, f32, (-2.7,)) == -2.0 and exec_alu(Ops.TRUNC, f32, (2.7,)) == 2.0
    assert math.isnan(exec_alu(Ops.MAX, f32, (math.nan, 1.0)))
    assert math.isnan(exec_alu(Ops.MAX, f32, (1.0, math.nan)))
    assert exec_alu(Ops.MAX, f32, (-1.5, -2.5)) == -1.5


def test_float_results_are_rounded_to_the_dtype() -> None:
    assert exec_alu(Ops.FDIV, dtypes.float32, (1.0, 3.0)) == _ref_round(1 / 3, *FLOAT_FORMATS["float32"])
    assert exec_alu(Ops.FDIV, dtypes.float64, (1.0, 3.0)) == 1 / 3
    assert exec_alu(Ops.ADD, dtypes.float16, (60000.0, 60000.0)) == math.inf
    assert exec_alu(Ops.MUL, dtypes.float32, (1e38, 10.0)) == math.inf
    assert exec_alu(Ops.ADD, dtypes.float16, (1.0, 2**-11)) == 1.0
    assert exec_alu(Ops.ADD, dtypes.float32, (1, 2)) == 3.0 and isinstance(
        exec_alu(Ops.ADD, dtypes.float32, (1, 2)), float
    )
    assert exec_alu(Ops.SIN, dtypes.float64, (1.0,)) == math.sin(1.0)
