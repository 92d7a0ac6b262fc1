"""Multi-output fusion: elementwise kernels of one shape on one device become one kernel with several stores.

Two kinds of kernels share a loop:

- a kernel that reads what an earlier one wrote, at the element it computes: the read becomes the earlier
  kernel's value, inline (`buf.assign(m*buf + g)` then `p.assign(p - lr*buf)`);
- kernels that do not read each other at all, realized together (their outputs are kept by the caller or are
  assigns): an optimizer's m, v and parameter stores, two parameters of one shape.

A kernel joins a group only when that is safe: no member reads what another writes at some other element, no
two members write one buffer, and no kernel outside the group runs between two of its members (the graph of
kernels stays acyclic). The groups then run in an order that respects every dependency.

>>> from tg_uop import UOp, Ops, dtypes
>>> from tg_runtime import Buffer
>>> from tg_schedule.schedule import create_schedule
>>> a = UOp(Ops.BUFFER, dtypes.float, (), Buffer("CPU", 4, dtypes.float))
>>> sched, _ = create_schedule([a + a, a * a])  # two independent outputs of one shape
>>> [len(si.outputs) for si in sched]
[2]
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from tg_schedule.item import ScheduleItem
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort


def _params(ast: UOp) -> dict[int, UOp]:
    return {u.arg: u for u in toposort([ast]) if u.op is Ops.DEFINE_GLOBAL}


def _store_views(ast: UOp) -> dict[int, UOp]:
    return {st.src[0].arg: st.src[1] for st in ast.src}


def _renumber(ast: UOp, new_index: dict[int, int]) -> UOp:
    return ast.substitute({g: g.replace(arg=new_index[i]) for i, g in _params(ast).items()})


def fusion_key(si: ScheduleItem) -> tuple[str, tuple[int, ...]] | None:
    """(device, iteration shape) of an elementwise kernel that may share its loop, else None."""
    if si.kind != "kernel" or si.var_vals:
        return None
    if any(u.op is Ops.REDUCE_AXIS for u in toposort([si.ast])):
        return None  # reductions have their own loops: only plain elementwise kernels share one
    shapes = {v.arg.shape for v in _store_views(si.ast).values()}
    return (si.bufs[0].device, shapes.pop()) if len(shapes) == 1 else None


def _reads_elsewhere(a: ScheduleItem, b: ScheduleItem) -> bool:
    """Whether either kernel reads a buffer that one of them writes, at another element than the one written,
    or both write one buffer."""
    views_a, views_b = _store_views(a.ast), _store_views(b.ast)
    if {id(a.bufs[i]) for i in views_a} & {id(b.bufs[i]) for i in views_b}:
        return True
    writes = {id(a.bufs[i]): views_a[i] for i in views_a} | {id(b.bufs[i]): views_b[i] for i in views_b}
    return any(
        u.op is Ops.LOAD and id(buf := item.bufs[u.src[0].arg]) in writes and u.src[1] is not writes[id(buf)]
        for item in (a, b)
        for u in toposort([item.ast])
    )


def merge(a: ScheduleItem, b: ScheduleItem) -> ScheduleItem | None:
    """One kernel doing `a` then `b` (b after a in the schedule), or None when they cannot share a loop."""
    key = fusion_key(a)
    if key is None or key != fusion_key(b) or _reads_elsewhere(a, b):
        return None
    # parameters of the merged kernel: a's outputs, b's outputs, then every input once
    merged: list = []

    def index_of(buf: object) -> int:
        for i, m in enumerate(merged):
            if m is buf:
                return i
        merged.append(buf)
        return len(merged) - 1

    for item in (a, b):
        for i in sorted(_store_views(item.ast)):
            index_of(item.bufs[i])
    ast_a = _renumber(a.ast, {i: index_of(buf) for i, buf in enumerate(a.bufs)})
    ast_b = _renumber(b.ast, {i: index_of(buf) for i, buf in enumerate(b.bufs)})
    # b's reads of a's outputs (at the element being written) become a's stored values
    a_values = {st.src[0].arg: st.src[2] for st in ast_a.src}
    inline = {u: a_values[u.src[0].arg] for u in toposort([ast_b]) if u.op is Ops.LOAD and u.src[0].arg in a_values}
    stores = (*ast_a.src, *(st.substitute(inline) for st in ast_b.src))
    return ScheduleItem(UOp.sink(*stores), tuple(merged), assigns=a.assigns or b.assigns)


def dependencies(items: list[ScheduleItem]) -> list[set[int]]:
    """For each item (in schedule order) the earlier items it must run after: the last writer of each buffer it
    touches, and, for a buffer it writes, every earlier reader of it."""
    writer: dict[int, int] = {}
    readers: dict[int, list[int]] = {}
    deps: list[set[int]] = []
    for j, si in enumerate(items):
        outs = {id(b) for b in si.outputs}
        d: set[int] = set()
        for b in si.bufs:
            if id(b) in writer:
                d.add(writer[id(b)])
            if id(b) in outs:
                d.update(readers.pop(id(b), []))
        for b in si.bufs:
            if id(b) in outs:
                writer[id(b)] = j
            else:
                readers.setdefault(id(b), []).append(j)
        d.discard(j)
        deps.append(d)
    return deps


@dataclass
class _Group:
    item: ScheduleItem
    first: int  # schedule position of its first member: groups run in this order where dependencies allow
    last: int
    durable: bool  # every output is kept by the caller or written by an assign
    after: set[int] = field(default_factory=set)  # groups it must run after


def _durable(si: ScheduleItem, keep: set[int] | None) -> bool:
    return keep is None or si.assigns or all(id(b) in keep for b in si.outputs)


def _reaches(groups: list[_Group], starts: set[int], target: int) -> bool:
    """Whether `target` is among `starts` or the groups they run after, transitively."""
    stack, seen = list(starts), set(starts)
    while stack:
        g = stack.pop()
        if g == target:
            return True
        for h in groups[g].after - seen:
            seen.add(h)
            stack.append(h)
    return False


def _try_join(groups: list[_Group], g: int, j: int, si: ScheduleItem, after: set[int], keep: set[int] | None) -> bool:
    """Merge item `j` (`si`, running after the groups `after`) into group `g` if that is allowed and safe."""
    group = groups[g]
    durable = _durable(si, keep)
    reads_group = g in after and any(id(b) in {id(o) for o in group.item.outputs} for b in si.bufs)
    # an intermediate stored from a shared loop would hold memory the planner could reuse: only a kernel that
    # reads the group right after it may join it with intermediate outputs of its own
    if not group.durable or not (durable or (reads_group and group.last == j - 1)):
        return False
    if _reaches(groups, after - {g}, g):
        return False  # a kernel outside the group runs between the group and this one
    merged = merge(group.item, si)
    if merged is None:
        return False
    group.item, group.last, group.durable = merged, j, _durable(merged, keep)
    group.after |= after - {g}
    return True


def fuse_outputs(items: list[ScheduleItem], keep: set[int] | None = None) -> list[ScheduleItem]:
    """Merge elementwise kernels of one shape into multi-output kernels where safe (see the module docstring).

    `items` are in dependency order; `keep` holds the ids of the buffers that outlive the schedule (None: all).
    """
    groups: list[_Group] = []
    group_of: list[int] = []
    by_key: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    for j, (si, deps) in enumerate(zip(items, dependencies(items), strict=True)):
        after = {group_of[d] for d in deps}
        key = fusion_key(si)
        candidates = by_key.get(key, []) if key is not None else []
        joined = next((g for g in candidates if _try_join(groups, g, j, si, after, keep)), None)
        if joined is None:
            joined = len(groups)
            groups.append(_Group(si, j, j, _durable(si, keep), after))
            if key is not None:
                by_key.setdefault(key, []).append(joined)
        group_of.append(joined)
    return [groups[g].item for g in _run_order(groups)]


def _run_order(groups: list[_Group]) -> list[int]:
    """The groups in an order that respects `after`, earliest first member first among those ready."""
    waiting = {g: set(grp.after) for g, grp in enumerate(groups)}
    users: dict[int, list[int]] = {}
    for g, grp in enumerate(groups):
        for h in grp.after:
            users.setdefault(h, []).append(g)
    ready = [(grp.first, g) for g, grp in enumerate(groups) if not grp.after]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, g = heapq.heappop(ready)
        order.append(g)
        for u in users.get(g, []):
            waiting[u].discard(g)
            if not waiting[u]:
                heapq.heappush(ready, (groups[u].first, u))
    assert len(order) == len(groups), "fusion made the kernel graph cyclic"
    return order
