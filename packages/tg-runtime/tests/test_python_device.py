"""The PYTHON device: hand-built loop programs (IR stage 3) interpreted in Python, checked against plain Python,
and the same computations written in C for every other device, checked against the PYTHON device."""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers import Prog, buf, c_div, c_mod, f32, read

from tg_runtime import Buffer, Device
from tg_runtime.backends.python import deserialize_program, serialize_program
from tg_uop import DType, Ops, UOp, dtypes

F32, F64, I32, U32 = dtypes.float32, dtypes.float64, dtypes.int32, dtypes.uint32

# every device that compiles C; each one is checked against the PYTHON device
C_DEVICES = ["CPU"]


def rand_f32(n: int, seed: int, lo: float = -10.0, hi: float = 10.0) -> list[float]:
    rng = random.Random(seed)
    return [f32(rng.uniform(lo, hi)) for _ in range(n)]


def run_python(prog: Prog, bufs: list[Buffer], vals: tuple[int, ...] = (), **launch: Any) -> float | None:
    prg = Device["PYTHON"].build("k", serialize_program(prog.uops))
    return prg(*[b.handle for b in bufs], vals=vals, **launch)


# ---- the programs: each as a UOp loop program, as C, and as a plain-Python expectation ----


@dataclass
class Case:
    name: str
    build: Callable[[], Prog]
    c_src: str  # defines `void k(...)`, parameters in the same order as the DEFINE_GLOBALs and DEFINE_VARs
    inputs: list[tuple[DType, list[Any]]]  # (dtype, initial contents) of every buffer, in parameter order
    expect: Callable[..., list[list[Any]]]  # the initial contents -> the contents of every buffer afterwards
    vals: tuple[int, ...] = field(default=())


def p_vadd() -> Prog:
    return Prog.loop(5, [F32] * 3, lambda p, r, out, a, b: p.store(out, r, p.alu(Ops.ADD, p.load(a, r), p.load(b, r))))


def p_sum(n: int) -> Callable[[], Prog]:
    def build() -> Prog:
        p = Prog()
        out, a = p.glob(0, F32, 1), p.glob(1, F32, n)
        acc = p.add(Ops.DEFINE_ACC, F32, (p.const(F32, 0.0),), 0)
        r = p.range(p.const(I32, n), 0)
        p.add(Ops.ASSIGN, F32, (acc, p.alu(Ops.ADD, acc, p.load(a, r))))
        p.endrange(r)
        p.store(out, p.const(I32, 0), acc)
        return p

    return build


def c_sum(n: int) -> str:
    body = f"  float acc = 0.0f;\n  for (int i = 0; i < {n}; i++) acc += a[i];\n  out[0] = acc;\n"
    return "void k(float* out, const float* a) {\n" + body + "}"


def seq_sum_f32(xs: list[float]) -> float:
    acc = 0.0
    for x in xs:
        acc = f32(acc + x)
    return acc


def p_matmul() -> Prog:
    # c[i, j] = sum_k a[i, k] * b[k, j] for a 2x3 @ 3x2; the accumulator restarts for every (i, j)
    p = Prog()
    c, a, b = p.glob(0, I32, 4), p.glob(1, I32, 6), p.glob(2, I32, 6)
    i = p.range(p.const(I32, 2), 0)
    j = p.range(p.const(I32, 2), 1)
    acc = p.add(Ops.DEFINE_ACC, I32, (p.const(I32, 0),), 0)
    k = p.range(p.const(I32, 3), 2)
    ai = p.alu(Ops.ADD, p.alu(Ops.MUL, i, p.const(I32, 3)), k)
    bi = p.alu(Ops.ADD, p.alu(Ops.MUL, k, p.const(I32, 2)), j)
    p.add(Ops.ASSIGN, I32, (acc, p.alu(Ops.ADD, acc, p.alu(Ops.MUL, p.load(a, ai), p.load(b, bi)))))
    p.endrange(k)
    p.store(c, p.alu(Ops.ADD, p.alu(Ops.MUL, i, p.const(I32, 2)), j), acc)
    p.endrange(j)
    p.endrange(i)
    return p


def matmul_expect(c: list[int], a: list[int], b: list[int]) -> list[list[int]]:
    out = [sum(a[i * 3 + k] * b[k * 2 + j] for k in range(3)) for i in range(2) for j in range(2)]
    return [out, a, b]


def p_var_loop() -> Prog:
    # out[i] = a[i] * m - i for i < n, with n and m given at launch
    p = Prog()
    out, a = p.glob(0, I32, 6), p.glob(1, I32, 6)
    n, m = p.var("n", 0, 6), p.var("m", -100, 100)
    r = p.range(n, 0)
    p.store(out, r, p.alu(Ops.SUB, p.alu(Ops.MUL, p.load(a, r), m), r))
    p.endrange(r)
    return p


def var_loop_expect(n: int, m: int) -> Callable[..., list[list[int]]]:
    return lambda out, a: [[a[i] * m - i if i < n else out[i] for i in range(6)], a]


def p_gated() -> Prog:
    # out[i] = i < 3 ? a[i] : 7 (a has only 3 elements: the gate must keep the load inside it);
    # evens[i] = out value, written only where i is even
    p = Prog()
    out, a, evens = p.glob(0, I32, 5), p.glob(1, I32, 3), p.glob(2, I32, 5)
    r = p.range(p.const(I32, 5), 0)
    x = p.load(a, r, p.alu(Ops.CMPLT, r, p.const(I32, 3)), p.const(I32, 7))
    p.store(out, r, x)
    even = p.alu(Ops.CMPEQ, p.alu(Ops.MOD, r, p.const(I32, 2)), p.const(I32, 0))
    p.store(evens, r, x, gate=even)
    p.endrange(r)
    return p


def gated_expect(out: list[int], a: list[int], evens: list[int]) -> list[list[int]]:
    vals = [a[i] if i < 3 else 7 for i in range(5)]
    return [vals, a, [vals[i] if i % 2 == 0 else evens[i] for i in range(5)]]


def p_divmod() -> Prog:
    def body(p: Prog, r: UOp, q: UOp, m: UOp, a: UOp, b: UOp) -> None:
        x, y = p.load(a, r), p.load(b, r)
        p.store(q, r, p.alu(Ops.IDIV, x, y))
        p.store(m, r, p.alu(Ops.MOD, x, y))

    return Prog.loop(6, [I32] * 4, body)


def p_u32_mul() -> Prog:
    return Prog.loop(4, [U32] * 3, lambda p, r, out, a, b: p.store(out, r, p.alu(Ops.MUL, p.load(a, r), p.load(b, r))))


def p_f32_mul_to_f64() -> Prog:
    # the product is rounded to float32 before it is widened
    def body(p: Prog, r: UOp, out: UOp, a: UOp, b: UOp) -> None:
        p.store(out, r, p.add(Ops.CAST, F64, (p.alu(Ops.MUL, p.load(a, r), p.load(b, r)),)))

    return Prog.loop(5, [F64, F32, F32], body)


def p_casts() -> Prog:
    def body(p: Prog, r: UOp, oi: UOp, of: UOp, a: UOp, b: UOp) -> None:
        p.store(oi, r, p.add(Ops.CAST, I32, (p.load(a, r),)))
        p.store(of, r, p.add(Ops.CAST, F32, (p.load(b, r),)))

    return Prog.loop(5, [I32, F32, F32, I32], body)


def p_unary_binary() -> Prog:
    # mx = max(a, b); sel = a < b ? a : -b; q = a / b; s = sqrt(|a|) via where
    def body(p: Prog, r: UOp, mx: UOp, sel: UOp, q: UOp, s: UOp, a: UOp, b: UOp) -> None:
        x, y = p.load(a, r), p.load(b, r)
        p.store(mx, r, p.alu(Ops.MAX, x, y))
        p.store(sel, r, p.alu(Ops.WHERE, p.alu(Ops.CMPLT, x, y), x, p.alu(Ops.NEG, y)))
        p.store(q, r, p.alu(Ops.FDIV, x, y))
        absx = p.alu(Ops.WHERE, p.alu(Ops.CMPLT, x, p.const(F32, 0.0)), p.alu(Ops.NEG, x), x)
        p.store(s, r, p.alu(Ops.SQRT, absx))

    return Prog.loop(4, [F32] * 6, body)


def unary_binary_expect(mx: list, sel: list, q: list, s: list, a: list, b: list) -> list[list[float]]:
    return [
        [max(x, y) for x, y in zip(a, b)],
        [x if x < y else -y for x, y in zip(a, b)],
        [f32(x / y) for x, y in zip(a, b)],
        [f32(math.sqrt(abs(x))) for x in a],
        a,
        b,
    ]


A_F, B_F = rand_f32(5, 11), rand_f32(5, 12)
DIV_A, DIV_B = [7, -7, 7, -7, 0, 2**31 - 1], [2, 2, -2, -2, 5, -4]
CAST_F = [f32(v) for v in (-2.7, 2.7, -0.5, 100.9, -1000.25)]
CAST_I = [16777217, -3, 2**31 - 1, -(2**31), 123456789]
UB_A, UB_B = rand_f32(4, 21, 0.5, 5.0), [f32(-v) if i % 2 else v for i, v in enumerate(rand_f32(4, 22, 0.5, 5.0))]
SUM_IN = rand_f32(7, 31)

CASES = [
    Case(
        "vadd",
        p_vadd,
        "void k(float* out, const float* a, const float* b) { for (int i = 0; i < 5; i++) out[i] = a[i] + b[i]; }",
        [(F32, [0.0] * 5), (F32, A_F), (F32, B_F)],
        lambda o, a, b: [[f32(x + y) for x, y in zip(a, b)], a, b],
    ),
    Case(
        "sum",
        p_sum(7),
        c_sum(7),
        [(F32, [-5.0]), (F32, SUM_IN)],
        lambda o, a: [[seq_sum_f32(a)], a],
    ),
    Case(
        "sum_cancels_in_float32",
        p_sum(4),
        c_sum(4),
        [(F32, [0.0]), (F32, [1e8, 1.0, -1e8, 1.0])],
        lambda o, a: [[1.0], a],  # float64 would give 2.0
    ),
    Case(
        "matmul",
        p_matmul,
        "void k(int* c, const int* a, const int* b) {\n"
        "  for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) {\n"
        "    int acc = 0;\n"
        "    for (int k = 0; k < 3; k++) acc += a[i * 3 + k] * b[k * 2 + j];\n"
        "    c[i * 2 + j] = acc;\n"
        "  }\n"
        "}",
        [(I32, [9, 9, 9, 9]), (I32, [1, -2, 3, 4, 5, -6]), (I32, [7, 8, -9, 10, 11, 12])],
        matmul_expect,
    ),
    *(
        Case(
            f"var_loop_n{n}_m{m}",
            p_var_loop,
            "void k(int* out, const int* a, int n, int m) { for (int i = 0; i < n; i++) out[i] = a[i] * m - i; }",
            [(I32, [-1] * 6), (I32, [3, 1, 4, 1, 5, 9])],
            var_loop_expect(n, m),
            (n, m),
        )
        for n, m in ((4, 3), (6, -2), (0, 5))
    ),
    Case(
        "gated",
        p_gated,
        "void k(int* out, const int* a, int* evens) {\n"
        "  for (int i = 0; i < 5; i++) {\n"
        "    int x = i < 3 ? a[i] : 7;\n"
        "    out[i] = x;\n"
        "    if (i % 2 == 0) evens[i] = x;\n"
        "  }\n"
        "}",
        [(I32, [0] * 5), (I32, [-4, 5, -6]), (I32, [-1] * 5)],
        gated_expect,
    ),
    Case(
        "divmod",
        p_divmod,
        "void k(int* q, int* m, const int* a, const int* b) {\n"
        "  for (int i = 0; i < 6; i++) { q[i] = a[i] / b[i]; m[i] = a[i] % b[i]; }\n"
        "}",
        [(I32, [0] * 6), (I32, [0] * 6), (I32, DIV_A), (I32, DIV_B)],
        lambda q, m, a, b: [[c_div(x, y) for x, y in zip(a, b)], [c_mod(x, y) for x, y in zip(a, b)], a, b],
    ),
    Case(
        "uint32_wraps",
        p_u32_mul,
        "void k(unsigned int* out, const unsigned int* a, const unsigned int* b) {\n"
        "  for (int i = 0; i < 4; i++) out[i] = a[i] * b[i];\n"
        "}",
        [(U32, [0] * 4), (U32, [2**32 - 1, 65536, 3, 2**31]), (U32, [2, 65536, 5, 3])],
        lambda o, a, b: [[(x * y) % 2**32 for x, y in zip(a, b)], a, b],
    ),
    Case(
        "float32_product_widened",
        p_f32_mul_to_f64,
        "void k(double* out, const float* a, const float* b) {\n"
        "  for (int i = 0; i < 5; i++) out[i] = (double)(a[i] * b[i]);\n"
        "}",
        [(F64, [0.0] * 5), (F32, A_F), (F32, B_F)],
        lambda o, a, b: [[f32(x * y) for x, y in zip(a, b)], a, b],
    ),
    Case(
        "casts",
        p_casts,
        "void k(int* oi, float* of, const float* a, const int* b) {\n"
        "  for (int i = 0; i < 5; i++) { oi[i] = (int)a[i]; of[i] = (float)b[i]; }\n"
        "}",
        [(I32, [0] * 5), (F32, [0.0] * 5), (F32, CAST_F), (I32, CAST_I)],
        lambda oi, of, a, b: [[math.trunc(x) for x in a], [f32(float(v)) for v in b], a, b],
    ),
    Case(
        "max_where_div_sqrt",
        p_unary_binary,
        "#include <math.h>\n"
        "void k(float* mx, float* sel, float* q, float* s, const float* a, const float* b) {\n"
        "  for (int i = 0; i < 4; i++) {\n"
        "    mx[i] = a[i] > b[i] ? a[i] : b[i];\n"
        "    sel[i] = a[i] < b[i] ? a[i] : -b[i];\n"
        "    q[i] = a[i] / b[i];\n"
        "    s[i] = sqrtf(a[i] < 0.0f ? -a[i] : a[i]);\n"
        "  }\n"
        "}",
        [(F32, [0.0] * 4)] * 4 + [(F32, UB_A), (F32, UB_B)],
        unary_binary_expect,
    ),
]


def make_buffers(device: str, case: Case) -> list[Buffer]:
    return [buf(device, dt, vals) for dt, vals in case.inputs]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_python_device_against_plain_python(case: Case) -> None:
    bufs = make_buffers("PYTHON", case)
    run_python(case.build(), bufs, case.vals)
    assert [read(b) for b in bufs] == case.expect(*[list(v) for _, v in case.inputs])


@pytest.mark.parametrize("device", C_DEVICES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_device_against_python_device(device: str, case: Case) -> None:
    ref = make_buffers("PYTHON", case)
    run_python(case.build(), ref, case.vals)
    got = make_buffers(device, case)
    Device[device].build("k", case.c_src)(*[b.handle for b in got], vals=case.vals)
    assert [read(b) for b in got] == [read(b) for b in ref]


# ---- float32 rounding ----


def test_float32_add_of_constants() -> None:
    # 0.1 + 0.2 in float32, widened to float64 for storage so that the store cannot hide the rounding
    p = Prog()
    out = p.glob(0, F64, 1)
    s = p.alu(Ops.ADD, p.const(F32, 0.1), p.const(F32, 0.2))
    p.store(out, p.const(I32, 0), p.add(Ops.CAST, F64, (s,)))
    b = Buffer("PYTHON", 1, F64)
    run_python(p, [b])
    want = f32(f32(0.1) + f32(0.2))
    assert read(b) == [want]
    assert want != 0.1 + 0.2 and want == f32(0.3)


@pytest.mark.parametrize("device", C_DEVICES)
def test_float32_add_of_constants_on_device(device: str) -> None:
    b = Buffer(device, 1, F64)
    Device[device].build("k", "void k(double* out) { out[0] = (double)(0.1f + 0.2f); }")(b.handle)
    assert read(b) == [f32(f32(0.1) + f32(0.2))]


def test_float64_program_is_not_rounded_to_float32() -> None:
    p = Prog()
    out = p.glob(0, F64, 1)
    p.store(out, p.const(I32, 0), p.alu(Ops.ADD, p.const(F64, 0.1), p.const(F64, 0.2)))
    b = Buffer("PYTHON", 1, F64)
    run_python(p, [b])
    assert read(b) == [0.1 + 0.2]


def test_int8_arithmetic_wraps() -> None:
    p = Prog()
    out, a = p.glob(0, dtypes.int8, 3), p.glob(1, dtypes.int8, 3)
    r = p.range(p.const(I32, 3), 0)
    p.store(out, r, p.alu(Ops.ADD, p.load(a, r), p.const(dtypes.int8, 100)))
    p.endrange(r)
    bufs = [buf("PYTHON", dtypes.int8, [0, 0, 0]), buf("PYTHON", dtypes.int8, [27, 28, -128])]
    run_python(p, bufs)
    assert read(bufs[0]) == [127, -128, -28]


# ---- launch geometry ----


def test_global_and_local_indices() -> None:
    # out[(g1 * 3 + g0) * 2 + l0] = 100 * g0 + 10 * g1 + l0, run over a (3, 2) grid of 2-item groups
    p = Prog()
    out = p.glob(0, I32, 12)
    g0 = p.add(Ops.SPECIAL, I32, (), ("gidx0", 3))
    g1 = p.add(Ops.SPECIAL, I32, (), ("gidx1", 2))
    l0 = p.add(Ops.SPECIAL, I32, (), ("lidx0", 2))
    idx = p.alu(Ops.ADD, p.alu(Ops.MUL, p.alu(Ops.ADD, p.alu(Ops.MUL, g1, p.const(I32, 3)), g0), p.const(I32, 2)), l0)
    val = p.alu(
        Ops.ADD, p.alu(Ops.ADD, p.alu(Ops.MUL, g0, p.const(I32, 100)), p.alu(Ops.MUL, g1, p.const(I32, 10))), l0
    )
    p.store(out, idx, val)
    b = buf("PYTHON", I32, [-1] * 12)
    run_python(p, [b], global_size=(3, 2, 1), local_size=(2, 1, 1))
    want = [-1] * 12
    for g0v in range(3):
        for g1v in range(2):
            for l0v in range(2):
                want[(g1v * 3 + g0v) * 2 + l0v] = 100 * g0v + 10 * g1v + l0v
    assert read(b) == want


def test_wait_returns_time_and_reruns_are_independent() -> None:
    p = Prog()
    out, a = p.glob(0, I32, 1), p.glob(1, I32, 3)
    acc = p.add(Ops.DEFINE_ACC, I32, (p.const(I32, 0),), 0)
    r = p.range(p.const(I32, 3), 0)
    p.add(Ops.ASSIGN, I32, (acc, p.alu(Ops.ADD, acc, p.load(a, r))))
    p.endrange(r)
    p.store(out, p.const(I32, 0), acc)
    prg = Device["PYTHON"].build("k", serialize_program(p.uops))
    o, a_buf = buf("PYTHON", I32, [0]), buf("PYTHON", I32, [4, 5, 6])
    t = prg(o.handle, a_buf.handle, wait=True)
    assert isinstance(t, float) and t >= 0.0
    assert prg(o.handle, a_buf.handle) is None
    assert read(o) == [15]  # the accumulator starts from zero on every launch


# ---- the text format ----


def test_serialize_roundtrip_keeps_ops_dtypes_sources_and_args() -> None:
    p = Prog()
    g = p.add(Ops.DEFINE_GLOBAL, F32.ptr(8), (), 0)
    loc = p.add(Ops.DEFINE_GLOBAL, dtypes.float16.ptr(4, local=True), (), 1)
    v = p.var("n", 1, 8)
    consts = [p.const(F32, x) for x in (0.1, -0.0, math.inf, -math.inf, 1e-45)] + [p.const(F64, math.nan)]
    big = p.const(dtypes.int64, -(2**63))
    flag = p.const(dtypes.bool, True)
    vec = p.add(Ops.VECTORIZE, F32.vec(4), tuple(consts[:4]))
    red = p.add(Ops.NOOP, F32, (consts[0],), (Ops.ADD, (0, 2)))
    r = p.range(v, 3)
    p.add(Ops.ENDRANGE, dtypes.void, (r,))
    insts = deserialize_program(serialize_program(p.uops))
    assert len(insts) == len(p.uops)
    for u, (op, dt, src, arg) in zip(p.uops, insts):
        assert op is u.op
        assert dt == u.dtype and type(dt) is type(u.dtype)
        assert src == tuple(p.uops.index(s) for s in u.src)
        if isinstance(u.arg, float):
            assert struct.pack("<d", arg) == struct.pack("<d", u.arg)  # exact, sign of zero and nan included
        else:
            assert arg == u.arg
    assert insts[p.uops.index(loc)][1].local  # type: ignore[attr-defined]
    assert insts[p.uops.index(red)][3] == (Ops.ADD, (0, 2))
    assert insts[p.uops.index(big)][3] == -(2**63) and insts[p.uops.index(flag)][3] is True
    assert insts[p.uops.index(vec)][1] == F32.vec(4)
    assert insts[p.uops.index(r)][2] == (p.uops.index(v),)
    assert g.dtype == insts[0][1]


def test_serialize_refuses_a_source_outside_the_program() -> None:
    outside = UOp.const(I32, 5)
    p = Prog()
    out = p.glob(0, I32, 1)
    p.add(Ops.STORE, dtypes.void, (p.add(Ops.INDEX, out.dtype, (out, p.const(I32, 0))), outside))
    with pytest.raises(ValueError, match="CONST"):
        serialize_program(p.uops)


MALFORMED = {
    "not python": "this is not a program",
    "unknown op": "('FROBNICATE', 'int32', (), None)",
    "unknown dtype": "('CONST', 'float99', (), 1)",
    "bad pointer size": "('DEFINE_GLOBAL', 'float32*many', (), 0)",
    "too few fields": "('CONST', 'int32', ())",
    "too many fields": "('CONST', 'int32', (), 1, 2)",
    "not a tuple": "42",
    "code, not data": "__import__('os').getcwd()",
    "unterminated": "('CONST', 'int32', (), ",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_program_is_refused_at_build(kind: str) -> None:
    with pytest.raises(ValueError, match="line 1 is malformed"):
        Device["PYTHON"].build("k", MALFORMED[kind])


def test_malformed_line_is_located() -> None:
    good = "('CONST', 'int32', (), 1)"
    text = "\n".join([good, good, MALFORMED["unknown op"], good])
    with pytest.raises(ValueError) as info:
        deserialize_program(text)
    msg = str(info.value)
    assert "line 3" in msg and "FROBNICATE" in msg


@pytest.mark.parametrize(
    "text, match",
    [
        ("('CONST', 'int32', (), 1)\n('ADD', 'int32', (0, 7), None)", "not earlier lines"),
        ("('CONST', 'int32', (), 3)\n('RANGE', 'int32', (0,), ('__range__', 0, 'GLOBAL', 0))", "never closed"),
        ("('CONST', 'int32', (), 3)\n('ENDRANGE', 'void', (0,), None)", "does not close"),
    ],
)
def test_build_rejects_programs_with_bad_structure(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Device["PYTHON"].build("k", text)


def test_launch_checks_buffer_and_variable_counts() -> None:
    p = Prog()
    out = p.glob(0, I32, 1)
    n = p.var("n", 0, 9)
    p.store(out, p.const(I32, 0), n)
    prg = Device["PYTHON"].build("k", serialize_program(p.uops))
    with pytest.raises(ValueError, match="needs 1 buffers"):
        prg()
    with pytest.raises(ValueError, match="variables"):
        prg(buf("PYTHON", I32, [0]).handle)
    res = buf("PYTHON", I32, [0])
    prg(res.handle, vals=(7,))
    assert read(res) == [7]
