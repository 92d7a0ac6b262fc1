"""Rendering loop programs as LLVM IR text. `LLVMRenderer` targets the LLVM device (llvmlite, no C compiler).

The IR follows the C renderer's semantics op for op, so the two CPU backends give the same bits: no fast-math
flags (a*b+c rounds twice; only kernels with vector float accumulators get `contract`, as the C kernels get
`fp-contract=fast`), math functions are the C library's (`exp2f`, `log2f`, `sinf`; half precision through
double, like C's promotion, rounded to half in plain instructions: no runtime helper library needed) except exp2
on float32 vectors, which is the C renderer's own branch-free function (tg_codegen.renderer.cmath), `sqrt`
and `trunc` are LLVM's exact intrinsics, float MAX is `llvm.maxnum` (C's `fmaxf`) in scalar code and a lane
select in vector code. Half precision is LLVM's `half`, which the
target computes in float and rounds back after every op, as the PYTHON reference does.

Structure: accumulators and loop counters live in stack slots (`alloca` in the entry block; LLVM's own passes
turn them into registers), a loop is a header block that tests the counter and a body block, a guarded store
branches around the store, and a guarded load reads element 0 when its gate is off and selects 0. Index math
(integer and bool values built from loop indices, variables and constants) is emitted where it is used, as C
writes it inline, so a value the linearizer placed in one loop may be used in a sibling loop.

A THREAD loop (the outermost loop) is split among threads: the function takes two extra parameters, its
thread's number and the thread count, and runs its share of the loop's iterations; the device calls it once per
thread. The first line of such a kernel's IR says how many threads it wants: `; tg.threads = N`.

>>> from tg_uop import UOp, Ops, dtypes
>>> g = UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(4), (), 0)
>>> one, two = UOp.const(dtypes.int32, 1), UOp.const(dtypes.float, 2.0)
>>> idx = UOp(Ops.INDEX, g.dtype, (g, one))
>>> ir = LLVMRenderer().render("k", [g, one, idx, two, UOp(Ops.STORE, dtypes.void, (idx, two))])
>>> for line in ir.splitlines()[1:6]:
...     print(line)
define void @k(ptr noalias %data0) #0 {
entry:
  %v1 = getelementptr inbounds float, ptr %data0, i32 1
  store float 0x4000000000000000, ptr %v1, align 4
  ret void
"""

from __future__ import annotations

import struct

from tg_codegen.renderer import Renderer
from tg_codegen.renderer.cmath import EXP2_COEFFS, EXP2_HIGH, EXP2_LOW, EXP2_ROUNDER, float32_bits
from tg_uop.dtype import DType, PtrDType, dtypes, truncate
from tg_uop.ops import AxisType, GroupOp, Ops
from tg_uop.rewrite import PatternMatcher, UPat
from tg_uop.uop import UOp

SCALAR_TYPES: dict[DType, str] = {
    dtypes.bool: "i1",
    dtypes.int8: "i8",
    dtypes.uint8: "i8",
    dtypes.int16: "i16",
    dtypes.uint16: "i16",
    dtypes.int32: "i32",
    dtypes.uint32: "i32",
    dtypes.int64: "i64",
    dtypes.uint64: "i64",
    dtypes.float16: "half",
    dtypes.float32: "float",
    dtypes.float64: "double",
}
_INTRINSIC_SUFFIX = {"half": "f16", "float": "f32", "double": "f64"}
# C library functions by float type; half goes through double, as C promotes it
_LIBM = {Ops.EXP2: "exp2", Ops.LOG2: "log2", Ops.SIN: "sin"}


def ltype(dt: DType, memory: bool = False) -> str:
    """The LLVM type of a tg dtype; `memory`: as stored (a bool is a byte in memory, as C's `bool`).

    >>> ltype(dtypes.float.vec(4)), ltype(dtypes.bool), ltype(dtypes.bool, memory=True), ltype(dtypes.int8.ptr())
    ('<4 x float>', 'i1', 'i8', 'ptr')
    """
    if isinstance(dt, PtrDType):
        return "ptr"
    if dt.scalar() not in SCALAR_TYPES:
        raise NotImplementedError(f"LLVMRenderer has no type for {dt!r}")
    scalar = "i8" if memory and dt.scalar().is_bool else SCALAR_TYPES[dt.scalar()]
    return scalar if dt.count == 1 else f"<{dt.count} x {scalar}>"


def lconst(x: object, dt: DType) -> str:
    """An LLVM constant of a scalar or (splatted) vector dtype; floats as exact hexadecimal.

    >>> lconst(1.0, dtypes.float32), lconst(255, dtypes.uint8), lconst(True, dtypes.bool), lconst(1.0, dtypes.half)
    ('0x3FF0000000000000', '-1', 'true', '0xH3C00')
    """
    if dt.count > 1:
        one = lconst(x, dt.scalar())
        return "<" + ", ".join(f"{ltype(dt.scalar())} {one}" for _ in range(dt.count)) + ">"
    if dt.is_bool:
        return "true" if x else "false"
    assert isinstance(x, (int, float, bool))
    if dt.is_float:
        v = float(truncate(dt, float(x)))
        if dt == dtypes.float16:
            return f"0xH{struct.unpack('<H', struct.pack('<e', v))[0]:04X}"
        return f"0x{struct.unpack('<Q', struct.pack('<d', v))[0]:016X}"  # a float's value, written as a double
    bits = 8 * dt.itemsize
    v = int(x) & ((1 << bits) - 1)
    return str(v - (1 << bits) if v >= 1 << (bits - 1) else v)


def _pure_index(uops: list[UOp]) -> set[UOp]:
    # integer/bool values made only of loop indices, variables and constants, and the element pointers
    pure = {u for u in uops if u.op in (Ops.CONST, Ops.RANGE, Ops.DEFINE_VAR)}
    for u in uops:
        if u.op in GroupOp.ALU | {Ops.CAST} and (u.dtype.is_int or u.dtype.is_bool) and all(s in pure for s in u.src):
            pure.add(u)
    return pure


class LLVMContext:
    """What the render rules of one kernel share: each op's operand text (`ctx.val(u)`), the instructions so
    far, the entry block's stack slots, the open loops and the kernel's parameters."""

    def __init__(self, ren: LLVMRenderer, uops: list[UOp]) -> None:
        self.ren = ren
        self.r: dict[UOp, str] = {}
        self.lines: list[str] = []
        self.entry: list[str] = []
        self.decls: set[str] = set()
        self.params: list[tuple[UOp, str]] = []
        self.slots: dict[UOp, str] = {}  # accumulators (and their assigns) -> their stack slot
        self.loops: list[tuple[UOp, str, str, str]] = []  # (range, slot, header label, exit label)
        self.counter = 0
        self.block = 0  # bumped at every label: values emitted in the current block may be reused
        self.emitted: dict[UOp, tuple[int, str]] = {}
        self.lazy = _pure_index(uops) | {u for u in uops if u.op is Ops.INDEX}
        self.threaded = any(u.op is Ops.RANGE and u.arg.kind is AxisType.THREAD for u in uops)
        # a vector reduction may contract a*b+c into a fused multiply-add, as the C kernels do
        self.contract = any(u.op is Ops.DEFINE_ACC and u.dtype.count > 1 and u.dtype.is_float for u in uops)

    def fresh(self, prefix: str = "%v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, expr: str) -> str:
        """A new SSA value computed by the instruction `expr`; returns its name."""
        name = self.fresh()
        self.lines.append(f"  {name} = {expr}")
        return name

    def line(self, text: str) -> str:
        self.lines.append(f"  {text}")
        return ""

    def label(self, name: str) -> None:
        self.lines.append(f"{name[1:]}:")
        self.block += 1

    def val(self, u: UOp) -> str:
        """The operand for `u` here: an accumulator is read from its slot, index math is emitted here."""
        if u in self.slots:
            return self.emit(f"load {ltype(u.dtype)}, ptr {self.slots[u]}")
        if u in self.lazy and u.op not in (Ops.CONST, Ops.RANGE, Ops.DEFINE_VAR):
            block, name = self.emitted.get(u, (-1, ""))
            if block != self.block:
                text = pm_render_llvm.rewrite(u, self)
                assert isinstance(text, str)
                name = text
                self.emitted[u] = (self.block, name)
            return name
        return self.r[u]

    def typed(self, u: UOp) -> str:
        return f"{ltype(u.dtype)} {self.val(u)}"

    def declare(self, ret: str, fn: str, args: str) -> str:
        self.decls.add(f"declare {ret} @{fn}({args})")
        return fn


def _intrinsic(ctx: LLVMContext, name: str, dt: DType, *args: str) -> str:
    t = ltype(dt)
    suffix = _INTRINSIC_SUFFIX[ltype(dt.scalar())]
    fn = ctx.declare(
        t, f"llvm.{name}.{suffix if dt.count == 1 else f'v{dt.count}{suffix}'}", ", ".join([t] * len(args))
    )
    return ctx.emit(f"call {t} @{fn}({', '.join(f'{t} {a}' for a in args)})")


def _libm(ctx: LLVMContext, op: Ops, dt: DType, a: str) -> str:
    if dt.count > 1:  # no vector forms in the C library: lane by lane
        vec, t, st = "poison", ltype(dt), ltype(dt.scalar())
        for i in range(dt.count):
            lane = _libm(ctx, op, dt.scalar(), ctx.emit(f"extractelement {t} {a}, i32 {i}"))
            vec = ctx.emit(f"insertelement {t} {vec}, {st} {lane}, i32 {i}")
        return vec
    if dt == dtypes.float32:
        fn = ctx.declare("float", _LIBM[op] + "f", "float")
        return ctx.emit(f"call float @{fn}(float {a})")
    wide = cast(ctx, a, dt, dtypes.float64)
    fn = ctx.declare("double", _LIBM[op], "double")
    return cast(ctx, ctx.emit(f"call double @{fn}(double {wide})"), dtypes.float64, dt)


def _double_to_half(ctx: LLVMContext, v: str, n: int) -> str:
    # LLVM calls a runtime helper (__truncdfhf2) for this; round to float toward zero, set the last bit when
    # that was inexact ("round to odd"), then to half: one correct rounding, in plain instructions
    f, i, d, b = (ltype(dt.vec(n)) for dt in (dtypes.float32, dtypes.int32, dtypes.float64, dtypes.bool))
    near = ctx.emit(f"fptrunc {d} {v} to {f}")
    back = ctx.emit(f"fpext {f} {near} to {d}")
    abs_back, abs_v = (_intrinsic(ctx, "fabs", dtypes.float64.vec(n), x) for x in (back, v))
    away = ctx.emit(f"fcmp ogt {d} {abs_back}, {abs_v}")
    bits = ctx.emit(f"bitcast {f} {near} to {i}")
    toward0 = ctx.emit(
        f"select {b} {away}, {i} {ctx.emit(f'sub {i} {bits}, {lconst(1, dtypes.int32.vec(n))}')}, {i} {bits}"
    )
    inexact = ctx.emit(f"fcmp une {d} {back}, {v}")
    odd = ctx.emit(f"or {i} {toward0}, {lconst(1, dtypes.int32.vec(n))}")
    rounded = ctx.emit(f"bitcast {i} {ctx.emit(f'select {b} {inexact}, {i} {odd}, {i} {bits}')} to {f}")
    return ctx.emit(f"fptrunc {f} {rounded} to {ltype(dtypes.float16.vec(n))}")


def cast(ctx: LLVMContext, v: str, src: DType, dst: DType) -> str:
    """Convert the value `v` of dtype `src` to `dst` with C's conversion rules."""
    s, d, ts, td = src.scalar(), dst.scalar(), ltype(src), ltype(dst)
    if ts == td and s.is_float == d.is_float:
        return v
    if d.is_bool:
        zero = lconst(0, src)
        return ctx.emit(f"fcmp une {ts} {v}, {zero}" if s.is_float else f"icmp ne {ts} {v}, {zero}")
    if s.is_float and d.is_float:
        if s == dtypes.float64 and d == dtypes.float16:
            return _double_to_half(ctx, v, src.count)
        return ctx.emit(f"{'fpext' if d.itemsize > s.itemsize else 'fptrunc'} {ts} {v} to {td}")
    if s.is_float:
        return ctx.emit(f"{'fptoui' if d.is_unsigned else 'fptosi'} {ts} {v} to {td}")
    if d.is_float:
        return ctx.emit(f"{'uitofp' if s.is_unsigned or s.is_bool else 'sitofp'} {ts} {v} to {td}")
    if d.itemsize == s.itemsize and not s.is_bool:
        return v
    if d.itemsize < s.itemsize:
        return ctx.emit(f"trunc {ts} {v} to {td}")
    return ctx.emit(f"{'zext' if s.is_unsigned or s.is_bool else 'sext'} {ts} {v} to {td}")


_FLOAT_BINARY = {Ops.ADD: "fadd", Ops.SUB: "fsub", Ops.MUL: "fmul", Ops.FDIV: "fdiv"}
_INT_BINARY = {Ops.ADD: "add", Ops.SUB: "sub", Ops.MUL: "mul", Ops.AND: "and", Ops.OR: "or", Ops.XOR: "xor"}
_INT_BINARY |= {Ops.SHL: "shl"}
_SIGNED = {Ops.IDIV: ("sdiv", "udiv"), Ops.MOD: ("srem", "urem"), Ops.SHR: ("ashr", "lshr")}
_FCMP = {Ops.CMPLT: "olt", Ops.CMPNE: "une", Ops.CMPEQ: "oeq"}
_ICMP = {Ops.CMPLT: ("slt", "ult"), Ops.CMPNE: ("ne", "ne"), Ops.CMPEQ: ("eq", "eq")}
_BOOL = {Ops.ADD: Ops.OR, Ops.MUL: Ops.AND, Ops.MAX: Ops.OR}


def _binary(ctx: LLVMContext, op: Ops, dt: DType, a: str, b: str) -> str:
    t = ltype(dt)
    if dt.is_float:
        if op is Ops.MAX:
            if dt.count == 1:
                return _intrinsic(ctx, "maxnum", dt, a, b)  # C's fmaxf: a NaN operand yields the other one
            return ctx.emit(
                f"select {ltype(dtypes.bool.vec(dt.count))} {ctx.emit(f'fcmp olt {t} {b}, {a}')}, {t} {a}, {t} {b}"
            )
        flags = " contract" if ctx.contract and op in (Ops.ADD, Ops.MUL) else ""
        return ctx.emit(f"{_FLOAT_BINARY[op]}{flags} {t} {a}, {b}")
    op = _BOOL.get(op, op) if dt.is_bool else op
    if op is Ops.MAX:
        cmp = ctx.emit(f"icmp {'ugt' if dt.is_unsigned else 'sgt'} {t} {a}, {b}")
        return ctx.emit(f"select {ltype(dtypes.bool.vec(dt.count))} {cmp}, {t} {a}, {t} {b}")
    if op in _SIGNED:
        return ctx.emit(f"{_SIGNED[op][dt.is_unsigned or dt.is_bool]} {t} {a}, {b}")
    return ctx.emit(f"{_INT_BINARY[op]} {t} {a}, {b}")


def _splat(ctx: LLVMContext, v: str, dt: DType, n: int) -> str:
    # a value that does not change from lane to lane meets a vector: broadcast it (C does that implicitly)
    vt = ltype(dt.vec(n))
    one = ctx.emit(f"insertelement {vt} poison, {ltype(dt)} {v}, i32 0")
    return ctx.emit(f"shufflevector {vt} {one}, {vt} poison, <{n} x i32> zeroinitializer")


def _operands(ctx: LLVMContext, x: UOp) -> tuple[list[str], int]:
    n = max(s.dtype.count for s in x.src)
    out = []
    for i, s in enumerate(x.src):
        v = ctx.val(s)
        if s.dtype.count == n or (x.op is Ops.WHERE and i == 0):
            out.append(v)
        else:  # a constant is splatted in place, a value with two instructions
            out.append(lconst(s.arg, s.dtype.vec(n)) if s.op is Ops.CONST else _splat(ctx, v, s.dtype, n))
    return out, n


def _alu(ctx: LLVMContext, x: UOp) -> str:
    op, dt = x.op, x.dtype
    args, n = _operands(ctx, x)
    if op in (Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ):
        s = x.src[0].dtype.scalar()
        t = ltype(s.vec(n))
        if s.is_float:
            return ctx.emit(f"fcmp {_FCMP[op]} {t} {args[0]}, {args[1]}")
        return ctx.emit(f"icmp {_ICMP[op][s.is_unsigned or s.is_bool]} {t} {args[0]}, {args[1]}")
    if op is Ops.WHERE:
        t = ltype(dt)
        return ctx.emit(f"select {ltype(x.src[0].dtype)} {args[0]}, {t} {args[1]}, {t} {args[2]}")
    if op in (Ops.SHL, Ops.SHR) and x.src[1].dtype.scalar() != dt.scalar():
        args[1] = cast(ctx, args[1], x.src[1].dtype.scalar().vec(n), dt)
    if op is Ops.MULACC:
        return _binary(ctx, Ops.ADD, dt, _binary(ctx, Ops.MUL, dt, args[0], args[1]), args[2])
    if op in GroupOp.Binary:
        return _binary(ctx, op, dt, *args)
    return _unary(ctx, op, dt, args[0])


def _unary(ctx: LLVMContext, op: Ops, dt: DType, a: str) -> str:
    t = ltype(dt)
    if op is Ops.NEG:
        if dt.is_bool:
            return ctx.emit(f"xor {t} {a}, {lconst(True, dt)}")
        return ctx.emit(f"fneg {t} {a}" if dt.is_float else f"sub {t} {lconst(0, dt)}, {a}")
    if op is Ops.RECIP:
        return ctx.emit(f"fdiv {t} {lconst(1.0, dt)}, {a}")
    if op in (Ops.SQRT, Ops.TRUNC):
        return _intrinsic(ctx, op.name.lower(), dt, a)
    if op is Ops.EXP2 and dt.count > 1 and dt.scalar() == dtypes.float32:
        return _exp2_vector(ctx, dt.count, a)
    return _libm(ctx, op, dt, a)


def _exp2_vector(ctx: LLVMContext, n: int, x: str) -> str:
    # the C renderer's exp2 (cmath.exp2_vector_c) op for op: its constants, its rounding steps, fused multiply-adds
    # allowed where the C kernel allows them (its `fp-contract=fast` covers the function), so both give the same bits
    f32, i32 = dtypes.float32.vec(n), dtypes.int32.vec(n)
    t, it, bt = ltype(f32), ltype(i32), ltype(dtypes.bool.vec(n))
    hi, lo, rnd = (lconst(v, f32) for v in (EXP2_HIGH, EXP2_LOW, EXP2_ROUNDER))
    # C selects the clamp's bit patterns under lane masks: the same as selecting the values
    low = ctx.emit(f"select {bt} {ctx.emit(f'fcmp olt {t} {x}, {lo}')}, {t} {lo}, {t} {x}")
    xc = ctx.emit(f"select {bt} {ctx.emit(f'fcmp ogt {t} {x}, {hi}')}, {t} {hi}, {t} {low}")
    r = _binary(ctx, Ops.ADD, f32, xc, rnd)
    f = _binary(ctx, Ops.SUB, f32, xc, _binary(ctx, Ops.SUB, f32, r, rnd))
    bits = ctx.emit(f"bitcast {t} {r} to {it}")
    k = _binary(ctx, Ops.SUB, i32, bits, lconst(float32_bits(EXP2_ROUNDER), i32))
    k = ctx.emit(f"select {bt} {ctx.emit(f'fcmp oeq {t} {xc}, {xc}')}, {it} {k}, {it} {lconst(0, i32)}")
    k1 = _binary(ctx, Ops.SHR, i32, k, lconst(1, i32))
    k2 = _binary(ctx, Ops.SUB, i32, k, k1)
    p = lconst(EXP2_COEFFS[-1], f32)
    for c in (*EXP2_COEFFS[-2::-1], 1.0):
        p = _binary(ctx, Ops.ADD, f32, _binary(ctx, Ops.MUL, f32, p, f), lconst(c, f32))
    for half in (k1, k2):  # 2^k in two halves, so that subnormal results are scaled exactly and rounded once
        exponent = _binary(ctx, Ops.SHL, i32, _binary(ctx, Ops.ADD, i32, half, lconst(127, i32)), lconst(23, i32))
        p = _binary(ctx, Ops.MUL, f32, p, ctx.emit(f"bitcast {it} {exponent} to {t}"))
    return p


# ---------------------------------------------------------------- memory and loops


def _index(ctx: LLVMContext, x: UOp) -> str:
    buf, idx = ctx.val(x.src[0]), ctx.val(x.src[1])
    it = ltype(x.src[1].dtype)
    if len(x.src) > 2:  # a guarded access reads element 0 when its gate is off (its value is then discarded)
        idx = ctx.emit(f"select i1 {ctx.val(x.src[2])}, {it} {idx}, {it} 0")
    assert isinstance(x.src[0].dtype, PtrDType) and x.src[0].dtype.base is not None
    return ctx.emit(f"getelementptr inbounds {ltype(x.src[0].dtype.base, True)}, ptr {buf}, {it} {idx}")


def _load(ctx: LLVMContext, x: UOp) -> str:
    idx, dt = x.src[0], x.dtype
    ptr = ctx.val(idx)
    v = ctx.emit(f"load {ltype(dt, True)}, ptr {ptr}, align {dt.scalar().itemsize}")
    if dt.is_bool:
        v = ctx.emit(f"icmp ne i8 {v}, 0")
    if len(idx.src) > 2:
        v = ctx.emit(f"select i1 {ctx.val(idx.src[2])}, {ltype(dt)} {v}, {ltype(dt)} {lconst(0, dt)}")
    return v


def _store(ctx: LLVMContext, idx: UOp, val: UOp) -> str:
    if ctx.threaded and not ctx.loops and idx.src[0].op is Ops.DEFINE_GLOBAL:
        # (a PACK copy made before the THREAD loop is fine: each thread fills its own stack buffer)
        raise NotImplementedError("LLVMRenderer: a store to memory outside the THREAD loop would run once per thread")
    gated = len(idx.src) > 2
    if gated:
        do, done = ctx.fresh("%L"), ctx.fresh("%L")
        ctx.line(f"br i1 {ctx.val(idx.src[2])}, label {do}, label {done}")
        ctx.label(do)
    ptr, v = ctx.val(idx), ctx.val(val)
    if val.dtype.is_bool:
        v = ctx.emit(f"zext {ltype(val.dtype)} {v} to {ltype(val.dtype, True)}")
    ctx.line(f"store {ltype(val.dtype, True)} {v}, ptr {ptr}, align {val.dtype.scalar().itemsize}")
    if gated:
        ctx.line(f"br label {done}")
        ctx.label(done)
    return ""


def _slot(ctx: LLVMContext, dt: DType) -> str:
    name = ctx.fresh("%s")
    ctx.entry.append(f"  {name} = alloca {ltype(dt)}, align {max(dt.itemsize, 1)}")
    return name


def _range(ctx: LLVMContext, x: UOp) -> str:
    t, end = ltype(x.dtype), ctx.val(x.src[0])
    start = "0"
    if x.arg.kind is AxisType.THREAD:
        if ctx.loops:
            raise NotImplementedError("LLVMRenderer: a THREAD loop must be the outermost loop")
        # this thread's share: iterations [n*tid/threads, n*(tid+1)/threads), computed without overflow in i64
        n = cast(ctx, end, x.dtype, dtypes.int64)
        lo = ctx.emit(f"sdiv i64 {ctx.emit(f'mul i64 {n}, %tid')}, %nthreads")
        hi = ctx.emit(f"sdiv i64 {ctx.emit(f'mul i64 {n}, %tid1')}, %nthreads")
        start, end = cast(ctx, lo, dtypes.int64, x.dtype), cast(ctx, hi, dtypes.int64, x.dtype)
    slot, head, body, done = _slot(ctx, x.dtype), ctx.fresh("%L"), ctx.fresh("%L"), ctx.fresh("%L")
    ctx.line(f"store {t} {start}, ptr {slot}")
    ctx.line(f"br label {head}")
    ctx.label(head)
    i = ctx.emit(f"load {t}, ptr {slot}")
    ctx.line(f"br i1 {ctx.emit(f'icmp slt {t} {i}, {end}')}, label {body}, label {done}")
    ctx.label(body)
    ctx.loops.append((x, slot, head, done))
    return i


def _endrange(ctx: LLVMContext) -> str:
    rng, slot, head, done = ctx.loops.pop()
    t = ltype(rng.dtype)
    ctx.line(f"store {t} {ctx.emit(f'add {t} {ctx.r[rng]}, 1')}, ptr {slot}")
    ctx.line(f"br label {head}")
    ctx.label(done)
    return ""


def _define_acc(ctx: LLVMContext, x: UOp) -> str:
    slot = _slot(ctx, x.dtype)
    ctx.line(f"store {ctx.typed(x.src[0])}, ptr {slot}")
    ctx.slots[x] = slot
    return slot


def _assign(ctx: LLVMContext, x: UOp) -> str:
    slot = ctx.slots[x.src[0]]
    ctx.line(f"store {ctx.typed(x.src[1])}, ptr {slot}")
    ctx.slots[x] = slot
    return slot


def _define_local(ctx: LLVMContext, x: UOp) -> str:
    # in the entry block: an alloca inside a loop would grow the stack every iteration
    assert isinstance(x.dtype, PtrDType) and x.dtype.base is not None
    ctx.entry.append(f"  %temp{x.arg} = alloca [{x.dtype.size} x {ltype(x.dtype.base, True)}], align 64")
    return f"%temp{x.arg}"


def _param(ctx: LLVMContext, x: UOp, text: str, name: str) -> str:
    ctx.params.append((x, text))
    return name


def _vectorize(ctx: LLVMContext, x: UOp) -> str:
    vec, t = "poison", ltype(x.dtype)
    for i, s in enumerate(x.src):
        vec = ctx.emit(f"insertelement {t} {vec}, {ctx.typed(s)}, i32 {i}")
    return vec


def _no_special(ctx: LLVMContext) -> str:
    raise NotImplementedError("LLVMRenderer has no work-groups")


pm_render_llvm = PatternMatcher(
    [
        (
            UPat(Ops.DEFINE_GLOBAL, name="x"),
            lambda ctx, x: _param(ctx, x, f"ptr noalias %data{x.arg}", f"%data{x.arg}"),
        ),
        (
            UPat(Ops.DEFINE_VAR, name="x"),
            lambda ctx, x: _param(ctx, x, f"{ltype(x.dtype)} %{x.arg[0]}", f"%{x.arg[0]}"),
        ),
        (UPat(Ops.DEFINE_LOCAL, name="x"), _define_local),
        (UPat(Ops.CONST, name="x"), lambda x: lconst(x.arg, x.dtype)),
        (UPat(Ops.VECTORIZE, name="x"), _vectorize),
        (
            UPat(Ops.GEP, src=(UPat.var("v"),), name="x"),
            lambda ctx, x, v: ctx.emit(f"extractelement {ctx.typed(v)}, i32 {x.arg}"),
        ),
        (UPat(Ops.SPECIAL), _no_special),
        (UPat(Ops.RANGE, name="x"), _range),
        (UPat(Ops.ENDRANGE), _endrange),
        (UPat(Ops.DEFINE_ACC, name="x"), _define_acc),
        (UPat(Ops.ASSIGN, name="x"), _assign),
        (UPat(Ops.INDEX, name="x"), _index),
        (UPat(Ops.LOAD, name="x"), _load),
        (UPat(Ops.STORE, src=(UPat.var("idx"), UPat.var("val"))), _store),
        (
            UPat(Ops.CAST, src=(UPat.var("a"),), name="x"),
            lambda ctx, x, a: cast(ctx, ctx.val(a), a.dtype, x.dtype),
        ),
        (
            UPat(Ops.BITCAST, src=(UPat.var("a"),), name="x"),
            lambda ctx, x, a: ctx.emit(f"bitcast {ctx.typed(a)} to {ltype(x.dtype)}"),
        ),
        (UPat(GroupOp.ALU, name="x"), _alu),
        # C renders nothing for the end of a PACK copy either: each thread fills and reads its own buffer
        (UPat((Ops.SINK, Ops.NOOP, Ops.BARRIER)), lambda: ""),
    ]
)


class LLVMRenderer(Renderer):
    """LLVM IR for the LLVM device: one function with the whole loop nest, like the C renderer's."""

    language = "LLVM"
    supports_vectors = True
    supports_masks = True  # vector comparisons are <N x i1>, selected by `select`
    vector_math = frozenset({Ops.EXP2})  # float32 vectors: the C renderer's function (tg_codegen.renderer.cmath)

    def render(self, name: str, uops: list[UOp]) -> str:
        ctx = LLVMContext(self, uops)
        for u in uops:
            if u in ctx.lazy and u.op not in (Ops.CONST, Ops.RANGE, Ops.DEFINE_VAR):
                continue  # emitted where it is used
            text = pm_render_llvm.rewrite(u, ctx)
            if text is None:
                raise NotImplementedError(f"LLVMRenderer cannot render {u.op}")
            if text:
                ctx.r[u] = text
        buffers = sorted((p for p in ctx.params if p[0].op is Ops.DEFINE_GLOBAL), key=lambda p: p[0].arg)
        args = [text for _, text in buffers] + [text for u, text in ctx.params if u.op is Ops.DEFINE_VAR]
        if ctx.threaded:
            args += ["i64 %tid", "i64 %nthreads"]
            ctx.entry.append("  %tid1 = add i64 %tid, 1")
        head = [f"; tg.threads = {self.threads}"] if ctx.threaded else []
        head += [*sorted(ctx.decls), "", f"define void @{name}({', '.join(args)}) #0 {{", "entry:"]
        tail = ["  ret void", "}", "", "attributes #0 = { nounwind }", ""]
        return "\n".join(head + ctx.entry + ctx.lines + tail)
