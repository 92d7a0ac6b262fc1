"""CUDA C for the CUDA device: blocks from global axes, threads from LOCAL axes."""

from __future__ import annotations

from tg_codegen.renderer.cstyle import CStyleRenderer, RenderContext, pm_render_c, special_index
from tg_uop.dtype import DType, dtypes
from tg_uop.ops import Ops
from tg_uop.rewrite import PatternMatcher, UPat
from tg_uop.uop import UOp

_VIA_FLOAT = frozenset({Ops.MAX, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC, Ops.RECIP, Ops.FDIV})


def _via_float(ctx: RenderContext, x: UOp) -> str:
    # half and bfloat16 have no overloads of C's math functions here: compute those in float
    as_float = ctx.ren.alu(x.op, dtypes.float32, *(f"((float)({ctx[s]}))" for s in x.src))
    return ctx.value(x, f"(({ctx.ren.type_map[x.dtype.scalar()]})({as_float}))")


def _bitcast(ctx: RenderContext, x: UOp, a: UOp) -> str:
    # the source may be an expression, not a variable, so it cannot be addressed: copy it in a lambda
    t, d = ctx.ren.ctype(a.dtype), ctx.ren.ctype(x.dtype)
    return ctx.value(x, f"([&]() {{ {t} t_ = {ctx[a]}; {d} d_; memcpy(&d_, &t_, sizeof(d_)); return d_; }}())")


pm_render_cuda = (
    PatternMatcher(
        [
            (
                UPat(Ops.SPECIAL, name="x"),
                lambda ctx, x: special_index(
                    ctx, x, f"{'blockIdx' if x.arg[0].startswith('g') else 'threadIdx'}.{'xyz'[int(x.arg[0][-1])]}"
                ),
            ),
            (UPat(_VIA_FLOAT, dtype=(dtypes.float16, dtypes.bfloat16), name="x"), _via_float),
            (UPat(Ops.BITCAST, src=(UPat.var("a"),), name="x"), _bitcast),
        ]
    )
    + pm_render_c
)


class CUDARenderer(CStyleRenderer):
    language = "CUDA"
    kernel_prefix = 'extern "C" __global__ void '
    preamble = ""
    restrict = "__restrict__"
    supports_vectors = False  # CUDA's float4 has no arithmetic operators: upcasts stay scalar
    # C's names, but cuda_fp16.h / cuda_bf16.h types for the half floats
    type_map = {**CStyleRenderer.type_map, dtypes.float16: "half", dtypes.bfloat16: "__nv_bfloat16"}

    local_prefix = "__shared__ "
    barrier = "__syncthreads();"
    pm_render = pm_render_cuda
    contract_pragma = ""  # nvcc fuses multiply-adds unless told not to
    dtype_headers = {dtypes.float16: "#include <cuda_fp16.h>\n", dtypes.bfloat16: "#include <cuda_bf16.h>\n"}

    def vector_typedefs(self, dts: set[DType]) -> str:
        return ""  # no vector types: upcasts stay scalar

    def const(self, x: object, dt: DType) -> str:
        if dt in (dtypes.float16, dtypes.bfloat16):
            return f"(({self.type_map[dt]}){super().const(x, dtypes.float32)})"
        return super().const(x, dt)
