"""Rendering loop programs as C-family source. `CRenderer` targets the CPU device.

Readable by design: parameters `data0..`, loop indices `gidx0..` (global) and `ridx0..` (reduce),
accumulators `acc0..`, loads `val0..`, one statement per line. Integer index math and single-use values
are written inline; values used more than once get a named variable.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable

from tg_codegen.renderer import Renderer
from tg_uop.dtype import DType, PtrDType, dtypes
from tg_uop.ops import AxisType, GroupOp, Ops
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
        table: dict[Ops, Callable[..., str]] = {
            Ops.NEG: lambda x: f"(!{x})" if dt.is_bool else f"(-{x})",
            Ops.RECIP: lambda x: f"(1.0{f}/{x})" if fdt in (dtypes.float32, dtypes.float64) else f"(1/{x})",
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
    barrier = ""  # the statement that waits for every work-item of the group

    def special(self, name: str) -> str:
        """The expression of a launch index (gidx0: work-group 0, lidx0: work-item 0)."""
        raise NotImplementedError(f"{type(self).__name__} has no work-groups")

    def vector_cast(self, x: str, dt: DType) -> str:
        return f"__builtin_convertvector({x}, {self.ctype(dt)})"

    def vector_element(self, x: str, i: int) -> str:
        return f"{x}[{i}]"

    def header(self, uops: list[UOp]) -> str:
        """What goes before the function: includes, pragmas, type declarations."""
        vectors = {u.dtype for u in uops if u.dtype.count > 1 and not isinstance(u.dtype, PtrDType)}
        # a vector reduction of products may use fused multiply-adds (its sum order differs anyway)
        fused = any(u.op is Ops.DEFINE_ACC and u.dtype.count > 1 and u.dtype.is_float for u in uops)
        return self.preamble + (self.contract_pragma if fused else "") + self.vector_typedefs(vectors)

    def render(self, name: str, uops: list[UOp]) -> str:
        users: Counter[UOp] = Counter(s for u in uops for s in u.src)
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

        written = {u.src[0].src[0] for u in uops if u.op is Ops.STORE}
        params: list[tuple[str, DType, bool]] = []
        r: dict[UOp, str] = {}
        lines: list[str] = []
        counters: Counter[str] = Counter()
        # integer/bool expressions built only from indices, variables and constants: always written inline
        pure_index: set[UOp] = {u for u in uops if u.op in (Ops.CONST, Ops.RANGE, Ops.DEFINE_VAR, Ops.SPECIAL)}
        depth = 1

        def fresh(prefix: str) -> str:
            n = counters[prefix]
            counters[prefix] += 1
            return f"{prefix}{n}"

        def line(text: str) -> None:
            lines.append("  " * depth + text)

        for u in uops:
            op, dt, src = u.op, u.dtype, u.src
            if op is Ops.DEFINE_GLOBAL:
                r[u] = f"data{u.arg}"
                params.append((r[u], dt, u in written))
            elif op is Ops.DEFINE_LOCAL:
                assert isinstance(dt, PtrDType) and dt.base is not None
                r[u] = f"temp{u.arg}"
                line(f"{self.local_prefix}{self.ctype(dt.base)} {r[u]}[{dt.size}];")
            elif op is Ops.BARRIER:
                line(self.barrier)
            elif op is Ops.DEFINE_VAR:
                r[u] = str(u.arg[0])
                params.append((r[u], dt, False))
            elif op is Ops.CONST:
                scalar = self.const(u.arg, dt.scalar())
                r[u] = scalar if dt.count == 1 else self.vector_literal(dt, [scalar] * dt.count)
            elif op is Ops.VECTORIZE:
                r[u] = fresh("vec")
                line(f"{self.ctype(dt)} {r[u]} = {self.vector_literal(dt, [_strip(r[s]) for s in src])};")
            elif op is Ops.GEP:
                r[u] = self.vector_element(r[src[0]], u.arg)
                if dt.is_bool and self.supports_masks:
                    r[u] = f"({r[u]}!=0)"  # a lane of a mask is 0 or -1
            elif op is Ops.SPECIAL:
                r[u] = u.arg[0]
                line(f"int {r[u]} = {self.special(u.arg[0])}; /* {u.arg[1]} */")
            elif op is Ops.RANGE:
                r[u] = fresh("ridx" if u.arg.kind is AxisType.REDUCE else "gidx")
                if u.arg.kind is AxisType.THREAD:
                    line(f"#pragma omp parallel for num_threads({self.threads})")
                line(f"for (int {r[u]} = 0; {r[u]} < {r[src[0]]}; {r[u]}++) {{")
                depth += 1
            elif op is Ops.ENDRANGE:
                depth -= 1
                line("}")
            elif op is Ops.DEFINE_ACC:
                r[u] = fresh("acc")
                line(f"{self.ctype(dt)} {r[u]} = {r[src[0]]};")
            elif op is Ops.ASSIGN:
                line(f"{r[src[0]]} = {r[src[1]]};")
                r[u] = r[src[0]]
            elif op is Ops.INDEX:
                r[u] = f"{r[src[0]]}[{_strip(r[src[1]])}]"
            elif op is Ops.LOAD:
                idx = src[0]
                ref = r[idx] if dt.count == 1 else self.vector_load(dt, r[idx.src[0]], r[idx.src[1]])
                zero = (
                    self.const(0, dt)
                    if dt.count == 1
                    else self.vector_literal(dt, [self.const(0, dt.scalar())] * dt.count)
                )
                expr = ref if len(idx.src) < 3 else f"({r[idx.src[2]]}?{ref}:{zero})"
                r[u] = fresh("val")
                line(f"{self.ctype(dt)} {r[u]} = {expr};")
            elif op is Ops.STORE:
                idx, val = src
                if val.dtype.count == 1:
                    store = f"{r[idx]} = {_strip(r[val])};"
                else:
                    store = self.vector_store(val.dtype, r[idx.src[0]], r[idx.src[1]], _strip(r[val]))
                line(store if len(idx.src) < 3 else f"if ({_strip(r[idx.src[2]])}) {store}")
            elif op in GroupOp.ALU or op in (Ops.CAST, Ops.BITCAST):
                if op is Ops.CAST and dt.count > 1:
                    expr = self.vector_cast(_strip(r[src[0]]), dt)
                elif op is Ops.CAST:
                    expr = f"(({self.ctype(dt)})({r[src[0]]}))"
                elif op is Ops.BITCAST:
                    expr = self.bitcast(r[src[0]], src[0].dtype, dt)
                else:
                    expr = self.alu(op, dt, *(r[s] for s in src))
                index_math = (dt.is_int or dt.is_bool) and all(s in pure_index for s in src)
                if index_math:
                    pure_index.add(u)
                if index_math or (users[u] <= 1 and use_depth.get(u, depth_at[u]) == depth_at[u]):
                    r[u] = expr
                else:
                    r[u] = fresh("alu")
                    line(f"{self.ctype(dt)} {r[u]} = {_strip(expr)};")
            elif op in (Ops.SINK, Ops.NOOP):
                pass
            else:
                raise NotImplementedError(f"{type(self).__name__} cannot render {op}")
        body = "\n".join(lines)
        # parameters in launch order: buffers by number, then variables in the order they appear
        buffers = sorted((p for p in params if isinstance(p[1], PtrDType)), key=lambda p: int(p[0][4:]))
        variables = [p for p in params if not isinstance(p[1], PtrDType)]
        return f"{self.header(uops)}{self.signature(name, buffers + variables)} {{\n{body}\n}}\n"

    contract_pragma = '#pragma GCC optimize("fp-contract=fast")\n'
    supports_vectors = True

    def vector_load(self, dt: DType, buf: str, idx: str) -> str:
        """`dt.count` elements of `buf` from element `idx` (no alignment assumed)."""
        return f"(*(({self.vector_type(dt)}_u*)({buf}+{_strip(idx)})))"

    def vector_store(self, dt: DType, buf: str, idx: str, value: str) -> str:
        return f"{self.vector_load(dt, buf, idx)} = {value};"

    def bitcast(self, x: str, src: DType, dst: DType) -> str:
        # a GNU statement expression: memcpy is the defined way to reinterpret bits in C
        return f"({{{self.ctype(src)} t_ = {x}; {self.ctype(dst)} d_; __builtin_memcpy(&d_, &t_, sizeof(d_)); d_;}})"


def _strip(expr: str) -> str:
    # drop one pair of redundant outer parentheses: data0[(a+b)] -> data0[a+b]
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


class CRenderer(CStyleRenderer):
    """C for the CPU device: one function with the whole loop nest inside.

    Vector comparisons give GCC's lane masks (int lanes of all ones or zeros), so a vector of bool is a vector
    of int here; where and max on vectors select with those masks bit by bit (C has no vector `?:`).
    """

    language = "C"
    supports_masks = True

    def vector_type(self, dt: DType) -> str:
        return super().vector_type(dtypes.int32.vec(dt.count) if dt.scalar().is_bool else dt)

    def vector_typedefs(self, dts: set[DType]) -> str:
        # masks (bool vectors) are int vectors, and blends of 4-byte lanes reinterpret them as int vectors
        masked = {dtypes.int32.vec(d.count) for d in dts if d.scalar().is_bool or d.scalar().itemsize == 4}
        return super().vector_typedefs({d for d in dts if not d.scalar().is_bool} | masked)

    def alu(self, op: Ops, dt: DType, *a: str) -> str:
        if dt.count == 1 or op not in (Ops.WHERE, Ops.MAX):
            return super().alu(op, dt, *a)
        if op is Ops.MAX:
            return self._blend(f"({a[1]}<{a[0]})", a[0], a[1], dt)
        return self._blend(f"({a[0]}!=0)", a[1], a[2], dt)

    def _blend(self, mask: str, x: str, y: str, dt: DType) -> str:
        # lanes of x where mask is all ones, of y where it is zero; mask!=0 turns 0/1 lanes into masks too
        iv, v = self.vector_type(dtypes.int32.vec(dt.count)), self.ctype(dt)
        return f"(({v})((({iv}){mask}&({iv})({x}))|(~({iv}){mask}&({iv})({y}))))"
