"""Math functions on whole SIMD vectors for the C renderer (GCC vector extensions) and the LLVM renderer.

libm has no vector exp2f that every C compiler calls, and calling exp2f once per lane makes a softmax spend
most of its time in the calls. `exp2_vector_c` writes a branch-free exp2 for one float32 vector type: x is
split into an integer n and f in [-0.5, 0.5] by the 1.5*2^23 rounding trick, 2^f is a degree-6 polynomial
(coefficients fitted for relative error, constant term exactly 1), and 2^n is built in the exponent bits in two
halves, so results down to the subnormals are scaled exactly and rounded once. Measured error: at most 1.5 ulp
of float32 against exp2 in float64 for normal results (tests/test_vector_math.py); a subnormal result is
within one subnormal step. exp2(inf) = inf, exp2(-inf) = 0, exp2(nan) = nan.

The LLVM renderer (`llvmir.py`) renders the same function from the constants here, op for op, with fused
multiply-adds exactly where the C kernel has them (only kernels compiled with `fp-contract=fast`, whose pragma
covers this function too), so the CPU and LLVM devices give the same bits for vector exp2 as for scalar exp2f.

Scalar exp2 stays libm's exp2f (correctly rounded in practice), so vector lanes may differ from scalar code
and from the PYTHON device (which rounds exp2 computed in float64) by about one ulp; every comparison of
float results between devices allows more than that (relative 1e-5 in the kernel fuzzer).

>>> print(exp2_vector_c("vfloat4", "vint4").splitlines()[0])
static inline vfloat4 tg_exp2_vfloat4(vfloat4 x) {
"""

from __future__ import annotations

import struct

# 2^f ~ 1 + f*(c1 + f*(c2 + ... f*c6)) on [-0.5, 0.5]: float32 values of a minimax fit of the relative error
EXP2_COEFFS = tuple(
    float.fromhex(c)
    for c in ("0x1.62e43p-1", "0x1.ebfbdcp-3", "0x1.c6aee8p-5", "0x1.3b2d4cp-7", "0x1.5f3e48p-10", "0x1.41fba2p-13")
)
# x is clamped to [EXP2_LOW, EXP2_HIGH] (the results round to 0 and overflow to inf there); nan stays nan
EXP2_HIGH, EXP2_LOW = 128.0, -151.0
# x + 1.5*2^23 rounds x to an integer held in the low mantissa bits (|x| <= 2^22)
EXP2_ROUNDER = 12582912.0


def float32_bits(v: float) -> int:
    """The bits of the float32 `v` as an unsigned int.

    >>> hex(float32_bits(EXP2_ROUNDER))
    '0x4b400000'
    """
    return int.from_bytes(struct.pack("<f", v), "little")


def _c_float(v: float) -> str:
    # a float32 literal: integers in decimal, others in hexadecimal (exact) without trailing zero digits
    if v.is_integer():
        return f"{v!r}f"
    mantissa, exponent = float.hex(v).split("p")
    return f"{mantissa.rstrip('0').rstrip('.')}p{exponent}f"


def exp2_function_name(vtype: str) -> str:
    """The name of the exp2 function for vectors of type `vtype`."""
    return f"tg_exp2_{vtype}"


def exp2_vector_c(vtype: str, itype: str) -> str:
    """C source of exp2 on a float32 vector type `vtype`, with `itype` the int32 vector type of the same lanes."""
    horner = _c_float(EXP2_COEFFS[-1])
    for c in EXP2_COEFFS[-2::-1]:
        horner = f"({horner})*f+{_c_float(c)}"
    hi, lo, rnd = (_c_float(v) for v in (EXP2_HIGH, EXP2_LOW, EXP2_ROUNDER))
    hi_bits, lo_bits, rnd_bits = (f"0x{float32_bits(v):08X}" for v in (EXP2_HIGH, EXP2_LOW, EXP2_ROUNDER))
    return "\n".join(
        [
            f"static inline {vtype} {exp2_function_name(vtype)}({vtype} x) {{",
            # vector casts between same-sized types reinterpret the bits: the clamp selects bit patterns
            f"  {itype} hi = x > {hi}, lo = x < {lo}, xi = ({itype})x;",
            f"  xi = (hi & {hi_bits}) | (lo & (int){lo_bits}) | (~(hi | lo) & xi);",
            f"  {vtype} xc = ({vtype})xi, t = xc + {rnd};",
            f"  {vtype} f = xc - (t - {rnd});",
            # t's low bits hold round(x); nan lanes get n = 0 so no shift below overflows
            f"  {itype} n = (({itype})t - {rnd_bits}) & (xc == xc);",
            f"  {itype} n1 = n >> 1, n2 = n - n1;",
            f"  {vtype} p = ({horner})*f+1.0f;",
            f"  return (p * ({vtype})((n1 + 127) << 23)) * ({vtype})((n2 + 127) << 23);",
            "}",
        ]
    )
