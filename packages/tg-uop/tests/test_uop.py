"""UOp: hash-consing, immutability, memory, deep graphs, builders, shapes, pretty printing and value bounds."""

from __future__ import annotations

import gc
import itertools
import math
import pickle
import uuid
import weakref
from dataclasses import dataclass

import pytest

from tg_uop import (
    AxisType,
    GroupOp,
    Ops,
    PatternMatcher,
    RangeArg,
    ShapeTracker,
    UOp,
    UPat,
    dtypes,
    graph_rewrite,
    sym_infer,
    toposort,
)
from tg_uop.uop import _UOpMeta


def _name(prefix: str = "v") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class FakeBuffer:
    """Stands in for a runtime buffer: a BUFFER node only needs `size` and `device` from its arg."""

    device: str
    size: int


# ---------------------------------------------------------------------------------------------------------------
# hash-consing and immutability
# ---------------------------------------------------------------------------------------------------------------


def test_same_fields_same_object() -> None:
    x = UOp.variable("x", 0, 10)
    assert UOp.variable("x", 0, 10) is x
    assert (x + 1) is (x + 1)
    assert UOp(Ops.ADD, dtypes.int32, (x, UOp.const(dtypes.int32, 1))) is x + 1
    assert UOp(Ops.ADD, dtypes.int32, [x, UOp.const(dtypes.int32, 1)]) is x + 1  # a list src becomes a tuple
    assert (x + 1).src.__class__ is tuple


def test_different_fields_different_objects() -> None:
    x = UOp.variable("x", 0, 10)
    assert UOp.variable("x", 0, 11) is not x
    assert UOp.variable("x", 0, 10, dtypes.int64) is not x
    assert (x + 1) is not (1 + x)
    assert x.replace(tag="marked") is not x
    assert x.replace(tag="marked") is x.replace(tag="marked")
    assert x.replace(tag="marked").replace(tag=None) is x
    assert UOp.const(dtypes.int32, 1) is not UOp.const(dtypes.int64, 1)


def test_float_constants_keyed_by_value_and_sign() -> None:
    pz, nz = UOp.const(dtypes.float32, 0.0), UOp.const(dtypes.float32, -0.0)
    assert pz is not nz
    assert math.copysign(1.0, pz.arg) == 1.0 and math.copysign(1.0, nz.arg) == -1.0
    assert UOp.const(dtypes.float32, -0.0) is nz
    nan1, nan2 = UOp.const(dtypes.float32, math.nan), UOp.const(dtypes.float32, float("nan"))
    assert nan1 is nan2  # nan != nan, but one constant node
    # an int arg and a float arg of equal value are different nodes
    assert UOp(Ops.CONST, dtypes.float32, (), 1.0) is not UOp(Ops.CONST, dtypes.float32, (), 1)


def test_const_brings_the_value_into_the_dtype() -> None:
    assert UOp.const(dtypes.uint8, 300).arg == 44
    assert UOp.const(dtypes.int8, 255).arg == -1
    assert UOp.const(dtypes.float32, 3).arg == 3.0 and isinstance(UOp.const(dtypes.float32, 3).arg, float)
    assert UOp.const(dtypes.float16, 1e5).arg == math.inf
    assert UOp.const(dtypes.bool, 5).arg is True
    assert UOp.const(dtypes.int32.vec(4), 7).arg == 7


def test_uop_is_immutable() -> None:
    x = UOp.variable(_name(), 0, 3)
    for field, value in (("op", Ops.CONST), ("dtype", dtypes.float32), ("src", ()), ("arg", 1), ("tag", 2)):
        with pytest.raises(AttributeError):
            setattr(x, field, value)
    with pytest.raises(AttributeError):
        x.new_field = 1  # type: ignore[attr-defined]
    assert x.op is Ops.DEFINE_VAR and x.tag is None


def test_replace() -> None:
    x = UOp.variable(_name(), 0, 3)
    y = x + 2
    assert y.replace() is y
    assert y.replace(op=Ops.MUL) is x * 2
    assert y.replace(src=(x, UOp.const(dtypes.int32, 3))) is x + 3
    with pytest.raises(TypeError, match="bogus"):
        y.replace(bogus=1)


def test_pickle_round_trip_gives_the_same_nodes() -> None:
    x = UOp.variable(_name(), -2, 9)
    g = UOp.sink((x * 3 + 1) // 2, (x < 4).where(x, 0))
    assert pickle.loads(pickle.dumps(g)) is g


def test_equality_is_identity() -> None:
    x = UOp.variable(_name(), 0, 3)
    assert (x == x) is True
    assert (x != (x + 1)) is True
    assert len({x, x + 0, x + 0}) == 2


# ---------------------------------------------------------------------------------------------------------------
# memory: the cache holds nodes weakly
# ---------------------------------------------------------------------------------------------------------------


def test_dropping_a_large_graph_frees_it() -> None:
    n_nodes = 1_000_000
    gc.collect()
    before = len(_UOpMeta.cache)
    gc.disable()  # only to keep the build fast; freeing below is by reference counting
    try:
        leaf = UOp.variable(_name("leaf"), 0, 1)
        node = leaf
        for _ in range(n_nodes):
            node = UOp(Ops.NEG, dtypes.int32, (node,))
        assert len(_UOpMeta.cache) == before + n_nodes + 1
        middle = weakref.ref(node.src[0].src[0])
        root, first = weakref.ref(node), weakref.ref(leaf)
        del node, leaf
        assert root() is None and middle() is None and first() is None
        assert len(_UOpMeta.cache) == before
    finally:
        gc.enable()


def test_a_dropped_node_is_rebuilt_fresh() -> None:
    name = _name()
    x = UOp.variable(name, 0, 5)
    x.vmax  # noqa: B018 - caches a derived property on the node
    ref = weakref.ref(x)
    del x
    assert ref() is None
    assert "_vrange" not in UOp.variable(name, 0, 5).__dict__


def test_nodes_kept_alive_by_users() -> None:
    x = UOp.variable(_name(), 0, 5)
    y = x * 7
    ref = weakref.ref(x)
    del x
    assert ref() is y.src[0]
    assert UOp.variable(ref().arg[0], 0, 5) is ref()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------------------
# deep graphs: everything is iterative
# ---------------------------------------------------------------------------------------------------------------

DEPTH = 100_000


@pytest.fixture(scope="module")
def deep_chain() -> tuple[UOp, UOp]:
    x = UOp.variable(_name("deep"), 0, 5)
    node = x
    one = UOp.const(dtypes.int32, 1)
    for _ in range(DEPTH):
        node = UOp(Ops.ADD, dtypes.int32, (node, one))
    return x, node


def test_toposort_deep_chain(deep_chain: tuple[UOp, UOp]) -> None:
    x, root = deep_chain
    order = root.toposort()
    assert len(order) == DEPTH + 2
    assert order[-1] is root and len(set(order)) == len(order)
    pos = {n: i for i, n in enumerate(order)}
    assert all(pos[s] < pos[n] for n in order for s in n.src)
    assert toposort([root, x]) == order


def _leaf_and_depth(n: UOp) -> tuple[UOp, int]:
    depth = 0
    while n.op is Ops.ADD:
        n, depth = n.src[0], depth + 1
    return n, depth


def test_substitute_deep_chain(deep_chain: tuple[UOp, UOp]) -> None:
    x, root = deep_chain
    y = UOp.variable(_name("other"), 10, 20)
    new = root.substitute({x: y})
    assert new is not root and _leaf_and_depth(new) == (y, DEPTH)
    assert root.substitute({}) is root


def test_derived_properties_and_rewrite_on_deep_chain(deep_chain: tuple[UOp, UOp]) -> None:
    x, root = deep_chain
    assert root.vmin == DEPTH and root.vmax == 5 + DEPTH
    assert sym_infer(root, {x: 3}) == 3 + DEPTH
    y = UOp.variable(_name("rw"), 1, 1)
    swapped = graph_rewrite(root, PatternMatcher([(UPat(Ops.DEFINE_VAR, arg=x.arg), lambda: y)]))
    assert _leaf_and_depth(swapped) == (y, DEPTH)
    assert swapped.src[1] is root.src[1]


def test_toposort_gate_and_shared_nodes() -> None:
    x = UOp.variable(_name(), 0, 5)
    a = x + 1
    b = a * a
    c = b + a
    order = c.toposort()
    assert order.count(a) == 1 and order.index(a) < order.index(b) < order.index(c)
    assert set(order) == {x, UOp.const(dtypes.int32, 1), a, b, c}
    gated = c.toposort(lambda u: u is not a)
    assert a in gated and x not in gated
    assert gated[-1] is c


# ---------------------------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------------------------


def test_python_operators_build_the_expected_ops() -> None:
    x = UOp.variable(_name(), 0, 10)
    c2 = UOp.const(dtypes.int32, 2)
    cases = {
        x + 2: (Ops.ADD, (x, c2)),
        2 + x: (Ops.ADD, (c2, x)),
        x - 2: (Ops.SUB, (x, c2)),
        2 - x: (Ops.SUB, (c2, x)),
        x * 2: (Ops.MUL, (x, c2)),
        2 * x: (Ops.MUL, (c2, x)),
        x // 2: (Ops.IDIV, (x, c2)),
        x / 2: (Ops.FDIV, (x, c2)),
        x % 2: (Ops.MOD, (x, c2)),
        -x: (Ops.NEG, (x,)),
        x & 2: (Ops.AND, (x, c2)),
        x | 2: (Ops.OR, (x, c2)),
        x ^ 2: (Ops.XOR, (x, c2)),
        x.maximum(2): (Ops.MAX, (x, c2)),
    }
    for u, (op, src) in cases.items():
        assert u.op is op and u.src == src and u.dtype == dtypes.int32


def test_comparisons_build_bool_nodes() -> None:
    x = UOp.variable(_name(), 0, 10)
    c2 = UOp.const(dtypes.int32, 2)
    true = UOp.const(dtypes.bool, True)
    assert (x < 2).op is Ops.CMPLT and (x < 2).src == (x, c2) and (x < 2).dtype == dtypes.bool
    assert (x > 2).src == (c2, x) and (x > 2).op is Ops.CMPLT
    assert (x >= 2) is UOp(Ops.CMPNE, dtypes.bool, (x < 2, true))
    assert (x <= 2) is UOp(Ops.CMPNE, dtypes.bool, (x > 2, true))
    assert x.eq(2).op is Ops.CMPEQ and x.ne(2).op is Ops.CMPNE
    assert x.eq(2).dtype == dtypes.bool
    v = UOp(Ops.VECTORIZE, dtypes.int32.vec(4), (x, x, x, x))
    assert (v < v).dtype == dtypes.bool.vec(4)


def test_where_and_cast() -> None:
    x = UOp.variable(_name(), 0, 10)
    cond = x < 5
    w = cond.where(x, 0)
    assert w.op is Ops.WHERE and w.src == (cond, x, UOp.const(dtypes.int32, 0)) and w.dtype == dtypes.int32
    w2 = cond.where(3, x)
    assert w2.src[1] is UOp.const(dtypes.int32, 3)
    w3 = cond.where(1.5, 2.5)
    assert w3.dtype == dtypes.float32 and w3.src[2] is UOp.const(dtypes.float32, 2.5)
    assert x.cast(dtypes.int32) is x
    c = x.cast(dtypes.float32)
    assert c.op is Ops.CAST and c.dtype == dtypes.float32 and c.src == (x,)
    b = x.bitcast(dtypes.float32)
    assert b.op is Ops.BITCAST and b.dtype == dtypes.float32


def test_variable_bind_unbind() -> None:
    x = UOp.variable("n", 1, 8)
    b = x.bind(5)
    assert b.op is Ops.BIND and b.unbind() == (x, 5)
    assert b.vmin == 1 and b.vmax == 8
    with pytest.raises(ValueError, match="n=9"):
        x.bind(9)
    with pytest.raises(ValueError):
        x.bind(0)
    with pytest.raises(ValueError):
        (x + 1).bind(2)
    with pytest.raises(ValueError):
        x.unbind()
    with pytest.raises(ValueError):
        UOp.variable("bad", 3, 2)


def test_sink() -> None:
    x = UOp.variable(_name(), 0, 10)
    s = UOp.sink(x, x + 1, arg="k")
    assert s.op is Ops.SINK and s.dtype == dtypes.void and s.src == (x, x + 1) and s.arg == "k"


def test_is_const() -> None:
    assert UOp.const(dtypes.int32, 3).is_const() and UOp.const(dtypes.int32, 3).is_const(3)
    assert not UOp.const(dtypes.int32, 3).is_const(4)
    assert not UOp.variable(_name(), 0, 1).is_const()


def test_repr_mentions_op_dtype_and_arg() -> None:
    r = repr(UOp.const(dtypes.int32, 3))
    assert "CONST" in r and "int32" in r and "3" in r


# ---------------------------------------------------------------------------------------------------------------
# shapes of tensor-graph nodes
# ---------------------------------------------------------------------------------------------------------------


def _buffer(n: int, device: str = "CPU", dtype=dtypes.float32) -> UOp:  # type: ignore[no-untyped-def]
    return UOp(Ops.BUFFER, dtype, (UOp(Ops.DEVICE, arg=device),), FakeBuffer(device, n))


def test_shape_of_movement_ops() -> None:
    buf = _buffer(24)
    assert buf.shape == (24,) and buf.size == 24 and buf.ndim == 1
    a = buf.reshape((2, 3, 4))
    assert a.op is Ops.RESHAPE and a.shape == (2, 3, 4) and a.size == 24 and a.ndim == 3
    p = a.permute((2, 0, 1))
    assert p.op is Ops.PERMUTE and p.shape == (4, 2, 3)
    e = a.reshape((2, 1, 12)).expand((2, 5, 12))
    assert e.op is Ops.EXPAND and e.shape == (2, 5, 12)
    pd = a.pad(((1, 2), (0, 0), (3, 0)))
    assert pd.op is Ops.PAD and pd.shape == (5, 3, 7)
    sh = a.shrink(((0, 1), (1, 3), (2, 4)))
    assert sh.op is Ops.SHRINK and sh.shape == (1, 2, 2)
    fl = a.flip((True, False, True))
    assert fl.op is Ops.FLIP and fl.shape == (2, 3, 4)
    chained = a.permute((1, 0, 2)).pad(((0, 0), (1, 1), (0, 0))).shrink(((1, 3), (0, 4), (0, 4)))
    assert chained.shape == (2, 4, 4)
    assert chained.base is buf


def test_shape_of_reduce_keeps_reduced_dims() -> None:
    a = _buffer(24).reshape((2, 3, 4))
    r = a.reduce_axis(Ops.ADD, (2, 0))
    assert r.op is Ops.REDUCE_AXIS and r.arg == (Ops.ADD, (0, 2)) and r.shape == (1, 3, 1)
    assert a.reduce_axis(Ops.MAX, (1,)).shape == (2, 1, 4)
    assert a.reduce_axis(Ops.ADD, ()).shape == (2, 3, 4)


def test_shape_through_elementwise_and_other_ops() -> None:
    a = _buffer(6).reshape((2, 3))
    b = _buffer(6).reshape((3, 2)).permute((1, 0))
    assert (a + b).shape == (2, 3)
    assert (-a).shape == (2, 3)
    assert a.cast(dtypes.float16).shape == (2, 3)
    assert (a < b).shape == (2, 3)
    assert (a < b).where(a, b).shape == (2, 3)
    assert UOp(Ops.CONTIGUOUS, a.dtype, (a,)).shape == (2, 3)
    assert UOp(Ops.COPY, a.dtype, (a,), "CL").shape == (2, 3)
    assert UOp.const(dtypes.float32, 1.0).shape == ()
    view = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((4, 5)))
    assert view.shape == (4, 5)
    assert UOp(Ops.CONST, dtypes.float32, (view,), 2.0).shape == (4, 5)
    assert UOp.sink(a).shape is None
    assert UOp.variable(_name(), 0, 3).shape is None
    with pytest.raises(ValueError):
        UOp.sink(a).size  # noqa: B018
    with pytest.raises(ValueError):
        UOp.sink(a).ndim  # noqa: B018


def test_noop_movements_return_self() -> None:
    a = _buffer(6).reshape((2, 3))
    assert a.reshape((2, 3)) is a
    assert a.permute((0, 1)) is a
    assert a.expand((2, 3)) is a
    assert a.pad(((0, 0), (0, 0))) is a
    assert a.shrink(((0, 2), (0, 3))) is a
    assert a.flip((False, False)) is a


def test_device() -> None:
    a = _buffer(6, "CL:1").reshape((2, 3))
    assert a.device == "CL:1" and (a + a).device == "CL:1"
    c = UOp(Ops.COPY, a.dtype, (a,), "CPU")
    assert c.device == "CPU"
    assert UOp.variable(_name(), 0, 1).device is None


# ---------------------------------------------------------------------------------------------------------------
# pretty printing
# ---------------------------------------------------------------------------------------------------------------


def test_pretty_small_graph() -> None:
    x = UOp.variable("x", 0, 3)
    want = "%0 = DEFINE_VAR int32 ('x', 0, 3)\n%1 = CONST int32 1\n%2 = ADD int32 %0 %1\n%3 = MUL int32 %2 %2"
    assert ((x + 1) * (x + 1)).pretty() == want


def test_pretty_lists_each_shared_node_once() -> None:
    x, y = UOp.variable(_name("x"), 0, 3), UOp.variable(_name("y"), 0, 3)
    shared = x * y
    a, b = shared + 1, shared + 2
    root = UOp.sink(a * b, shared, (a * b).replace(tag="t"))
    lines = root.pretty().splitlines()
    nodes = root.toposort()
    assert len(lines) == len(nodes)
    defined: set[str] = set()
    for i, line in enumerate(lines):
        name, rest = line.split(" = ", 1)
        assert name == f"%{i}"
        refs = [tok for tok in rest.split() if tok.startswith("%")]
        assert all(r in defined for r in refs)  # sources are printed before use
        defined.add(name)
    assert sum(line.split(" = ")[1].startswith("MUL") for line in lines) == 3  # x*y, a*b, tagged a*b
    assert lines[-1].startswith(f"%{len(lines) - 1} = SINK void")
    assert any("tag='t'" in line for line in lines)


def test_pretty_of_special_float_args() -> None:
    text = UOp.const(dtypes.float32, math.inf).pretty()
    assert text == "%0 = CONST float32 float('inf')"


# ---------------------------------------------------------------------------------------------------------------
# value bounds
# ---------------------------------------------------------------------------------------------------------------


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


_PY = {
    Ops.ADD: lambda a, b: a + b,
    Ops.SUB: lambda a, b: a - b,
    Ops.MUL: lambda a, b: a * b,
    Ops.MAX: max,
    Ops.IDIV: _c_div,
    Ops.MOD: lambda a, b: a - b * _c_div(a, b),
    Ops.CMPLT: lambda a, b: a < b,
    Ops.CMPNE: lambda a, b: a != b,
    Ops.CMPEQ: lambda a, b: a == b,
    Ops.AND: lambda a, b: a & b,
    Ops.SHL: lambda a, b: a << b,
    Ops.SHR: lambda a, b: a >> b,
}
# ops whose bounds are exact (the true min and max over the inputs' ranges) for independent inputs
_EXACT = {Ops.ADD, Ops.SUB, Ops.MUL, Ops.MAX, Ops.IDIV, Ops.CMPLT}

RANGES = [(-3, 5), (2, 4), (0, 0), (-6, -2), (0, 7), (1, 1)]


@pytest.mark.parametrize("op", list(_PY), ids=lambda o: o.name)
def test_bounds_of_binary_ops_contain_every_value(op: Ops) -> None:
    for (alo, ahi), (blo, bhi) in itertools.product(RANGES, repeat=2):
        if op in (Ops.IDIV, Ops.MOD) and blo <= 0 <= bhi:
            continue
        if op in (Ops.AND, Ops.SHL, Ops.SHR) and (alo < 0 or blo < 0):
            continue
        a, b = UOp.variable(_name("a"), alo, ahi), UOp.variable(_name("b"), blo, bhi)
        u = a.alu(op, b)
        values = [_PY[op](i, j) for i in range(alo, ahi + 1) for j in range(blo, bhi + 1)]
        assert u.vmin <= min(values) and max(values) <= u.vmax, (op, (alo, ahi), (blo, bhi), u.vmin, u.vmax)
        if op in _EXACT:
            assert (u.vmin, u.vmax) == (min(values), max(values))


def test_bounds_examples() -> None:
    x, y = UOp.variable(_name("x"), -3, 5), UOp.variable(_name("y"), 2, 4)
    assert (x.vmin, x.vmax) == (-3, 5)
    assert ((x + y).vmin, (x + y).vmax) == (-1, 9)
    assert ((x * y).vmin, (x * y).vmax) == (-12, 20)
    assert ((-x).vmin, (-x).vmax) == (-5, 3)
    assert ((x // 2).vmin, (x // 2).vmax) == (-1, 2)
    assert ((x < 6).vmin, (x < 6).vmax) == (True, True)
    assert ((x < -3).vmin, (x < -3).vmax) == (False, False)
    assert ((x < 0).vmin, (x < 0).vmax) == (False, True)
    w = (x < 0).where(y, x * 10)
    assert (w.vmin, w.vmax) == (-30, 50)
    assert ((y < 10).where(y, x).vmax) == 4
    c = UOp.const(dtypes.int32, 7)
    assert (c.vmin, c.vmax) == (7, 7)
    z = UOp.variable(_name("z"), 0, 9)
    assert ((z % 4).vmin, (z % 4).vmax) == (0, 3)
    assert ((z % 20).vmin, (z % 20).vmax) == (0, 9)


def test_bounds_fall_back_to_dtype_limits() -> None:
    x = UOp.variable(_name(), 0, 10)
    f = x.cast(dtypes.float32)
    assert (f.vmin, f.vmax) == (-math.inf, math.inf)
    i8 = x.cast(dtypes.int8)
    assert (i8.vmin, i8.vmax) == (0, 10)
    big = UOp.variable(_name(), 0, 1000).cast(dtypes.int8)
    assert (big.vmin, big.vmax) == (-128, 127)
    u = UOp(Ops.XOR, dtypes.uint8, (UOp.variable(_name(), 0, 3, dtypes.uint8), UOp.const(dtypes.uint8, 1)))
    assert u.vmin <= 0 and u.vmax >= 3
    b = UOp(Ops.LOAD, dtypes.int16, (UOp(Ops.DEFINE_GLOBAL, dtypes.int16.ptr(), (), 0),))
    assert (b.vmin, b.vmax) == (-32768, 32767)


def test_bounds_of_loop_indices() -> None:
    r = UOp(Ops.RANGE, dtypes.int32, (UOp.const(dtypes.int32, 16),), RangeArg(0, AxisType.GLOBAL))
    assert (r.vmin, r.vmax) == (0, 15)
    s = UOp(Ops.SPECIAL, dtypes.int32, (), ("gidx0", 32))
    assert (s.vmin, s.vmax) == (0, 31)


def test_group_ops_are_consistent() -> None:
    assert GroupOp.ALU == GroupOp.Unary | GroupOp.Binary | GroupOp.Ternary
    assert not GroupOp.Unary & GroupOp.Binary and not GroupOp.Binary & GroupOp.Ternary
    assert GroupOp.Commutative <= GroupOp.Binary and GroupOp.Comparison <= GroupOp.Binary
    assert Ops.SUB not in GroupOp.Commutative and Ops.CMPLT not in GroupOp.Commutative
    assert GroupOp.Movement == {Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP}
    assert repr(Ops.ADD) == "Ops.ADD"


def test_sink_on_the_class_and_on_an_instance() -> None:
    # tinygrad code writes `u.sink()`; a staticmethod would drop `u` and give an empty SINK
    a, b = UOp.const(dtypes.int32, 1), UOp.const(dtypes.int32, 2)
    assert UOp.sink(a, b).src == (a, b)
    assert a.sink(b).src == (a, b)
    assert a.sink().src == (a,)
    assert UOp.sink().src == ()
    assert a.sink(b, arg="k").arg == "k"


def test_range_args_sort_by_axis_then_instance() -> None:
    args = [RangeArg(1, AxisType.REDUCE, 2), RangeArg(0, AxisType.GLOBAL), RangeArg(1, AxisType.REDUCE, 1)]
    assert sorted(args) == [args[1], args[2], args[0]]
    assert RangeArg(0, AxisType.GLOBAL) != RangeArg(0, AxisType.UPCAST)
