"""The one `Ops` enum shared by all three IR stages, and its groups.

>>> from tg_uop.ops import Ops, GroupOp
>>> Ops.ADD in GroupOp.Binary, Ops.RESHAPE in GroupOp.Movement
(True, True)
>>> RangeArg(0, AxisType.REDUCE, 2)
RangeArg(0, AxisType.REDUCE, 2)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from tg_uop.dtype import DType, truncate


class Ops(Enum):
    """Every operation. The comment before each block names the group it belongs to."""

    # unary ALU
    NEG = auto()
    RECIP = auto()
    SQRT = auto()
    EXP2 = auto()
    LOG2 = auto()
    SIN = auto()
    TRUNC = auto()
    # binary ALU
    ADD = auto()
    SUB = auto()
    MUL = auto()
    FDIV = auto()
    IDIV = auto()
    MOD = auto()
    MAX = auto()
    CMPLT = auto()
    CMPNE = auto()
    CMPEQ = auto()
    AND = auto()
    OR = auto()
    XOR = auto()
    SHL = auto()
    SHR = auto()
    # ternary ALU
    WHERE = auto()
    MULACC = auto()
    # type changes (elementwise, but not ALU)
    CAST = auto()
    BITCAST = auto()
    # reduce: REDUCE_AXIS in tensor graphs and kernel ASTs, REDUCE in loop programs
    REDUCE_AXIS = auto()
    REDUCE = auto()
    # movement (tensor graph only; folded into views in kernel ASTs)
    RESHAPE = auto()
    PERMUTE = auto()
    EXPAND = auto()
    PAD = auto()
    SHRINK = auto()
    FLIP = auto()
    # buffers and memory
    DEVICE = auto()
    BUFFER = auto()
    CONST = auto()
    VCONST = auto()
    DEFINE_VAR = auto()
    BIND = auto()
    CONTIGUOUS = auto()
    DETACH = auto()
    COPY = auto()
    ASSIGN = auto()
    # a user's prebuilt kernel in a tensor graph (arg: CustomKernel); its sources are its inputs
    CUSTOM = auto()
    VIEW = auto()
    DEFINE_GLOBAL = auto()
    DEFINE_LOCAL = auto()
    DEFINE_ACC = auto()
    INDEX = auto()
    LOAD = auto()
    STORE = auto()
    # control and program structure
    SINK = auto()
    RANGE = auto()
    ENDRANGE = auto()
    IF = auto()
    ENDIF = auto()
    SPECIAL = auto()
    BARRIER = auto()
    VECTORIZE = auto()
    GEP = auto()
    NOOP = auto()
    # a tensor on several devices (tensor graph only): its sources are the per-device parts, its arg the axis they
    # split (None: each holds the whole value); tg_tensor.multi rewrites ops on it into per-device graphs
    MULTI = auto()

    def __repr__(self) -> str:
        return f"Ops.{self.name}"

    # identity hashing in C: Enum's default hashes the name in Python, and ops are hashed constantly
    __hash__ = object.__hash__


class GroupOp:
    """Sets of Ops by kind, for `UPat(GroupOp.Binary, ...)` and for checks."""

    Unary = frozenset({Ops.NEG, Ops.RECIP, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC})
    Binary = frozenset(
        {
            Ops.ADD,
            Ops.SUB,
            Ops.MUL,
            Ops.FDIV,
            Ops.IDIV,
            Ops.MOD,
            Ops.MAX,
            Ops.CMPLT,
            Ops.CMPNE,
            Ops.CMPEQ,
            Ops.AND,
            Ops.OR,
            Ops.XOR,
            Ops.SHL,
            Ops.SHR,
        }
    )
    Ternary = frozenset({Ops.WHERE, Ops.MULACC})
    ALU = Unary | Binary | Ternary
    Elementwise = ALU | {Ops.CAST, Ops.BITCAST}
    Reduce = frozenset({Ops.REDUCE_AXIS, Ops.REDUCE})
    Movement = frozenset({Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP})
    Buffer = frozenset(
        {
            Ops.DEVICE,
            Ops.BUFFER,
            Ops.CONST,
            Ops.VCONST,
            Ops.DEFINE_VAR,
            Ops.BIND,
            Ops.CONTIGUOUS,
            Ops.DETACH,
            Ops.COPY,
            Ops.ASSIGN,
            Ops.VIEW,
            Ops.DEFINE_GLOBAL,
            Ops.DEFINE_LOCAL,
            Ops.DEFINE_ACC,
            Ops.INDEX,
            Ops.LOAD,
            Ops.STORE,
        }
    )
    Control = frozenset(
        {
            Ops.SINK,
            Ops.RANGE,
            Ops.ENDRANGE,
            Ops.IF,
            Ops.ENDIF,
            Ops.SPECIAL,
            Ops.BARRIER,
            Ops.VECTORIZE,
            Ops.GEP,
            Ops.NOOP,
        }
    )
    Commutative = frozenset({Ops.ADD, Ops.MUL, Ops.MAX, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR})
    Associative = frozenset({Ops.ADD, Ops.MUL, Ops.MAX, Ops.AND, Ops.OR, Ops.XOR})
    Comparison = frozenset({Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ})
    # ops whose output is 0 wherever their inputs are 0: padding may be pushed through them
    SafeToPad = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.NEG, Ops.SQRT, Ops.TRUNC, Ops.MAX, Ops.SIN})


class AxisType(Enum):
    """What a kernel axis becomes in the program (see tg_codegen.kernel); members in loop nesting order."""

    THREAD = "thread"  # the outermost loop, spread over CPU threads
    GLOBAL = "global"  # a loop (CPU) or a work-group index (GPU)
    LOCAL = "local"  # a work-item index within a work-group
    GROUP = "group"  # a reduce axis shared by the work-items of a work-group
    REDUCE = "reduce"  # a reduction loop
    UNROLL = "unroll"  # a reduce axis unrolled: one accumulator per value
    UPCAST = "upcast"  # an output axis unrolled: one value per copy, computed by one thread
    VECTOR = "vector"  # an upcast axis whose copies are the lanes of one SIMD value


@dataclass(frozen=True)
class CustomKernel:
    """The arg of a CUSTOM tensor-graph node: a kernel written by hand, writing parameter 0 and reading the node's
    sources as parameters 1..n in order. Either `ast` (a kernel AST: a SINK of one STORE, lowered for any device)
    or `src` (source text defining the function `name` for devices of kind `device` only, launched over
    `global_size`/`local_size`); and the output's shape."""

    ast: Any  # a UOp (tg_uop.uop imports this module), or None for a source kernel
    shape: tuple[int, ...]
    name: str = "custom"
    src: str | None = None
    device: str | None = None
    global_size: tuple[int, ...] = (1, 1, 1)
    local_size: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RangeArg:
    """The arg of a RANGE: the kernel axis it loops over (-1 for the loop combining a work-group's partial
    results), its kind, and which loop over that axis it is (each reduction gets loops of its own)."""

    axis: int
    kind: AxisType
    instance: int = 0

    def _key(self) -> tuple[int, str, int]:
        return (self.axis, self.kind.value, self.instance)

    def __repr__(self) -> str:  # short: loop programs print one RANGE a line (DEBUG listings)
        return f"RangeArg({self.axis}, AxisType.{self.kind.name}, {self.instance})"

    def __lt__(self, other: RangeArg) -> bool:
        # ranges sort by axis: loops nest in axis order
        return self._key() < other._key()


def _safe_div(x: float, y: float) -> float:
    if y == 0:
        return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def _c_idiv(x: int, y: int) -> int:
    if y == 0:
        return 0  # undefined in C; 0 keeps constant folding total
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


def _c_mod(x: int, y: int) -> int:
    return 0 if y == 0 else x - _c_idiv(x, y) * y


def _exp2(x: float) -> float:
    try:
        return float(2.0**x)
    except OverflowError:
        return math.inf


def _log2(x: float) -> float:
    if math.isnan(x) or x < 0:
        return math.nan
    return -math.inf if x == 0 else math.log2(x)


def _sqrt(x: float) -> float:
    return math.nan if math.isnan(x) or x < 0 else math.sqrt(x)


def _sin(x: float) -> float:
    return math.nan if math.isinf(x) or math.isnan(x) else math.sin(x)


def _trunc(x: float) -> float:
    return x if math.isinf(x) or math.isnan(x) else float(math.trunc(x))


def _max(x: Any, y: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or (isinstance(y, float) and math.isnan(y))):
        return math.nan
    return max(x, y)


# How each ALU op computes on Python scalars, with C semantics (integer division truncates toward zero, the
# modulo takes the dividend's sign, shifts are logical). Results are brought into the dtype by `truncate`.
python_alu: dict[Ops, Callable[..., Any]] = {
    Ops.NEG: lambda x: not x if isinstance(x, bool) else -x,
    Ops.RECIP: lambda x: _safe_div(1.0, x),
    Ops.SQRT: _sqrt,
    Ops.EXP2: _exp2,
    Ops.LOG2: _log2,
    Ops.SIN: _sin,
    Ops.TRUNC: _trunc,
    Ops.ADD: operator.add,
    Ops.SUB: operator.sub,
    Ops.MUL: operator.mul,
    Ops.FDIV: _safe_div,
    Ops.IDIV: _c_idiv,
    Ops.MOD: _c_mod,
    Ops.MAX: _max,
    Ops.CMPLT: operator.lt,
    Ops.CMPNE: operator.ne,
    Ops.CMPEQ: operator.eq,
    Ops.AND: operator.and_,
    Ops.OR: operator.or_,
    Ops.XOR: operator.xor,
    Ops.SHL: operator.lshift,
    Ops.SHR: operator.rshift,
    Ops.WHERE: lambda c, x, y: x if c else y,
    Ops.MULACC: lambda x, y, z: x * y + z,
}


def exec_alu(op: Ops, dtype: DType, operands: Sequence[Any]) -> Any:
    """Evaluate one ALU op on Python scalars the way a compiled kernel of `dtype` would.

    >>> from tg_uop.dtype import dtypes
    >>> exec_alu(Ops.IDIV, dtypes.int32, (-7, 2)), exec_alu(Ops.ADD, dtypes.uint8, (250, 10))
    (-3, 4)
    """
    if dtype.is_bool and op in (Ops.ADD, Ops.MUL, Ops.MAX):
        op = {Ops.ADD: Ops.OR, Ops.MUL: Ops.AND, Ops.MAX: Ops.OR}[op]
    if dtype.is_float and op in (Ops.ADD, Ops.SUB, Ops.MUL, Ops.MULACC):
        operands = [float(x) for x in operands]
        try:
            return truncate(dtype, python_alu[op](*operands))
        except OverflowError:
            return math.inf
    return truncate(dtype, python_alu[op](*operands))
