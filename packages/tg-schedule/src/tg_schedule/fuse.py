"""Multi-output fusion: two consecutive elementwise kernels of one shape, the second reading what the first
wrote, become one kernel with two stores (the second's read of the first's output is computed inline).

That is what makes an optimizer step one kernel per parameter: `buf.assign(m*buf + g)` then
`p.assign(p - lr*buf)` store both new values from one loop.
"""

from __future__ import annotations

from tg_schedule.item import ScheduleItem
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort


def _params(ast: UOp) -> dict[int, UOp]:
    return {u.arg: u for u in toposort([ast]) if u.op is Ops.DEFINE_GLOBAL}


def _store_views(ast: UOp) -> dict[int, UOp]:
    return {st.src[0].arg: st.src[1] for st in ast.src}


def _renumber(ast: UOp, new_index: dict[int, int]) -> UOp:
    return ast.substitute({g: g.replace(arg=new_index[i]) for i, g in _params(ast).items()})


def merge(a: ScheduleItem, b: ScheduleItem, keep: set[int] | None = None) -> ScheduleItem | None:
    """One kernel doing `a` then `b`, or None when they cannot share a loop.

    With `keep` (ids of buffers that outlive the schedule), `a` is merged only if its outputs are kept anyway:
    otherwise storing them from the merged kernel would hold memory the planner could have reused.
    """
    if a.kind != "kernel" or b.kind != "kernel" or a.var_vals or b.var_vals:
        return None
    if keep is not None and not a.assigns and any(id(buf) not in keep for buf in a.outputs):
        return None
    if a.bufs[0].device != b.bufs[0].device:
        return None
    nodes_a, nodes_b = toposort([a.ast]), toposort([b.ast])
    if any(u.op is Ops.REDUCE_AXIS for u in nodes_a + nodes_b):
        return None  # reductions have their own loops: only plain elementwise kernels share one
    views_a, views_b = _store_views(a.ast), _store_views(b.ast)
    shapes = {v.arg.shape for v in (*views_a.values(), *views_b.values())}
    if len(shapes) != 1:
        return None
    out_a = {id(a.bufs[i]): i for i in views_a}
    if not any(id(buf) in out_a for buf in b.bufs[len(views_b) :]):
        return None  # b does not read a: nothing gained by sharing the loop
    # b's reads of a's outputs must be at the element being written (then they are a's values, inline);
    # and neither kernel may read what the other writes at some other element
    writes = {id(a.bufs[i]): views_a[i] for i in views_a} | {id(b.bufs[i]): views_b[i] for i in views_b}
    for item, nodes in ((a, nodes_a), (b, nodes_b)):
        for u in nodes:
            if u.op is Ops.LOAD and id(buf := item.bufs[u.src[0].arg]) in writes and u.src[1] is not writes[id(buf)]:
                return None
    # parameters of the merged kernel: a's outputs, b's outputs, then every input once
    merged: list = []

    def index_of(buf: object) -> int:
        for i, m in enumerate(merged):
            if m is buf:
                return i
        merged.append(buf)
        return len(merged) - 1

    for i in sorted(views_a):
        index_of(a.bufs[i])
    for i in sorted(views_b):
        index_of(b.bufs[i])
    map_a = {i: index_of(buf) for i, buf in enumerate(a.bufs)}
    map_b = {i: index_of(buf) for i, buf in enumerate(b.bufs)}
    ast_a, ast_b = _renumber(a.ast, map_a), _renumber(b.ast, map_b)
    # in the merged numbering a's outputs come first: b's loads of them become a's stored values
    a_values = {st.src[0].arg: st.src[2] for st in ast_a.src}
    inline = {u: a_values[u.src[0].arg] for u in toposort([ast_b]) if u.op is Ops.LOAD and u.src[0].arg in a_values}
    stores_a, stores_b = list(ast_a.src), [st.substitute(inline) for st in ast_b.src]
    return ScheduleItem(UOp.sink(*stores_a, *stores_b), tuple(merged), assigns=a.assigns or b.assigns)


def fuse_outputs(items: list[ScheduleItem], keep: set[int] | None = None) -> list[ScheduleItem]:
    """Merge each run of consecutive elementwise kernels where each reads the one before it."""
    out: list[ScheduleItem] = []
    for item in items:
        merged = merge(out[-1], item, keep) if out else None
        if merged is None:
            out.append(item)
        else:
            out[-1] = merged
    return out
