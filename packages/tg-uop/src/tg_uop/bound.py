"""Bound variables in tensor graphs: a symbolic dimension of a tensor is an expression over `BIND(var, value)`
nodes, held in the args of movement ops (RESHAPE, EXPAND, SHRINK, PAD) and in the views of constants.
`unbind_graph` turns a graph into the same graph over plain variables (what kernels and the schedule cache
see: one entry for every value) and the values; `bind_graph` puts the values back; `concrete` evaluates a
dimension at its bound values.

>>> from tg_uop import UOp, Ops, dtypes, Variable
>>> n = Variable("n", 1, 10)
>>> c = UOp.const(dtypes.float, 1.0).reshape((1,)).expand((n.bind(3),))
>>> (u,), vals = unbind_graph([c])
>>> u.shape == (n,), vals == {n: 3}
(True, True)
>>> bind_graph(u, vals).shape == c.shape, concrete(c.shape[0] * 2)
(True, 6)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tg_uop.ops import Ops
from tg_uop.symbolic import sym_infer
from tg_uop.uop import UOp, toposort
from tg_uop.view import ShapeTracker, View

# the tensor-graph ops whose arg may hold a symbolic size (a BIND node is checked as a node)
_SIZED = frozenset({Ops.RESHAPE, Ops.EXPAND, Ops.SHRINK, Ops.PAD, Ops.VIEW, Ops.CUSTOM})


class VariableConflict(ValueError):
    """One variable bound to two values in one graph."""


def _has_uop(arg: Any) -> bool:
    if isinstance(arg, UOp):
        return True
    if isinstance(arg, tuple):
        return any(_has_uop(a) for a in arg)
    if isinstance(arg, ShapeTracker):
        return any(_has_uop(v.shape) or _has_uop(v.offset) or _has_uop(v.strides) for v in arg.views)
    return False


def map_arg(arg: Any, fn: Callable[[UOp], UOp]) -> Any:
    """`arg` with every UOp inside it (in tuples, views and shape trackers) replaced by `fn(uop)`."""
    if isinstance(arg, UOp):
        return fn(arg)
    if isinstance(arg, tuple):
        return tuple(map_arg(a, fn) for a in arg)
    if isinstance(arg, ShapeTracker):
        return ShapeTracker(tuple(map_arg(v, fn) for v in arg.views))
    if isinstance(arg, View):
        mask = None if arg.mask is None else map_arg(arg.mask, fn)
        return View(map_arg(arg.shape, fn), map_arg(arg.strides, fn), map_arg(arg.offset, fn), mask, arg.contiguous)
    return arg


def _rebuild(roots: list[UOp], fn: Callable[[UOp], UOp], nodes: Callable[[UOp], UOp | None]) -> list[UOp]:
    """The graph of `roots` with the UOps in args mapped by `fn` and nodes replaced where `nodes` says."""
    new: dict[UOp, UOp] = {}
    for u in toposort(roots):
        swapped = nodes(u)
        if swapped is not None:
            new[u] = swapped
            continue
        src = tuple(new[s] for s in u.src)
        arg = map_arg(u.arg, fn) if _has_uop(u.arg) else u.arg
        new[u] = u if src == u.src and arg is u.arg else u.replace(src=src, arg=arg)
    return [new[r] for r in roots]


def unbind_expr(x: UOp, vals: dict[UOp, int]) -> UOp:
    """An integer expression with its BINDs replaced by their variables, whose values are added to `vals`.
    Raises VariableConflict for a variable `vals` has with another value."""
    found = [b for b in toposort([x]) if b.op is Ops.BIND]
    for b in found:
        var, val = b.unbind()
        if vals.setdefault(var, val) != val:
            raise VariableConflict(f"variable {var.arg[0]!r} is bound to {vals[var]} and to {val} at once")
    return x.substitute({b: b.src[0] for b in found}) if found else x


def unbind_arg(arg: Any, vals: dict[UOp, int]) -> Any:
    """`arg` (a shape, a movement op's arg, a view) over variables instead of bound ones (values into `vals`)."""
    return map_arg(arg, lambda x: unbind_expr(x, vals)) if _has_uop(arg) else arg


def unbind_graph(roots: list[UOp]) -> tuple[list[UOp], dict[UOp, int]]:
    """The graph with every BIND (in args and as a node) replaced by its variable, and each variable's value.
    A graph without bound variables comes back as it was. Raises VariableConflict for a variable bound to two
    values."""
    vals: dict[UOp, int] = {}
    if not any(u.op is Ops.BIND or (u.op in _SIZED and _has_uop(u.arg)) for u in toposort(roots)):
        return roots, {}
    return _rebuild(
        roots, lambda x: unbind_expr(x, vals), lambda u: unbind_expr(u, vals) if u.op is Ops.BIND else None
    ), vals


def bind_graph(root: UOp, vals: Mapping[UOp, int]) -> UOp:
    """The graph with each variable in `vals` bound to its value again (in args; the inverse of unbind_graph)."""
    if not vals:
        return root
    binds = {var: var.bind(v) for var, v in vals.items()}
    return _rebuild([root], lambda x: x.substitute(binds), lambda u: None)[0]


def concrete(x: int | UOp) -> int:
    """A dimension at its bound values (an int stays as it is).

    >>> from tg_uop import Variable
    >>> concrete(Variable("k", 0, 9).bind(4) + 1)
    5
    """
    if isinstance(x, int):
        return x
    try:
        return int(sym_infer(x, {}))
    except KeyError:
        raise ValueError(f"the size {x.render()} has an unbound variable: bind it (`var.bind(value)`)") from None


def max_size(x: int | UOp) -> int:
    """The largest value a dimension can take (a buffer of a symbolic size is allocated at it)."""
    return x if isinstance(x, int) else int(x.vmax)
