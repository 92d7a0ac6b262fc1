"""Regression: gcc 12.2 with `-O2 -march=native` on an AVX-512 machine miscompiled a reduce whose loads are
guarded (`i < 300 ? y[i] : 0`) and selected by a comparison, after tg_codegen had unrolled it by 4 or 16: the
loop vectorizer gave 3 (or 11) where the answer is 1. Found by tg-tensor's `cummax` gradient over an axis longer
than 256 (the gradient of a block's running maximum, masked past the end of the axis). The CPU compiler now
passes `-fno-tree-loop-vectorize`; tg_codegen does its own unrolling and vectors."""

from __future__ import annotations

from helpers import buf, read

from tg_runtime import Buffer, Device
from tg_uop import dtypes

_LANE = """
      float a{j} = d1[(g*256)+(r*4)+{j}];
      float b{j} = (((g*256)+(r*4)+{j})<300)?d3[(g*256)+(r*4)+{j}]:0.0f;
      acc{j} = acc{j} + ((a{j}<v0)?b{j}:0.0f);"""

GUARDED_SUM = (
    "void k(float* restrict d0, const float* restrict d1, const float* restrict d2, const float* restrict d3) {\n"
    "  for (int g = 0; g < 2; g++) {\n"
    "    float v0 = d2[g];\n"
    "    float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;\n"
    "    for (int r = 0; r < 64; r++) {" + "".join(_LANE.format(j=j) for j in range(4)) + "\n    }\n"
    "    d0[g] = acc0+acc1+acc2+acc3;\n"
    "  }\n"
    "}\n"
)


def test_guarded_loads_in_an_unrolled_reduce() -> None:
    # row g sums y[g*256 + i] for i < 256 where the index is below 300 and x < lim[g]; only y[256] is nonzero
    # below 300, and y holds 1.0 past 300 too, where it must never be read
    out = Buffer("CPU", 2, dtypes.float32)
    x = buf("CPU", dtypes.float32, [1.0] * 512)
    lim = buf("CPU", dtypes.float32, [float("-inf"), 2.0])
    y = buf("CPU", dtypes.float32, [1.0 if i == 256 or i >= 300 else 0.0 for i in range(512)])
    Device["CPU"].build("k", GUARDED_SUM)(out.handle, x.handle, lim.handle, y.handle)
    assert read(out) == [0.0, 1.0]
