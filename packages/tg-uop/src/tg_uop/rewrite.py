"""Pattern matching on UOp graphs: `UPat`, `PatternMatcher` and `graph_rewrite`.

>>> from tg_uop import UOp, UPat, PatternMatcher, graph_rewrite, Ops
>>> x = UOp.variable("x", 0, 9)
>>> drop_add_zero = PatternMatcher([(UPat.var("a") + 0, lambda a: a)])
>>> graph_rewrite((x + 0) * 2, drop_add_zero).render(simplify=False)
'x*2'
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tg_uop import trace
from tg_uop.dtype import DType
from tg_uop.ops import GroupOp, Ops
from tg_uop.uop import ConstType, UOp, extensions

Store = dict[str, UOp]


class UPat:
    """A pattern over UOps.

    - `op`: an Ops, a set of Ops, or None for any.
    - `dtype`: a DType, a set of DTypes, or None for any.
    - `src`: None (any sources); a tuple of UPats (matched in order); a list of UPats (matched in any order,
      for commutative ops); or a single UPat (every source must match it, any number of them).
    - `arg`: matched with == when not None.
    - `name`: the matched node is passed to the callback under this name; a name used twice must match the
      same node both times.
    - `allow_any_len`: with a tuple `src`, extra trailing sources are allowed.
    """

    __slots__ = ("op", "dtype", "src", "arg", "name", "allow_any_len", "_perms", "_repeat")

    def __init__(
        self,
        op: Ops | Sequence[Ops] | frozenset[Ops] | None = None,
        dtype: DType | Sequence[DType] | None = None,
        src: UPat | tuple[UPat, ...] | list[UPat] | None = None,
        arg: Any = None,
        name: str | None = None,
        allow_any_len: bool = False,
    ) -> None:
        self.op: frozenset[Ops] | None = (
            frozenset([op]) if isinstance(op, Ops) else None if op is None else frozenset(op)
        )
        self.dtype: frozenset[DType] | None = (
            frozenset([dtype]) if isinstance(dtype, DType) else None if dtype is None else frozenset(dtype)
        )
        self.arg, self.name, self.allow_any_len = arg, name, allow_any_len
        self.src = src
        # precomputed once: the orders in which sources are tried, or the pattern every source must match
        self._repeat: UPat | None = src if isinstance(src, UPat) else None
        if isinstance(src, list):
            self._perms: tuple[tuple[UPat, ...], ...] = tuple(itertools.permutations(src))
        elif isinstance(src, tuple):
            self._perms = (src,)
        else:
            self._perms = ()

    def __repr__(self) -> str:
        ops = None if self.op is None else sorted(o.name for o in self.op)
        return f"UPat(op={ops}, name={self.name!r}, arg={self.arg!r})"

    # ---- constructors ----

    @staticmethod
    def var(name: str | None = None, dtype: DType | Sequence[DType] | None = None) -> UPat:
        """Any node, captured as `name`."""
        return UPat(dtype=dtype, name=name)

    @staticmethod
    def cvar(name: str | None = None, dtype: DType | Sequence[DType] | None = None) -> UPat:
        """Any constant, captured as `name`."""
        return UPat(Ops.CONST, dtype=dtype, name=name)

    @staticmethod
    def const(dtype: DType | Sequence[DType] | None, value: ConstType) -> UPat:
        """A constant with this value."""
        return UPat(Ops.CONST, dtype=dtype, arg=value)

    # ---- sugar: UPat.var("x") + 0 builds UPat(ADD, src=[x, const 0]) ----

    def _bin(self, op: Ops, other: UPat | ConstType, reverse: bool = False) -> UPat:
        o = other if isinstance(other, UPat) else UPat.const(None, other)
        pair = [o, self] if reverse else [self, o]
        return UPat(op, src=pair if op in GroupOp.Commutative else tuple(pair))

    def __add__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.ADD, x)

    def __radd__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.ADD, x, True)

    def __sub__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.SUB, x)

    def __mul__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.MUL, x)

    def __rmul__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.MUL, x, True)

    def __floordiv__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.IDIV, x)

    def __mod__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.MOD, x)

    def __lt__(self, x: UPat | ConstType) -> UPat:
        return self._bin(Ops.CMPLT, x)

    def named(self, name: str) -> UPat:
        """This pattern with a capture name."""
        out = UPat(self.op, None, self.src, self.arg, name, self.allow_any_len)
        out.dtype = self.dtype
        return out

    # ---- matching ----

    def match(self, u: UOp, store: Store) -> list[Store]:
        """Every way this pattern matches `u`, each as the captures extended from `store`."""
        if self.op is not None and u.op not in self.op:
            return []
        if self.dtype is not None and u.dtype not in self.dtype and u.dtype.scalar() not in self.dtype:
            return []
        if self.arg is not None and not _arg_equal(self.arg, u.arg):
            return []
        if self.name is not None:
            bound = store.get(self.name)
            if bound is not None and bound is not u:
                return []
            if bound is None:
                store = {**store, self.name: u}
        if self._repeat is not None:
            stores = [store]
            for s in u.src:
                stores = [r for st in stores for r in self._repeat.match(s, st)]
                if not stores:
                    return []
            return stores
        if not self._perms:
            return [store]
        out: list[Store] = []
        for perm in self._perms:
            if len(u.src) != len(perm) and not (self.allow_any_len and len(u.src) > len(perm)):
                continue
            stores = [store]
            for p, s in zip(perm, u.src, strict=False):
                stores = [r for st in stores for r in p.match(s, st)]
                if not stores:
                    break
            out.extend(stores)
        return out


def _arg_equal(want: Any, got: Any) -> bool:
    # a bool pattern arg must not match the int 1 or 0, and vice versa
    return want == got and (isinstance(want, bool) == isinstance(got, bool))


# ---- compiling a UPat into a Python function ----
#
# A PatternMatcher calls the compiled form of each pattern: straight-line checks with the permutations of
# commutative sources unrolled, instead of walking the UPat tree at every node. A repeated-source pattern
# with captures or sources of its own is not compiled (the matcher falls back to `UPat.match`).


def _conditions(pat: UPat, var: str, k: int, env: dict[str, Any]) -> list[str]:
    conds = []
    if pat.op is not None:
        if len(pat.op) == 1:
            env[f"O{k}"] = next(iter(pat.op))
            conds.append(f"{var}.op is O{k}")
        else:
            env[f"O{k}"] = pat.op
            conds.append(f"{var}.op in O{k}")
    if pat.dtype is not None:
        env[f"D{k}"] = pat.dtype
        conds.append(f"({var}.dtype in D{k} or {var}.dtype.scalar() in D{k})")
    if pat.arg is not None:
        env[f"A{k}"] = pat.arg
        conds.append(f"_arg_equal(A{k}, {var}.arg)")
    return conds


def _gen(
    todo: list[tuple[UPat, str]], bound: dict[str, str], ind: str, env: dict[str, Any], counter: Iterator[int]
) -> list[str] | None:
    if not todo:
        return [f"{ind}out.append({{{', '.join(f'{n!r}: {v}' for n, v in bound.items())}}})"]
    (pat, var), rest = todo[0], todo[1:]
    k = next(counter)
    conds = _conditions(pat, var, k, env)
    if pat.name is not None:
        if pat.name in bound:
            conds.append(f"{var} is {bound[pat.name]}")
        else:
            bound = {**bound, pat.name: var}
    lines = [f"{ind}if {' and '.join(conds)}:"] if conds else []
    inner = ind + " " if conds else ind
    if pat._repeat is not None:
        rp = pat._repeat
        if rp.name is not None or rp.src is not None:
            return None
        each = _conditions(rp, "s", next(counter), env) or ["True"]
        lines.append(f"{inner}if all({' and '.join(each)} for s in {var}.src):")
        sub = _gen(rest, bound, inner + " ", env, counter)
        return None if sub is None else lines + sub
    if not pat._perms:
        sub = _gen(rest, bound, inner, env, counter)
        return None if sub is None else lines + sub
    for perm in pat._perms:
        n = len(perm)
        lines.append(f"{inner}if len({var}.src) {'>=' if pat.allow_any_len else '=='} {n}:")
        names = [f"s{k}_{j}" for j in range(n)]
        if n:
            lines.append(f"{inner} {', '.join(names)}{',' if n == 1 else ''} = {var}.src[:{n}]")
        sub = _gen([*zip(perm, names), *rest], bound, inner + " ", env, counter)
        if sub is None:
            return None
        lines.extend(sub if n else [f"{inner} pass", *sub])
    return lines


def _interpret(pat: UPat, u: UOp) -> list[Store]:
    return pat.match(u, {})


def compile_upat(pat: UPat) -> Callable[[UOp], list[Store]] | None:
    """`pat` as a Python function from a node to its list of captures, or None if it cannot be compiled."""
    env: dict[str, Any] = {"_arg_equal": _arg_equal}
    body = _gen([(pat, "u")], {}, "  ", env, itertools.count())
    if body is None:
        return None
    exec("def match(u):\n  out = []\n" + "\n".join(body) + "\n  return out\n", env)
    fn: Callable[[UOp], list[Store]] = env["match"]
    return fn


@dataclass(frozen=True)
class RewriteRecord:
    """One rewrite seen by a tracker: which node became which, by which pattern."""

    before: UOp
    after: UOp
    pattern: UPat
    rule: str


_trackers: list[list[RewriteRecord]] = []


@contextlib.contextmanager
def track_rewrites() -> Iterator[list[RewriteRecord]]:
    """Record every rewrite made inside the block, in order, so a viewer can replay it.

    >>> x = UOp.variable("x", 0, 9)
    >>> with track_rewrites() as log:
    ...     _ = (x + 0).simplify()
    >>> [r.after.op.name for r in log]
    ['DEFINE_VAR']
    """
    log: list[RewriteRecord] = []
    _trackers.append(log)
    try:
        yield log
    finally:
        _trackers.remove(log)


Rule = Callable[..., Any]  # returns the replacement UOp, or None; other matchers may return other values


class PatternMatcher:
    """An ordered table of (pattern, callback). The first callback returning a UOp wins.

    Patterns are grouped by the ops they can match once, at construction, so a rewrite only tries the
    patterns for the node's op. A callback receives the named captures as keyword arguments, plus `ctx`
    if it declares a parameter of that name.
    """

    def __init__(self, patterns: Sequence[tuple[UPat, Rule]]) -> None:
        self.patterns: list[tuple[UPat, Rule]] = list(patterns)
        self._by_op: dict[Ops, list[tuple[Callable[[UOp], list[Store]], Rule, bool, str, UPat]]] = {
            op: [] for op in Ops
        }
        for pat, fn in self.patterns:
            if not isinstance(pat, UPat):
                raise TypeError(f"PatternMatcher: expected (UPat, callable) pairs, got {type(pat).__name__}")
            wants_ctx = "ctx" in inspect.signature(fn).parameters
            where = f"{getattr(fn, '__qualname__', fn)}:{getattr(getattr(fn, '__code__', None), 'co_firstlineno', '?')}"
            match = compile_upat(pat) or functools.partial(_interpret, pat)
            for op in pat.op if pat.op is not None else Ops:
                self._by_op[op].append((match, fn, wants_ctx, where, pat))

    def __add__(self, other: PatternMatcher) -> PatternMatcher:
        return PatternMatcher(self.patterns + other.patterns)

    def __len__(self) -> int:
        return len(self.patterns)

    def rewrite_with_rule(self, u: UOp, ctx: Any = None) -> tuple[Any, Rule | None]:
        """`rewrite`, also naming the callback that produced the result (for the trace)."""
        for match, fn, wants_ctx, where, pat in self._by_op[u.op]:
            for store in match(u):
                out = fn(ctx=ctx, **store) if wants_ctx else fn(**store)
                if out is not None and out is not u:
                    for log in _trackers:
                        log.append(RewriteRecord(u, out, pat, where))
                    return out, fn
        return None, None

    def rewrite(self, u: UOp, ctx: Any = None) -> Any:
        """Apply the first matching rule to `u` (not to its sources): its result (a UOp for graph rewriting),
        or None when no rule applies."""
        # the loop of `rewrite_with_rule` again, without its tuple: this runs for every node of every rewrite
        for match, fn, wants_ctx, where, pat in self._by_op[u.op]:
            for store in match(u):
                out = fn(ctx=ctx, **store) if wants_ctx else fn(**store)
                if out is not None and out is not u:
                    for log in _trackers:
                        log.append(RewriteRecord(u, out, pat, where))
                    return out
        return None


class _Recorder:
    """Stands in for a PatternMatcher in a traced pass, keeping each step with the rule that made it."""

    def __init__(self, pm: PatternMatcher, steps: list[tuple[UOp, UOp, Rule]]) -> None:
        self.pm, self.steps = pm, steps

    def rewrite(self, u: UOp, ctx: Any = None) -> Any:
        out, fn = self.pm.rewrite_with_rule(u, ctx)
        if out is not None and fn is not None:
            self.steps.append((u, out, fn))
        return out


class RewriteLimitError(RuntimeError):
    """A graph_rewrite that kept changing the graph: the patterns do not reach a fixed point."""


def graph_rewrite(
    root: UOp,
    pm: PatternMatcher,
    ctx: Any = None,
    bottom_up: bool = False,
    limit: int = 1_000_000,
    once: bool = False,
) -> UOp:
    """Rewrite the whole graph under `root` with `pm` until no pattern applies anywhere.

    By default each node's sources are rewritten before the node (so patterns see rewritten sources).
    With `bottom_up=True` patterns are tried on a node before its sources are visited; after a node is
    replaced, the replacement is processed the same way. With `once=True` a replacement is final: it is
    not rewritten again (for maps applied once per node, whose results may look like their inputs).
    Iterative: deep graphs are fine. While tracing (VIZ), each pass that changes the graph is recorded.
    """
    # not tracing costs one attribute check (no extra call); tracing recurses once with a recording matcher
    if trace.ON and pm.__class__ is not _Recorder:  # type: ignore[comparison-overlap]
        record: list[tuple[UOp, UOp, Rule]] = []
        out = graph_rewrite(root, _Recorder(pm, record), ctx, bottom_up, limit, once)  # type: ignore[arg-type]
        trace.emit_pass(root, out, record, once)
        return out
    done: dict[UOp, UOp] = {}
    # stack entries: (node, stage, replacement). stage 0: first visit; 1: sources done; 2: wait for replacement
    stack: list[tuple[UOp, int, UOp | None]] = [(root, 0, None)]
    steps = 0
    while stack:
        n, stage, repl = stack.pop()
        if n in done:
            continue
        if stage == 2:
            assert repl is not None
            if repl in done:
                done[n] = done[repl]
            else:  # the replacement is still being processed
                stack.extend(((n, 2, repl), (repl, 0, None)))
            continue
        if stage == 0:
            new = pm.rewrite(n, ctx) if bottom_up else None
            if new is None:
                stack.append((n, 1, None))
                stack.extend((s, 0, None) for s in reversed(n.src) if s not in done)
                continue
        else:
            new_src = tuple(done[s] for s in n.src)
            m = n if all(a is b for a, b in zip(new_src, n.src, strict=True)) else n.replace(src=new_src)
            new = pm.rewrite(m, ctx)
            if new is None:
                done[n] = m
                if m is not n and not once:
                    done.setdefault(m, m)
                continue
        if once:
            done[n] = new
            continue
        steps += 1
        if steps > limit:
            raise RewriteLimitError(f"graph_rewrite: more than {limit} rewrites; the rules may loop")
        stack.extend(((n, 2, new), (new, 0, None)))
    return done[root]


# every node is looked up in the mapping (the context) before its sources are visited
pm_substitute = PatternMatcher([(UPat(name="x"), lambda ctx, x: ctx.get(x))])


def substitute(root: UOp, mapping: Mapping[UOp, UOp]) -> UOp:
    """The graph under `root` with the nodes in `mapping` replaced by their values. A replaced node's
    sources are not visited, and the values are taken as they are (a mapping may swap two nodes).

    >>> a, b = UOp.variable("a", 0, 9), UOp.variable("b", 0, 9)
    >>> substitute(a * 2 + b, {a: b, b: a}).render(simplify=False)
    '(b*2+a)'
    """
    return graph_rewrite(root, pm_substitute, ctx=mapping, bottom_up=True, once=True)


extensions.substitute = substitute
