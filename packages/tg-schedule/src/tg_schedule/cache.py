"""The schedule cache: a training loop builds the same graph every step over new buffers, so the graph is
keyed with its buffers replaced by numbered slots, and a hit only swaps the real buffers into the cached
schedule (fresh buffers for its intermediates) instead of cutting the graph into kernels again.

>>> from tg_uop import UOp, Ops, dtypes
>>> from tg_runtime import Buffer
>>> def step():
...     a = UOp(Ops.BUFFER, dtypes.float, (), Buffer("CPU", 4, dtypes.float))
...     return (a + a).reduce_axis(Ops.ADD, (0,))
>>> key1, _ = abstract([step()])
>>> key2, _ = abstract([step()])
>>> key1 is key2
True
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tg_runtime.buffer import Buffer
from tg_schedule.item import ScheduleItem
from tg_uop.dtype import DType
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort


@dataclass(frozen=True)
class BufferSlot:
    """Stands for the n-th distinct buffer of a graph: what a BUFFER's arg needs (size, device), by value."""

    index: int
    size: int
    device: str
    dtype: DType


def abstract(outs: list[UOp]) -> tuple[UOp, list[Buffer]]:
    """The graph of `outs` (as one SINK) with each distinct buffer replaced by a slot, and the buffers in slot
    order. Graphs that differ only in their buffers give the same (hash-consed) SINK."""
    buffers: list[Buffer] = []
    mapping: dict[UOp, UOp] = {}
    for n in toposort(outs):
        if n.op is Ops.BUFFER:
            slot = BufferSlot(len(buffers), n.arg.size, n.arg.device, n.arg.dtype)
            buffers.append(n.arg)
            mapping[n] = UOp(Ops.BUFFER, n.dtype, (), slot)
    return UOp.sink(*outs).substitute(mapping), buffers


@dataclass
class CachedSchedule:
    """A schedule over slots: kernels and copies whose buffers are slots or template intermediates."""

    items: list[ScheduleItem]
    becomes: list[UOp]  # what each out becomes, over slots and template buffers

    def instantiate(self, buffers: list[Buffer]) -> tuple[list[ScheduleItem], list[UOp]]:
        """The schedule over real buffers: slots become the given buffers, intermediates fresh ones."""
        real: dict[int, Any] = {}

        def swap(b: Any) -> Any:
            if isinstance(b, BufferSlot):
                return buffers[b.index]
            if id(b) not in real:
                # a view (memory shared by the planner) stays a view of its base's fresh buffer
                real[id(b)] = (
                    Buffer(b.device, b.size, b.dtype)
                    if b.base is None
                    else swap(b.base).view(b.size, b.dtype, b.offset)
                )
            return real[id(b)]

        def real_graph(u: UOp) -> UOp:
            return u.substitute(
                {n: UOp(Ops.BUFFER, n.dtype, (), swap(n.arg)) for n in toposort([u]) if n.op is Ops.BUFFER}
            )

        # a copy's "ast" is the COPY node of the graph: give it back its real buffers too
        items = [
            ScheduleItem(
                real_graph(si.ast) if si.kind == "copy" else si.ast,
                tuple(swap(b) for b in si.bufs),
                si.var_vals,
                si.assigns,
            )
            for si in self.items
        ]
        return items, [real_graph(o) for o in self.becomes]


class ScheduleCache:
    """Least-recently-used cache of CachedSchedules by abstracted graph (one of the design's named caches)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[UOp, CachedSchedule] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: UOp) -> CachedSchedule | None:
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return entry

    def put(self, key: UOp, entry: CachedSchedule) -> None:
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)
