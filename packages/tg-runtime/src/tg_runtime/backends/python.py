"""PYTHON: interprets loop programs (IR stage 3) in pure Python. Slow, dependency-free, the reference.

Its "source" is a loop program serialized as text by `serialize_program`: one line per UOp,
`(op, dtype, sources-by-line, arg)`, read back with `ast.literal_eval`. Every ALU result is rounded to its
dtype (`tg_uop.exec_alu`), so float32 programs give float32 answers, not float64 ones.
"""

from __future__ import annotations

import ast
import itertools
import math
import struct
import time
from collections.abc import Sequence
from typing import Any

from tg_runtime.allocator import Allocator
from tg_runtime.compiler import CompileError, Compiler
from tg_runtime.device import Capabilities, Compiled, Launch, Program
from tg_uop.dtype import DType, PtrDType, dtypes, truncate
from tg_uop.ops import AxisType, GroupOp, Ops, RangeArg, exec_alu
from tg_uop.uop import UOp

# ---- the text format ----


def _enc_dtype(dt: DType) -> str:
    if isinstance(dt, PtrDType):
        assert dt.base is not None
        return f"{_enc_dtype(dt.base)}*{'local' if dt.local else ''}{dt.size}"
    return dt.name if dt.count == 1 else f"{dt.name}x{dt.count}"


def _dec_dtype(s: str) -> DType:
    if "*" in s:
        base, rest = s.split("*", 1)
        local = rest.startswith("local")
        return _dec_dtype(base).ptr(int(rest.removeprefix("local")), local)
    if "x" in s and s != "void":
        name, n = s.rsplit("x", 1)
        return dtypes.from_name(name).vec(int(n))
    return dtypes.void if s == "void" else dtypes.from_name(s)


def _enc_arg(a: Any) -> Any:
    if isinstance(a, float):
        return ("__float__", a.hex())
    if isinstance(a, Ops):
        return ("__op__", a.name)
    if isinstance(a, RangeArg):
        return ("__range__", a.axis, a.kind.name, a.instance)
    if isinstance(a, tuple):
        return tuple(_enc_arg(x) for x in a)
    return a


def _dec_arg(a: Any) -> Any:
    if isinstance(a, tuple):
        if len(a) == 2 and a[0] == "__float__":
            return float.fromhex(a[1])
        if len(a) == 2 and a[0] == "__op__":
            return Ops[a[1]]
        if len(a) == 4 and a[0] == "__range__":
            return RangeArg(a[1], AxisType[a[2]], a[3])
        return tuple(_dec_arg(x) for x in a)
    return a


def serialize_program(uops: Sequence[UOp]) -> str:
    """A linear loop program as text, one UOp per line, sources by line number."""
    pos = {u: i for i, u in enumerate(uops)}
    lines = []
    for u in uops:
        missing = [s for s in u.src if s not in pos]
        if missing:
            raise ValueError(f"serialize_program: {u.op} uses a source that is not in the program: {missing[0].op}")
        lines.append(repr((u.op.name, _enc_dtype(u.dtype), tuple(pos[s] for s in u.src), _enc_arg(u.arg))))
    return "\n".join(lines)


def deserialize_program(text: str) -> list[tuple[Ops, DType, tuple[int, ...], Any]]:
    """The instructions of a serialized loop program, checked: sources refer to earlier lines, and loops and
    ifs are closed in order."""
    out = []
    open_blocks: list[tuple[Ops, int]] = []
    for lineno, line in enumerate(text.splitlines()):
        try:
            op, dt, src, arg = ast.literal_eval(line)
            inst = (Ops[op], _dec_dtype(dt), tuple(src), _dec_arg(arg))
        except (ValueError, SyntaxError, KeyError, TypeError) as e:
            raise ValueError(f"PYTHON program line {lineno + 1} is malformed: {line!r} ({e})") from None
        bad = [s for s in inst[2] if not (isinstance(s, int) and 0 <= s < lineno)]
        if bad:
            raise ValueError(f"PYTHON program line {lineno + 1} uses sources {bad} that are not earlier lines")
        if inst[0] in (Ops.RANGE, Ops.IF):
            open_blocks.append((inst[0], lineno))
        elif inst[0] in (Ops.ENDRANGE, Ops.ENDIF):
            want = Ops.RANGE if inst[0] is Ops.ENDRANGE else Ops.IF
            if not open_blocks or open_blocks[-1] != (want, inst[2][0]):
                raise ValueError(f"PYTHON program line {lineno + 1}: {inst[0].name} does not close the innermost block")
            open_blocks.pop()
        out.append(inst)
    if open_blocks:
        raise ValueError(f"PYTHON program: {open_blocks[-1][0].name} on line {open_blocks[-1][1] + 1} is never closed")
    return out


# ---- memory ----


class PythonAllocator(Allocator):
    """Memory as memoryviews over bytearrays, which Python frees with their last view."""

    def _alloc(self, nbytes: int) -> memoryview:
        return memoryview(bytearray(nbytes))

    def _free(self, opaque: Any) -> None:
        pass

    def _copyin(self, dest: memoryview, src: memoryview) -> None:
        dest[:] = src

    _copyout = _copyin  # host to host: the same slice assignment either way

    def _offset(self, opaque: memoryview, offset: int, nbytes: int) -> memoryview:
        return opaque[offset : offset + nbytes]


class _BF16View:
    """Element access to bfloat16 memory (no struct format exists for it)."""

    def __init__(self, mv: memoryview) -> None:
        self.raw = mv.cast("H")

    def __getitem__(self, i: int) -> float:
        return float(struct.unpack("<f", struct.pack("<I", self.raw[i] << 16))[0])

    def __setitem__(self, i: int, v: float) -> None:
        bits = struct.unpack("<I", struct.pack("<f", truncate(dtypes.bfloat16, v)))[0]
        self.raw[i] = bits >> 16


class _F16View:
    """Element access to float16 memory (memoryview.cast does not take the 'e' format before Python 3.12)."""

    def __init__(self, mv: memoryview) -> None:
        self.raw = mv.cast("H")

    def __getitem__(self, i: int) -> float:
        return float(struct.unpack("=e", struct.pack("=H", self.raw[i]))[0])

    def __setitem__(self, i: int, v: float) -> None:
        self.raw[i] = struct.unpack("=H", struct.pack("=e", truncate(dtypes.float16, v)))[0]


def _typed(mv: memoryview, dt: DType) -> Any:
    if dt.scalar() == dtypes.bfloat16:
        return _BF16View(mv)
    if dt.scalar() == dtypes.float16:
        return _F16View(mv)
    assert dt.fmt is not None
    return mv.cast("B").cast(dt.fmt)  # type: ignore[call-overload]


# ---- the interpreter ----


class ProgramTextError(CompileError, ValueError):
    """A malformed PYTHON program: a `CompileError` like every device's, and the `ValueError` it always was."""


class PythonCompiler(Compiler):
    identity = "python-interpreter-1"

    def compile(self, src: str) -> bytes:
        try:
            deserialize_program(src)  # reject malformed programs at compile time
        except ValueError as e:
            raise ProgramTextError(str(e), src, "PYTHON") from None
        return src.encode()


def _cast(v: Any, dt: DType) -> Any:
    if dt.is_bool:
        return bool(v)
    if dt.is_int:
        if isinstance(v, float):
            if math.isnan(v) or math.isinf(v):
                return 0
            v = math.trunc(v)
        return truncate(dt, int(v))
    return truncate(dt, float(v))


def _bitcast(v: Any, src: DType, dst: DType) -> Any:
    assert src.fmt is not None and dst.fmt is not None
    return struct.unpack(dst.fmt, struct.pack(src.fmt, v))[0]


class PythonProgram(Program):
    """Runs a serialized loop program once per work-item of the launch grid."""

    def __init__(self, name: str, lib: bytes) -> None:
        self.name = name
        self.insts = deserialize_program(lib.decode())
        # where each loop ends, so a RANGE whose condition fails can jump past its ENDRANGE
        self._loop_end: dict[int, int] = {}
        self._if_end: dict[int, int] = {}
        self._nbufs = 1 + max((arg for op, _, _, arg in self.insts if op is Ops.DEFINE_GLOBAL), default=-1)
        self._vars = [arg[0] for op, _, _, arg in self.insts if op is Ops.DEFINE_VAR]
        for i, (op, _, src, _) in enumerate(self.insts):
            if op is Ops.ENDRANGE:
                self._loop_end[src[0]] = i
            elif op is Ops.ENDIF:
                self._if_end[src[0]] = i

    def launch(self, bufs: tuple[memoryview, ...], how: Launch) -> float | None:
        if len(bufs) < self._nbufs:
            raise ValueError(f"{self.name}: needs {self._nbufs} buffers, got {len(bufs)}")
        if len(how.vals) != len(self._vars):
            raise ValueError(f"{self.name}: needs values for the variables {self._vars}, got {len(how.vals)} value(s)")
        start = time.perf_counter()
        local = tuple(how.local_size) if how.local_size is not None else (1,) * len(how.global_size)
        for gidx in itertools.product(*(range(g) for g in reversed(how.global_size))):
            for lidx in itertools.product(*(range(n) for n in reversed(local))):
                self._run(bufs, how.vals, tuple(reversed(gidx)), tuple(reversed(lidx)))
        return time.perf_counter() - start if how.wait else None

    def _jump(self, pc: int, op: Ops, src: tuple[int, ...], v: list[Any]) -> int:
        """The instruction after the loop or if instruction at `pc`: a loop's body, or past its end."""
        if op is Ops.RANGE:
            v[pc] = 0 if v[pc] is None else v[pc]
            if v[pc] >= v[src[0]]:
                v[pc] = None
                return self._loop_end[pc] + 1
        elif op is Ops.ENDRANGE:
            v[src[0]] += 1
            return src[0]
        elif not v[src[0]]:  # an IF whose condition is false
            return self._if_end[pc] + 1
        return pc + 1

    def _run(
        self, bufs: Sequence[memoryview], vals: Sequence[int], gidx: tuple[int, ...], lidx: tuple[int, ...]
    ) -> None:
        insts, n = self.insts, len(self.insts)
        v: list[Any] = [None] * n
        var_vals = iter(vals)
        pc = 0
        while pc < n:
            op, dt, src, arg = insts[pc]
            if op is Ops.DEFINE_GLOBAL:
                assert isinstance(dt, PtrDType) and dt.base is not None
                v[pc] = _typed(bufs[arg], dt.base)
            elif op is Ops.DEFINE_VAR:
                v[pc] = next(var_vals)
            elif op is Ops.CONST:
                v[pc] = arg
            elif op is Ops.SPECIAL:
                name, _ = arg
                axis = int(name[-1])
                v[pc] = gidx[axis] if name.startswith("gidx") else lidx[axis]
            elif op in (Ops.RANGE, Ops.ENDRANGE, Ops.IF):
                pc = self._jump(pc, op, src, v)
                continue
            elif op is Ops.DEFINE_ACC:
                v[pc] = v[src[0]]
            elif op is Ops.ASSIGN:
                v[src[0]] = v[src[1]]
                v[pc] = v[src[1]]
            elif op is Ops.INDEX:
                v[pc] = (v[src[0]], v[src[1]], v[src[2]] if len(src) > 2 else True)
            elif op is Ops.LOAD:
                mem, i, ok = v[src[0]]
                v[pc] = mem[i] if ok else (v[src[1]] if len(src) > 1 else 0)
            elif op is Ops.STORE:
                mem, i, ok = v[src[0]]
                if ok:
                    mem[i] = v[src[1]]
            elif op is Ops.CAST:
                v[pc] = _cast(v[src[0]], dt)
            elif op is Ops.BITCAST:
                v[pc] = _bitcast(v[src[0]], insts[src[0]][1], dt)
            elif op in GroupOp.ALU:
                v[pc] = exec_alu(op, dt, [v[s] for s in src])
            elif op in (Ops.SINK, Ops.NOOP, Ops.BARRIER, Ops.ENDIF):
                pass
            else:
                raise NotImplementedError(f"PYTHON device cannot run {op}")
            pc += 1


def create_device(name: str) -> Compiled:
    caps = Capabilities(language="PYTHON", dtypes=frozenset(dtypes.all()))
    return Compiled(name, PythonAllocator(name), PythonCompiler(), PythonProgram, caps)
