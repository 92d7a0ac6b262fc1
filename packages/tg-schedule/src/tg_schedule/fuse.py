"""Multi-output fusion: kernels with one loop nest on one device become one kernel with several stores.

Three kinds of kernels share a loop:

- a kernel that reads what an earlier one wrote, at the element it computes: the read becomes the earlier
  kernel's value, inline (`buf.assign(m*buf + g)` then `p.assign(p - lr*buf)`);
- kernels that do not read each other at all, realized together (their outputs are kept by the caller or are
  assigns): an optimizer's m, v and parameter stores, two parameters of one shape;
- reductions over one loop nest that read a common input and not each other (`x.sum(1)` and `(x*x).sum(1)`,
  a row's max and min): one kernel reads each row once for all of them.

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
from typing import NamedTuple

from tg_codegen.lower import kernel_axes
from tg_runtime.buffer import Buffer
from tg_schedule.item import ScheduleItem
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort


def _params(ast: UOp) -> dict[int, UOp]:
    return {u.arg: u for u in toposort([ast]) if u.op is Ops.DEFINE_GLOBAL}


def _store_views(ast: UOp) -> dict[int, UOp]:
    return {st.src[0].arg: st.src[1] for st in ast.src}


def _renumber(ast: UOp, new_index: dict[int, int]) -> UOp:
    return ast.substitute({g: g.replace(arg=new_index[i]) for i, g in _params(ast).items()})


class LoopKey(NamedTuple):
    """The loop nest of a kernel: kernels with equal keys may share it. `reduces`: it has reductions."""

    device: str
    output_shape: tuple[int, ...]
    full_shape: tuple[int, ...]
    reduces: bool


def fusion_key(si: ScheduleItem) -> LoopKey | None:
    """The loop nest of a kernel that may share it (an elementwise kernel, or a reduction), else None."""
    if si.kind != "kernel" or si.var_vals:
        return None
    device = si.bufs[0].device
    if any(u.op is Ops.REDUCE_AXIS for u in toposort([si.ast])):
        axes = kernel_axes(si.ast)
        return LoopKey(device, axes.output_shape, axes.full_shape, True)
    shapes = {v.arg.shape for v in _store_views(si.ast).values()}
    if len(shapes) != 1:
        return None
    shape = shapes.pop()
    return LoopKey(device, shape, shape, False)


def memory_key(b: Buffer) -> int:
    """Which memory a buffer is: a view (`Buffer.view`) counts as its base, so two accesses of overlapping memory
    are never taken for independent ones."""
    base = getattr(b, "base", None)  # the schedule cache's placeholder slots have none
    return id(base if base is not None else b)


@dataclass
class _Access:
    """The memory a kernel writes (by `memory_key`, with the view of the store) and reads (with each load's view)."""

    writes: dict[int, UOp]
    reads: list[tuple[int, UOp]]

    @staticmethod
    def of(si: ScheduleItem) -> _Access:
        writes = {memory_key(si.bufs[i]): v for i, v in _store_views(si.ast).items()}
        reads = [(memory_key(si.bufs[u.src[0].arg]), u.src[1]) for u in toposort([si.ast]) if u.op is Ops.LOAD]
        return _Access(writes, reads)

    def conflicts(self, other: _Access) -> bool:
        """Whether the two write one buffer, or one reads a buffer the other writes at another element."""
        if self.writes.keys() & other.writes.keys():
            return True
        return any(b in other.writes and v is not other.writes[b] for b, v in self.reads) or any(
            b in self.writes and v is not self.writes[b] for b, v in other.reads
        )


def merge(members: list[ScheduleItem]) -> ScheduleItem:
    """One kernel doing the members' work in order (elementwise kernels of one shape that may share a loop).

    A member's read of an earlier member's output (at the element being written) becomes the stored value.
    """
    if len(members) == 1:
        return members[0]
    # parameters of the merged kernel: every member's outputs, then every input once
    bufs: dict[int, Buffer] = {}
    for m in members:
        bufs.update((id(m.bufs[i]), m.bufs[i]) for i in sorted(_store_views(m.ast)))
    for m in members:
        bufs.update((id(b), b) for b in m.bufs if id(b) not in bufs)
    index = {bid: i for i, bid in enumerate(bufs)}
    values: dict[int, UOp] = {}  # parameter index -> the value stored there so far
    stores: list[UOp] = []
    for m in members:
        ast = _renumber(m.ast, {i: index[id(b)] for i, b in enumerate(m.bufs)})
        inline = {u: values[u.src[0].arg] for u in toposort([ast]) if u.op is Ops.LOAD and u.src[0].arg in values}
        own = [st.substitute(inline) if inline else st for st in ast.src]
        values.update((st.src[0].arg, st.src[2]) for st in own)
        stores += own
    return ScheduleItem(UOp.sink(*stores), tuple(bufs.values()), assigns=any(m.assigns for m in members))


def dependencies(items: list[ScheduleItem]) -> list[set[int]]:
    """For each item (in schedule order) the earlier items it must run after: the last writer of each buffer it
    touches, and, for a buffer it writes, every earlier reader of it."""
    writer: dict[int, int] = {}
    readers: dict[int, list[int]] = {}
    deps: list[set[int]] = []
    for j, si in enumerate(items):
        outs = {memory_key(b) for b in si.outputs}
        d: set[int] = set()
        for key in map(memory_key, si.bufs):
            if key in writer:
                d.add(writer[key])
            if key in outs:
                d.update(readers.pop(key, []))
        for key in map(memory_key, si.bufs):
            if key in outs:
                writer[key] = j
            else:
                readers.setdefault(key, []).append(j)
        d.discard(j)
        deps.append(d)
    return deps


@dataclass
class _Group:
    members: list[ScheduleItem]
    access: _Access  # of all members together
    first: int  # schedule position of its first member: groups run in this order where dependencies allow
    last: int
    assigns: bool  # a member writes an existing buffer
    kept: bool  # every output is kept by the caller
    after: set[int] = field(default_factory=set)  # groups it must run after

    @property
    def durable(self) -> bool:
        """Every output outlives the schedule anyway (the planner could not have reused its memory)."""
        return self.assigns or self.kept


def _kept(si: ScheduleItem, keep: set[int] | None) -> bool:
    return keep is None or all(id(b) in keep for b in si.outputs)


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


def _try_join(
    groups: list[_Group], g: int, j: int, si: ScheduleItem, after: set[int], keep: set[int] | None, reduces: bool
) -> bool:
    """Add item `j` (`si`, running after the groups `after`) to group `g` if that is allowed and safe."""
    group = groups[g]
    kept = _kept(si, keep)
    reads_group = g in after and any(memory_key(b) in group.access.writes for b in si.bufs)
    access = _Access.of(si)
    if reduces:
        # reductions over one loop nest share it when they read a common input and not each other: the input is
        # read once per row by both (sum(x) and sum(x*x), a row's max and min); their outputs are small
        if reads_group or not {b for b, _ in access.reads} & {b for b, _ in group.access.reads}:
            return False
    # an intermediate stored from a shared loop would hold memory the planner could reuse: only a kernel that
    # reads the group right after it may join it with intermediate outputs of its own
    elif not group.durable or not (si.assigns or kept or (reads_group and group.last == j - 1)):
        return False
    if _reaches(groups, after - {g}, g):
        return False  # a kernel outside the group runs between the group and this one
    if group.access.conflicts(access):
        return False
    group.members.append(si)
    group.access = _Access(group.access.writes | access.writes, group.access.reads + access.reads)
    group.last, group.assigns, group.kept = j, group.assigns or si.assigns, group.kept and kept
    group.after |= after - {g}
    return True


def fuse_outputs(items: list[ScheduleItem], keep: set[int] | None = None) -> list[ScheduleItem]:
    """Merge elementwise kernels of one shape into multi-output kernels where safe (see the module docstring).

    `items` are in dependency order; `keep` holds the ids of the buffers that outlive the schedule (None: all).
    """
    groups: list[_Group] = []
    group_of: list[int] = []
    by_key: dict[LoopKey, list[int]] = {}
    for j, (si, deps) in enumerate(zip(items, dependencies(items), strict=True)):
        after = {group_of[d] for d in deps}
        key = fusion_key(si)
        candidates = by_key.get(key, []) if key is not None else []
        joined = next((g for g in candidates if key and _try_join(groups, g, j, si, after, keep, key.reduces)), None)
        if joined is None:
            joined = len(groups)
            access = _Access.of(si) if key is not None else _Access({}, [])
            groups.append(_Group([si], access, j, j, si.assigns, _kept(si, keep), after))
            if key is not None:
                by_key.setdefault(key, []).append(joined)
        group_of.append(joined)
    return [merge(groups[g].members) for g in _run_order(groups)]


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
