"""From an optimized `Kernel` to `ProgramSpec`: lower, expand, vectorize, linearize, render for its device.

>>> from tg_uop import UOp, Ops, dtypes, ShapeTracker
>>> from tg_runtime import Device
>>> v = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((8,)))
>>> g0, g1 = (UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(8), (), i) for i in range(2))
>>> k = Kernel(
...     UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, v, UOp(Ops.LOAD, dtypes.float, (g1, v)) + 1.0))),
...     Device["PYTHON"].caps,
... )
>>> p = compile_kernel(k, "PYTHON")
>>> p.name, p.outs, p.ins
('E_8', (0,), (1,))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tg_codegen.expand import expand
from tg_codegen.kernel import Kernel
from tg_codegen.linearize import linearize
from tg_codegen.lower import lower
from tg_codegen.renderer import Renderer
from tg_codegen.renderer.cstyle import CRenderer
from tg_codegen.renderer.cuda import CUDARenderer
from tg_codegen.renderer.llvmir import LLVMRenderer
from tg_codegen.renderer.opencl import OpenCLRenderer
from tg_codegen.renderer.python import PythonRenderer
from tg_codegen.vectorize import vectorize
from tg_uop.bound import max_size
from tg_uop.dtype import PtrDType, dtypes
from tg_uop.helpers import SPEC
from tg_uop.ops import AxisType, GroupOp, Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite
from tg_uop.spec import verify
from tg_uop.uop import UOp


@dataclass(frozen=True)
class Estimates:
    """Work of one launch: floating/integer ALU ops and bytes of the buffers it touches."""

    ops: int
    mem: int


@dataclass(frozen=True)
class ProgramSpec:
    """A rendered kernel, ready for a device: what tg-codegen hands to tg-schedule.

    `outs`/`ins` are parameter numbers written/only read; `vars` the DEFINE_VARs in parameter order.
    """

    name: str
    src: str
    device: str
    language: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    outs: tuple[int, ...]
    ins: tuple[int, ...]
    vars: tuple[UOp, ...]
    estimates: Estimates
    ast: UOp
    uops: tuple[UOp, ...]


RENDERERS: dict[str, type[Renderer]] = {
    "C": CRenderer,
    "OpenCL": OpenCLRenderer,
    "CUDA": CUDARenderer,
    "LLVM": LLVMRenderer,
    "PYTHON": PythonRenderer,
}


@functools.cache
def renderer_for(language: str, threads: int = 1) -> Renderer:
    """The renderer of a language; `threads` is how many CPU threads a THREAD loop may use."""
    if language not in RENDERERS:
        raise NotImplementedError(f"no renderer for the {language!r} language (known: {sorted(RENDERERS)})")
    return RENDERERS[language](threads=threads)


def estimate(uops: list[UOp]) -> Estimates:
    # every work-item of a GPU launch runs the program once
    ops, stack = 0, []
    mult = 1
    for u in uops:
        if u.op is Ops.SPECIAL:  # a symbolic launch size counts at its largest
            mult *= max_size(u.arg[1])
    for u in uops:
        if u.op is Ops.RANGE:
            size = u.src[0].arg if u.src[0].op is Ops.CONST else 1
            stack.append(size)
            mult *= size
        elif u.op is Ops.ENDRANGE:
            mult //= max(stack.pop(), 1) if stack else 1
        elif u.op in GroupOp.ALU and not (u.dtype.is_int or u.dtype.is_bool):
            ops += mult * u.dtype.count  # a vector operation works on every lane
    mem = sum(
        u.dtype.size * u.dtype.itemsize
        for u in uops
        if u.op is Ops.DEFINE_GLOBAL and isinstance(u.dtype, PtrDType) and u.dtype.size > 0
    )
    return Estimates(ops, mem)


def launch_size(uops: list[UOp], prefix: str) -> tuple[int, int, int]:
    """Work-groups (gidx) or work-items per group (lidx) in each of the three launch dimensions. A symbolic size
    is an expression over the kernel's variables (`tg_uop.sym_infer` gives it at launch)."""
    size = [1, 1, 1]
    for u in uops:
        if u.op is Ops.SPECIAL and u.arg[0].startswith(prefix):
            size[int(u.arg[0][-1])] = u.arg[1]
    return (size[0], size[1], size[2])


# tg_uop's program spec has no rule for DEFINE_LOCAL (GROUP's local buffers) yet: the program is checked with
# each local buffer standing in as a global one of the same element type, everything else as it is
pm_locals_as_globals = PatternMatcher(
    [
        (
            UPat(Ops.DEFINE_LOCAL, name="x"),
            lambda x: UOp(Ops.DEFINE_GLOBAL, x.dtype.base.ptr(x.dtype.size), (), -1 - x.arg),
        )
    ]
)


def _spec_view(uops: list[UOp]) -> list[UOp]:
    return list(graph_rewrite(UOp(Ops.SINK, dtypes.void, tuple(uops)), pm_locals_as_globals).src)


VECTOR_WIDTHS = (2, 4, 8, 16)


def _contiguous(k: Kernel, axis: int) -> bool:
    # some input is read one element after the other along the axis (loads repeat in the loop, stores do not)
    return any(u.src[1].arg.real_strides()[axis] == 1 for u in k.ast.toposort() if u.op is Ops.LOAD)


def lane_axis(k: Kernel) -> int | None:
    """The axis that becomes SIMD lanes: the last one, when upcast or unrolled by a vector width (an unrolled
    one keeps a vector accumulator whose lanes are combined after the loop, in the order the unrolled copies
    were); but the last unrolled axis where an input is read contiguously along it and along the last axis none
    is (a weight gradient's rows are upcast across output channels that its input holds 784 elements apart,
    while the reduction walks each channel's row in order)."""
    kinds, shape = k.types, k.full_shape
    if not kinds:
        return None
    last: int | None = len(kinds) - 1
    if kinds[-1] not in (AxisType.UPCAST, AxisType.UNROLL) or shape[-1] not in VECTOR_WIDTHS:
        last = None
    unrolled = [i for i, t in enumerate(kinds) if t is AxisType.UNROLL]
    if unrolled and unrolled[-1] != last and shape[unrolled[-1]] in VECTOR_WIDTHS and _contiguous(k, unrolled[-1]):
        if last is None or not _contiguous(k, last):
            return unrolled[-1]
    return last


def compile_kernel(k: Kernel, device: str) -> ProgramSpec:
    """The ProgramSpec of an (optimized) kernel: lower, expand, linearize, render.

    Only `k.caps` is read, not the device itself, so source for a device absent here can still be produced
    (CUDA C is rendered and compiled by nvcc on machines without a GPU)."""
    caps = k.caps
    if caps is None:
        raise ValueError("compile_kernel: the kernel has no device capabilities")
    renderer = renderer_for(caps.language, caps.threads)
    ast = k.ast
    kinds = list(k.types)
    # SIMD lanes where the language has vectors (not with GROUP or a row reduced over LOCAL axes: partial results
    # go to local memory one scalar at a time; the row's own upcast axis may, its lanes are reduced before)
    rows = [a for u in ast.toposort() if u.op is Ops.REDUCE_AXIS for a in u.arg[1]]
    row_groups = any(kinds[a] is AxisType.LOCAL for a in rows) and len(kinds) - 1 not in rows
    vector_ok = renderer.supports_vectors and AxisType.GROUP not in kinds and not row_groups
    lanes = lane_axis(k) if vector_ok else None
    if lanes is not None:
        kinds[lanes] = AxisType.VECTOR
    uops = linearize(
        vectorize(
            expand(lower(ast, kinds, gpu=caps.has_workgroups, packed=k.packed)),
            renderer.supports_masks,
            renderer.vector_math,
        )
    )
    # every parameter of the AST stays in the signature, even one whose reads were simplified away
    present = set(uops)
    params = sorted((u for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL), key=lambda u: u.arg)
    # a variable only in a launch size is a parameter too: the launch evaluates the size from its value
    sizes = [u.arg[1] for u in uops if u.op is Ops.SPECIAL and isinstance(u.arg[1], UOp)]
    launch_vars = sorted(
        {v for s in sizes for v in s.toposort() if v.op is Ops.DEFINE_VAR} - present, key=lambda v: v.arg[0]
    )
    uops = [p for p in params if p not in present] + launch_vars + uops
    if SPEC:
        verify(_spec_view(uops), "program")
    name = k.name
    globals_ = sorted((u for u in uops if u.op is Ops.DEFINE_GLOBAL), key=lambda u: u.arg)
    written = {u.src[0].src[0].arg for u in uops if u.op is Ops.STORE and u.src[0].src[0].op is Ops.DEFINE_GLOBAL}
    return ProgramSpec(
        name=name,
        src=renderer.render(name, uops),
        device=device,
        language=renderer.language,
        global_size=launch_size(uops, "gidx"),
        local_size=launch_size(uops, "lidx") if caps.has_workgroups else None,
        outs=tuple(sorted(written)),
        ins=tuple(g.arg for g in globals_ if g.arg not in written),
        vars=tuple(u for u in uops if u.op is Ops.DEFINE_VAR),
        estimates=estimate(uops),
        ast=ast,
        uops=tuple(uops),
    )
