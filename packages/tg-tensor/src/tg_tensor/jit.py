"""TinyJit: run a function twice to capture the kernels it launches, then replay them on new inputs.

A replay happens only for a call that is provably the same as the captured one. Each call is keyed on
everything the captured kernels depend on:

- the tensors found anywhere in the arguments (positional, keyword, inside lists, tuples, dicts and dataclass
  fields): each one's shape, dtype, device and view of its buffer, and which arguments share one buffer;
- every other argument's value (ints, floats, strings, numpy arrays by content; other objects by identity).

The first call with a new key runs the function plainly (kernels compile, lazy state initializes), the second
runs it again while tg-schedule records every kernel and copy, and realizes the outputs and every pending
`assign` (so side effects no output depends on, like running statistics, are captured too). Later calls with
that key skip the Python function: the recorded kernels run with the new inputs' buffers in place of the
captured ones. Up to `max_captures` keys are kept; a call with one more key raises a `ValueError` naming the
arguments that changed. Outputs are rebuilt on every replay: a computed output gets a fresh buffer (values an
earlier call returned keep their values), an input returned (or a view of one) is the new input (or the same
view of it). Inputs are used where they are: a view stays a view of its base (nothing is copied).
The index checks of tg-tensor's index rule made while capturing run again on every replay with the replay's
buffers: an index passed in is checked before the kernels run (a bad one raises IndexError and writes nothing),
an index the function computes after the kernels that write it (raising before anything is returned).

Symbolic sizes are keyed by their Variables, not their values: a tensor whose shape or view holds bound
Variables (`x[:n.bind(k)]`) and a bound Variable passed as an argument (`f(x, pos.bind(k))`) take their values
from each call, the kernels get them at launch (nothing compiles again), and the outputs have this call's shape.

What TinyJit cannot see: Python state the function reads other than its arguments (globals, attributes of an
object argument) is taken as captured. `JIT=0` calls the function plainly.

>>> from tg_tensor import Tensor
>>> @TinyJit
... def double(x):
...     return (x * 2).realize()
>>> [double(Tensor([float(i), 1.0])).tolist() for i in range(3)]
[[0.0, 2.0], [2.0, 2.0], [4.0, 2.0]]
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import numpy as np

from tg_runtime.buffer import Buffer, next_buffer_serial
from tg_schedule.jit import CapturedRun, capture
from tg_tensor.errors import ArgumentError
from tg_tensor.indexing import IndexBound, record_index_checks
from tg_tensor.tensor import Tensor, flush_pending_assigns
from tg_uop import trace
from tg_uop.bound import bind_graph, unbind_arg, unbind_expr, unbind_graph
from tg_uop.helpers import JIT
from tg_uop.ops import Ops
from tg_uop.uop import UOp

R = TypeVar("R")
Key = tuple[tuple[str, Hashable], ...]  # (argument path, what the capture depends on there), in argument order

# how a capture rebuilds one output on a call: from (the call's inputs, its fresh outputs, its variable values)
Output = Callable[[list[Tensor], list[Buffer], dict[UOp, int]], Tensor]

_MOVEMENT = (Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.SHRINK, Ops.FLIP, Ops.PAD)


class _Same:
    """An argument compared by identity (an object TinyJit cannot compare by value); keeps it alive."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __repr__(self) -> str:
        return f"<{type(self.obj).__name__} at {id(self.obj):#x}>"


def _value_key(v: Any) -> Hashable:
    """What a non-tensor argument contributes to the key: its value where Python can compare it."""
    if isinstance(v, float) and math.isnan(v):
        return (float, "nan")
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        return (type(v), v)
    if isinstance(v, np.ndarray):
        return (np.ndarray, v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, np.generic):
        return (type(v), v.item())
    return _Same(v)


@dataclasses.dataclass(frozen=True)
class _Node:
    """A container in the arguments: its type and item names (part of the key)."""

    kind: type
    names: tuple[str, ...]


def _is_dataclass_instance(obj: Any) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def _children(obj: Any) -> list[tuple[str, Any]] | None:
    """The (path suffix, value) of a container's items; None for a leaf."""
    if isinstance(obj, (list, tuple)):
        return [(f"[{i}]", x) for i, x in enumerate(obj)]
    if isinstance(obj, dict):
        return [(f"[{k!r}]", x) for k, x in obj.items()]
    if _is_dataclass_instance(obj):
        return [(f".{f.name}", getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    return None


def _flatten(obj: Any, path: str, out: list[tuple[str, Any]]) -> None:
    """Every leaf under `obj` as (path, leaf); containers add (path, their type and size) for the key."""
    kids = None if isinstance(obj, (Tensor, _Node)) else _children(obj)
    if kids is None:
        out.append((path, obj))
        return
    out.append((path, _Node(type(obj), tuple(k for k, _ in kids))))
    for suffix, x in kids:
        _flatten(x, path + suffix, out)


def _rebuild(obj: Any, fn: Callable[[Tensor], Any]) -> Any:
    """`obj` with every tensor t in it replaced by fn(t), containers rebuilt with the same types."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, list):
        return [_rebuild(x, fn) for x in obj]
    if isinstance(obj, tuple):
        items = [_rebuild(x, fn) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    if isinstance(obj, dict):
        return type(obj)((k, _rebuild(x, fn)) for k, x in obj.items())
    if _is_dataclass_instance(obj):
        new = copy.copy(obj)
        for f in dataclasses.fields(obj):
            object.__setattr__(new, f.name, _rebuild(getattr(obj, f.name), fn))
        return new
    return obj


def _view_of(u: UOp) -> tuple[tuple[tuple[Ops, Any], ...], UOp] | None:
    """A realized tensor's view: the movement ops over its BUFFER node (outermost first), or None."""
    chain = []
    while u.op in _MOVEMENT:
        chain.append((u.op, u.arg))
        u = u.src[0]
    return (tuple(chain), u) if u.op is Ops.BUFFER else None


def _root(b: Buffer) -> Buffer:
    return b.base if b.base is not None else b


@dataclasses.dataclass(frozen=True)
class _IndexCheck:
    """An index check the captured call made, run again on every replay: the index (a view of the buffer of
    `node`) and its bound. `before`: the buffer is an input or state the call does not write, so it is checked
    before the kernels run (nothing is written); an index the call computes is checked after them."""

    uop: UOp
    node: UOp
    bound: IndexBound
    before: bool

    def run(self, roots: dict[int, Buffer]) -> None:
        """Read the index from the replay's buffers (`roots`: captured root buffer id -> the replay's one)."""
        old: Buffer = self.node.arg
        root = roots.get(id(_root(old)), _root(old))
        new = old if root is _root(old) else root if old.base is None else root.view(old.size, old.dtype, old.offset)
        buf = UOp(Ops.BUFFER, self.node.dtype, (), new)
        view = _view_of(self.uop)
        if view is not None and view[1] is self.node and all(_static(arg) for _, arg in view[0]):
            index = Tensor._wrap(_apply_chain(view[0], buf))  # a view of the index buffer: no graph rewrite
        else:
            index = Tensor._wrap(self.uop.substitute({self.node: buf}))
        self.bound.check(index.numpy())


@dataclasses.dataclass
class _Capture:
    """One key's state: warmed up, then captured (the run, its inputs, how to rebuild the result, the index
    checks to run again)."""

    run: CapturedRun | None = None
    result: Any = None
    outputs: dict[int, Output] = dataclasses.field(default_factory=dict)
    checks: list[_IndexCheck] = dataclasses.field(default_factory=list)


class TinyJit(Generic[R]):
    """Decorator: capture a function's kernels on the second call with a given key and replay them afterwards.

    `max_captures`: how many different keys (argument shapes, values, aliasing) are captured before a call
    with a new one raises.
    """

    def __init__(self, fn: Callable[..., R], max_captures: int = 4) -> None:
        self.fn = fn
        self.max_captures = max_captures
        self.captures: dict[Key, _Capture] = {}
        self.captured: CapturedRun | None = None  # the latest capture
        functools.update_wrapper(self, fn)

    def reset(self) -> None:
        """Forget every capture (the next two calls with each key capture again)."""
        self.captures, self.captured = {}, None

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        if not JIT:
            return self.fn(*args, **kwargs)
        leaves: list[tuple[str, Any]] = []
        _flatten(list(args), "args", leaves)
        _flatten(dict(sorted(kwargs.items())), "kwargs", leaves)  # f(a=1, b=2) and f(b=2, a=1) are one call
        inputs = _prepare_inputs([t for _, t in leaves if isinstance(t, Tensor)])
        vals: dict[UOp, int] = {}  # this call's values of the symbolic sizes (they are not part of the key)
        key = _key(leaves, vals)
        entry = self.captures.get(key)
        if entry is not None and entry.run is not None:
            return _replay(entry, inputs, vals)
        if entry is None:  # warm-up: everything compiles and lazy state initializes
            if len(self.captures) >= self.max_captures:
                raise ArgumentError(self._too_many(key))
            result = self.fn(*args, **kwargs)
            _realize_all(result)
            self.captures[key] = _Capture()  # only now: a warm-up that raised is done again
            return result
        start = next_buffer_serial()
        with capture() as items, record_index_checks() as checks:
            result = self.fn(*args, **kwargs)
            _realize_all(result)
        _finish(entry, items, inputs, result, start)
        entry.checks = _index_checks(checks, items, start)
        self.captured = entry.run
        trace.emit("jit", fn=self.fn.__name__, kernels=[trace.Ref(i.ast) for i in items if i.kind == "kernel"])
        # replays write the captured buffers (state left in them, e.g. gradients, follows each call): the caller
        # gets copies, as from every replay, so later calls never overwrite what this one returned
        assert entry.run is not None
        made = entry.run.copies()
        return _rebuild(entry.result, lambda o: entry.outputs[id(o)](inputs, made, vals))

    def _too_many(self, key: Key) -> str:
        first = next(iter(self.captures))
        by_path = dict(first)
        changed = [str(p) for p, v in key if by_path.get(p) != v] or ["the number of arguments"]
        changed += [f"{p} (missing)" for p in by_path if p not in dict(key)]
        return (
            f"TinyJit({self.fn.__name__}): the inputs differ from the captured calls ({len(self.captures)} of"
            f" max_captures={self.max_captures}) in {', '.join(changed)}; pass tensors of one shape and view"
            " (`.contiguous()` for a slice that moves) and keep other arguments fixed, raise max_captures, or call"
            " .reset() to capture again"
        )


def _prepare_inputs(inputs: list[Tensor]) -> list[Tensor]:
    """Apply the caller's pending work (the inputs' graphs, assigns made before the call) in one schedule:
    it belongs to the caller, or the capture would record it and every replay would apply it again."""
    if todo := [*inputs, *flush_pending_assigns()]:
        Tensor.realize(*todo)
    for t in inputs:
        if _view_of(t.uop) is None:  # realized to something that is not a buffer view: give it a buffer
            t.replace_uop(t.contiguous().realize().uop)
    return inputs


def _key(leaves: list[tuple[str, Any]], vals: dict[UOp, int]) -> Key:
    """What a capture depends on, per argument path. Symbolic sizes count by their variables; their values (from
    tensor shapes and views, and Variables passed bound: `f(x, pos.bind(3))`) go into `vals`."""
    key: list[tuple[str, Hashable]] = []
    roots: list[Buffer] = []
    for path, v in leaves:
        if isinstance(v, UOp) and v.op is Ops.BIND:
            key.append((path, ("variable", unbind_expr(v, vals))))
            continue
        if not isinstance(v, Tensor):
            key.append((path, v if isinstance(v, _Node) else _value_key(v)))
            continue
        view = _view_of(v.uop)
        assert view is not None
        chain, node = view
        buf: Buffer = node.arg
        # aliasing: the first argument with the same memory (an argument passed twice, or views of one base)
        alias = next((i for i, r in enumerate(roots) if r is _root(buf)), len(roots))
        roots.append(_root(buf))
        memory = (buf.size, buf.dtype, buf.offset, alias)
        shape, chain = unbind_arg(v.shape, vals), unbind_arg(chain, vals)
        key.append((path, ("tensor", shape, v.dtype, v.device, chain, memory, v.requires_grad)))
    return tuple(key)


def _finish(entry: _Capture, items: list[Any], inputs: list[Tensor], result: Any, start: int) -> None:
    """Record how to replay a capture and rebuild its result on later calls. Buffers with a serial from `start`
    on were made by the captured call: an output in one is copied to a new buffer for the caller on every call."""
    in_nodes = [_view_of(t.uop)[1] for t in inputs]  # type: ignore[index]
    in_bufs: list[Buffer] = [n.arg for n in in_nodes]
    written = {id(_root(b)) for si in items for b in si.outputs if _root(b).serial >= start}
    fresh: list[Buffer] = []
    outs: dict[int, Output] = {}
    leaves: list[tuple[str, Any]] = []
    _flatten(result, "", leaves)
    for _, o in leaves:
        if not isinstance(o, Tensor) or id(o) in outs:
            continue
        view = _view_of(o.uop)
        k = next((i for i, t in enumerate(inputs) if t is o), None)
        if k is not None:  # the input itself
            outs[id(o)] = functools.partial(lambda k, ins, *_: ins[k], k)
        elif view is None:  # a constant: no buffer depends on the inputs
            outs[id(o)] = functools.partial(lambda o, *_: o, o)
        elif (k := next((i for i, b in enumerate(in_bufs) if b is view[1].arg), None)) is not None:
            outs[id(o)] = functools.partial(_input_view, unbind_graph([o.uop])[0][0], in_nodes[k], k)
        elif id(root := _root(view[1].arg)) in written:
            if not any(b is root for b in fresh):
                fresh.append(root)
            j = next(i for i, b in enumerate(fresh) if b is root)
            # over variables: each call binds them to its own values (the output has this call's shape); a view
            # without them is rebuilt op by op over the new buffer (no graph rewrite per call)
            outs[id(o)] = (
                functools.partial(_fresh_chain, view[0], view[1], j)
                if all(_static(arg) for _, arg in view[0])
                else functools.partial(_fresh_view, unbind_graph([o.uop])[0][0], view[1], j)
            )
        else:  # state that existed before the call (a weight): the same tensor
            outs[id(o)] = functools.partial(lambda o, *_: o, o)
    entry.run, entry.result, entry.outputs = CapturedRun(items, in_bufs, fresh), result, outs


def _index_checks(checks: list[tuple[UOp, IndexBound]], items: list[Any], start: int) -> list[_IndexCheck]:
    """The index checks made while capturing, to run on every replay (an index with no buffer is a constant)."""
    written = {id(_root(b)) for si in items for b in si.outputs if _root(b).serial >= start}
    out = []
    for u, bound in checks:
        if (view := _view_of(u)) is not None:
            out.append(_IndexCheck(u, view[1], bound, id(_root(view[1].arg)) not in written))
    return out


def _input_view(u: UOp, node: UOp, k: int, ins: list[Tensor], _: list[Buffer], vals: dict[UOp, int]) -> Tensor:
    new = _view_of(ins[k].uop)
    assert new is not None
    return Tensor._wrap(bind_graph(u.substitute({node: new[1]}), vals))


def _fresh_buffer(node: UOp, j: int, made: list[Buffer]) -> UOp:
    old: Buffer = node.arg  # the fresh buffer itself, or a view of it
    new = made[j] if old.base is None else made[j].view(old.size, old.dtype, old.offset)
    return UOp(Ops.BUFFER, node.dtype, (), new)


def _fresh_view(u: UOp, node: UOp, j: int, _: list[Tensor], made: list[Buffer], vals: dict[UOp, int]) -> Tensor:
    return Tensor._wrap(bind_graph(u.substitute({node: _fresh_buffer(node, j, made)}), vals))


def _fresh_chain(chain: tuple[tuple[Ops, Any], ...], node: UOp, j: int, *made_etc: Any) -> Tensor:
    """`_fresh_view` for a view with no variables: its movement ops (outermost first) over the new buffer."""
    return Tensor._wrap(_apply_chain(chain, _fresh_buffer(node, j, made_etc[1])))


def _apply_chain(chain: tuple[tuple[Ops, Any], ...], u: UOp) -> UOp:
    """The movement ops of `chain` (outermost first, as `_view_of` gives them) applied to `u`."""
    for op, arg in reversed(chain):
        u = UOp(op, u.dtype, (u,), arg)
    return u


def _static(arg: Any) -> bool:
    """Whether a movement op's argument holds no symbolic size."""
    if isinstance(arg, tuple):
        return all(_static(a) for a in arg)
    return not isinstance(arg, UOp)


def _replay(entry: _Capture, inputs: list[Tensor], vals: dict[UOp, int]) -> Any:
    assert entry.run is not None
    bufs = []
    for t in inputs:
        view = _view_of(t.uop)
        assert view is not None
        bufs.append(view[1].arg)
    roots = {id(_root(old)): _root(new) for old, new in zip(entry.run.inputs, bufs, strict=True)}
    for c in entry.checks:
        if c.before:  # an index in an input: checked before anything is written
            c.run(roots)
    made = entry.run.replay(bufs, vals)  # the captured outputs hold this call's values too: checks read them there
    for c in entry.checks:
        if not c.before:  # an index the call computes: checked once the kernels wrote it, before returning
            c.run(roots)
    return _rebuild(entry.result, lambda o: entry.outputs[id(o)](inputs, made, vals))


def _realize_all(result: Any) -> None:
    """Realize a call's output tensors and every pending assign, in one schedule."""
    leaves: list[tuple[str, Any]] = []
    _flatten(result, "", leaves)
    todo = [t for _, t in leaves if isinstance(t, Tensor)]
    todo = list({id(t): t for t in todo}.values()) + flush_pending_assigns()
    if todo:
        Tensor.realize(*todo)
