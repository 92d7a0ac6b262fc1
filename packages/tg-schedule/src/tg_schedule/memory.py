"""Memory planning: intermediates whose lifetimes do not overlap share one buffer.

A buffer lives from the first schedule item that touches it to the last; once an intermediate's last item has
run, a later intermediate of the same device and byte size takes over its memory (as a view, when the dtype
differs). Outputs the caller keeps, and buffers that exist before the schedule (slots), are never shared.
"""

from __future__ import annotations

from typing import Any

from tg_runtime.buffer import Buffer
from tg_schedule.item import ScheduleItem


def plan_memory(items: list[ScheduleItem], keep: set[int]) -> list[ScheduleItem]:
    """`items` with intermediate buffers (Buffers not in `keep`, by id) replaced so that memory is reused."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    by_id: dict[int, Buffer] = {}
    for i, si in enumerate(items):
        for b in si.bufs:
            if isinstance(b, Buffer) and id(b) not in keep and b.base is None:
                first.setdefault(id(b), i)
                last[id(b)] = i
                by_id[id(b)] = b
    free: dict[tuple[str, int], list[Buffer]] = {}
    replacement: dict[int, Any] = {}
    live: list[tuple[int, Buffer]] = []  # (last use, memory) of the memory in use
    for bid in sorted(first, key=lambda b: first[b]):
        start = first[bid]
        for end, mem in [x for x in live if x[0] < start]:
            live.remove((end, mem))
            free.setdefault((mem.device, mem.nbytes), []).append(mem)
        buf = by_id[bid]
        pool = free.get((buf.device, buf.nbytes))
        if pool:
            mem = pool.pop()
            replacement[bid] = mem if mem.dtype == buf.dtype else mem.view(buf.size, buf.dtype, 0)
        else:
            mem = buf
        live.append((last[bid], mem))
    if not replacement:
        return items
    return [
        ScheduleItem(si.ast, tuple(replacement.get(id(b), b) for b in si.bufs), si.var_vals, si.assigns) for si in items
    ]
