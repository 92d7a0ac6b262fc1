"""From kernel AST to `ProgramSpec`: choose the optimizations, then compile (tg_codegen.compile).

>>> from tg_uop import UOp, Ops, dtypes, ShapeTracker
>>> v = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((64, 64)))
>>> g0, g1 = (UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(4096), (), i) for i in range(2))
>>> ast = UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, v, UOp(Ops.LOAD, dtypes.float, (g1, v)) + 1.0)))
>>> p = get_program(ast, "CPU")
>>> p.name, "(*((vfloat16_u*)(data0+gidx0*16))) = val0+1.0f;" in p.src
('E_256_16', True)
"""

from __future__ import annotations

from tg_codegen import search
from tg_codegen.compile import Estimates, ProgramSpec, compile_kernel, renderer_for
from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import Kernel, KernelOptError, Opt
from tg_runtime.device import Device
from tg_uop import trace
from tg_uop.helpers import BEAM, NOOPT
from tg_uop.uop import UOp

__all__ = ["Estimates", "ProgramSpec", "compile_kernel", "get_program", "renderer_for"]


def get_program(ast: UOp, device: str, opts: list[Opt] | None = None) -> ProgramSpec:
    """Optimize, lower, linearize and render one kernel AST for `device`.

    `opts` applies exactly these transformations. Without them: `NOOPT=1` applies none, `BEAM=n` searches
    with a beam of width n (cached on disk), and otherwise the hand-written heuristics choose.
    """
    caps = Device[device].caps
    k = Kernel(ast, caps)
    if opts is not None:
        for opt in opts:
            k.apply(opt)
    elif NOOPT:
        pass
    elif BEAM >= 1:
        found = search.beam_search(ast, device, BEAM.value)
        try:
            for opt in found:
                k.apply(opt)
        except KernelOptError:  # a cached search from an older tg whose opts no longer apply
            k = Kernel(ast, caps)
            hand_coded_optimizations(k)
    else:
        hand_coded_optimizations(k)
    spec = compile_kernel(k, device)
    kw = {"opts": k.applied, "ast": ast, "program": spec.uops, "src": spec.src, "ops": spec.estimates.ops}
    trace.emit("kernel", ref=trace.Ref(ast), name=spec.name, device=device, mem=spec.estimates.mem, **kw)
    return spec
