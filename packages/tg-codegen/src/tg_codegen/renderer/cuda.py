"""CUDA C for the CUDA device: blocks from global axes, threads from LOCAL axes."""

from __future__ import annotations

from tg_codegen.renderer.cstyle import CStyleRenderer
from tg_uop.dtype import DType, PtrDType, dtypes
from tg_uop.ops import Ops
from tg_uop.uop import UOp

_VIA_FLOAT = frozenset({Ops.MAX, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC, Ops.RECIP, Ops.FDIV})


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

    def special(self, name: str) -> str:
        return f"{'blockIdx' if name.startswith('g') else 'threadIdx'}.{'xyz'[int(name[-1])]}"

    def header(self, uops: list[UOp]) -> str:
        dts = {u.dtype.scalar() for u in uops if not isinstance(u.dtype, PtrDType)}
        dts |= {u.dtype.base.scalar() for u in uops if isinstance(u.dtype, PtrDType) and u.dtype.base is not None}
        out = ""
        if dtypes.float16 in dts:
            out += "#include <cuda_fp16.h>\n"
        if dtypes.bfloat16 in dts:
            out += "#include <cuda_bf16.h>\n"
        return out

    def const(self, x: object, dt: DType) -> str:
        if dt in (dtypes.float16, dtypes.bfloat16):
            return f"(({self.type_map[dt]}){super().const(x, dtypes.float32)})"
        return super().const(x, dt)

    def alu(self, op: Ops, dt: DType, *a: str) -> str:
        # half and bfloat16 have no overloads of C's math functions here: compute those in float
        if dt.scalar() in (dtypes.float16, dtypes.bfloat16) and op in _VIA_FLOAT:
            as_float = super().alu(op, dtypes.float32, *(f"((float)({x}))" for x in a))
            return f"(({self.type_map[dt.scalar()]})({as_float}))"
        return super().alu(op, dt, *a)

    def bitcast(self, x: str, src: DType, dst: DType) -> str:
        # `x` may be an expression, not a variable, so it cannot be addressed: copy it in a lambda
        t, d = self.ctype(src), self.ctype(dst)
        return f"([&]() {{ {t} t_ = {x}; {d} d_; memcpy(&d_, &t_, sizeof(d_)); return d_; }}())"
