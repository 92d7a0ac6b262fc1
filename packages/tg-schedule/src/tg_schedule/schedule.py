"""`create_schedule`: the ordered list of kernels and copies that realizing some tensor-graph nodes runs.

>>> from tg_uop import UOp, Ops, dtypes
>>> from tg_runtime import Buffer
>>> a = UOp(Ops.BUFFER, dtypes.float, (), Buffer("CPU", 4, dtypes.float))
>>> sched, becomes = create_schedule([((a + a) * a).reduce_axis(Ops.ADD, (0,))])
>>> [si.kind for si in sched]
['kernel']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tg_runtime.buffer import Buffer
from tg_schedule.cache import CachedSchedule, ScheduleCache, abstract
from tg_schedule.fuse import fuse_outputs
from tg_schedule.item import ScheduleItem
from tg_schedule.kernelize import FusionFailed, buffer_of, build_ast, find_realizes
from tg_schedule.memory import plan_memory
from tg_schedule.split import split_reductions
from tg_uop import trace
from tg_uop.bound import bind_graph, max_size, unbind_graph
from tg_uop.helpers import SPEC
from tg_uop.ops import Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite
from tg_uop.spec import verify
from tg_uop.uop import UOp
from tg_uop.view import ShapeTracker

# the schedule cache named by the design: abstracted graph -> schedule over slots
SCHEDULES = ScheduleCache()

pm_drop_detach = PatternMatcher([(UPat(Ops.DETACH, name="d"), lambda d: d.src[0])])


def _target(assign: UOp) -> tuple[Buffer, ShapeTracker]:
    """The buffer and view an ASSIGN writes through: its target is a movement chain over a BUFFER."""
    chain, n = [], assign.src[0]
    while n.op is not Ops.BUFFER:
        if n.op not in (Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.SHRINK, Ops.FLIP, Ops.PAD):
            raise ValueError(f"assign: the target must be a view of a realized buffer, not {n.op}")
        chain.append(n)
        n = n.src[0]
    st = ShapeTracker.from_shape((n.arg.size,))
    for m in reversed(chain):
        st = st.apply(m.op, m.arg)
    return n.arg, st


@dataclass
class _Reads:
    """Buffers an item reads: as they were before the schedule (`old`), or as written by it (`new`)."""

    old: set[int] = field(default_factory=set)
    new: set[int] = field(default_factory=set)


def _reads_target_elsewhere(ast: UOp, st: ShapeTracker) -> bool:
    # an in-place kernel is safe only if every read of the target is at the element being written
    return any(
        u.op is Ops.LOAD and u.src[0].arg == 0 and u.src[1].arg != st for u in ast.toposort() if u.op is Ops.LOAD
    )


def create_schedule(outs: list[UOp]) -> tuple[list[ScheduleItem], dict[UOp, UOp]]:
    """Schedule the realization of `outs`: the items in dependency order, and what each out becomes
    (a view of a BUFFER node). Graphs seen before (up to their buffers) come from the schedule cache."""
    # the cache sees variables, not their values: every value of a symbolic size hits one entry
    unbound, var_vals = unbind_graph(outs)
    key, buffers = abstract(unbound)
    entry = SCHEDULES.get(key)
    cached = entry is not None
    if entry is None:
        slot_outs = list(key.src)
        forced: frozenset[UOp] = frozenset()
        while True:
            try:
                items, becomes = _schedule(slot_outs, forced)
                break
            except FusionFailed as e:  # a fusion the kernel cannot express: realize those reductions first
                forced = forced | set(e.reduces)
        kept = {id(n.arg) for o in becomes.values() for n in o.toposort() if n.op is Ops.BUFFER}
        entry = CachedSchedule(plan_memory(items, kept), [becomes[o] for o in slot_outs])
        SCHEDULES.put(key, entry)
    items, results = entry.instantiate(buffers)
    if var_vals:
        items = [ScheduleItem(si.ast, si.bufs, var_vals, si.assigns) for si in items]
        results = [bind_graph(r, var_vals) for r in results]
    if trace.ON:  # VIZ: the tensor graph, the kernels it was cut into, and whether the schedule cache had it
        trace.emit("realize", graph=outs, kernels=[trace.Ref(i.ast) for i in items if i.kind == "kernel"], hit=cached)
    return items, dict(zip(outs, results, strict=True))


def _schedule(outs: list[UOp], forced: frozenset[UOp]) -> tuple[list[ScheduleItem], dict[UOp, UOp]]:
    originals = outs
    if SPEC:
        verify(UOp.sink(*outs), "tensor")
    outs = list(graph_rewrite(UOp.sink(*outs), pm_drop_detach).src)  # DETACH only matters to autograd
    outs = split_reductions(outs)  # long reductions over few outputs: two levels (split.py)
    realized: dict[UOp, tuple[Buffer, ShapeTracker]] = {}
    sched: list[ScheduleItem] = []
    reads: list[_Reads] = []

    def kernel(rp: UOp, value: UOp, out: Buffer, st: ShapeTracker, assigns: bool = False) -> UOp:
        ast, bufs, old, new = build_ast(rp, value, st, out, realized)
        if SPEC:
            verify(ast, "kernel")
        sched.append(ScheduleItem(ast, tuple(bufs), assigns=assigns))
        reads.append(_Reads(old, new))
        return ast

    for rp in find_realizes(outs, forced):
        assert rp.shape is not None
        device = rp.device
        if device is None:
            raise ValueError(f"schedule: cannot tell the device of {rp.op}")
        if rp.op is Ops.COPY:
            src_buf = buffer_of(rp.src[0])
            reads.append(_Reads(old={id(src_buf)}) if src_buf is not None else _Reads(new={id(realized[rp.src[0]][0])}))
            src_buf = src_buf or realized[rp.src[0]][0]
            out = Buffer(device, src_buf.size, rp.dtype)
            # the item's ast reads the source buffer itself, not the graph that computed it: the schedule cache
            # swaps buffers into every ast, and a copy of a computed value (an all-reduce's) would drag it all in
            sched.append(ScheduleItem(rp.replace(src=(UOp(Ops.BUFFER, src_buf.dtype, (), src_buf),)), (out, src_buf)))
            realized[rp] = (out, ShapeTracker.from_shape(rp.shape))
        elif rp.op is Ops.CUSTOM:
            sched.append(_custom_item(rp, device, realized))
            reads.append(_Reads({id(b) for b in map(buffer_of, rp.src) if b is not None}, set()))
            reads[-1].new.update(id(realized[s][0]) for s in rp.src if buffer_of(s) is None)
            realized[rp] = (sched[-1].bufs[0], ShapeTracker.from_shape(rp.shape))
        elif rp.op is Ops.ASSIGN:
            out, st = _target(rp)
            value = rp.src[1]
            if _reads_target_elsewhere(kernel(rp, value, out, st, assigns=True), st):
                # the value reads the target at other elements: compute it into a temporary first
                sched.pop(), reads.pop()
                tmp = UOp(Ops.CONTIGUOUS, value.dtype, (value,))
                kernel(tmp, value, Buffer(device, max_size(tmp.size), tmp.dtype), ShapeTracker.from_shape(rp.shape))
                realized[tmp] = (sched[-1].bufs[0], ShapeTracker.from_shape(rp.shape))
                kernel(rp, tmp, out, st, assigns=True)
            realized[rp] = (out, st)
        else:
            value = rp.src[0] if rp.op is Ops.CONTIGUOUS else rp
            out = Buffer(device, max_size(rp.size), rp.dtype)
            kernel(rp, value, out, ShapeTracker.from_shape(rp.shape))
            realized[rp] = (out, ShapeTracker.from_shape(rp.shape))
    mapping = {rp: _as_buffer_view(rp, buf) for rp, (buf, _) in realized.items()}
    becomes = {orig: o.substitute(mapping) for orig, o in zip(originals, outs, strict=True)}
    kept = {id(n.arg) for o in becomes.values() for n in o.toposort() if n.op is Ops.BUFFER}
    return fuse_outputs(order_items(sched, reads), kept), becomes


def _custom_item(rp: UOp, device: str, realized: dict[UOp, tuple[Buffer, ShapeTracker]]) -> ScheduleItem:
    """A user's prebuilt kernel (Ops.CUSTOM): its AST as written, over a fresh output and its inputs' buffers."""
    ins = [buffer_of(s) or realized[s][0] for s in rp.src]
    if any(b.device != device for b in ins):
        raise ValueError(f"custom kernel {rp.arg.name!r}: its inputs are on several devices; move them to one")
    out = Buffer(device, max_size(rp.size), rp.dtype)
    if rp.arg.ast is None:  # source text for one kind of device: the item holds the node, without its sources
        if device.split(":")[0] != rp.arg.device:
            raise ValueError(f"custom kernel {rp.arg.name!r} is source for {rp.arg.device}, its inputs are on {device}")
        return ScheduleItem(UOp(Ops.CUSTOM, rp.dtype, (), rp.arg), (out, *ins))
    if SPEC:
        verify(rp.arg.ast, "kernel")
    return ScheduleItem(rp.arg.ast, (out, *ins))


def order_items(items: list[ScheduleItem], reads: list[_Reads]) -> list[ScheduleItem]:
    """Order items so each runs after the item that wrote what it reads, and every item that reads the old
    contents of a buffer runs before any item of this schedule that overwrites it (an ASSIGN).

    `items` come in data-dependency order.
    """
    after: list[set[int]] = [set() for _ in items]
    writers: dict[int, list[int]] = {}
    for i, si in enumerate(items):
        for buf_id in reads[i].new:
            after[i].add(max(w for w in writers[buf_id] if w < i))
        for out in si.outputs:
            writers.setdefault(id(out), []).append(i)
    for i in range(len(items)):
        for buf_id in reads[i].old:
            for w in writers.get(buf_id, []):
                if w != i:
                    after[w].add(i)
    order: list[int] = []
    done: set[int] = set()
    pending = list(range(len(items)))
    while pending:
        ready = next((i for i in pending if after[i] <= done), None)
        if ready is None:
            raise RuntimeError(
                "schedule: the assigns realized together read each other's old contents (or one kernel reads the "
                "old and the new contents of one buffer); realize one of the values first"
            )
        order.append(ready)
        done.add(ready)
        pending.remove(ready)
    return [items[i] for i in order]


def _as_buffer_view(rp: UOp, buf: Buffer) -> UOp:
    if rp.op is Ops.ASSIGN:
        return rp.src[0]
    assert rp.shape is not None
    whole = UOp(Ops.BUFFER, rp.dtype, (), buf)
    if buf.size != rp.size:  # a symbolic size: the buffer holds the largest, the value is its first elements
        whole = whole.shrink(((0, rp.size),))
    return whole.reshape(rp.shape)
