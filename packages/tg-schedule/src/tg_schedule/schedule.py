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
from tg_schedule.kernelize import buffer_of, build_ast, find_realizes
from tg_uop.ops import Ops
from tg_uop.uop import UOp
from tg_uop.view import ShapeTracker


@dataclass(frozen=True)
class ScheduleItem:
    """One step of a schedule: a kernel (`ast` is a SINK of STOREs) or a copy (`ast` is the COPY node).

    `bufs` are in parameter order, outputs first; for a copy, (destination, source).
    `var_vals` are the values of the symbolic variables the kernel takes.
    """

    ast: UOp
    bufs: tuple[Buffer, ...]
    var_vals: dict[UOp, int] = field(default_factory=dict)
    assigns: bool = False  # the output is an existing buffer (an ASSIGN), not a new one

    @property
    def kind(self) -> str:
        return "copy" if self.ast.op is Ops.COPY else "kernel"

    @property
    def outputs(self) -> tuple[Buffer, ...]:
        return self.bufs[:1] if self.kind == "copy" else self.bufs[: len(self.ast.src)]


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


def create_schedule(outs: list[UOp]) -> tuple[list[ScheduleItem], dict[UOp, UOp]]:
    """Schedule the realization of `outs`: the items in dependency order, and what each out becomes
    (a view of a BUFFER node)."""
    realizes = find_realizes(outs)
    realized: dict[UOp, Buffer] = {}
    sched: list[ScheduleItem] = []
    old_reads: list[set[int]] = []
    for rp in realizes:
        assert rp.shape is not None
        device = rp.device
        if device is None:
            raise ValueError(f"schedule: cannot tell the device of {rp.op}")
        if rp.op is Ops.COPY:
            src_buf = buffer_of(rp.src[0])
            old_reads.append({id(src_buf)} if src_buf is not None else set())
            src_buf = src_buf or realized[rp.src[0]]
            out = Buffer(device, src_buf.size, rp.dtype)
            sched.append(ScheduleItem(rp, (out, src_buf)))
        elif rp.op is Ops.ASSIGN:
            out, st = _target(rp)
            ast, bufs, old = build_ast(rp, rp.src[1], st, out, realized)
            sched.append(ScheduleItem(ast, tuple(bufs), assigns=True))
            old_reads.append(old)
        else:
            value = rp.src[0] if rp.op is Ops.CONTIGUOUS else rp
            out = Buffer(device, int(rp.size), rp.dtype)
            ast, bufs, old = build_ast(rp, value, ShapeTracker.from_shape(rp.shape), out, realized)
            sched.append(ScheduleItem(ast, tuple(bufs)))
            old_reads.append(old)
        realized[rp] = out
    mapping = {rp: _as_buffer_view(rp, realized[rp]) for rp in realizes}
    becomes = {o: o.substitute(mapping) for o in outs}
    return order_items(sched, old_reads), becomes


def order_items(items: list[ScheduleItem], old_reads: list[set[int]]) -> list[ScheduleItem]:
    """Order items so each runs after the items whose outputs it reads, and every item that reads the old
    contents of a buffer runs before the ASSIGN that overwrites it.

    `items` come in data-dependency order; `old_reads[i]` holds the ids of buffers item i reads as they were
    before this schedule (BUFFER leaves of its graph).
    """
    after: list[set[int]] = [set() for _ in items]
    last_writer: dict[int, int] = {}
    for i, si in enumerate(items):
        for b in si.bufs[len(si.outputs) :]:
            if id(b) in last_writer and id(b) not in old_reads[i]:
                after[i].add(last_writer[id(b)])
        for b in si.outputs:
            last_writer[id(b)] = i
    for a, si in enumerate(items):
        if si.assigns:
            for b in si.outputs:
                for r, reads in enumerate(old_reads):
                    if r != a and id(b) in reads:
                        after[a].add(r)
    order: list[int] = []
    done: set[int] = set()
    pending = list(range(len(items)))
    while pending:
        ready = next((i for i in pending if after[i] <= done), None)
        if ready is None:
            raise RuntimeError("schedule: a kernel needs both the old and the new contents of an assigned buffer")
        order.append(ready)
        done.add(ready)
        pending.remove(ready)
    return [items[i] for i in order]


def _as_buffer_view(rp: UOp, buf: Buffer) -> UOp:
    if rp.op is Ops.ASSIGN:
        return rp.src[0]
    assert rp.shape is not None
    return UOp(Ops.BUFFER, rp.dtype, (), buf).reshape(rp.shape)
