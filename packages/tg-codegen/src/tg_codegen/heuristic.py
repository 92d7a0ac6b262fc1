"""Hand-written heuristics: the transformations a kernel gets by default, chosen from its shape, its views
and the device's capabilities (BEAM search can do better, at the cost of timing candidates).

- A reduction whose inputs are reused along two output axes (a matmul, a convolution) gets a register
  tile: the axis the output and one input walk contiguously is upcast to 32 (two 16-lane vectors where the
  language has vectors), another output axis along which that input is broadcast is upcast to 8 or 4.
  A reduction over several axes without such a contiguous axis (a convolution over channels and a window)
  gets a scalar tile instead: output channels (the input is broadcast along them) by output columns (the
  weight is), 8 by up to 8. On the CPU (C), where output channels come in multiples of 16 and the weight
  can be packed, the channel tile comes first: channels become the last loop and SIMD lanes (16 or 2x16),
  output columns the rows (4 or 7), and the weight is packed so each lane vector is one contiguous load
  (a 16->32 layer at 14x14: ~15 -> ~180 GFLOP/s). Where no output axis is contiguous in the inputs but the
  innermost reduce axis is (a weight gradient: the output gradient walks W), that axis becomes SIMD lanes
  (UNROLL, a vector accumulator per output) with output channels as rows and the kernel's columns upcast (each
  loaded gradient vector serves them all); the scalar tile's columns are one
  16-lane vector where an input is contiguous along them (a channels-last weight gradient).
- A large matmul-like tile on the CPU (BLOCK_MIN_WORK multiply-adds or more) is blocked: the output axis
  along which the vector input (the one read in SIMD lanes) changes becomes the outer loop, and that input is
  packed (PACK): each thread copies the panel of it that the inner loops read (the reduce axis by the tile's
  columns) into a contiguous local buffer, which then stays in L2 while every row tile of the other input is
  multiplied with it, read in order instead of one row every 4 KiB. A transposed vector input (x @ w.T) is
  packed too, at any size: the copy makes its lanes contiguous, so the inner loop loads vectors instead of
  gathering.
- A reduction over a contiguous axis gets partial sums (UNROLL) so consecutive additions do not wait for
  each other, also when it reduces several axes and only the innermost is contiguous (batch-norm statistics
  of NCHW over N, H and W: without them one thread's 8 channels each ran one chain of 100,352 additions);
  a reduction over an outer axis (column sums), or one whose only input read in order along it is a vector
  shared by every output (a one-row matmul x @ w, w stored (in, out)), gets its contiguous output axis as SIMD
  lanes,
  narrower ones where that axis is all the outputs there are and the threads need a share of it (16
  channels: two threads of 8 lanes, not one of 16).
- On the host devices, max pooling's kernels: a small window reduction gets its contiguous output axis upcast
  (and a float max its window unrolled into lanes), and an elementwise kernel whose contiguous rows are split
  by a broadcast into a short innermost axis gets both upcast (`pool_window`, `short_rows`).
- On a CPU with threads, a kernel with enough work spreads its first axis over the threads.
- On a GPU (CUDA, or an OpenCL device that says it is one), a reduction tile is smaller (4x4 per work-item)
  and work-groups are formed from the last output axes (up to 256 work-items). OpenCL on a CPU (PoCL) is
  tiled like the CPU: each work-item is a thread's loop iteration there.
  A reduction with few outputs (at most 16,384) over a long axis (256 or more) is shared by a work-group
  (GROUP, 16 to 256 work-items): a two-stage reduction through local memory.
- On any device with work-groups (GPU or PoCL), a kernel that reduces an output axis (softmax, layer norm: a
  row's max or sum read by the row's elements) keeps each row in one work-group: the row is split into
  work-items (LOCAL, up to 256) of up to 256 upcast elements each (`row_group_split`): on a GPU about sqrt(n)
  of each, adjacent work-items on adjacent elements; on PoCL few work-items, each with a contiguous piece in
  SIMD lanes. The row's reductions meet in local memory (tg_codegen.lower).
  No GPU was available when these were written: they are compile-checked (nvcc) but not tuned.
"""

from __future__ import annotations

import math

from tg_codegen.kernel import HOST_LANGUAGES, AxisType, Kernel, KernelOptError, Opt, OptOps
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort

# below this many iterations of the whole loop nest, starting threads costs more than it saves
THREAD_MIN_WORK = 1 << 16
# from this many multiply-adds on, a CPU matmul tile is blocked: the vector input's panel is packed (256^3)
BLOCK_MIN_WORK = 1 << 24


def _try(k: Kernel, opt: Opt) -> bool:
    try:
        k.apply(opt)
        return True
    except KernelOptError:
        return False


def _try_first(k: Kernel, op: OptOps, axis: int, amounts: tuple[int, ...]) -> bool:
    """Apply `op` on `axis` with the first of `amounts` that is legal; whether one was."""
    return any(_try(k, Opt(op, axis, amt)) for amt in amounts)


def _load_strides(k: Kernel) -> list[tuple[int | None, ...]]:
    """For each LOAD, its stride along every axis (None where the view makes it irregular)."""
    return [u.src[1].arg.real_strides() for u in toposort([k.ast]) if u.op is Ops.LOAD]


def _output_strides(k: Kernel) -> tuple[int | None, ...]:
    store: UOp = k.ast.src[0]
    return store.src[1].arg.real_strides()  # type: ignore[no-any-return]


def is_gpu(k: Kernel) -> bool:
    caps = k.caps
    return caps is not None and (caps.language == "CUDA" or caps.extra.get("device_type") == "gpu")


def _register_tile(k: Kernel, vector: int = 16, pair: bool = True, rows: tuple[int, ...] = (8, 4, 2)) -> None:
    shape, types = k.full_shape, k.types
    globals_ = [i for i, t in enumerate(types) if t is AxisType.GLOBAL]
    loads = _load_strides(k)
    out = _output_strides(k)
    # the vector axis: contiguous in the output, and broadcast (stride 0) in some input that is reused
    vec_axis = next(
        (i for i in reversed(globals_) if out[i] == 1 and shape[i] % vector == 0 and any(s[i] == 0 for s in loads)),
        None,
    )
    if vec_axis is None:
        return
    # another output axis that some other input is broadcast along: its loads are reused across the tile
    row_axis = next((i for i in globals_ if i != vec_axis and any(s[i] == 0 for s in loads)), None)
    if not _try(k, Opt(OptOps.UPCAST, vec_axis, vector)):
        return
    if pair and shape[vec_axis] % (2 * vector) == 0:
        _try(k, Opt(OptOps.UPCAST, vec_axis, 2))
    if row_axis is not None:
        _try_first(k, OptOps.UPCAST, row_axis, rows)


def _block(k: Kernel) -> None:
    """Make the loop over the vector input's panels the outer one and pack the panel (see the module doc):
    tried on a copy, kept only when the packed panel is legal (it fits the pack limit)."""
    shape, types = k.full_shape, k.types
    loops = [i for i, t in enumerate(types) if t is AxisType.GLOBAL and shape[i] > 1]
    if len(loops) != 2:
        return
    strides = _load_strides(k)
    loads = [u for u in toposort([k.ast]) if u.op is Ops.LOAD]
    outer, inner = loops
    for ld, s in zip(loads, strides, strict=True):
        # the vector input: read in lanes (contiguous, or gathered when it is transposed: the copy then makes
        # them contiguous), broadcast along the outer loop, not along the inner one; a contiguous one is
        # blocked only in a large matmul, a transposed one always
        worth = math.prod(shape) >= BLOCK_MIN_WORK or s[-1] != 1
        if worth and s[-1] not in (0, None) and s[outer] == 0 and s[inner] not in (0, None):
            trial = k.copy()
            if _try(trial, Opt(OptOps.SWAP, outer, inner)) and _try(trial, Opt(OptOps.PACK, ld.src[0].arg, 0)):
                k.__dict__.update(trial.__dict__)
            return


def _window_tile(k: Kernel, rows: tuple[int, ...] = (8, 4, 2), cols: tuple[int, ...] = (8, 7, 4, 3, 2)) -> None:
    """A register tile for reductions whose output is not contiguous along a broadcast axis (a convolution:
    the input is broadcast along output channels, the weight along output positions): upcast one output axis
    that each of two different inputs is broadcast along, so every loaded input value serves several outputs."""
    shape, loads = k.full_shape, _load_strides(k)
    globals_ = [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and shape[i] > 1]
    reused_by = {i: frozenset(j for j, s in enumerate(loads) if s[i] == 0) for i in globals_}
    # columns: the innermost axis some input is reused along; rows: an axis a different input is reused along
    col = next((i for i in reversed(globals_) if reused_by[i]), None)
    if col is None:
        return
    row = next((i for i in globals_ if reused_by[i] and not reused_by[i] & reused_by[col]), None)
    if row is None:
        return
    # columns an input is contiguous along are SIMD lanes in C: a whole 16-lane vector where they divide (a
    # channels-last weight gradient's input channels: each loaded output-gradient value then feeds 16 lanes)
    if k.caps is not None and k.caps.language == "C" and any(s[col] == 1 for s in loads):
        cols = (16, *cols)
    _try_first(k, OptOps.UPCAST, col, cols)  # the column upcast first: it does not shift the row axis's index
    _try_first(k, OptOps.UPCAST, row, rows)


def _channel_tile(k: Kernel, vector: int = 16, rows: tuple[int, ...] = (4, 7, 6, 3, 2)) -> None:
    """A vector register tile for a convolution on the CPU (tried on a copy, kept only when all of it applies):
    the output-channel axis, along which the image is broadcast and the weight is not, becomes the last loop
    (SWAP) and SIMD lanes (two vectors where it divides), the innermost output axis the weight is broadcast
    along (output columns) is upcast as rows, and the weight is packed so each lane vector is one contiguous
    load. Every image value loaded is then broadcast to a multiply-add of a whole vector of channels, where the
    scalar tile of `_window_tile` issues one scalar multiply-add per load. Rows of 4 first: 4 rows by two
    vectors (8 accumulators) ran a 64-channel layer at 56x56 about 1.8x faster than 7 or 8 rows by two."""
    shape, loads = k.full_shape, _load_strides(k)
    lds = [u for u in toposort([k.ast]) if u.op is Ops.LOAD]
    globals_ = [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and shape[i] > 1]
    for ch in reversed(globals_):
        if shape[ch] % vector or not any(s[ch] == 0 for s in loads):
            continue
        for ld, s in zip(lds, loads, strict=True):
            row = next((i for i in reversed(globals_) if i != ch and s[i] == 0), None)
            if s[ch] in (0, None) or row is None or not any(t[ch] == 0 and t[row] != 0 for t in loads):
                continue
            trial, last = k.copy(), globals_[-1]
            if ch != last and not _try(trial, Opt(OptOps.SWAP, ch, last)):
                continue
            row = ch if row == last else row  # SWAP moved the row axis where the channels were
            if not (_try(trial, Opt(OptOps.UPCAST, last, vector)) and _try_first(trial, OptOps.UPCAST, row, rows)):
                continue
            if _try(trial, Opt(OptOps.PACK, ld.src[0].arg, 0)):
                if trial.full_shape[last] % 2 == 0:
                    _try(trial, Opt(OptOps.UPCAST, last, 2))
                k.__dict__.update(trial.__dict__)
                return


# measured: a 1->16 and a 16->32 channel weight gradient gain from the lane tile, a 64->64 one (36,864 outputs)
# runs 3x slower with it than with the window tile
LANE_TILE_MAX_OUTPUTS = 1 << 13


def _lane_tile(
    k: Kernel, rows: tuple[int, ...] = (8, 4), widths: tuple[int, ...] = (16, 8, 4), cols: tuple[int, ...] = (3, 2)
) -> None:
    """A vector tile for a reduction over several axes whose innermost reduce axis some input walks in order
    while the outputs do not (a convolution's weight gradient: dw[co, kh, kw] sums image windows times the
    output gradient over N, H, W, and the gradient is contiguous along W): that axis becomes SIMD lanes (UNROLL
    by a vector width: one vector accumulator per output), and an output axis along which another input is
    broadcast is upcast as rows (the image is the same for every output channel), so each loaded image vector
    serves several channels, and a short output axis only the image changes along (the kernel's columns) as
    columns, so each loaded gradient vector serves several (a 1->16 layer's weight gradient: ~1.4x faster). Tried
    on a copy, kept only when the lanes and rows apply (see tg_codegen.compile.lane_axis)."""
    shape, loads = k.full_shape, _load_strides(k)
    red = max(i for i, t in enumerate(k.types) if t is AxisType.REDUCE)
    globals_ = [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and shape[i] > 1]
    if math.prod(shape[i] for i in globals_) > LANE_TILE_MAX_OUTPUTS:
        return  # many outputs: the window tile's register block over two channel axes reuses more per load
    walks, others = [s for s in loads if s[red] == 1], [s for s in loads if s[red] != 1]
    # rows: an output axis every contiguous input walks along and another input is broadcast along
    row = next(
        (i for i in globals_ if all(s[i] not in (0, None) for s in walks) and any(s[i] == 0 for s in others)), None
    )
    if not walks or row is None:
        return
    # columns: a short output axis the contiguous inputs are broadcast along and the others are not (a kernel
    # column: the output gradient is the same for every one), so each loaded gradient vector serves several
    col = next(
        (i for i in reversed(globals_) if all(s[i] == 0 for s in walks) and all(s[i] != 0 for s in others)),
        None,
    )
    trial = k.copy()
    if _try_first(trial, OptOps.UNROLL, red, widths) and _try_first(trial, OptOps.UPCAST, row, rows):
        if col is not None:  # the row upcast left the output axes before the upcast ones where they were
            _try_first(trial, OptOps.UPCAST, col, cols)
        k.__dict__.update(trial.__dict__)


# a GPU reduction with at most this many outputs and at least GROUP_MIN_REDUCE elements each is shared by the
# work-items of a group (two-stage reduction): one work-item per output would leave most of the GPU idle
GROUP_MAX_OUTPUTS = 1 << 14
GROUP_MIN_REDUCE = 256


def _group_reduction(k: Kernel, red: int) -> None:
    """Spread a long reduction with few outputs over a work-group: each work-item sums a strided share (adjacent
    work-items read adjacent elements), the partial sums meet in local memory."""
    shape = k.full_shape
    outputs = math.prod(s for s, t in zip(shape, k.types, strict=True) if t is AxisType.GLOBAL)
    if outputs > GROUP_MAX_OUTPUTS or shape[red] < GROUP_MIN_REDUCE:
        return
    for amt in (256, 128, 64, 32, 16):
        # at least 8 elements per work-item: fewer make the combining step the larger part of the work
        if shape[red] // amt >= 8 and _try(k, Opt(OptOps.GROUP, red, amt)):
            return


def row_group_split(n: int, spread: bool = True, limit: int = 256, most: int = 256) -> tuple[int, int] | None:
    """(work-items, elements per work-item) keeping a row of n elements in one work-group, or None when n has
    no such split (at most `limit` work-items of at most `most` upcast elements each). With `spread` (a GPU)
    the split is near sqrt(n), since every work-item reads every other's share of each of the row's reductions
    from local memory; without (OpenCL on a CPU, where work-items are loop iterations) it has the fewest
    work-items, each with the most elements.

    >>> row_group_split(4096), row_group_split(100), row_group_split(17), row_group_split(4099)
    ((64, 64), (10, 10), (17, 1), None)
    >>> row_group_split(4096, spread=False), row_group_split(100, spread=False)
    ((16, 256), (1, 100))
    """
    splits = [
        (w, n // w)
        for w in range(1, min(n, limit) + 1)
        if n % w == 0 and n // w <= most and _upcasts(n // w) is not None
    ]
    return min(splits, key=lambda s: (max(s), -s[0]) if spread else s, default=None)


def _upcasts(n: int) -> list[int] | None:
    # n as a product of upcast amounts (2..16), largest first, or None (a prime above 16)
    out = []
    while n > 1:
        amt = next((a for a in range(16, 1, -1) if n % a == 0), None)
        if amt is None:
            return None
        out.append(amt)
        n //= amt
    return out


def _row_axes(k: Kernel) -> list[int]:
    # output axes that a reduction of the kernel reduces (a row read back by its own elements)
    reduced = {a for u in toposort([k.ast]) if u.op is Ops.REDUCE_AXIS for a in u.arg[1]}
    return [a for a in sorted(reduced) if k.types[a] is AxisType.GLOBAL and k.full_shape[a] > 1]


def _row_groups(k: Kernel) -> bool:
    """A kernel reducing one output axis keeps each row in a work-group (see the module doc)."""
    rows = _row_axes(k)
    gpu = is_gpu(k)
    if len(rows) != 1 or (split := row_group_split(k.full_shape[rows[0]], spread=gpu)) is None:
        return False
    items, per_item = split
    local = [Opt(OptOps.LOCAL, rows[0], items)] if items > 1 else []
    upcasts = [Opt(OptOps.UPCAST, rows[0], amt) for amt in _upcasts(per_item) or []]
    # a GPU's neighbouring work-items read neighbouring elements (LOCAL inside); on a CPU each work-item reads
    # its own contiguous piece of the row, in SIMD lanes (UPCAST inside)
    return all(_try(k, opt) for opt in (local + upcasts if gpu else upcasts + local))


def _simd_lanes(k: Kernel, widths: tuple[int, ...] = (16, 8, 4)) -> None:
    """An elementwise kernel computes its innermost output axis in vector lanes when the output is contiguous
    along it: the C compiler is not trusted to vectorize the loop itself (see tg-runtime's gcc flags)."""
    out = _output_strides(k)
    globals_ = [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and k.full_shape[i] > 1]
    if not globals_ or out[globals_[-1]] != 1:
        return
    _try_first(k, OptOps.UPCAST, globals_[-1], widths)


def _workgroups(k: Kernel, limit: int = 256) -> None:
    """Form work-groups from the last global axes: as many work-items as divide them, up to `limit`."""
    budget = limit
    globals_ = [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and k.full_shape[i] > 1]
    per_axis = 16 if len(globals_) > 1 else limit  # square-ish groups share loads along both axes
    for axis in reversed(globals_):
        for amt in (256, 128, 64, 32, 16, 8, 4, 2):
            if amt <= min(budget, per_axis) and _try(k, Opt(OptOps.LOCAL, axis, amt)):
                budget //= amt
                break
        if budget < 2:
            break


def _reduction(k: Kernel, reduces: list[int]) -> None:
    """Partial sums or SIMD lanes for a reduction (see the module doc). With several reduce axes (batch-norm
    statistics over N, H, W of NCHW: the channel's H*W run repeats every C*H*W) the length that matters is all
    of them together, and the innermost one is the axis memory is walked along."""
    shape, loads, red = k.full_shape, _load_strides(k), reduces[-1]
    out = _output_strides(k)
    lanes = next(
        (i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and out[i] == 1 and shape[i] % 16 == 0), None
    )
    walks = [s for s in loads if s[red] == 1]
    # an input walked in order along the reduction gets partial sums, unless every such input is one vector
    # shared by all the lane outputs (a one-row matmul x @ w with w stored (in, out), decoding one token): the
    # lanes then read a 16-wide piece of w's row per step instead of one float every out*4 bytes
    if walks and (lanes is None or any(s[lanes] != 0 for s in walks)):
        if math.prod(shape[i] for i in reduces) >= 256:  # a short reduction is not worth splitting
            _try_first(k, OptOps.UNROLL, red, (16, 8, 4))
        return
    if lanes is None or not any(s[lanes] == 1 for s in loads):
        return
    # few outputs (batch-norm statistics over 16 channels, channels last) would all be one thread's lanes: when
    # the lane axis is the only output loop, leave the threads at least one iteration each
    caps, others = k.caps, [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and shape[i] > 1 and i != lanes]
    threads = caps.threads if caps and caps.has_threads and not others and math.prod(shape) >= THREAD_MIN_WORK else 1
    width = next((w for w in (16, 8, 4) if shape[lanes] // w >= threads), 16)
    if _try(k, Opt(OptOps.UPCAST, lanes, width)) and shape[lanes] // (width * 4) >= threads:
        _try(k, Opt(OptOps.UPCAST, lanes, 4))


# a reduction over at most this many elements per output is a window (max pooling's 2x2): unrolled, not looped
WINDOW_MAX = 16


def _largest_divisor(n: int, most: int = 16) -> int:
    return next(d for d in range(min(n, most), 0, -1) if n % d == 0)


def _contiguous_row(k: Kernel) -> int | None:
    """The innermost output axis (longer than 1) along which the output is contiguous, or None."""
    out = _output_strides(k)
    globals_ = [i for i, t in enumerate(k.types) if t is AxisType.GLOBAL and k.full_shape[i] > 1]
    return globals_[-1] if globals_ and out[globals_[-1]] == 1 else None


def pool_window(k: Kernel, reduces: list[int], min_work: int = THREAD_MIN_WORK) -> None:
    """A large kernel reducing a small window per output (max pooling, at most WINDOW_MAX elements, one of which
    an input reads contiguously): its contiguous output axis is upcast (up to 16 outputs per iteration, so
    the C compiler vectorizes the copies: the gradient's tie counts of a 2x2 pool, 3x faster), and a float MAX
    reduction also has its window unrolled, the innermost axis as SIMD lanes (C's scalar max branches on NaN
    per element, which stops that vectorization; lanes select without branches: the 2x2 forward, 1.3x).
    `min_work`: the fewest iterations worth it (tests pass 0 to check the form on small kernels)."""
    shape, loads = k.full_shape, _load_strides(k)
    window = math.prod(shape[i] for i in reduces)
    row = _contiguous_row(k)
    if window > WINDOW_MAX or math.prod(shape) < min_work or row is None:
        return
    upcast = Opt(OptOps.UPCAST, row, _largest_divisor(shape[row]))
    if not any(s[reduces[-1]] == 1 for s in loads) or not _try(k, upcast):
        return
    reductions = [u for u in toposort([k.ast]) if u.op is Ops.REDUCE_AXIS]
    if any(u.arg[0] is Ops.MAX and u.dtype.is_float for u in reductions):
        for axis in sorted(reduces, reverse=True):  # the innermost first: it becomes the lanes
            _try(k, Opt(OptOps.UNROLL, axis, k.full_shape[axis]))


def short_rows(k: Kernel, min_work: int = THREAD_MIN_WORK) -> None:
    """A large elementwise kernel whose contiguous output rows are split into a short innermost axis and the
    one outside it (an input broadcast along the short one: a 2x2 max pool's gradient spreads each window's
    value over 2 columns): both are upcast, the short one as SIMD lanes where it is a vector width, so each
    iteration writes a contiguous run of up to 32 elements with selects instead of branches (the 2x2 gradient
    ran 10x faster). `min_work`: the fewest iterations worth it (tests pass 0 to check the form on small
    kernels)."""
    shape, out = k.full_shape, _output_strides(k)
    inner = _contiguous_row(k)
    if inner is None or shape[inner] >= 4 or math.prod(shape) < min_work:
        return
    outer = inner - 1
    if outer < 0 or k.types[outer] is not AxisType.GLOBAL or out[outer] != shape[inner]:
        return
    if _try(k, Opt(OptOps.UPCAST, inner, shape[inner])) and shape[outer] > 1:
        _try(k, Opt(OptOps.UPCAST, outer, _largest_divisor(shape[outer])))


def hand_coded_optimizations(k: Kernel) -> None:
    """Apply the default transformations to `k` in place."""
    caps = k.caps
    if caps is None:
        return
    reduces = [i for i, t in enumerate(k.types) if t is AxisType.REDUCE]
    tileable = len(reduces) == 1 and sum(t is AxisType.GLOBAL for t in k.types) >= 2
    if caps.has_workgroups and _row_groups(k):
        return
    if is_gpu(k):
        if tileable:
            _register_tile(k, vector=4, pair=False, rows=(4, 2))
        elif reduces:
            _group_reduction(k, reduces[0])
        group = math.prod(s for s, t in zip(k.full_shape, k.types, strict=True) if t is AxisType.GROUP)
        _workgroups(k, 256 // group)
        return
    if caps.language != "PYTHON":  # the interpreter runs one element at a time: tiles and lanes buy nothing
        if tileable:
            _register_tile(k)
            _block(k)
        if len(reduces) > 1 and not k.applied and caps.language in HOST_LANGUAGES:
            _channel_tile(k)
        if len(reduces) > 1 and not k.applied and caps.language == "C":
            _lane_tile(k)
        if len(reduces) > 1 and not k.applied:
            _window_tile(k)
        if reduces and not k.applied and caps.language in HOST_LANGUAGES:
            pool_window(k, reduces)
        if reduces and not k.applied:
            _reduction(k, reduces)
        if not reduces and not k.applied:
            _simd_lanes(k)
        if not reduces and not k.applied and caps.language in HOST_LANGUAGES:
            short_rows(k)
    shape = k.full_shape
    if caps.has_threads and caps.threads > 1 and math.prod(shape) >= THREAD_MIN_WORK:
        _balance_threads(k, caps.threads)
        if k.full_shape[0] >= caps.threads:
            _try(k, Opt(OptOps.THREAD, 0, caps.threads))


def _balance_threads(k: Kernel, threads: int) -> None:
    """The threads share the first loop: when it is short and uneven (a 3x3 convolution's weight gradient, whose
    first output loop is the 3 kernel rows: one thread would do two of them, the other one), an output loop
    that the threads divide evenly goes first instead (SWAP; the outer loops' order does not matter to memory)."""
    shape = k.full_shape
    if k.types[0] is not AxisType.GLOBAL or shape[0] % threads == 0 or shape[0] >= 8 * threads:
        return
    for i, t in enumerate(k.types):
        if t is AxisType.GLOBAL and shape[i] % threads == 0 and _try(k, Opt(OptOps.SWAP, 0, i)):
            return
