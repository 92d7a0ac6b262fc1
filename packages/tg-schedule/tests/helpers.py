"""Builders for hand-made tensor graphs and a plain-Python reference interpreter to check them against.

The interpreter evaluates a tensor graph (design stage 1) element by element with Python numbers. It shares no
code with tg_schedule or tg_codegen: movement ops are done with explicit index arithmetic, so it is an
independent oracle for what a schedule must compute.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import pytest

from tg_runtime import Buffer, Device
from tg_schedule import ScheduleItem, create_schedule, run_schedule
from tg_uop import DType, Ops, UOp, dtypes, toposort

_FMT = {dtypes.float32: "f", dtypes.int32: "i", dtypes.bool: "?"}


def make_buffer(values: Sequence[Any], dtype: DType = dtypes.float32, device: str = "CPU") -> Buffer:
    fmt = _FMT[dtype]
    return Buffer(device, len(values), dtype).copyin(memoryview(struct.pack(f"{len(values)}{fmt}", *values)))


def leaf(
    values: Sequence[Any], shape: tuple[int, ...] | None = None, dtype: DType = dtypes.float32, device: str = "CPU"
) -> UOp:
    """A BUFFER node holding `values`, reshaped to `shape` when given."""
    node = UOp(Ops.BUFFER, dtype, (), make_buffer(values, dtype, device))
    return node if shape is None else node.reshape(shape)


def workgroup_device() -> str:
    """CL: a device whose kernels run every output element as a work-item (skips the test where it does not work).
    There a row's reduction is realized before the kernels that read it broadcast, unless the row fits one
    work-group (tg_codegen.heuristic.row_group_split)."""
    if Device.available().get("CL") is not None:
        pytest.skip("no OpenCL device here")
    return "CL"


def const(value: Any, shape: tuple[int, ...], dtype: DType = dtypes.float32, device: str = "CPU") -> UOp:
    """A constant broadcast to `shape` the way a tensor graph holds it: CONST on a DEVICE, reshaped and expanded."""
    c = UOp.const(dtype, value, (UOp(Ops.DEVICE, arg=device),))
    return c.reshape((1,) * len(shape)).expand(shape)


def assign(target: UOp, value: UOp) -> UOp:
    """An ASSIGN of `value` into `target` (a view of a BUFFER node)."""
    return UOp(Ops.ASSIGN, value.dtype, (target, value))


def contents(buf: Buffer) -> list[Any]:
    """The whole contents of a buffer as Python numbers."""
    return buf.as_memoryview().cast(_FMT[buf.dtype]).tolist()


def view_values(node: UOp) -> list[Any]:
    """The values a view of a realized buffer (movement ops over a BUFFER) shows, in row-major order."""
    for n in toposort([node]):
        assert n.op is Ops.BUFFER or n.op in (Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP), (
            f"not a view of a buffer: {n.op}"
        )
    return reference(node)[1]


# ---- reference interpreter ----


def _prod(xs: Sequence[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _unravel(i: int, shape: Sequence[int]) -> list[int]:
    idx = []
    for s in reversed(shape):
        idx.append(i % s)
        i //= s
    return idx[::-1]


def _ravel(idx: Sequence[int], shape: Sequence[int]) -> int:
    out = 0
    for i, s in zip(idx, shape):
        out = out * s + i
    return out


def _gather(shape: tuple[int, ...], vals: list[Any], out_shape: tuple[int, ...], src_index: Any) -> list[Any]:
    """out[idx] = vals[src_index(idx)], where src_index returns an index into `shape` or None for 0."""
    out = []
    for i in range(_prod(out_shape)):
        j = src_index(_unravel(i, out_shape))
        out.append(0 if j is None else vals[_ravel(j, shape)])
    return out


def _binary(op: Ops, a: Any, b: Any) -> Any:
    if op is Ops.ADD:
        return a + b
    if op is Ops.SUB:
        return a - b
    if op is Ops.MUL:
        return a * b
    if op is Ops.FDIV:
        return a / b if b != 0 else math.copysign(math.inf, a) if a != 0 else math.nan
    if op is Ops.MAX:
        return max(a, b)
    if op is Ops.CMPLT:
        return a < b
    if op is Ops.CMPNE:
        return a != b
    if op is Ops.CMPEQ:
        return a == b
    raise NotImplementedError(op)


def _unary(op: Ops, a: Any) -> Any:
    if op is Ops.NEG:
        return -a
    if op is Ops.RECIP:
        return 1 / a
    if op is Ops.SQRT:
        return math.sqrt(a)
    if op is Ops.EXP2:
        return 2.0**a
    raise NotImplementedError(op)


def _cast(dtype: DType, v: Any) -> Any:
    if dtype.is_bool:
        return bool(v)
    if dtype.is_int:
        return int(v)
    return float(v)


def reference(root: UOp) -> tuple[tuple[int, ...], list[Any]]:
    """Evaluate a tensor graph in plain Python: its shape and its values in row-major order.

    BUFFER leaves read the buffer's current contents, so evaluate before running a schedule that writes them.
    ASSIGN evaluates to the value it writes; COPY and CONTIGUOUS to their source.
    """
    memo: dict[UOp, tuple[tuple[int, ...], list[Any]]] = {}
    for n in toposort([root]):
        op, arg = n.op, n.arg
        srcs = [memo[s] for s in n.src if s in memo]
        if op is Ops.DEVICE:
            continue
        if op is Ops.BUFFER:
            memo[n] = ((arg.size,), contents(arg))
        elif op is Ops.CONST:
            memo[n] = ((), [arg])
        elif op in (Ops.CONTIGUOUS, Ops.COPY):
            memo[n] = srcs[0]
        elif op is Ops.ASSIGN:
            memo[n] = memo[n.src[1]]
        elif op is Ops.RESHAPE:
            memo[n] = (tuple(arg), srcs[0][1])
        elif op in (Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP):
            memo[n] = _movement(op, arg, *srcs[0])
        elif op is Ops.REDUCE_AXIS:
            memo[n] = _reduce(arg[0], arg[1], *srcs[0])
        elif op is Ops.CAST:
            memo[n] = (srcs[0][0], [_cast(n.dtype, v) for v in srcs[0][1]])
        elif op is Ops.WHERE:
            shapes = {s for s, _ in srcs if s != ()}
            shape = shapes.pop() if shapes else ()
            full = [v * _prod(shape) if s == () else v for s, v in srcs]
            memo[n] = (shape, [b if c else e for c, b, e in zip(*full)])
        elif len(srcs) == 1:
            memo[n] = (srcs[0][0], [_unary(op, v) for v in srcs[0][1]])
        elif len(srcs) == 2:
            (sa, va), (sb, vb) = srcs
            shape = sb if sa == () else sa
            va, vb = (va * len(vb) if sa == () else va), (vb * len(va) if sb == () else vb)
            memo[n] = (shape, [_binary(op, a, b) for a, b in zip(va, vb)])
        else:
            raise NotImplementedError(f"reference: {op}")
    return memo[root]


def _movement(op: Ops, arg: Any, shape: tuple[int, ...], vals: list[Any]) -> tuple[tuple[int, ...], list[Any]]:
    if op is Ops.PERMUTE:
        out_shape = tuple(shape[i] for i in arg)

        def index(idx: list[int]) -> list[int]:
            src = [0] * len(shape)
            for out_axis, src_axis in enumerate(arg):
                src[src_axis] = idx[out_axis]
            return src

    elif op is Ops.EXPAND:
        out_shape = tuple(arg)

        def index(idx: list[int]) -> list[int]:
            return [0 if s == 1 else i for i, s in zip(idx, shape)]

    elif op is Ops.PAD:
        out_shape = tuple(s + b + a for s, (b, a) in zip(shape, arg))

        def index(idx: list[int]) -> list[int] | None:
            src = [i - b for i, (b, _) in zip(idx, arg)]
            return src if all(0 <= i < s for i, s in zip(src, shape)) else None

    elif op is Ops.SHRINK:
        out_shape = tuple(e - b for b, e in arg)

        def index(idx: list[int]) -> list[int]:
            return [i + b for i, (b, _) in zip(idx, arg)]

    else:  # FLIP
        out_shape = shape

        def index(idx: list[int]) -> list[int]:
            return [s - 1 - i if f else i for i, s, f in zip(idx, shape, arg)]

    return out_shape, _gather(shape, vals, out_shape, index)


def _reduce(op: Ops, axes: tuple[int, ...], shape: tuple[int, ...], vals: list[Any]) -> tuple[tuple[int, ...], list]:
    out_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
    groups: list[list[Any]] = [[] for _ in range(_prod(out_shape))]
    for i, v in enumerate(vals):
        idx = _unravel(i, shape)
        groups[_ravel([0 if a in axes else x for a, x in enumerate(idx)], out_shape)].append(v)
    if op is Ops.ADD:
        return out_shape, [sum(g) for g in groups]
    if op is Ops.MAX:
        return out_shape, [max(g) for g in groups]
    if op is Ops.MUL:
        return out_shape, [math.prod(g) for g in groups]
    raise NotImplementedError(op)


def close(actual: Sequence[Any], expected: Sequence[Any], rel: float = 1e-5, abs_tol: float = 1e-5) -> bool:
    """Element-wise closeness for float32 results against float64 expectations."""
    return len(actual) == len(expected) and all(
        math.isclose(a, e, rel_tol=rel, abs_tol=abs_tol) or (math.isnan(a) and math.isnan(e))
        for a, e in zip(actual, expected)
    )


def run_and_check(out: UOp) -> list[ScheduleItem]:
    """Schedule and run `out`, check its values against the reference interpreter, return the schedule."""
    want = reference(out)[1]
    sched, becomes = create_schedule([out])
    run_schedule(sched)
    assert close(view_values(becomes[out]), want)
    return sched
