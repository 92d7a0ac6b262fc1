"""OpenCL C for the CL device: one work-item per output element (or tile), work-groups from LOCAL axes."""

from __future__ import annotations

from tg_codegen.renderer.cstyle import CStyleRenderer, pm_render_c, special_index, strip_parens
from tg_uop.dtype import DType, PtrDType, dtypes
from tg_uop.ops import Ops
from tg_uop.rewrite import PatternMatcher, UPat

pm_render_cl = (
    PatternMatcher(
        [
            (
                UPat(Ops.SPECIAL, name="x"),
                lambda ctx, x: special_index(
                    ctx, x, f"get_{'group' if x.arg[0].startswith('g') else 'local'}_id({x.arg[0][-1]})"
                ),
            ),
            (UPat(Ops.GEP, src=(UPat.var("v"),), name="x"), lambda ctx, x, v: f"{ctx[v]}.s{x.arg:x}"),
            (
                UPat(Ops.BITCAST, src=(UPat.var("a"),), name="x"),
                lambda ctx, x, a: ctx.value(x, f"as_{ctx.ren.ctype(x.dtype)}({ctx[a]})"),
            ),
        ]
    )
    + pm_render_c
)


class OpenCLRenderer(CStyleRenderer):
    language = "OpenCL"
    kernel_prefix = "__kernel void "
    buffer_prefix = "__global "
    preamble = ""
    contract_pragma = "#pragma OPENCL FP_CONTRACT ON\n"
    type_map = {
        dtypes.bool: "bool",
        dtypes.int8: "char",
        dtypes.uint8: "uchar",
        dtypes.int16: "short",
        dtypes.uint16: "ushort",
        dtypes.int32: "int",
        dtypes.uint32: "uint",
        dtypes.int64: "long",
        dtypes.uint64: "ulong",
        dtypes.float16: "half",
        dtypes.float32: "float",
        dtypes.float64: "double",
    }

    local_prefix = "__local "
    pm_render = pm_render_cl
    dtype_headers = {
        dtypes.float16: "#pragma OPENCL EXTENSION cl_khr_fp16 : enable\n",
        dtypes.float64: "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n",
    }
    barrier = "barrier(CLK_LOCAL_MEM_FENCE);"

    def float_suffix(self, dt: DType) -> str:
        return ""  # OpenCL's math functions are overloaded for every float type

    def param_type(self, dt: PtrDType) -> str:
        # kernel arguments cannot point to bool: bool buffers are bytes
        assert dt.base is not None
        return "uchar*" if dt.base.scalar() == dtypes.bool else self.ctype(dt)

    def vector_type(self, dt: DType) -> str:
        return f"{self.type_map[dt.scalar()]}{dt.count}"

    def vector_typedefs(self, dts: set[DType]) -> str:
        return ""  # OpenCL has its vector types built in

    def vector_literal(self, dt: DType, items: list[str]) -> str:
        return f"(({self.vector_type(dt)})({', '.join(items)}))"

    def vector_load(self, dt: DType, buf: str, idx: str) -> str:
        return f"vload{dt.count}(0, {buf}+{strip_parens(idx)})"

    def vector_store(self, dt: DType, buf: str, idx: str, value: str) -> str:
        return f"vstore{dt.count}({value}, 0, {buf}+{strip_parens(idx)});"

    def vector_cast(self, x: str, dt: DType) -> str:
        return f"convert_{self.vector_type(dt)}({x})"

    def const(self, x: object, dt: DType) -> str:
        if dt == dtypes.float16:
            return f"((half){super().const(x, dtypes.float32)})"
        return super().const(x, dt)
