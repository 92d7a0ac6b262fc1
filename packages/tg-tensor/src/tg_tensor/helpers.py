"""Small helpers shared by the Tensor modules: argument normalization, constants, host data.

>>> broadcast_shape((3, 1), (4,), "add")
(3, 4)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tg_runtime.buffer import Buffer
from tg_tensor.errors import ArgumentError
from tg_uop.bound import concrete
from tg_uop.dtype import DType, dtypes
from tg_uop.ops import Ops
from tg_uop.uop import UOp
from tg_uop.view import sym_equal

Scalar = int | float | bool
DTypeLike = DType | str  # a dtype or its name, as tinygrad takes them ("float16", "int", "half")
HOST = "PYTHON"  # host memory: data from Python and numpy lands here before it is copied to its device

NP_TO_DTYPE = {np.dtype(d.fmt): d for d in dtypes.all() if d.fmt is not None}


def to_np_dtype(dt: DType) -> np.dtype:
    if dt.fmt is None:
        raise TypeError(f"{dt!r} has no numpy equivalent")
    return np.dtype(dt.fmt)


def varargs(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def const_uop(dtype: DType, value: Scalar, device: str) -> UOp:
    return UOp.const(dtype, value, (UOp(Ops.DEVICE, arg=device),))


def uop_from_numpy(arr: np.ndarray, device: str, dtype: DType) -> UOp:
    data = np.ascontiguousarray(arr.astype(to_np_dtype(dtype), copy=False))
    buf = Buffer(HOST, int(data.size), dtype).copyin(memoryview(data.tobytes()))
    # arr's shape, not data's: ascontiguousarray makes a 0-d array 1-d
    u = UOp(Ops.BUFFER, dtype, (), buf).reshape(tuple(int(s) for s in arr.shape))
    return u if device == HOST else UOp(Ops.COPY, dtype, (u,), device)


def scalar_dtype(tensor_dtype: DType, y: Scalar) -> DType:
    """The dtype a Python scalar takes next to a tensor: it adapts to the tensor unless its kind is wider."""
    if isinstance(y, bool):
        return tensor_dtype
    if isinstance(y, int):
        if tensor_dtype.is_bool:
            return dtypes.default_int
        if tensor_dtype.is_int and abs(y) >= 2**31 and not tensor_dtype.min <= y <= tensor_dtype.max:
            return wide_int_dtype(y)  # an int wider than the tensor's promotes (as tinygrad) instead of wrapping
        return tensor_dtype
    return tensor_dtype if tensor_dtype.is_float else dtypes.default_float


def wide_int_dtype(y: int) -> DType:
    """The integer dtype for a Python int past 31 bits: int64, or uint64 above int64's range."""
    if -(2**63) <= y < 2**63:
        return dtypes.int64
    if 0 <= y < 2**64:
        return dtypes.uint64
    raise ArgumentError(f"the integer {y} does not fit in 64 bits")


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...], op: str) -> tuple[int, ...]:
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(pa, pb, strict=True):
        if not dim_eq(x, y) and not dim_eq(x, 1) and not dim_eq(y, 1):
            raise ArgumentError(f"{op}: shapes {a} and {b} cannot be broadcast together")
        out.append(y if dim_eq(x, 1) else x)
    return tuple(out)


def symbolic_dim(x: Any, op: str) -> UOp:
    """A symbolic size given by the user: an integer expression over bound Variables (`n.bind(3)`, `n.bind(3) + 1`).
    An unbound Variable has no value to run with and is refused here."""
    if not x.dtype.is_int:
        raise ArgumentError(f"{op}: a symbolic size must be an integer expression, got {x.dtype!r}")
    try:
        concrete(x)
    except ValueError as e:
        raise ArgumentError(f"{op}: {e}") from None
    return x


def dim_eq(a: Any, b: Any) -> bool:
    """Whether two dims are equal: ints by value, symbolic ones when provably equal."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return a is b or sym_equal(a, b)


def dtype_arg(dtype: DTypeLike | None, default: DType | None, op: str) -> DType:
    """A dtype given as a tg dtype or by name (tinygrad's `dtype="half"`), checked at the call; `default` for None
    (None for no default: then a dtype is required).

    >>> dtype_arg("int", dtypes.float32, "zeros")
    dtypes.int32
    """
    if dtype is None:
        if default is None:
            raise TypeError(f"{op}: a dtype is needed, got None")
        return default
    if isinstance(dtype, str):  # tinygrad accepts names: dtype="float16"
        found = getattr(dtypes, dtype, None)
        if not isinstance(found, DType):
            raise TypeError(f"{op}: unknown dtype name {dtype!r}")
        dtype = found
    if not isinstance(dtype, DType) or dtype.count != 1 or dtype == dtypes.void:
        raise TypeError(f"{op}: dtype must be a scalar tg dtype (like dtypes.float32), got {dtype!r}")
    return dtype
