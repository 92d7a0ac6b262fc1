"""Hand-written heuristics: the transformations a kernel gets by default, chosen from its shape, its views
and the device's capabilities (BEAM search can do better, at the cost of timing candidates).

- A reduction whose inputs are reused along two output axes (a matmul, a convolution) gets a register
  tile: the axis the output and one input walk contiguously is upcast to 32 (two 16-lane vectors where the
  language has vectors), another output axis along which that input is broadcast is upcast to 8 or 4.
- A reduction over a contiguous axis gets partial sums (UNROLL) so consecutive additions do not wait for
  each other.
- On a CPU with threads, a kernel with enough work spreads its first axis over the threads.
"""

from __future__ import annotations

from tg_codegen.kernel import AxisType, Kernel, KernelOptError, Opt, OptOps
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort

# below this many iterations of the whole loop nest, starting threads costs more than it saves
THREAD_MIN_WORK = 1 << 16


def _try(k: Kernel, opt: Opt) -> bool:
    try:
        k.apply(opt)
        return True
    except KernelOptError:
        return False


def _load_strides(k: Kernel) -> list[tuple[int | None, ...]]:
    """For each LOAD, its stride along every axis (None where the view makes it irregular)."""
    return [u.src[1].arg.real_strides() for u in toposort([k.ast]) if u.op is Ops.LOAD]


def _output_strides(k: Kernel) -> tuple[int | None, ...]:
    store: UOp = k.ast.src[0]
    return store.src[1].arg.real_strides()  # type: ignore[no-any-return]


def _register_tile(k: Kernel) -> None:
    shape, types = k.full_shape, k.types
    globals_ = [i for i, t in enumerate(types) if t is AxisType.GLOBAL]
    loads = _load_strides(k)
    out = _output_strides(k)
    # the vector axis: contiguous in the output, and broadcast (stride 0) in some input that is reused
    vec_axis = next(
        (i for i in reversed(globals_) if out[i] == 1 and shape[i] % 16 == 0 and any(s[i] == 0 for s in loads)), None
    )
    if vec_axis is None:
        return
    # another output axis that some other input is broadcast along: its loads are reused across the tile
    row_axis = next((i for i in globals_ if i != vec_axis and any(s[i] == 0 for s in loads)), None)
    if not _try(k, Opt(OptOps.UPCAST, vec_axis, 16)):
        return
    if shape[vec_axis] % 32 == 0:
        _try(k, Opt(OptOps.UPCAST, vec_axis, 2))
    if row_axis is not None:
        for amt in (8, 4, 2):
            if _try(k, Opt(OptOps.UPCAST, row_axis, amt)):
                break


def hand_coded_optimizations(k: Kernel) -> None:
    """Apply the default transformations to `k` in place."""
    caps = k.caps
    if caps is None:
        return
    reduces = [i for i, t in enumerate(k.types) if t is AxisType.REDUCE]
    if caps.language != "PYTHON" and len(reduces) == 1 and sum(t is AxisType.GLOBAL for t in k.types) >= 2:
        _register_tile(k)
    shape = k.full_shape
    work = 1
    for s in shape:
        work *= s
    if caps.has_threads and caps.threads > 1 and work >= THREAD_MIN_WORK and shape[0] >= caps.threads:
        _try(k, Opt(OptOps.THREAD, 0, caps.threads))
