"""Data types: scalars, vectors (for codegen), pointers (for buffers) and the promotion lattice.

>>> from tg_uop.dtype import dtypes, least_upper_dtype
>>> dtypes.float32.itemsize, dtypes.int8.max
(4, 127)
>>> least_upper_dtype(dtypes.int32, dtypes.float16)
dtypes.float16
>>> dtypes.float32.vec(4)
dtypes.float32.vec(4)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Final


class _Interned(type):
    """Equal dtypes are one object, so dtypes compare and hash by identity, in C: they are hashed on every UOp
    construction and compared all the time."""

    cache: ClassVar[dict[tuple[Any, ...], Any]] = {}

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        made = super().__call__(*args, **kwargs)
        key = (cls, *(getattr(made, f.name) for f in dataclasses.fields(made)))
        return _Interned.cache.setdefault(key, made)


@dataclass(frozen=True, eq=False)
class DType(metaclass=_Interned):
    """A scalar or vector element type. `fmt` is the `struct`/memoryview format character.

    Interned: building a DType with the fields of an existing one returns that one (so `is` and `==` agree).
    """

    name: str
    itemsize: int
    fmt: str | None
    kind: str  # "bool", "int", "uint", "float"
    count: int = 1

    def __reduce__(self) -> tuple[Any, ...]:
        # unpickling goes through the constructor, so it finds the interned object
        return type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def __repr__(self) -> str:
        return f"dtypes.{self.name}" if self.count == 1 else f"dtypes.{self.name}.vec({self.count})"

    def vec(self, n: int) -> DType:
        """The vector type of `n` lanes of this scalar type."""
        if self.count != 1:
            raise ValueError(f"vec: {self} is already a vector")
        return self if n == 1 else DType(self.name, self.itemsize * n, None, self.kind, n)

    def scalar(self) -> DType:
        return self if self.count == 1 else getattr(dtypes, self.name)

    def ptr(self, size: int = -1, local: bool = False) -> PtrDType:
        """The pointer type to a buffer of `size` elements of this type (-1: unknown)."""
        return PtrDType(self.name, self.itemsize, self.fmt, self.kind, self.count, self, size, local)

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_int(self) -> bool:
        return self.kind in ("int", "uint")

    @property
    def is_unsigned(self) -> bool:
        return self.kind == "uint"

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    @property
    def min(self) -> int | float | bool:
        return _limits(self.scalar())[0]

    @property
    def max(self) -> int | float | bool:
        return _limits(self.scalar())[1]


@dataclass(frozen=True, eq=False)
class PtrDType(DType):
    """A pointer to elements of `base`, in global (default) or local memory."""

    base: DType | None = None
    size: int = -1
    local: bool = False

    def __repr__(self) -> str:
        return f"{self.base!r}.ptr({self.size}{', local=True' if self.local else ''})"


@functools.cache
def _limits(dt: DType) -> tuple[int | float | bool, int | float | bool]:
    if dt.kind == "bool":
        return False, True
    if dt.kind == "int":
        return -(2 ** (8 * dt.itemsize - 1)), 2 ** (8 * dt.itemsize - 1) - 1
    if dt.kind == "uint":
        return 0, 2 ** (8 * dt.itemsize) - 1
    return -math.inf, math.inf


class dtypes:
    """Namespace of the scalar types, with tinygrad/PyTorch-style aliases."""

    void: Final = DType("void", 0, None, "void")
    bool: Final = DType("bool", 1, "?", "bool")
    int8: Final = DType("int8", 1, "b", "int")
    int16: Final = DType("int16", 2, "h", "int")
    int32: Final = DType("int32", 4, "i", "int")
    int64: Final = DType("int64", 8, "q", "int")
    uint8: Final = DType("uint8", 1, "B", "uint")
    uint16: Final = DType("uint16", 2, "H", "uint")
    uint32: Final = DType("uint32", 4, "I", "uint")
    uint64: Final = DType("uint64", 8, "Q", "uint")
    float16: Final = DType("float16", 2, "e", "float")
    bfloat16: Final = DType("bfloat16", 2, None, "float")
    float32: Final = DType("float32", 4, "f", "float")
    float64: Final = DType("float64", 8, "d", "float")
    # aliases
    half = float16
    float = float32
    double = float64
    char = int8
    short = int16
    int = int32
    long = int64
    uchar = uint8
    ushort = uint16
    uint = uint32
    ulong = uint64
    # default types for Python floats and ints
    default_float: DType = float32
    default_int: DType = int32
    # the integer type of index arithmetic in kernels
    index: Final = int32

    @staticmethod
    def all() -> tuple[DType, ...]:
        """Every scalar type, smallest first within each kind."""
        return ALL_DTYPES

    @staticmethod
    def from_name(name: str) -> DType:
        """Look a scalar type up by name ('float32', 'int', ...); KeyError naming the choices otherwise."""
        dt = getattr(dtypes, name, None)
        if not isinstance(dt, DType):
            raise KeyError(f"unknown dtype {name!r}; known: {[d.name for d in ALL_DTYPES]}")
        return dt

    @staticmethod
    def from_py(x: object) -> DType:
        """The dtype tg gives a Python scalar (or nested list of them): bool, default_int or default_float."""
        if isinstance(x, (list, tuple)):
            return max((dtypes.from_py(v) for v in x), key=_PY_RANK.__getitem__, default=dtypes.default_float)
        if isinstance(x, bool):
            return dtypes.bool
        if isinstance(x, int):
            return dtypes.default_int
        return dtypes.default_float


ALL_DTYPES: Final[tuple[DType, ...]] = (
    dtypes.bool,
    dtypes.int8,
    dtypes.int16,
    dtypes.int32,
    dtypes.int64,
    dtypes.uint8,
    dtypes.uint16,
    dtypes.uint32,
    dtypes.uint64,
    dtypes.float16,
    dtypes.bfloat16,
    dtypes.float32,
    dtypes.float64,
)

_PY_RANK = {dtypes.bool: 0, dtypes.default_int: 1, dtypes.default_float: 2}

# The promotion lattice: each type's direct parents. least_upper_dtype(a, b) is the smallest type reachable
# upward from both. Signed and unsigned integers meet at the next wider signed integer; every integer is below
# both 16-bit floats; float16 and bfloat16 meet at float32.
_PARENTS: Final[dict[DType, tuple[DType, ...]]] = {
    dtypes.bool: (dtypes.int8, dtypes.uint8),
    dtypes.int8: (dtypes.int16,),
    dtypes.int16: (dtypes.int32,),
    dtypes.int32: (dtypes.int64,),
    dtypes.int64: (dtypes.float16, dtypes.bfloat16),
    dtypes.uint8: (dtypes.int16, dtypes.uint16),
    dtypes.uint16: (dtypes.int32, dtypes.uint32),
    dtypes.uint32: (dtypes.int64, dtypes.uint64),
    dtypes.uint64: (dtypes.float16, dtypes.bfloat16),
    dtypes.float16: (dtypes.float32,),
    dtypes.bfloat16: (dtypes.float32,),
    dtypes.float32: (dtypes.float64,),
    dtypes.float64: (),
}


@functools.cache
def _upward(dt: DType) -> frozenset[DType]:
    return frozenset([dt]).union(*(_upward(p) for p in _PARENTS[dt]))


def least_upper_dtype(*dts: DType) -> DType:
    """The type that all given scalar types promote to (the same for any order of the arguments).

    >>> least_upper_dtype(dtypes.bool, dtypes.int8)
    dtypes.int8
    >>> least_upper_dtype(dtypes.uint8, dtypes.int8)
    dtypes.int16
    """
    if not dts:
        raise ValueError("least_upper_dtype needs at least one dtype")
    return _lub_set(frozenset(d.scalar() for d in dts))


@functools.cache
def _lub_set(dts: frozenset[DType]) -> DType:
    common = frozenset.intersection(*(_upward(d) for d in dts))
    minimal = sorted(
        (c for c in common if not any(o is not c and c in _upward(o) for o in common)), key=ALL_DTYPES.index
    )
    return minimal[0] if len(minimal) == 1 else _lub_set(frozenset(minimal))


def least_upper_float(dt: DType) -> DType:
    """`dt` if it is a float type, else the default float (what sqrt or exp of an int gives)."""
    return dt if dt.is_float else least_upper_dtype(dt, dtypes.default_float)


def truncate(dt: DType, x: int | float | bool) -> int | float | bool:
    """Bring a Python value into the range and precision of `dt` (C semantics: integers wrap)."""
    if dt.is_bool:
        return bool(x)
    if dt.is_int:
        bits = 8 * dt.itemsize
        v = int(x) & ((1 << bits) - 1)
        return v - (1 << bits) if dt.kind == "int" and v >= 1 << (bits - 1) else v
    return _round_float(dt, float(x))


def _round_float(dt: DType, x: float) -> float:
    import struct

    if dt.itemsize == 8 or math.isnan(x) or math.isinf(x):
        return x
    if dt == dtypes.bfloat16:
        return _round_bfloat16(x)
    try:
        return float(struct.unpack(dt.fmt or "f", struct.pack(dt.fmt or "f", x))[0])
    except OverflowError:
        return math.copysign(math.inf, x)


def _round_bfloat16(x: float) -> float:
    """Round a float64 straight to bfloat16 (8 significant bits, float32's exponent range), ties to even."""
    if x == 0:
        return x
    _, e = math.frexp(x)
    # spacing of bfloat16 values near x: 2**(e-8) for normal numbers, 2**-133 below 2**-126
    quantum = math.ldexp(1.0, max(e - 8, -133))
    r = round(x / quantum) * quantum
    return math.copysign(math.inf, x) if abs(r) >= 2.0**128 else r
