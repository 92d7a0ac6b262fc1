"""Tensors on several devices at once: graphs over MULTI nodes and their rewrite into one graph per device.

A sharded or replicated tensor is a MULTI node: its sources are the per-device parts (each a graph on its own
device), its arg the axis they split (None: each part holds the whole value). Operations build ordinary UOps
over the whole (global) shape on top of it; `lower` pushes every op through MULTI (`pm_multi`), so that only
MULTI nodes of per-device graphs remain, and a reduction over the split axis becomes an all-reduce: naive
(every device adds up all the parts, in the same order) for small tensors, ring reduce-scatter and all-gather for
large ones. Everything runs in one schedule. A mismatch (parts split on different axes, different device tuples,
a pad or shrink across the split axis) raises `ArgumentError` where the op is built.

>>> from tg_uop import UOp, Ops, dtypes
>>> a = UOp.const(dtypes.float, 1.0, (UOp(Ops.DEVICE, arg="CPU,CPU:1"),)).reshape((1,)).expand((4,))
>>> m = lower(a + a)
>>> m.op, m.arg, [p.device for p in m.src], m.src[0].shape
(Ops.MULTI, None, ['CPU', 'CPU:1'], (4,))
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from tg_runtime.device import split_devices
from tg_schedule.run import realize as realize_uops
from tg_tensor.errors import ArgumentError
from tg_uop.helpers import prod
from tg_uop.ops import GroupOp, Ops
from tg_uop.rewrite import PatternMatcher, UPat
from tg_uop.uop import UOp, toposort

# an all-reduce of at least this many bytes goes around the ring (each device sends 2(n-1)/n of the tensor instead
# of (n-1) times all of it); below it the naive one, whose fewer, larger copies cost less per byte
RING_MIN_BYTES = 256 * 1024


def is_multi(u: UOp) -> bool:
    """Whether `u` is on a device tuple (a MULTI node, or built from one)."""
    d = u.device
    return d is not None and "," in d


def is_realized(u: UOp) -> bool:
    """Whether `u` is a view of a buffer, or a MULTI of such views (a realized tensor on a device tuple)."""
    b = u.base
    return b.op is Ops.BUFFER or b.op is Ops.MULTI and all(p.base.op is Ops.BUFFER for p in b.src)


def shard_bounds(size: int, n: int, i: int) -> tuple[int, int]:
    """The range of part `i` of `n` along an axis of `size` (n divides it)."""
    return i * size // n, (i + 1) * size // n


def shard(u: UOp, devices: tuple[str, ...], axis: int) -> UOp:
    """`u` split evenly along `axis` over `devices` (a tensor on a device tuple is gathered first)."""
    shape = u.shape
    assert shape is not None
    if not -len(shape) <= axis < len(shape):
        raise ArgumentError(f"shard: axis {axis} is out of range for shape {shape}")
    axis %= len(shape)
    n = len(devices)
    if shape[axis] % n:
        raise ArgumentError(f"shard: axis {axis} of shape {shape} does not split evenly over {n} devices {devices}")
    if is_multi(u):
        u = UOp(Ops.COPY, u.dtype, (u,), devices[0])
    parts = []
    for i, d in enumerate(devices):
        lo, hi = shard_bounds(shape[axis], n, i)
        part = u.shrink(tuple((lo, hi) if j == axis else (0, s) for j, s in enumerate(shape)))
        parts.append(part if part.device == d else UOp(Ops.COPY, u.dtype, (part,), d))
    return UOp(Ops.MULTI, u.dtype, tuple(parts), axis)


def replicate(u: UOp, devices: tuple[str, ...]) -> UOp:
    """The whole of `u` on each of `devices` (a tensor on a device tuple is gathered first)."""
    if is_multi(u):
        u = UOp(Ops.COPY, u.dtype, (u,), devices[0])
    parts = tuple(u if u.device == d else UOp(Ops.COPY, u.dtype, (u,), d) for d in devices)
    return UOp(Ops.MULTI, u.dtype, parts, None)


# ---- pushing ops through MULTI ----


def _multi(parts: Sequence[UOp], axis: int | None) -> UOp:
    return UOp(Ops.MULTI, parts[0].dtype, tuple(parts), axis)


def _devices_of(srcs: Sequence[UOp], op: Ops) -> tuple[str, ...]:
    """The one device tuple of the MULTI sources; ArgumentError for different ones or a single device among them."""
    tuples = {tuple(str(p.device) for p in s.src) for s in srcs if s.op is Ops.MULTI}
    if len(tuples) > 1:
        raise ArgumentError(f"{op.name}: the inputs are on different device tuples: {sorted(tuples)}")
    lone = [s.device for s in srcs if s.op is not Ops.MULTI and s.device is not None]
    if lone:
        raise ArgumentError(f"{op.name}: an input on {lone[0]} is mixed with inputs on device tuple {tuples.pop()}")
    return tuples.pop()


def _part_of(s: UOp, axis: int | None, i: int, n: int) -> UOp:
    """Part `i` of a source for an op whose output is split on `axis`: its own part, or the matching slice of a
    replicated one (a source without a device, a scalar, goes as it is)."""
    if s.op is not Ops.MULTI:
        return s
    if s.arg == axis or axis is None:
        return s.src[i]
    whole = s.src[i]
    shape = whole.shape
    assert shape is not None
    if shape[axis] == 1:  # broadcast along the split axis: every part reads the same row
        return whole
    lo, hi = shard_bounds(shape[axis], n, i)
    return whole.shrink(tuple((lo, hi) if j == axis else (0, d) for j, d in enumerate(shape)))


def _elementwise(x: UOp) -> UOp | None:
    """An op applied part by part; replicated sources are sliced to the split sources' parts."""
    if not any(s.op is Ops.MULTI for s in x.src):
        return None
    devices = _devices_of(x.src, x.op)
    axes = {s.arg for s in x.src if s.op is Ops.MULTI and s.arg is not None}
    if len(axes) > 1:
        raise ArgumentError(f"{x.op.name}: the inputs are sharded on different axes {sorted(axes)}")
    axis = axes.pop() if axes else None
    if x.op is Ops.ASSIGN and x.src[0].arg != axis:
        raise ArgumentError(f"ASSIGN: a value sharded on axis {axis} into a target sharded on {x.src[0].arg}")
    n = len(devices)
    return _multi([x.replace(src=tuple(_part_of(s, axis, i, n) for s in x.src)) for i in range(n)], axis)


def _split_device(d: UOp) -> UOp | None:
    if "," not in str(d.arg):
        return None
    return _multi([UOp(Ops.DEVICE, arg=name) for name in split_devices(str(d.arg))], None)


def allreduce(parts: Sequence[UOp], op: Ops) -> list[UOp]:
    """Every device's part combined with `op` (ADD, MAX, MUL): the same value on each device, bit for bit."""
    first = parts[0]
    nbytes = first.dtype.itemsize * prod(first.shape or ())
    if len(parts) > 2 and nbytes >= RING_MIN_BYTES or len(parts) == 2 and nbytes >= 4 * RING_MIN_BYTES:
        return _ring_allreduce(parts, op)
    return _naive_allreduce(parts, op)


def _to(u: UOp, device: str) -> UOp:
    return u if u.device == device else UOp(Ops.COPY, u.dtype, (u,), device)


def _naive_allreduce(parts: Sequence[UOp], op: Ops) -> list[UOp]:
    out = []
    for p in parts:
        dev = str(p.device)
        acc = _to(parts[0], dev)  # the same order on every device, so every device gets the same rounding
        for q in parts[1:]:
            acc = acc.alu(op, _to(q, dev))
        out.append(acc)
    return out


def _ring_allreduce(parts: Sequence[UOp], op: Ops) -> list[UOp]:
    """Reduce-scatter (chunk c travels the ring from device c+1 and ends reduced on device c), then all-gather
    (each device copies every other device's reduced chunk)."""
    n = len(parts)
    shape = parts[0].shape
    assert shape is not None
    size = prod(shape)
    flat = [p.reshape((size,)) for p in parts]
    devs = [str(p.device) for p in parts]
    bounds = [shard_bounds(size, n, c) for c in range(n)]
    chunks = []
    for c, (lo, hi) in enumerate(bounds):
        acc = flat[(c + 1) % n].shrink(((lo, hi),))
        for k in range(2, n + 1):
            d = (c + k) % n
            acc = _to(acc, devs[d]).alu(op, flat[d].shrink(((lo, hi),)))
        chunks.append(acc)
    out = []
    for i in range(n):
        pieces = [_to(ch, devs[i]).pad(((lo, size - hi),)) for ch, (lo, hi) in zip(chunks, bounds, strict=True)]
        whole = pieces[0]
        for piece in pieces[1:]:  # the pieces do not overlap: padding zeros added to a value leave it as it is
            whole = whole + piece
        out.append(whole.reshape(shape))
    return out


def _reduce(x: UOp, m: UOp) -> UOp:
    op, axes = x.arg
    parts = [p.reduce_axis(op, axes) for p in m.src]
    if m.arg is not None and m.arg in axes:
        return _multi(allreduce(parts, op), None)
    return _multi(parts, m.arg)


def _local(shape: tuple[Any, ...], axis: int | None, n: int) -> tuple[Any, ...]:
    return shape if axis is None else tuple(d // n if i == axis else d for i, d in enumerate(shape))


def _reshape_axis(old: tuple[Any, ...], new: tuple[Any, ...], a: int, n: int) -> int:
    """The axis of `new` that the split axis `a` of `old` becomes, where each part stays one block of rows."""
    before = prod(old[:a])
    for b in range(len(new)):
        if prod(new[:b]) != before or (new[b] == 1 and old[a] != 1):
            continue
        merges = any(prod(old[a:k]) == new[b] for k in range(a + 1, len(old) + 1))
        splits = any(prod(new[b:j]) == old[a] for j in range(b + 1, len(new) + 1))
        if (merges or splits) and new[b] % n == 0:
            return b
        break
    raise ArgumentError(f"reshape {old} -> {new}: moves elements between the parts of axis {a} (sharded over {n})")


def _movement(x: UOp, m: UOp) -> UOp:
    n, a, arg = len(m.src), m.arg, x.arg
    if x.op is Ops.RESHAPE:
        b = None if a is None else _reshape_axis(tuple(m.shape or ()), tuple(arg), a, n)
        return _multi([p.reshape(_local(tuple(arg), b, n)) for p in m.src], b)
    if x.op is Ops.PERMUTE:
        return _multi([p.permute(arg) for p in m.src], None if a is None else tuple(arg).index(a))
    if x.op is Ops.EXPAND:
        return _multi([p.expand(_local(tuple(arg), a, n)) for p in m.src], a)
    if x.op is Ops.FLIP:
        parts = [p.flip(arg) for p in m.src]
        return _multi(parts[::-1] if a is not None and arg[a] else parts, a)
    shape = m.shape
    assert shape is not None
    if x.op is Ops.SHRINK and a is not None and (i := _whole_part(tuple(arg[a]), shape[a], n)) is not None:
        # exactly one device's part (a gradient for the tensor it was sharded from): that part, on its device
        return m.src[i].shrink(tuple((0, shape[a] // n) if j == a else r for j, r in enumerate(arg)))
    if a is not None and tuple(arg[a]) != ((0, 0) if x.op is Ops.PAD else (0, shape[a])):
        raise ArgumentError(f"{x.op.name} {arg}: cannot change axis {a}, which is sharded over {n} devices")
    if x.op is Ops.PAD:
        return _multi([p.pad(arg) for p in m.src], a)
    local = tuple((0, shape[a] // n) if i == a else r for i, r in enumerate(arg))
    return _multi([p.shrink(local) for p in m.src], a)


def _whole_part(rows: tuple[int, int], size: int, n: int) -> int | None:
    """Which part `rows` is exactly, when it is one part of a split axis (not the whole axis)."""
    parts = [shard_bounds(size, n, i) for i in range(n)]
    return parts.index(rows) if rows in parts and n > 1 else None


def _gather(x: UOp, m: UOp) -> UOp:
    """A tensor on a device tuple copied to one device: its first part, or its parts joined along the axis."""
    dev = str(x.arg)
    if "," in dev:
        raise ArgumentError(f"COPY to device tuple {dev}: use Tensor.to or Tensor.shard")
    if m.arg is None:
        return _to(m.src[0], dev)
    shape = m.shape
    assert shape is not None
    a, n = m.arg, len(m.src)
    out: UOp | None = None
    for i, p in enumerate(m.src):
        lo, hi = shard_bounds(shape[a], n, i)
        piece = _to(p, dev).pad(tuple((lo, shape[a] - hi) if j == a else (0, 0) for j in range(len(shape))))
        out = piece if out is None else out + piece
    assert out is not None
    return out


def _unsupported(x: UOp) -> UOp | None:
    if any(s.op is Ops.MULTI for s in x.src):
        raise ArgumentError(f"{x.op.name} is not supported on tensors sharded over several devices")
    return None


_MULTI_SRC = UPat(Ops.MULTI, name="m")
pm_multi = PatternMatcher(
    [
        (UPat(Ops.DEVICE, name="d"), _split_device),
        (UPat(Ops.REDUCE_AXIS, src=(_MULTI_SRC,), name="x"), _reduce),
        (UPat(GroupOp.Movement, src=(_MULTI_SRC,), name="x"), _movement),
        (UPat(Ops.COPY, src=(_MULTI_SRC,), name="x"), _gather),
        # a copy to where its source already is (a part picked out of a MULTI) is that source
        (UPat(Ops.COPY, src=(UPat(name="s"),), name="x"), lambda x, s: s if s.device == x.arg else None),
        (
            UPat(GroupOp.Elementwise | {Ops.CONST, Ops.CONTIGUOUS, Ops.DETACH, Ops.ASSIGN, Ops.BIND}, name="x"),
            _elementwise,
        ),
        (UPat(name="x"), _unsupported),
    ]
)

# what each node already lowered became, kept as long as the node lives: an op built on a device tuple is checked
# (and lowered) when it is built, so only its new nodes are visited, and realizing it later costs nothing more.
# Nodes that stay as they are go in a set of their own (a value holding its key would keep it alive forever)
_lowered: weakref.WeakKeyDictionary[UOp, UOp] = weakref.WeakKeyDictionary()
_unchanged: weakref.WeakSet[UOp] = weakref.WeakSet()


def _done(u: UOp) -> bool:
    return u in _unchanged or u in _lowered


def lower(root: UOp) -> UOp:
    """`root` with every op pushed through the MULTI nodes under it (`pm_multi`): a MULTI of per-device graphs, or a
    graph on one device. ArgumentError for ops that do not fit the parts."""
    for n in toposort([root], lambda u: not _done(u)):
        if _done(n):
            continue
        src = tuple(_lowered.get(s, s) for s in n.src)
        m = n if all(a is b for a, b in zip(src, n.src, strict=True)) else n.replace(src=src)
        new = pm_multi.rewrite(m)
        out = m if new is None else new
        if out is n:
            _unchanged.add(n)
        else:
            _lowered[n] = out
    return _lowered.get(root, root)


def needs_lowering(u: UOp) -> bool:
    """Whether realizing `u` involves a device tuple (checked cheaply: ops on one are lowered when built)."""
    return is_multi(u) or u in _lowered


def per_device(outs: list[UOp]) -> list[UOp]:
    """The graphs to schedule for `outs`: each part of a tensor on a device tuple, any other as it is."""
    flat: list[UOp] = []
    for u in outs:
        low = lower(u) if needs_lowering(u) else u
        flat.extend(low.src if low.op is Ops.MULTI else (low,))
    return flat


def realize(outs: list[UOp]) -> dict[UOp, UOp]:
    """`tg_schedule.run.realize` for graphs that may hold MULTI nodes: all parts in one schedule; a tensor on a
    device tuple becomes a MULTI of its parts' buffers."""
    if not any(needs_lowering(u) for u in outs):
        return realize_uops(outs)
    lowered = {u: lower(u) if needs_lowering(u) else u for u in outs}
    becomes = realize_uops(per_device(list(lowered.values())))

    def done(low: UOp) -> UOp:
        return _multi([becomes[p] for p in low.src], low.arg) if low.op is Ops.MULTI else becomes[low]

    return {u: done(low) for u, low in lowered.items()}


def check(u: UOp) -> UOp:
    """`u`, lowered at once when it is on a device tuple or gathers from one, so a mismatch fails at the call."""
    if is_multi(u) or (u.op is Ops.COPY and is_multi(u.src[0])):
        lower(u)
    return u
