"""Split long reductions with few outputs in two levels (the package README's split rule).

A reduction of n elements to each of k outputs, with n long and k small, becomes two: the reduced axis is cut
into s chunks of at most SPLIT_CHUNK elements, a first kernel reduces each chunk into a buffer of k*s partial
results (s per output: enough rows for every thread), and a second kernel reduces the s partials of each output.
All threads share the long part, and no accumulator adds more than SPLIT_CHUNK values, so a long float32 sum
errs like a pairwise one instead of saturating (a single accumulator stops growing at 2**24 ones).

>>> from tg_uop import UOp, Ops, dtypes
>>> ones = UOp.const(dtypes.float, 1.0, (UOp(Ops.DEVICE, arg="CPU"),)).reshape((1,)).expand((1 << 20,))
>>> total = split_reductions([ones.reduce_axis(Ops.ADD, (0,))])[0]
>>> [u.shape for u in total.toposort() if u.op is Ops.REDUCE_AXIS]
[(16, 1), (1, 1)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tg_runtime.device import Device
from tg_uop.ops import GroupOp, Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite
from tg_uop.uop import UOp, toposort

# the cost rule (README, "Splitting long reductions"): a reduction is split when each output reduces at least
# SPLIT_MIN_REDUCE elements and either the outputs are too few to give every parallel unit SPLIT_PER_UNIT of
# them, or each output reduces more than SPLIT_EXACT_REDUCE elements (a sum that long loses precision in one
# accumulator; an extra kernel over its partials costs well under 1% of it)
SPLIT_MIN_REDUCE = 1 << 16
SPLIT_EXACT_REDUCE = 1 << 20
SPLIT_PER_UNIT = 4
# the most elements one partial result reduces (each accumulator then adds at most this many values)
SPLIT_CHUNK = 1 << 16
# work-group devices run a reduction's outputs on different compute units: about this many units are idle
# below SPLIT_PER_UNIT outputs each (a CPU's count is its threads)
WORKGROUP_UNITS = 32


@dataclass
class SplitContext:
    """The reductions that must stay whole: those a reader broadcasts back over the axes they reduce (a row
    broadcast: the scheduler may fuse them into the reader's kernel, softmax in one kernel)."""

    keep: set[UOp] = field(default_factory=set)


def parallel_units(device: str) -> int:
    """How many outputs a device computes at once: its CPU threads, or WORKGROUP_UNITS work-groups."""
    caps = Device[device].caps
    if caps.has_threads:
        return caps.threads
    return WORKGROUP_UNITS if caps.has_workgroups else 1


def split_count(r: UOp) -> int:
    """How many partial results per output the split rule gives reduction `r` (1: leave it whole)."""
    x = r.src[0]
    if r.device is None or not all(isinstance(d, int) for d in (*(x.shape or ()), *(r.shape or ()))):
        return 1  # symbolic shapes: the chunk count is not known
    outputs, length = r.size, x.size // max(r.size, 1)
    if length < SPLIT_MIN_REDUCE:
        return 1
    units = parallel_units(r.device)
    few = units > 1 and outputs < units * SPLIT_PER_UNIT
    if not few and (length <= SPLIT_EXACT_REDUCE or r.arg[0] is not Ops.ADD):
        return 1
    wanted = math.ceil(units * SPLIT_PER_UNIT / outputs) if few else 1
    return max(2, math.ceil(length / SPLIT_CHUNK), wanted)


def _chunks(size: int, want: int, pad: bool) -> int | None:
    """The number of chunks to cut an axis of `size` into: a divisor between want and 2*want; else, when the
    axis may be padded (sums pad with 0), `want`; None when neither."""
    if size <= want:
        return size
    found = next((d for d in range(want, min(2 * want, size) + 1) if size % d == 0), None)
    return found if found is not None or not pad else want


def _split(ctx: SplitContext, r: UOp) -> UOp | None:
    if r in ctx.keep or (want := split_count(r)) < 2:
        return None
    x, (op, axes) = r.src[0], r.arg
    shape = x.shape
    assert shape is not None and r.shape is not None
    a = max(axes, key=lambda i: (shape[i], -i))  # the longest reduced axis (the outermost of equals)
    s = _chunks(shape[a], want, pad=op is Ops.ADD)
    if s is None or s < 2:
        return None
    q = math.ceil(shape[a] / s)
    if s * q != shape[a]:  # a sum's padding adds zeros
        x = x.pad(tuple((0, s * q - d) if i == a else (0, 0) for i, d in enumerate(shape)))
    parts = x.reshape((*shape[:a], s, q, *shape[a + 1 :]))
    inner = tuple(sorted(b + (b > a) for b in axes if b != a)) + (a + 1,)
    partial = UOp(Ops.CONTIGUOUS, r.dtype, (parts.reduce_axis(op, tuple(sorted(inner))),))
    return partial.reduce_axis(op, (a,)).reshape(r.shape)


def _row_broadcast_read(r: UOp, users: dict[UOp, list[UOp]]) -> bool:
    """Whether a reader expands `r` (through elementwise ops and reshapes) back over the axes it reduced, with
    those axes the last ones longer than 1: the row broadcast the fusion rule keeps in the reader's kernel."""
    assert r.shape is not None
    axes = set(r.arg[1])
    if any(a > min(axes) and a not in axes and d != 1 for a, d in enumerate(r.shape)):
        return False
    stack, seen = [r], {r}
    while stack:
        for u in users.get(stack.pop(), []):
            if u.op is Ops.EXPAND and u.shape == r.src[0].shape:
                return True
            if u not in seen and (u.op in GroupOp.Elementwise or u.op is Ops.RESHAPE):
                seen.add(u)
                stack.append(u)
    return False


pm_split_reduce = PatternMatcher([(UPat(Ops.REDUCE_AXIS, name="r"), _split)])


def split_reductions(outs: list[UOp]) -> list[UOp]:
    """The graphs of `outs` with every long reduction over few outputs split in two levels (see the module
    doc); reductions a reader broadcasts back over their rows stay whole."""
    users: dict[UOp, list[UOp]] = {}
    nodes = toposort(outs)
    for n in nodes:
        for s in n.src:
            users.setdefault(s, []).append(n)
    keep = {n for n in nodes if n.op is Ops.REDUCE_AXIS and _row_broadcast_read(n, users)}
    return list(graph_rewrite(UOp.sink(*outs), pm_split_reduce, SplitContext(keep)).src)
