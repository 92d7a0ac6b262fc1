"""OpenCL C for the CL device: one work-item per output element (or tile), work-groups from LOCAL axes."""

from __future__ import annotations

from tg_codegen.renderer.cstyle import CStyleRenderer, _strip
from tg_uop.dtype import DType, PtrDType, dtypes
from tg_uop.ops import Ops
from tg_uop.uop import UOp


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
    barrier = "barrier(CLK_LOCAL_MEM_FENCE);"

    def float_suffix(self, dt: DType) -> str:
        return ""  # OpenCL's math functions are overloaded for every float type

    def param_type(self, dt: PtrDType) -> str:
        # kernel arguments cannot point to bool: bool buffers are bytes
        assert dt.base is not None
        return "uchar*" if dt.base.scalar() == dtypes.bool else self.ctype(dt)

    def special(self, name: str) -> str:
        return f"get_{'group' if name.startswith('g') else 'local'}_id({name[-1]})"

    def vector_type(self, dt: DType) -> str:
        return f"{self.type_map[dt.scalar()]}{dt.count}"

    def vector_typedefs(self, dts: set[DType]) -> str:
        return ""  # OpenCL has its vector types built in

    def vector_literal(self, dt: DType, items: list[str]) -> str:
        return f"(({self.vector_type(dt)})({', '.join(items)}))"

    def vector_load(self, dt: DType, buf: str, idx: str) -> str:
        return f"vload{dt.count}(0, {buf}+{_strip(idx)})"

    def vector_store(self, dt: DType, buf: str, idx: str, value: str) -> str:
        return f"vstore{dt.count}({value}, 0, {buf}+{_strip(idx)});"

    def vector_cast(self, x: str, dt: DType) -> str:
        return f"convert_{self.vector_type(dt)}({x})"

    def vector_element(self, x: str, i: int) -> str:
        return f"{x}.s{i:x}"

    def const(self, x: object, dt: DType) -> str:
        if dt == dtypes.float16:
            return f"((half){super().const(x, dtypes.float32)})"
        return super().const(x, dt)

    def header(self, uops: list[UOp]) -> str:
        dts = {u.dtype.scalar() for u in uops if not isinstance(u.dtype, PtrDType)}
        dts |= {u.dtype.base.scalar() for u in uops if isinstance(u.dtype, PtrDType) and u.dtype.base is not None}
        out = ""
        if dtypes.float16 in dts:
            out += "#pragma OPENCL EXTENSION cl_khr_fp16 : enable\n"
        if dtypes.float64 in dts:
            out += "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n"
        fused = any(u.op is Ops.DEFINE_ACC and u.dtype.count > 1 and u.dtype.is_float for u in uops)
        return out + (self.contract_pragma if fused else "")

    def bitcast(self, x: str, src: DType, dst: DType) -> str:
        return f"as_{self.ctype(dst)}({x})"
