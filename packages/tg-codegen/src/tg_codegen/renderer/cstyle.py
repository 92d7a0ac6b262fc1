"""Rendering loop programs as C-family source. `CRenderer` targets the CPU device.

Readable by design: parameters `data0..`, loop indices `gidx0..` (global) and `ridx0..` (reduce),
accumulators `acc0..`, loads `val0..`, one statement per line. Integer index math and single-use values
are written inline; values used more than once get a named variable.

Each op is rendered by a rule of a `PatternMatcher` table evaluated with a `RenderContext`: the rule writes
the op's statements and returns the name or inline expression its users refer to it by ("" for none). The C
family shares `pm_render_c`; a language puts its own rules in front of it (`pm_render_cpu` below,
`pm_render_cl`, `pm_render_cuda`). The renderer's methods give the words: types, constants, vector access.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable

from tg_codegen.renderer import Renderer
from tg_codegen.renderer.cmath import exp2_function_name, exp2_vector_c
from tg_uop.dtype import DType, PtrDType, dtypes
from tg_uop.ops import AxisType, GroupOp, Ops
from tg_uop.rewrite import PatternMatcher, UPat
from tg_uop.uop import UOp


def _float_literal(x: float, dt: DType) -> str:
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "(-INFINITY)"
    if dt.itemsize == 8:
        return repr(x) if ("." in repr(x) or "e" in repr(x)) else repr(x) + ".0"
    # the shortest decimal that reads back as the same float32
    for digits in range(6, 10):
        s = f"{x:.{digits}g}"
        if struct.pack("f", float(s)) == struct.pack("f", x):
            break
    if "." not in s and "e" not in s:
        s += ".0"
    return s + "f"


def strip_parens(expr: str) -> str:
    """`expr` without one pair of redundant outer parentheses (so `data0[(a+b)]` reads `data0[a+b]`).

    >>> strip_parens("(a+(b))"), strip_parens("(a)+(b)"), strip_parens("({int t_ = 1; t_;})")
    ('a+(b)', '(a)+(b)', '({int t_ = 1; t_;})')
    """
    # a GNU statement expression `({...})` needs its parentheses
    if expr.startswith("(") and expr.endswith(")") and not expr.startswith("({"):
        depth = 0
        for i, ch in enumerate(expr):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i != len(expr) - 1:
                return expr
        return expr[1:-1]
    return expr


def loop_depths(uops: list[UOp]) -> tuple[dict[UOp, int], dict[UOp, int]]:
    """The loop depth of each op of a loop program, and the deepest depth at which each op is used."""
    depth_at: dict[UOp, int] = {}
    depth = 0
    for u in uops:
        if u.op is Ops.ENDRANGE:
            depth -= 1
        depth_at[u] = depth
        if u.op is Ops.RANGE:
            depth += 1
    use_depth: dict[UOp, int] = {}
    for u in uops:
        for s in u.src:
            use_depth[s] = max(use_depth.get(s, 0), depth_at[u])
    return depth_at, use_depth


def nest_iterations(uops: list[UOp]) -> dict[UOp, int]:
    """For each loop, the iterations of its innermost statements in one run of it: its length times the most
    iterations of a loop nested in it; 0 where a length in the nest is not a constant.

    >>> from tg_uop import UOp, Ops, dtypes
    >>> from tg_uop.ops import RangeArg
    >>> kh, kw = (UOp(Ops.RANGE, dtypes.int, (UOp.const(dtypes.int, 3),), RangeArg(i, AxisType.REDUCE)) for i in (0, 1))
    >>> nest = nest_iterations([kh, kw, UOp(Ops.ENDRANGE, dtypes.void, (kw,)), UOp(Ops.ENDRANGE, dtypes.void, (kh,))])
    >>> nest[kh], nest[kw]
    (9, 3)
    """
    out: dict[UOp, int] = {}
    stack: list[tuple[UOp, list[int]]] = []  # open loops and the iterations of the loops closed inside them
    for u in uops:
        if u.op is Ops.RANGE:
            stack.append((u, []))
        elif u.op is Ops.ENDRANGE and stack:
            r, inner = stack.pop()
            n = r.src[0].arg if r.src[0].op is Ops.CONST else 0
            out[r] = 0 if 0 in inner else n * max(inner, default=1)
            if stack:
                stack[-1][1].append(out[r])
    return out


def scalar_dtypes(uops: list[UOp]) -> set[DType]:
    """The scalar types a loop program uses: of its values and of what its pointers point to."""
    dts = {u.dtype.scalar() for u in uops if not isinstance(u.dtype, PtrDType)}
    return dts | {u.dtype.base.scalar() for u in uops if isinstance(u.dtype, PtrDType) and u.dtype.base is not None}


class RenderContext:
    """What the render rules of one kernel share: the name or inline expression of each rendered op
    (`ctx[u]`), the lines written so far, the current loop depth and the kernel's parameters.

    >>> from tg_uop import UOp, dtypes
    >>> ctx = RenderContext(CRenderer(), [])
    >>> pm_render_c.rewrite(UOp.const(dtypes.float32, -2.5), ctx), pm_render_c.rewrite(UOp.sink(), ctx), ctx.lines
    ('(-2.5f)', '', [])
    """

    def __init__(self, ren: CStyleRenderer, uops: list[UOp]) -> None:
        self.ren = ren
        self.r: dict[UOp, str] = {}
        self.lines: list[str] = []
        self.params: list[tuple[str, DType, bool]] = []  # (name, dtype, written by the kernel)
        self.depth = 1
        self.counters: Counter[str] = Counter()
        self.users: Counter[UOp] = Counter(s for u in uops for s in u.src)
        self.depth_at, self.use_depth = loop_depths(uops)
        # only a register tile's loops (vector accumulators) are unrolled: a plain loop nest stays as written
        tiled = any(u.op is Ops.DEFINE_ACC and u.dtype.count > 1 for u in uops)
        self.nest_iterations = nest_iterations(uops) if ren.unroll_pragma and tiled else {}
        self.written = {u.src[0].src[0] for u in uops if u.op is Ops.STORE}
        # integer/bool expressions built only from indices, variables and constants: always written inline
        self.pure_index = {u for u in uops if u.op in (Ops.CONST, Ops.RANGE, Ops.DEFINE_VAR, Ops.SPECIAL)}

    def __getitem__(self, u: UOp) -> str:
        return self.r[u]

    def fresh(self, prefix: str) -> str:
        """A new variable name: prefix0, prefix1, ..."""
        n = self.counters[prefix]
        self.counters[prefix] += 1
        return f"{prefix}{n}"

    def line(self, text: str) -> str:
        """Write one statement at the current depth. Returns "": a statement gives its op no name."""
        self.lines.append("  " * self.depth + text)
        return ""

    def param(self, name: str, dt: DType, written: bool) -> str:
        self.params.append((name, dt, written))
        return name

    def declare(self, prefix: str, dt: DType, expr: str) -> str:
        """A new variable of type `dt` set to `expr`; returns its name."""
        name = self.fresh(prefix)
        self.line(f"{self.ren.ctype(dt)} {name} = {expr};")
        return name

    def value(self, u: UOp, expr: str) -> str:
        """An elementwise op's result: inline when it is index math or used once at its own depth, else a
        variable (so a value is computed once, and outside the loops that do not change it)."""
        dt = u.dtype
        index_math = (dt.is_int or dt.is_bool) and all(s in self.pure_index for s in u.src)
        if index_math:
            self.pure_index.add(u)
        if index_math or (self.users[u] <= 1 and self.use_depth.get(u, self.depth_at[u]) == self.depth_at[u]):
            return expr
        return self.declare("alu", dt, strip_parens(expr))


# ---------------------------------------------------------------- the rules of the C family


# in a register tile (vector accumulators), a reduce loop whose nest runs at most this many iterations (a 3x3
# window) is unrolled completely by the C compiler: the window's index math and padding checks become constants,
# and loads of one image column shared by neighbouring window positions are one load (a 3x3 convolution's tile
# of 4 columns by 32 channels: ~1.35x faster than with the loops)
UNROLL_MAX_ITERATIONS = 16


def render_range(ctx: RenderContext, x: UOp) -> str:
    # reduce loops count ridx, the others gidx; a thread loop is split among threads by OpenMP
    name = ctx.fresh("ridx" if x.arg.kind is AxisType.REDUCE else "gidx")
    if x.arg.kind is AxisType.THREAD:
        ctx.line(f"#pragma omp parallel for num_threads({ctx.ren.threads})")
    elif x.arg.kind is AxisType.REDUCE and 0 < ctx.nest_iterations.get(x, 0) <= UNROLL_MAX_ITERATIONS:
        ctx.line(ctx.ren.unroll_pragma.format(n=x.src[0].arg))
    ctx.line(f"for ({ctx.ren.ctype(x.dtype)} {name} = 0; {name} < {ctx[x.src[0]]}; {name}++) {{")
    ctx.depth += 1
    return name


def _end_range(ctx: RenderContext) -> str:
    ctx.depth -= 1
    return ctx.line("}")


def _define_local(ctx: RenderContext, x: UOp) -> str:
    assert isinstance(x.dtype, PtrDType) and x.dtype.base is not None
    ctx.line(f"{ctx.ren.local_prefix}{ctx.ren.ctype(x.dtype.base)} temp{x.arg}[{x.dtype.size}];")
    return f"temp{x.arg}"


def _const(ctx: RenderContext, x: UOp) -> str:
    scalar = ctx.ren.const(x.arg, x.dtype.scalar())
    return scalar if x.dtype.count == 1 else ctx.ren.vector_literal(x.dtype, [scalar] * x.dtype.count)


def _gep(ctx: RenderContext, x: UOp, v: UOp) -> str:
    lane = f"{ctx[v]}[{x.arg}]"
    return f"({lane}!=0)" if x.dtype.is_bool and ctx.ren.supports_masks else lane  # a mask lane is 0 or -1


def special_index(ctx: RenderContext, x: UOp, expr: str) -> str:
    """Declare the launch index `x` (gidx0: work-group 0, lidx0: work-item 0) as `expr`, the language's word."""
    ctx.line(f"{ctx.ren.ctype(x.dtype)} {x.arg[0]} = {expr}; /* {x.arg[1]} */")
    return str(x.arg[0])


def _no_special(ctx: RenderContext) -> str:
    raise NotImplementedError(f"{type(ctx.ren).__name__} has no work-groups")


def _assign(ctx: RenderContext, x: UOp) -> str:
    ctx.line(f"{ctx[x.src[0]]} = {ctx[x.src[1]]};")
    return ctx[x.src[0]]


def _load(ctx: RenderContext, x: UOp) -> str:
    idx, dt, ren = x.src[0], x.dtype, ctx.ren
    if dt.count == 1:
        ref, zero = ctx[idx], ren.const(0, dt)
    else:
        ref = ren.vector_load(dt, ctx[idx.src[0]], ctx[idx.src[1]])
        zero = ren.vector_literal(dt, [ren.const(0, dt.scalar())] * dt.count)
    return ctx.declare("val", dt, ref if len(idx.src) < 3 else f"({ctx[idx.src[2]]}?{ref}:{zero})")


def _store(ctx: RenderContext, idx: UOp, val: UOp) -> str:
    if val.dtype.count == 1:
        store = f"{ctx[idx]} = {strip_parens(ctx[val])};"
    else:
        store = ctx.ren.vector_store(val.dtype, ctx[idx.src[0]], ctx[idx.src[1]], strip_parens(ctx[val]))
    return ctx.line(store if len(idx.src) < 3 else f"if ({strip_parens(ctx[idx.src[2]])}) {store}")


def _cast(ctx: RenderContext, x: UOp, a: UOp) -> str:
    if x.dtype.count > 1:
        return ctx.value(x, ctx.ren.vector_cast(strip_parens(ctx[a]), x.dtype))
    return ctx.value(x, f"(({ctx.ren.ctype(x.dtype)})({ctx[a]}))")


def _bitcast(ctx: RenderContext, x: UOp, a: UOp) -> str:
    # a GNU statement expression: memcpy is the defined way to reinterpret bits in C
    t, d = ctx.ren.ctype(a.dtype), ctx.ren.ctype(x.dtype)
    return ctx.value(x, f"({{{t} t_ = {ctx[a]}; {d} d_; __builtin_memcpy(&d_, &t_, sizeof(d_)); d_;}})")


def _alu(ctx: RenderContext, x: UOp) -> str:
    return ctx.value(x, ctx.ren.alu(x.op, x.dtype, *(ctx[s] for s in x.src)))


pm_render_c = PatternMatcher(
    [
        (UPat(Ops.DEFINE_GLOBAL, name="x"), lambda ctx, x: ctx.param(f"data{x.arg}", x.dtype, x in ctx.written)),
        (UPat(Ops.DEFINE_VAR, name="x"), lambda ctx, x: ctx.param(str(x.arg[0]), x.dtype, False)),
        (UPat(Ops.DEFINE_LOCAL, name="x"), _define_local),
        (UPat(Ops.BARRIER), lambda ctx: ctx.line(ctx.ren.barrier)),
        (UPat(Ops.CONST, name="x"), _const),
        (
            UPat(Ops.VECTORIZE, name="x"),
            lambda ctx, x: ctx.declare(
                "vec", x.dtype, ctx.ren.vector_literal(x.dtype, [strip_parens(ctx[s]) for s in x.src])
            ),
        ),
        (UPat(Ops.GEP, src=(UPat.var("v"),), name="x"), _gep),
        (UPat(Ops.SPECIAL), _no_special),
        (UPat(Ops.RANGE, name="x"), render_range),
        (UPat(Ops.ENDRANGE), _end_range),
        (UPat(Ops.DEFINE_ACC, name="x"), lambda ctx, x: ctx.declare("acc", x.dtype, ctx[x.src[0]])),
        (UPat(Ops.ASSIGN, name="x"), _assign),
        (UPat(Ops.INDEX, name="x"), lambda ctx, x: f"{ctx[x.src[0]]}[{strip_parens(ctx[x.src[1]])}]"),
        (UPat(Ops.LOAD, name="x"), _load),
        (UPat(Ops.STORE, src=(UPat.var("idx"), UPat.var("val"))), _store),
        (UPat(Ops.CAST, src=(UPat.var("a"),), name="x"), _cast),
        (UPat(Ops.BITCAST, src=(UPat.var("a"),), name="x"), _bitcast),
        (UPat(GroupOp.ALU, name="x"), _alu),
        (UPat((Ops.SINK, Ops.NOOP)), lambda: ""),
    ]
)


class CStyleRenderer(Renderer):
    """Shared logic of C, OpenCL C and CUDA C; subclasses set the prefixes and types."""

    kernel_prefix = "void "
    buffer_prefix = ""
    int_arg_type = "int"
    type_map: dict[DType, str] = {
        dtypes.bool: "bool",
        dtypes.int8: "signed char",
        dtypes.uint8: "unsigned char",
        dtypes.int16: "short",
        dtypes.uint16: "unsigned short",
        dtypes.int32: "int",
        dtypes.uint32: "unsigned int",
        dtypes.int64: "long long",
        dtypes.uint64: "unsigned long long",
        dtypes.float16: "_Float16",
        dtypes.float32: "float",
        dtypes.float64: "double",
    }
    preamble = "#include <math.h>\n#include <stdbool.h>\n"

    def ctype(self, dt: DType) -> str:
        if isinstance(dt, PtrDType):
            assert dt.base is not None
            return self.ctype(dt.base) + "*"
        if dt.scalar() not in self.type_map:
            raise NotImplementedError(f"{type(self).__name__} has no type for {dt!r}")
        scalar = self.type_map[dt.scalar()]
        return scalar if dt.count == 1 else self.vector_type(dt)

    def vector_type(self, dt: DType) -> str:
        """The name of a vector type (declared by `vector_typedefs`)."""
        return f"v{self.type_map[dt.scalar()].replace(' ', '_')}{dt.count}"

    def vector_typedefs(self, dts: set[DType]) -> str:
        # GCC vector extension; the _u twin (element alignment) is for loads and stores at any element
        out = []
        for dt in sorted(dts, key=lambda d: (d.name, d.count)):
            name, scalar, size = self.vector_type(dt), self.type_map[dt.scalar()], dt.itemsize
            out.append(f"typedef {scalar} {name} __attribute__((vector_size({size})));")
            out.append(
                f"typedef {scalar} {name}_u __attribute__((vector_size({size}), aligned({dt.scalar().itemsize})));"
            )
        return "\n".join(out) + ("\n" if out else "")

    def vector_literal(self, dt: DType, items: list[str]) -> str:
        return f"(({self.vector_type(dt)}){{{', '.join(items)}}})"

    def const(self, x: object, dt: DType) -> str:
        if dt.is_bool:
            return "1" if x else "0"
        if dt.is_float:
            assert isinstance(x, (int, float))
            lit = _float_literal(float(x), dt)
            if lit.startswith("-"):
                lit = f"({lit})"  # so `a-(-2.0f)` never renders as `a--2.0f`
            return lit if dt in (dtypes.float32, dtypes.float64) else f"(({self.ctype(dt)}){lit})"
        suffix = {dtypes.int64: "LL", dtypes.uint64: "ULL", dtypes.uint32: "u"}.get(dt, "")
        if dt == dtypes.int64 and x == dtypes.int64.min:
            return "(-9223372036854775807LL-1)"
        if dt == dtypes.int32 and x == dtypes.int32.min:
            return "(-2147483647-1)"
        return f"({x}{suffix})" if isinstance(x, int) and x < 0 else f"{x}{suffix}"

    def float_suffix(self, dt: DType) -> str:
        """The suffix of C's math functions for this type (sqrtf for float)."""
        return "f" if dt.scalar() == dtypes.float32 else ""

    def alu(self, op: Ops, dt: DType, *a: str) -> str:
        fdt = dt if dt.is_float else None
        f = self.float_suffix(dt) if fdt is not None else ""
        # a float literal: OpenCL's plain 1.0 is a double, which a float vector does not take
        one = _float_literal(1.0, dt.scalar()) if dt.scalar() in (dtypes.float32, dtypes.float64) else "1"
        table: dict[Ops, Callable[..., str]] = {
            Ops.NEG: lambda x: f"(!{x})" if dt.is_bool else f"(-{x})",
            Ops.RECIP: lambda x: f"({one}/{x})",
            Ops.SQRT: lambda x: f"sqrt{f}({x})",
            Ops.EXP2: lambda x: f"exp2{f}({x})",
            Ops.LOG2: lambda x: f"log2{f}({x})",
            Ops.SIN: lambda x: f"sin{f}({x})",
            Ops.TRUNC: lambda x: f"trunc{f}({x})",
            Ops.ADD: lambda x, y: f"({x}|{y})" if dt.is_bool else f"({x}+{y})",
            Ops.SUB: lambda x, y: f"({x}-{y})",
            Ops.MUL: lambda x, y: f"({x}&{y})" if dt.is_bool else f"({x}*{y})",
            Ops.FDIV: lambda x, y: f"({x}/{y})",
            Ops.IDIV: lambda x, y: f"({x}/{y})",
            Ops.MOD: lambda x, y: f"({x}%{y})",
            Ops.MAX: lambda x, y: f"(({x}>{y})?{x}:{y})" if not dt.is_float else f"fmax{f}({x},{y})",
            Ops.CMPLT: lambda x, y: f"({x}<{y})",
            Ops.CMPNE: lambda x, y: f"({x}!={y})",
            Ops.CMPEQ: lambda x, y: f"({x}=={y})",
            Ops.AND: lambda x, y: f"({x}&{y})",
            Ops.OR: lambda x, y: f"({x}|{y})",
            Ops.XOR: lambda x, y: f"({x}^{y})",
            Ops.SHL: lambda x, y: f"({x}<<{y})",
            Ops.SHR: lambda x, y: f"({x}>>{y})",
            Ops.WHERE: lambda c, x, y: f"({c}?{x}:{y})",
            Ops.MULACC: lambda x, y, z: f"(({x}*{y})+{z})",
        }
        return table[op](*a)

    restrict = "restrict"

    def param_type(self, dt: PtrDType) -> str:
        return self.ctype(dt)

    def signature(self, name: str, params: list[tuple[str, DType, bool]]) -> str:
        args = []
        for pname, dt, written in params:
            if isinstance(dt, PtrDType):
                const = "" if written else "const "
                args.append(f"{self.buffer_prefix}{const}{self.param_type(dt)} {self.restrict} {pname}")
            else:
                args.append(f"const {self.int_arg_type} {pname}")
        return f"{self.kernel_prefix}{name}({', '.join(args)})"

    local_prefix = ""  # how local (work-group shared) arrays are declared; C has none
    unroll_pragma = ""  # the line before a loop asking the compiler to unroll it {n} times (none: not asked)
    barrier = ""  # the statement that waits for every work-item of the group

    def vector_cast(self, x: str, dt: DType) -> str:
        return f"__builtin_convertvector({x}, {self.ctype(dt)})"

    dtype_headers: dict[DType, str] = {}  # the line a kernel using this scalar type needs in its header

    def header(self, uops: list[UOp]) -> str:
        """What goes before the function: includes, pragmas, type declarations."""
        vectors = {u.dtype for u in uops if u.dtype.count > 1 and not isinstance(u.dtype, PtrDType)}
        used = scalar_dtypes(uops)
        by_type = "".join(text for dt, text in self.dtype_headers.items() if dt in used)
        # a vector reduction of products may use fused multiply-adds (its sum order differs anyway)
        fused = any(u.op is Ops.DEFINE_ACC and u.dtype.count > 1 and u.dtype.is_float for u in uops)
        return self.preamble + by_type + (self.contract_pragma if fused else "") + self.vector_typedefs(vectors)

    pm_render: PatternMatcher = pm_render_c

    def render(self, name: str, uops: list[UOp]) -> str:
        ctx = RenderContext(self, uops)
        for u in uops:
            text = self.pm_render.rewrite(u, ctx)
            if text is None:
                raise NotImplementedError(f"{type(self).__name__} cannot render {u.op}")
            if text:
                ctx.r[u] = text
        body = "\n".join(ctx.lines)
        # parameters in launch order: buffers by number, then variables in the order they appear
        buffers = sorted((p for p in ctx.params if isinstance(p[1], PtrDType)), key=lambda p: int(p[0][4:]))
        variables = [p for p in ctx.params if not isinstance(p[1], PtrDType)]
        return f"{self.header(uops)}{self.signature(name, buffers + variables)} {{\n{body}\n}}\n"

    contract_pragma = '#pragma GCC optimize("fp-contract=fast")\n'
    supports_vectors = True

    def vector_load(self, dt: DType, buf: str, idx: str) -> str:
        """`dt.count` elements of `buf` from element `idx` (no alignment assumed)."""
        return f"(*(({self.vector_type(dt)}_u*)({buf}+{strip_parens(idx)})))"

    def vector_store(self, dt: DType, buf: str, idx: str, value: str) -> str:
        return f"{self.vector_load(dt, buf, idx)} = {value};"


def _blend(ren: CStyleRenderer, mask: str, x: str, y: str, dt: DType) -> str:
    # lanes of x where mask is all ones, of y where it is zero; mask!=0 turns 0/1 lanes into masks too
    iv, v = ren.vector_type(dtypes.int32.vec(dt.count)), ren.ctype(dt)
    return f"(({v})((({iv}){mask}&({iv})({x}))|(~({iv}){mask}&({iv})({y}))))"


# C has no vector `?:`: vector max and where select lanes with masks; scalar ones fall through to pm_render_c
def _vector_max(ctx: RenderContext, x: UOp, a: UOp, b: UOp) -> str | None:
    return (
        None if x.dtype.count == 1 else ctx.value(x, _blend(ctx.ren, f"({ctx[b]}<{ctx[a]})", ctx[a], ctx[b], x.dtype))
    )


def _vector_where(ctx: RenderContext, x: UOp, c: UOp, a: UOp, b: UOp) -> str | None:
    return None if x.dtype.count == 1 else ctx.value(x, _blend(ctx.ren, f"({ctx[c]}!=0)", ctx[a], ctx[b], x.dtype))


# Scalar float max with C's fmaxf semantics (a NaN operand yields the other one; x > y gives x, else y, as
# glibc's x86-64 fmaxf), written out: GCC calls libm's fmaxf (it does not inline it without
# -ffinite-math-only), a call per element of a max reduction (a 2x2 max pool ran at 3.5 GB/s). Written so, it
# is one maxss on the accumulator's chain and a branch on the new value being NaN (never taken without NaNs);
# `(x > y || y != y) ? x : y` became a branch on the comparison, mispredicted half the time on random data,
# and a select of maxss's result on y's NaN a conditional move through integer registers (a long max
# reduction ran 4.5x slower with it than with this form).
SCALAR_MAX = {
    dt: (name, f"static inline {ct} {name}({ct} x, {ct} y) {{ {ct} t = y != y ? x : y; return x > t ? x : t; }}")
    for dt, ct, name in ((dtypes.float32, "float", "tg_fmaxf"), (dtypes.float64, "double", "tg_fmax"))
}


pm_render_cpu = (
    PatternMatcher(
        [
            (UPat(Ops.MAX, src=(UPat.var("a"), UPat.var("b")), name="x"), _vector_max),
            (UPat(Ops.WHERE, src=(UPat.var("c"), UPat.var("a"), UPat.var("b")), name="x"), _vector_where),
            # the end of a PACK copy: each thread fills and reads its own buffer, nothing to wait for
            (UPat(Ops.BARRIER), lambda: ""),
        ]
    )
    + pm_render_c
)


class CRenderer(CStyleRenderer):
    """C for the CPU device: one function with the whole loop nest inside.

    Vector comparisons give GCC's lane masks (int lanes of all ones or zeros), so a vector of bool is a vector
    of int here; where and max on vectors select with those masks bit by bit (C has no vector `?:`).
    """

    language = "C"
    supports_masks = True
    unroll_pragma = "#pragma GCC unroll {n}"
    vector_math = frozenset({Ops.EXP2})  # see tg_codegen.renderer.cmath
    pm_render = pm_render_cpu

    def alu(self, op: Ops, dt: DType, *a: str) -> str:
        if op is Ops.EXP2 and dt.count > 1:
            return f"{exp2_function_name(self.vector_type(dt))}({a[0]})"
        if op is Ops.MAX and dt in SCALAR_MAX:
            return f"{SCALAR_MAX[dt][0]}({a[0]},{a[1]})"
        return super().alu(op, dt, *a)

    def header(self, uops: list[UOp]) -> str:
        exp2 = {u.dtype for u in uops if u.op is Ops.EXP2 and u.dtype.count > 1}
        helpers = [exp2_vector_c(self.vector_type(d), self.vector_type(dtypes.int32.vec(d.count))) for d in exp2]
        helpers += [SCALAR_MAX[d][1] for d in {u.dtype for u in uops if u.op is Ops.MAX and u.dtype in SCALAR_MAX}]
        return super().header(uops) + "".join(h + "\n" for h in sorted(helpers))

    def vector_type(self, dt: DType) -> str:
        return super().vector_type(dtypes.int32.vec(dt.count) if dt.scalar().is_bool else dt)

    def vector_typedefs(self, dts: set[DType]) -> str:
        # masks (bool vectors) are int vectors, and blends of 4-byte lanes reinterpret them as int vectors
        masked = {dtypes.int32.vec(d.count) for d in dts if d.scalar().is_bool or d.scalar().itemsize == 4}
        return super().vector_typedefs({d for d in dts if not d.scalar().is_bool} | masked)
