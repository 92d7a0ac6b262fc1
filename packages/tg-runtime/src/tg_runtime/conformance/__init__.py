"""The device conformance suite: what every tg device, built-in or plugin, must do, as pytest tests.

Run it against a device with `DEVICE=NAME pytest --pyargs tg_runtime.conformance` (`NAME=1` works too; with
neither, the default device is checked). It checks the device's registration, capabilities, memory (copies in
and out, views, reuse, copies to another device), compiler (cache, errors) and programs: a small program in the
device's language (`SAMPLES`, one per language tg renders: C, LLVM, OpenCL, PYTHON) is compiled and run. Whether
the device runs what tg-codegen renders for it is the next check, which needs the packages above tg-runtime:
see `docs/adding-a-device.md`.

>>> sorted(SAMPLES)
['C', 'LLVM', 'OpenCL', 'PYTHON']
"""

from __future__ import annotations

from dataclasses import dataclass

from tg_runtime.backends.python import serialize_program
from tg_uop.dtype import dtypes
from tg_uop.ops import AxisType, Ops, RangeArg
from tg_uop.uop import UOp

N = 16  # the sample programs compute out[i] = a[i] + 1 for i < N, float32


@dataclass(frozen=True)
class Sample:
    """A program in one language: its function name, source and launch geometry."""

    name: str
    src: str
    global_size: tuple[int, ...] = (1, 1, 1)
    local_size: tuple[int, ...] | None = None


def _python_sample() -> str:
    out, a = (UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(N), (), i) for i in range(2))
    rng = UOp(Ops.RANGE, dtypes.int32, (UOp.const(dtypes.int32, N),), RangeArg(0, AxisType.GLOBAL))
    val = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, a.dtype, (a, rng)),))
    one = UOp.const(dtypes.float32, 1.0)
    dest = UOp(Ops.INDEX, out.dtype, (out, rng))
    store = UOp(Ops.STORE, dtypes.void, (dest, val + one))
    prog = [
        out,
        a,
        rng.src[0],
        rng,
        val.src[0],
        val,
        one,
        val + one,
        dest,
        store,
        UOp(Ops.ENDRANGE, dtypes.void, (rng,)),
    ]
    return serialize_program(prog)


_LLVM = f"""define void @add1(ptr noalias %out, ptr noalias %a) {{
entry:
  br label %head
head:
  %i = phi i32 [0, %entry], [%next, %body]
  %more = icmp slt i32 %i, {N}
  br i1 %more, label %body, label %done
body:
  %pa = getelementptr inbounds float, ptr %a, i32 %i
  %x = load float, ptr %pa
  %y = fadd float %x, 1.0
  %po = getelementptr inbounds float, ptr %out, i32 %i
  store float %y, ptr %po
  %next = add i32 %i, 1
  br label %head
done:
  ret void
}}
"""

SAMPLES: dict[str, Sample] = {
    "C": Sample(
        "add1",
        "void add1(float* restrict out, const float* restrict a) {\n"
        f"  for (int i = 0; i < {N}; i++) out[i] = a[i] + 1.0f;\n}}\n",
    ),
    "LLVM": Sample("add1", _LLVM),
    "OpenCL": Sample(
        "add1",
        "__kernel void add1(__global float* out, __global const float* a) {\n"
        "  int i = get_group_id(0) * get_local_size(0) + get_local_id(0);\n  out[i] = a[i] + 1.0f;\n}\n",
        (N, 1, 1),
        (1, 1, 1),
    ),
    "PYTHON": Sample("add1", _python_sample()),
}
