"""Linearization: order a loop graph into a loop program, a list of UOps with explicit loop structure.

Each node is placed inside exactly the loops it depends on, as far out as possible: a REDUCE becomes an
accumulator (DEFINE_ACC) set before its loops, updated inside them (ASSIGN), and read after them. Values
that do not depend on a reduce's ranges are computed before its loop opens.

The result uses only: DEFINE_GLOBAL, DEFINE_VAR, CONST, RANGE/ENDRANGE, SPECIAL, DEFINE_ACC, ASSIGN,
INDEX, LOAD, STORE, ALU ops and CAST/BITCAST, so a renderer (or the PYTHON device) can walk it in order.
"""

from __future__ import annotations

from tg_uop.dtype import DType, dtypes
from tg_uop.ops import Ops
from tg_uop.rewrite import substitute
from tg_uop.uop import UOp, toposort

# the start value of an accumulator for each reduce op
_IDENTITY = {Ops.ADD: 0, Ops.MUL: 1, Ops.MAX: None, Ops.AND: True, Ops.OR: False}


def reduce_identity(op: Ops, dtype: DType) -> UOp:
    """The neutral element of a reduce op as a constant (MAX starts at the dtype's minimum)."""
    value = _IDENTITY[op]
    return UOp.const(dtype, dtype.min if value is None else value)


class _Linearizer:
    def __init__(self, sink: UOp) -> None:
        self.out: list[UOp] = []
        self.placed: set[UOp] = set()
        self.acc_of: dict[UOp, UOp] = {}
        self.accs = 0
        self.deps: dict[UOp, frozenset[UOp]] = {}
        self.add_deps(sink)
        # reductions over the same ranges share one loop (upcast copies: one accumulator each)
        self.same_loop: dict[tuple[UOp, ...], list[UOp]] = {}
        for n in toposort([sink]):
            if n.op is Ops.REDUCE:
                self.same_loop.setdefault(n.src[1:], []).append(n)

    def add_deps(self, root: UOp) -> None:
        """Record the loop ranges each node under `root` depends on (a REDUCE hides its own ranges)."""
        for n in toposort([root], lambda u: u not in self.deps):
            if n in self.deps:
                continue
            d: frozenset[UOp] = frozenset().union(*(self.deps[s] for s in n.src))
            if n.op is Ops.RANGE:
                d = d | {n}
            elif n.op in (Ops.REDUCE, Ops.BARRIER):  # a BARRIER over ranges ends their loops (a PACK copy)
                d = d - set(n.src[1:])
            self.deps[n] = d

    def emit(self, n: UOp) -> None:
        self.out.append(n)
        self.placed.add(n)

    def scope(self, roots: list[UOp], open_ranges: frozenset[UOp]) -> None:
        """Emit every unplaced ancestor of `roots` that needs no more than `open_ranges`, sources first."""
        for n in toposort(roots, lambda u: u not in self.placed):
            if n in self.placed or not self.deps[n] <= open_ranges:
                continue
            if n.op is Ops.REDUCE:
                group = [m for m in self.same_loop[n.src[1:]] if m not in self.placed and self.deps[m] <= open_ranges]
                self.reduce(group, open_ranges)
            elif n.op is Ops.BARRIER and len(n.src) > 1:
                self.copy_loop(n, open_ranges)
            elif n.op is Ops.RANGE:
                raise AssertionError("a RANGE must be opened by its loop, not reached as a value")
            else:
                self.emit(n)

    def loop(self, rngs: tuple[UOp, ...], open_ranges: frozenset[UOp]) -> frozenset[UOp]:
        self.scope([r.src[0] for r in rngs], open_ranges)
        for r in rngs:
            self.emit(r)
        return open_ranges | set(rngs)

    def copy_loop(self, barrier: UOp, open_ranges: frozenset[UOp]) -> None:
        """A store in loops of its own (a PACK copy): its loops, the store inside them, then the BARRIER."""
        inner = self.loop(barrier.src[1:], open_ranges)
        self.scope([barrier.src[0]], inner)
        for r in reversed(barrier.src[1:]):
            self.emit(UOp(Ops.ENDRANGE, src=(r,)))
        self.emit(barrier)

    def reduce(self, reds: list[UOp], open_ranges: frozenset[UOp]) -> None:
        """Reductions over the same ranges: accumulators before the loops, updates inside, values after."""
        rngs = reds[0].src[1:]
        for red in reds:
            self.scope([red.src[0]], open_ranges)  # hoist what does not depend on the loop
        accs = []
        for red in reds:
            init = reduce_identity(red.arg, red.dtype)
            self.add_deps(init)
            self.scope([init], open_ranges)
            # numbered when created (a nested reduce registers itself only after its outer one started)
            accs.append(acc := UOp(Ops.DEFINE_ACC, red.dtype, (init,), self.accs))
            self.accs += 1
            self.emit(acc)
        inner = self.loop(rngs, open_ranges)
        for red in reds:
            self.scope([red.src[0]], inner)
        for red, acc in zip(reds, accs, strict=True):
            update = acc.alu(red.arg, red.src[0])
            self.emit(update)
            self.emit(UOp(Ops.ASSIGN, red.dtype, (acc, update)))
        for r in reversed(rngs):
            self.emit(UOp(Ops.ENDRANGE, src=(r,)))
        for red, acc in zip(reds, accs, strict=True):
            self.acc_of[red] = acc
            self.placed.add(red)

    def run(self, sink: UOp) -> list[UOp]:
        global_rngs = sorted((r for r in self.deps[sink] if r.op is Ops.RANGE), key=lambda r: r.arg.axis)
        open_ranges: frozenset[UOp] = frozenset()
        self.scope(list(sink.src), open_ranges)  # parameters and constants first, outside every loop
        for r in global_rngs:  # then each loop, with what depends on it and the loops outside it
            open_ranges = self.loop((r,), open_ranges)
            self.scope(list(sink.src), open_ranges)
        for r in reversed(global_rngs):
            self.emit(UOp(Ops.ENDRANGE, src=(r,)))
        return _replace_reduces(self.out, self.acc_of)


def _replace_reduces(out: list[UOp], acc_of: dict[UOp, UOp]) -> list[UOp]:
    # uses of a REDUCE read its accumulator after the loop
    return list(substitute(UOp(Ops.SINK, dtypes.void, tuple(out)), acc_of).src)


def linearize(sink: UOp) -> list[UOp]:
    """The loop program of a loop graph (a SINK of STOREs over RANGEs, from `lower`)."""
    return _Linearizer(sink).run(sink)
