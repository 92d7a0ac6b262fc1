"""`UOp`: the immutable, hash-consed node of every IR stage.

>>> from tg_uop import UOp, Ops, dtypes
>>> a = UOp.variable("a", 0, 10)
>>> (a + 1) is (a + 1)  # built twice, one object
True
>>> (a * 4 + 3).render()
'(a*4+3)'
>>> (a * 4 + 3).vmax
43
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from tg_uop.dtype import DType, dtypes, least_upper_dtype, truncate
from tg_uop.helpers import prod
from tg_uop.ops import GroupOp, Ops, exec_alu

ConstType = int | float | bool


def _arg_key(arg: Any) -> Any:
    # 0.0 == -0.0 and 1 == 1.0 == True in Python: floats are keyed by repr and bools by type, so such
    # constants stay distinct nodes (also inside tuples)
    cls = arg.__class__
    if cls is float:
        return (float, repr(arg))
    if cls is bool:
        return (bool, arg)
    if cls is tuple:
        return tuple(_arg_key(a) for a in arg)
    return arg


class _UOpMeta(type):
    """Hash-consing: calling UOp(...) with the fields of a live node returns that node.

    The cache maps a node's fields to a weak reference; a node removes its own entry when it is freed
    (`UOp.__del__`), so dropping a graph frees it and its entries.
    """

    cache: ClassVar[dict[tuple[Any, ...], weakref.ReferenceType[UOp]]] = {}

    def __call__(
        cls, op: Ops, dtype: DType = dtypes.void, src: tuple[UOp, ...] = (), arg: Any = None, tag: Any = None
    ) -> UOp:
        if src.__class__ is not tuple:
            src = tuple(src)
        ac = arg.__class__
        key = (op, dtype, src, _arg_key(arg) if ac is float or ac is bool or ac is tuple else arg, tag)
        ref = _cache.get(key)
        if ref is not None and (live := ref()) is not None:
            return live
        # built without __init__: the slots are set through their descriptors (UOp refuses setattr)
        node: UOp = object.__new__(cls)  # type: ignore[arg-type]
        set_op, set_dtype, set_src, set_arg, set_tag = _SETTERS
        set_op(node, op)
        set_dtype(node, dtype)
        set_src(node, src)
        set_arg(node, arg)
        set_tag(node, tag)
        _cache[key] = weakref.ref(node)
        return node


_cache = _UOpMeta.cache


class _static_or_bound:  # noqa: N801 (used as a decorator)
    """A function callable on the class (`UOp.sink(a, b)`) and on an instance, which then comes first
    (`a.sink(b)`): a staticmethod alone would silently drop the instance."""

    def __init__(self, fn: Callable[..., UOp]) -> None:
        self.fn = fn

    def __get__(self, obj: UOp | None, owner: type | None = None) -> Callable[..., UOp]:
        return self.fn if obj is None else functools.partial(self.fn, obj)


class UOp(metaclass=_UOpMeta):
    """One operation: `op` applied to `src` with a static `arg`, producing a value of `dtype`.

    Equality is identity: two UOps with the same fields are the same object. `tag` lets a pass mark a node
    without changing its meaning (marked and unmarked nodes are different objects).
    """

    __slots__ = ("op", "dtype", "src", "arg", "tag", "__weakref__", "__dict__")
    op: Ops
    dtype: DType
    src: tuple[UOp, ...]
    arg: Any
    tag: Any

    def __init__(
        self, op: Ops, dtype: DType = dtypes.void, src: tuple[UOp, ...] = (), arg: Any = None, tag: Any = None
    ) -> None:
        """The signature of construction; the fields are set by the metaclass, which does not call this."""

    def __del__(self) -> None:
        # leave the cache entry alone if a newer node already took the key
        try:
            arg, ac = self.arg, self.arg.__class__
            key = (
                self.op,
                self.dtype,
                self.src,
                _arg_key(arg) if ac is float or ac is bool or ac is tuple else arg,
                self.tag,
            )
            ref = _cache.get(key)
            if ref is not None and ref() is self:
                del _cache[key]
        except (AttributeError, TypeError, KeyError, NameError):
            pass  # interpreter shutdown

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"UOp is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"UOp is immutable: cannot delete {name}")

    def __reduce__(self) -> tuple[Any, ...]:
        return UOp, (self.op, self.dtype, self.src, self.arg, self.tag)

    def __repr__(self) -> str:
        if self.op is Ops.BIND and self.src[0].op is Ops.DEFINE_VAR:  # a symbolic size in a shape: n=3
            return f"<UOp BIND {self.src[0].arg[0]}={self.src[1].arg}>"
        arg = "" if self.arg is None else f", arg={self.arg!r}"
        return f"<UOp {self.op.name} {self.dtype!r} nsrc={len(self.src)}{arg}>"

    # ---- building ----

    def replace(self, **kwargs: Any) -> UOp:
        """A node like this one with some of op, dtype, src, arg, tag changed."""
        fields = {"op": self.op, "dtype": self.dtype, "src": self.src, "arg": self.arg, "tag": self.tag}
        unknown = set(kwargs) - set(fields)
        if unknown:
            raise TypeError(f"replace: unknown field(s) {sorted(unknown)}")
        fields.update(kwargs)
        return UOp(**fields)

    @_static_or_bound
    def sink(*uops: UOp, arg: Any = None) -> UOp:
        """Group several roots into one graph: `UOp.sink(a, b)`, or `a.sink(b)` (the instance is the first root,
        as in tinygrad)."""
        return UOp(Ops.SINK, dtypes.void, uops, arg)

    @staticmethod
    def const(dtype: DType, value: ConstType, src: tuple[UOp, ...] = ()) -> UOp:
        """A constant of `dtype`; the value is brought into the dtype's range (ints wrap, floats round)."""
        return UOp(Ops.CONST, dtype, src, truncate(dtype.scalar(), value))

    @staticmethod
    def variable(name: str, vmin: int, vmax: int, dtype: DType = dtypes.index) -> UOp:
        """A symbolic integer in [vmin, vmax]."""
        if vmin > vmax:
            raise ValueError(f"variable {name}: min {vmin} is greater than max {vmax}")
        return UOp(Ops.DEFINE_VAR, dtype, (), (name, vmin, vmax))

    def bind(self, value: int) -> UOp:
        """Give a variable a value for one run: BIND(var, const)."""
        if self.op is not Ops.DEFINE_VAR:
            raise ValueError(f"bind: only a variable can be bound, not {self.op}")
        name, lo, hi = self.arg
        if not lo <= value <= hi:
            raise ValueError(f"bind: {name}={value} is outside [{lo}, {hi}]")
        return UOp(Ops.BIND, self.dtype, (self, UOp.const(self.dtype, value)))

    def unbind(self) -> tuple[UOp, int]:
        if self.op is not Ops.BIND:
            raise ValueError(f"unbind: expected BIND, got {self.op}")
        return self.src[0], self.src[1].arg

    def const_like(self, value: ConstType) -> UOp:
        return UOp.const(self.dtype, value)

    def _ufix(self, x: UOp | ConstType) -> UOp:
        return x if isinstance(x, UOp) else UOp.const(self.dtype.scalar(), x)

    def alu(self, op: Ops, *others: UOp) -> UOp:
        """Apply an ALU op with this node as the first source. Comparisons give bool."""
        srcs = (self, *others)
        if op in GroupOp.Comparison:
            out_dtype = dtypes.bool.vec(self.dtype.count) if self.dtype.count > 1 else dtypes.bool
        elif op is Ops.WHERE:
            out_dtype = srcs[1].dtype
        else:
            out_dtype = srcs[-1].dtype
        return UOp(op, out_dtype, srcs)

    def cast(self, dtype: DType) -> UOp:
        return self if self.dtype == dtype else UOp(Ops.CAST, dtype, (self,))

    def bitcast(self, dtype: DType) -> UOp:
        return UOp(Ops.BITCAST, dtype, (self,))

    def where(self, x: UOp | ConstType, y: UOp | ConstType) -> UOp:
        if not isinstance(x, UOp) and not isinstance(y, UOp):
            # two Python scalars: both take the type that holds either (where(c, 1, 2.5) is a float)
            dt = least_upper_dtype(dtypes.from_py(x), dtypes.from_py(y))
            return self.alu(Ops.WHERE, UOp.const(dt, x), UOp.const(dt, y))
        xu = x if isinstance(x, UOp) else y._ufix(x)  # type: ignore[union-attr]
        yu = y if isinstance(y, UOp) else xu._ufix(y)
        return self.alu(Ops.WHERE, xu, yu)

    # tensor-graph builders (no checks here: tg-tensor validates shapes where the user wrote them)
    def reshape(self, shape: tuple[Any, ...]) -> UOp:
        return self if self.shape == tuple(shape) else UOp(Ops.RESHAPE, self.dtype, (self,), tuple(shape))

    def permute(self, order: tuple[int, ...]) -> UOp:
        return self if tuple(order) == tuple(range(len(order))) else UOp(Ops.PERMUTE, self.dtype, (self,), tuple(order))

    def expand(self, shape: tuple[Any, ...]) -> UOp:
        return self if self.shape == tuple(shape) else UOp(Ops.EXPAND, self.dtype, (self,), tuple(shape))

    def pad(self, arg: tuple[tuple[int, int], ...]) -> UOp:
        return self if all(p == (0, 0) for p in arg) else UOp(Ops.PAD, self.dtype, (self,), tuple(arg))

    def shrink(self, arg: tuple[tuple[Any, Any], ...]) -> UOp:
        shape = self.shape
        assert shape is not None
        same = all(b == 0 and e == s for (b, e), s in zip(arg, shape, strict=True))
        return self if same else UOp(Ops.SHRINK, self.dtype, (self,), tuple(arg))

    def flip(self, axes: tuple[bool, ...]) -> UOp:
        return self if not any(axes) else UOp(Ops.FLIP, self.dtype, (self,), tuple(axes))

    def reduce_axis(self, op: Ops, axes: tuple[int, ...]) -> UOp:
        """REDUCE_AXIS over `axes`; the reduced dims stay, with size 1."""
        return UOp(Ops.REDUCE_AXIS, self.dtype, (self,), (op, tuple(sorted(axes))))

    # python operators, used by symbolic index math (note: == stays identity; use .eq/.ne)
    def __add__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.ADD, self._ufix(x))

    def __radd__(self, x: UOp | ConstType) -> UOp:
        return self._ufix(x).alu(Ops.ADD, self)

    def __sub__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.SUB, self._ufix(x))

    def __rsub__(self, x: UOp | ConstType) -> UOp:
        return self._ufix(x).alu(Ops.SUB, self)

    def __mul__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.MUL, self._ufix(x))

    def __rmul__(self, x: UOp | ConstType) -> UOp:
        return self._ufix(x).alu(Ops.MUL, self)

    def __floordiv__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.IDIV, self._ufix(x))

    def __truediv__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.FDIV, self._ufix(x))

    def __mod__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.MOD, self._ufix(x))

    def __neg__(self) -> UOp:
        return self.alu(Ops.NEG)

    def __lt__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.CMPLT, self._ufix(x))

    def __gt__(self, x: UOp | ConstType) -> UOp:
        return self._ufix(x).alu(Ops.CMPLT, self)

    def __ge__(self, x: UOp | ConstType) -> UOp:
        return (self < x).logical_not()

    def __le__(self, x: UOp | ConstType) -> UOp:
        return (self > x).logical_not()

    def __and__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.AND, self._ufix(x))

    def __or__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.OR, self._ufix(x))

    def __xor__(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.XOR, self._ufix(x))

    def eq(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.CMPEQ, self._ufix(x))

    def ne(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.CMPNE, self._ufix(x))

    def maximum(self, x: UOp | ConstType) -> UOp:
        return self.alu(Ops.MAX, self._ufix(x))

    def logical_not(self) -> UOp:
        return self.alu(Ops.CMPNE, UOp.const(self.dtype, True))

    # ---- traversal ----

    def toposort(self, gate: Callable[[UOp], bool] | None = None) -> list[UOp]:
        """Every node reachable from here, sources before users (iterative: deep graphs are fine).

        `gate(node)` returning False keeps the node but does not descend into its sources.
        """
        return toposort([self], gate)

    def substitute(self, mapping: Mapping[UOp, UOp]) -> UOp:
        """The graph with the nodes in `mapping` replaced (their own sources are not visited); see
        `tg_uop.rewrite.substitute`.

        >>> x, y = UOp.variable("x", 0, 9), UOp.variable("y", 0, 9)
        >>> (x * 2 + 1).substitute({x: y}).render()
        '(y*2+1)'
        """
        return extensions.substitute(self, mapping)

    def pretty(self) -> str:
        """A let-list of the graph: each node once, numbered, sources by number.

        >>> x = UOp.variable("x", 0, 3)
        >>> print(((x + 1) * (x + 1)).pretty())
        %0 = DEFINE_VAR int32 ('x', 0, 3)
        %1 = CONST int32 1
        %2 = ADD int32 %0 %1
        %3 = MUL int32 %2 %2
        """
        return pretty_print(self)

    # ---- derived properties (computed once per node, iteratively) ----

    @property
    def shape(self) -> tuple[Any, ...] | None:
        """The shape of a tensor-graph or kernel-AST node; None for nodes without one."""
        shape: tuple[Any, ...] | None = _derive(self, "_shape", _shape_of)
        return shape

    @property
    def size(self) -> Any:
        shape = self.shape
        if shape is None:
            raise ValueError(f"{self.op} has no shape")
        return prod(shape)

    @property
    def ndim(self) -> int:
        shape = self.shape
        if shape is None:
            raise ValueError(f"{self.op} has no shape")
        return len(shape)

    @property
    def device(self) -> str | None:
        """The device of a tensor-graph node: from its DEVICE, BUFFER (arg.device) or COPY (arg) source."""
        device: str | None = _derive(self, "_device", _device_of)
        return device

    @property
    def vmin(self) -> ConstType:
        """The smallest value this integer (or bool) node can take, from its sources' bounds."""
        return _derive(self, "_vrange", _vrange_of)[0]  # type: ignore[no-any-return]

    @property
    def vmax(self) -> ConstType:
        return _derive(self, "_vrange", _vrange_of)[1]  # type: ignore[no-any-return]

    @property
    def base(self) -> UOp:
        """The node under any chain of movement ops."""
        n = self
        while n.op in GroupOp.Movement:
            n = n.src[0]
        return n

    # ---- symbolic ----

    def simplify(self) -> UOp:
        """Apply the symbolic rules (`tg_uop.symbolic.pm_symbolic`) to a fixed point."""
        return extensions.simplify(self)

    def render(self, simplify: bool = True) -> str:
        """Integer expressions as readable text: `(gidx0*4+ridx0)`."""
        return extensions.render(self.simplify() if simplify else self)

    def is_const(self, value: ConstType | None = None) -> bool:
        return self.op is Ops.CONST and (value is None or self.arg == value)


class Extensions:
    """The operations of `UOp` that live in the modules built on it: graph rewriting (`tg_uop.rewrite`) and
    symbolic math (`tg_uop.symbolic`) need UOp, so UOp reaches them through this table, which each of those
    modules fills in when it is imported (importing `tg_uop` imports both)."""

    substitute: Callable[[UOp, Mapping[UOp, UOp]], UOp]
    simplify: Callable[[UOp], UOp]
    render: Callable[[UOp], str]


extensions = Extensions()

_SETTERS = tuple(UOp.__dict__[name].__set__ for name in ("op", "dtype", "src", "arg", "tag"))


def toposort(roots: Iterable[UOp], gate: Callable[[UOp], bool] | None = None) -> list[UOp]:
    """Nodes reachable from `roots`, each once, sources before users."""
    out: list[UOp] = []
    seen: set[UOp] = set()
    for root in roots:
        if root in seen:
            continue
        stack: list[tuple[UOp, bool]] = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if expanded:
                out.append(n)
                continue
            if n in seen:
                continue
            seen.add(n)
            stack.append((n, True))
            if gate is None or gate(n):
                for s in reversed(n.src):
                    if s not in seen:
                        stack.append((s, False))
    return out


def _derive(node: UOp, attr: str, rule: Callable[[UOp], Any]) -> Any:
    """Compute a per-node property for `node` and every uncomputed ancestor, sources first."""
    d = node.__dict__
    if attr in d:
        return d[attr]
    if all(attr in x.__dict__ for x in node.src):  # the common case: only this node is new
        d[attr] = value = rule(node)
        return value
    for n in toposort([node], lambda u: attr not in u.__dict__):
        if attr not in n.__dict__:
            n.__dict__[attr] = rule(n)
    return d[attr]


def _shape_of(u: UOp) -> tuple[Any, ...] | None:
    op, src = u.op, u.src
    if op is Ops.BUFFER:
        return (u.arg.size,)
    if op is Ops.CONST:
        return src[0].shape if src and src[0].op is Ops.VIEW else ()
    if op is Ops.VIEW:
        return tuple(u.arg.shape)
    if op is Ops.LOAD and len(src) >= 2 and src[1].op is Ops.VIEW:
        return src[1].shape
    if op is Ops.RESHAPE or op is Ops.EXPAND:
        return tuple(u.arg)
    if op is Ops.PERMUTE:
        s = src[0].shape
        assert s is not None
        return tuple(s[i] for i in u.arg)
    if op is Ops.PAD:
        s = src[0].shape
        assert s is not None
        return tuple(_dim_add(_dim_add(d, b), a) for d, (b, a) in zip(s, u.arg, strict=True))
    if op is Ops.SHRINK:
        return tuple(_dim_add(e, b * -1 if isinstance(b, UOp) else -b) for b, e in u.arg)
    if op is Ops.CUSTOM:
        return tuple(u.arg.shape)
    if op is Ops.MULTI:  # the parts are equal in shape: together they are len(src) times one part along the axis
        s = src[0].shape
        assert s is not None
        return s if u.arg is None else tuple(d * len(src) if i == u.arg else d for i, d in enumerate(s))
    if op is Ops.REDUCE_AXIS:
        s = src[0].shape
        assert s is not None
        return tuple(1 if i in u.arg[1] else d for i, d in enumerate(s))
    if op in GroupOp.Elementwise:
        return broadcast_shape([x.shape for x in src])
    if op in (Ops.FLIP, Ops.CONTIGUOUS, Ops.DETACH, Ops.COPY, Ops.ASSIGN, Ops.BIND):
        for x in src:
            if x.shape is not None:
                return x.shape
    return None


def _dim_add(d: Any, x: Any) -> Any:
    # a symbolic dim stays readable: adding 0 leaves it alone, other sums are simplified
    if isinstance(x, int) and x == 0:
        return d
    if isinstance(d, int) and isinstance(x, int):
        return d + x
    return (d + x).simplify()


def broadcast_shape(shapes: Iterable[tuple[Any, ...] | None]) -> tuple[Any, ...] | None:
    """The shape of an elementwise op over sources of these shapes: sources without a shape and scalars (())
    go with anything; otherwise every dim is equal or 1 (a kernel reads a reduction's result inside another
    reduction's loop that way; in tensor graphs the shapes are equal). None if they do not fit."""
    shapes = list(shapes)
    real = [s for s in shapes if s is not None and s != ()]
    if not real:
        return () if any(s == () for s in shapes) else None
    if all(s == real[0] for s in real):
        return real[0]
    if len({len(s) for s in real}) != 1:
        return None
    out = []
    for dims in zip(*real):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            return None
        out.append(big.pop() if big else 1)
    return tuple(out)


def _device_of(u: UOp) -> str | None:
    if u.op is Ops.DEVICE:
        return str(u.arg)
    if u.op is Ops.BUFFER:
        return str(u.arg.device)
    if u.op is Ops.COPY:
        return str(u.arg)
    if u.op is Ops.MULTI:  # a device tuple is named by its devices joined with commas ("CPU,CPU:1")
        return ",".join(str(s.device) for s in u.src)
    for s in u.src:
        if s.device is not None:
            return s.device
    return None


def _vrange_of(u: UOp) -> tuple[ConstType, ConstType]:
    """Bounds of an integer or bool node from its sources; the dtype's limits when nothing better is known."""
    op, src, dt = u.op, u.src, u.dtype
    if op is Ops.CONST:
        return u.arg, u.arg
    if op is Ops.DEFINE_VAR:
        return u.arg[1], u.arg[2]
    if op is Ops.BIND:
        return src[0].vmin, src[0].vmax
    if op is Ops.RANGE:
        return 0, _max_or_inf(src[0].vmax, -1)
    if op is Ops.SPECIAL:  # a launch size may be symbolic: its largest value bounds the index
        size = u.arg[1]
        return 0, (size.vmax if isinstance(size, UOp) else size) - 1
    if dt.is_float or dt.count > 1 or not src:
        return dt.min, dt.max
    if op is Ops.CAST and (src[0].dtype.is_int or src[0].dtype.is_bool):
        lo, hi = src[0].vmin, src[0].vmax
        return (lo, hi) if dt.min <= lo and hi <= dt.max else (dt.min, dt.max)
    if op in GroupOp.ALU:
        r = _alu_range(u)
        # a range leaving the dtype means the value can wrap around: then nothing better than the limits is known
        if r is None or (dt.is_int and (r[0] < dt.min or r[1] > dt.max)):
            return dt.min, dt.max
        return r
    return dt.min, dt.max


def _max_or_inf(x: Any, add: int) -> Any:
    return x + add if isinstance(x, int) else x


def _alu_range(u: UOp) -> tuple[ConstType, ConstType] | None:
    op, src = u.op, u.src
    a_lo, a_hi = src[0].vmin, src[0].vmax
    if op is Ops.NEG:
        return (not a_hi, not a_lo) if u.dtype.is_bool else (-a_hi, -a_lo)
    if op is Ops.WHERE:
        c_lo, c_hi = a_lo, a_hi
        if c_lo == c_hi:
            chosen = src[1] if c_lo else src[2]
            return chosen.vmin, chosen.vmax
        return min(src[1].vmin, src[2].vmin), max(src[1].vmax, src[2].vmax)
    if len(src) != 2:
        return None
    b_lo, b_hi = src[1].vmin, src[1].vmax
    if any(isinstance(v, float) for v in (a_lo, a_hi, b_lo, b_hi)):
        return None
    if op is Ops.ADD:
        return (a_lo or b_lo, a_hi or b_hi) if u.dtype.is_bool else (a_lo + b_lo, a_hi + b_hi)
    if op is Ops.SUB:
        return a_lo - b_hi, a_hi - b_lo
    if op is Ops.MUL:
        if u.dtype.is_bool:
            return a_lo and b_lo, a_hi and b_hi
        corners = [a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi]
        return min(corners), max(corners)
    if op is Ops.MAX:
        return max(a_lo, b_lo), max(a_hi, b_hi)
    if op is Ops.IDIV:
        if b_lo > 0 or b_hi < 0:  # the divisor does not straddle 0
            corners = [exec_alu(Ops.IDIV, u.dtype, (a, b)) for a in (a_lo, a_hi) for b in (b_lo, b_hi)]
            return min(corners), max(corners)
        return None
    if op is Ops.MOD:
        if b_lo > 0:
            if a_lo >= 0:
                return (a_lo, a_hi) if a_hi < b_lo else (0, min(a_hi, b_hi - 1))
            return -(b_hi - 1), b_hi - 1
        return None
    if op is Ops.CMPLT:
        return a_hi < b_lo, a_lo < b_hi
    if op is Ops.CMPEQ:
        decided_ne = a_hi < b_lo or b_hi < a_lo
        decided_eq = a_lo == a_hi == b_lo == b_hi
        return decided_eq, not decided_ne
    if op is Ops.CMPNE:
        decided_ne = a_hi < b_lo or b_hi < a_lo
        decided_eq = a_lo == a_hi == b_lo == b_hi
        return decided_ne, not decided_eq
    if op is Ops.AND and u.dtype.is_bool:
        return a_lo and b_lo, a_hi and b_hi
    if op is Ops.OR and u.dtype.is_bool:
        return a_lo or b_lo, a_hi or b_hi
    if op is Ops.AND and a_lo >= 0 and b_lo >= 0:
        return 0, min(a_hi, b_hi)
    if op is Ops.SHL and a_lo >= 0 and b_lo >= 0 and b_hi < 62:
        return int(a_lo) << int(b_lo), int(a_hi) << int(b_hi)
    if op is Ops.SHR and a_lo >= 0 and b_lo >= 0:
        return int(a_lo) >> int(b_hi), int(a_hi) >> int(b_lo)
    return None


def _fmt_arg(arg: Any) -> str:
    if arg is None:
        return ""
    if isinstance(arg, float) and (math.isinf(arg) or math.isnan(arg)):
        return f"float('{arg}')"
    return repr(arg)


def pretty_print(root: UOp) -> str:
    """The let-list form of `UOp.pretty`."""
    names: dict[UOp, str] = {}
    lines: list[str] = []
    for i, n in enumerate(toposort([root])):
        names[n] = f"%{i}"
        dt = repr(n.dtype).removeprefix("dtypes.")
        parts = [f"%{i} = {n.op.name} {dt}", *(names[s] for s in n.src)]
        if n.arg is not None:
            parts.append(_fmt_arg(n.arg))
        if n.tag is not None:
            parts.append(f"tag={n.tag!r}")
        lines.append(" ".join(parts))
    return "\n".join(lines)
