"""Views: View/ShapeTracker movement ops checked element by element against a plain-Python reference."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tg_uop import Ops, ShapeTracker, UOp, View, dtypes, render, sym_infer

# ---------------------------------------------------------------------------------------------------------------
# the reference: an "array" is a shape plus a getter from a logical index to a buffer value (None: padding)
# ---------------------------------------------------------------------------------------------------------------

Getter = Callable[[tuple[int, ...]], Any]


def _unravel(pos: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for s in reversed(shape):
        out.append(pos % s)
        pos //= s
    return tuple(reversed(out))


def _ravel(idx: tuple[int, ...], shape: tuple[int, ...]) -> int:
    pos = 0
    for i, s in zip(idx, shape, strict=True):
        pos = pos * s + i
    return pos


class RefArray:
    """Movement ops as index maps from the new array's index to the old array's index."""

    def __init__(self, shape: tuple[int, ...], get: Getter) -> None:
        self.shape, self.get = shape, get

    @staticmethod
    def from_buffer(buf: list[int], shape: tuple[int, ...]) -> RefArray:
        return RefArray(shape, lambda idx: buf[_ravel(idx, shape)])

    def reshape(self, new: tuple[int, ...]) -> RefArray:
        old = self.shape
        return RefArray(new, lambda idx: self.get(_unravel(_ravel(idx, new), old)))

    def permute(self, order: tuple[int, ...]) -> RefArray:
        def get(idx: tuple[int, ...]) -> Any:
            old = [0] * len(order)
            for k, o in enumerate(order):
                old[o] = idx[k]
            return self.get(tuple(old))

        return RefArray(tuple(self.shape[o] for o in order), get)

    def expand(self, new: tuple[int, ...]) -> RefArray:
        old = self.shape
        return RefArray(new, lambda idx: self.get(tuple(0 if s == 1 else i for i, s in zip(idx, old, strict=True))))

    def pad(self, arg: tuple[tuple[int, int], ...]) -> RefArray:
        old = self.shape

        def get(idx: tuple[int, ...]) -> Any:
            src = tuple(i - b for i, (b, _) in zip(idx, arg, strict=True))
            if any(not 0 <= i < s for i, s in zip(src, old, strict=True)):
                return None
            return self.get(src)

        return RefArray(tuple(s + b + a for s, (b, a) in zip(old, arg, strict=True)), get)

    def shrink(self, arg: tuple[tuple[int, int], ...]) -> RefArray:
        return RefArray(
            tuple(e - b for b, e in arg), lambda idx: self.get(tuple(i + b for i, (b, _) in zip(idx, arg, strict=True)))
        )

    def flip(self, axes: tuple[bool, ...]) -> RefArray:
        old = self.shape
        return RefArray(
            old, lambda idx: self.get(tuple(s - 1 - i if f else i for i, s, f in zip(idx, old, axes, strict=True)))
        )

    def nested(self) -> Any:
        """Materialize as nested Python lists."""

        def build(prefix: tuple[int, ...]) -> Any:
            if len(prefix) == len(self.shape):
                return self.get(prefix)
            return [build((*prefix, i)) for i in range(self.shape[len(prefix)])]

        return build(())


def _flat(nested: Any, ndim: int) -> list[Any]:
    return [nested] if ndim == 0 else [x for sub in nested for x in _flat(sub, ndim - 1)]


def check_against_reference(base_shape: tuple[int, ...], ops: list[tuple[str, Any]]) -> ShapeTracker:
    """Apply `ops` to a ShapeTracker and to the reference, then compare every element."""
    size = math.prod(base_shape)
    buf = [100 + k for k in range(size)]  # distinct, never 0, so padding cannot hide
    st_ = ShapeTracker.from_shape(base_shape)
    ref = RefArray.from_buffer(buf, base_shape)
    for name, arg in ops:
        st_ = getattr(st_, name)(arg)
        ref = getattr(ref, name)(arg)
        assert st_.shape == ref.shape, (name, arg)
    assert st_.size == math.prod(ref.shape)
    idxs = [UOp.variable(f"idx{d}", 0, s - 1) for d, s in enumerate(st_.shape)]
    idx, valid = st_.to_indexed_uops(idxs)
    assert valid.dtype == dtypes.bool
    expected = _flat(ref.nested(), len(ref.shape))
    for point, want in zip(itertools.product(*(range(s) for s in st_.shape)), expected, strict=True):
        env = dict(zip(idxs, point, strict=True))
        ok = sym_infer(valid, env)
        if want is None:
            assert ok is False, (point, ops, render(valid))
        else:
            assert ok is True, (point, ops, render(valid))
            pos = sym_infer(idx, env)
            assert 0 <= pos < size and buf[pos] == want, (point, ops, render(idx))
    return st_


def test_reference_itself() -> None:
    # hand-checked: [[0,1,2],[3,4,5]] -> transpose -> [[0,3],[1,4],[2,5]] -> flip rows -> [[2,5],[1,4],[0,3]]
    a = RefArray.from_buffer(list(range(6)), (2, 3))
    assert a.permute((1, 0)).nested() == [[0, 3], [1, 4], [2, 5]]
    assert a.permute((1, 0)).flip((True, False)).nested() == [[2, 5], [1, 4], [0, 3]]
    assert a.pad(((0, 1), (1, 0))).nested() == [[None, 0, 1, 2], [None, 3, 4, 5], [None, None, None, None]]
    assert a.shrink(((1, 2), (0, 2))).nested() == [[3, 4]]
    assert a.reshape((3, 2)).nested() == [[0, 1], [2, 3], [4, 5]]
    assert a.reshape((2, 1, 3)).shrink(((0, 2), (0, 1), (1, 2))).expand((2, 2, 1)).nested() == [[[1], [1]], [[4], [4]]]


# ---------------------------------------------------------------------------------------------------------------
# hand-picked chains
# ---------------------------------------------------------------------------------------------------------------

CHAINS: list[tuple[tuple[int, ...], list[tuple[str, Any]]]] = [
    ((2, 3), []),
    ((4, 6), [("permute", (1, 0)), ("reshape", (3, 8))]),
    ((2, 3, 4), [("permute", (2, 0, 1))]),
    ((2, 3, 4), [("permute", (1, 0, 2)), ("reshape", (3, 2, 2, 2))]),
    ((2, 3, 4), [("permute", (1, 0, 2)), ("reshape", (6, 4))]),
    ((3, 1), [("expand", (3, 4))]),
    ((3, 1), [("expand", (3, 4)), ("reshape", (12,))]),
    ((3, 1), [("expand", (3, 4)), ("permute", (1, 0)), ("reshape", (2, 6))]),
    ((5,), [("pad", ((2, 1),))]),
    ((2, 3), [("pad", ((1, 0), (0, 2))), ("reshape", (3, 5))]),
    ((2, 3), [("pad", ((1, 1), (1, 1))), ("shrink", ((1, 3), (1, 4)))]),
    ((2, 3), [("pad", ((1, 1), (1, 1))), ("shrink", ((0, 1), (0, 5)))]),  # entirely padding
    ((2, 3), [("pad", ((0, 0), (2, 0))), ("shrink", ((0, 2), (0, 2)))]),  # entirely padding
    ((6,), [("shrink", ((2, 5),)), ("reshape", (3, 1)), ("expand", (3, 2))]),
    ((2, 3), [("flip", (True, False))]),
    ((2, 3), [("flip", (True, True)), ("reshape", (6,))]),
    ((2, 3), [("flip", (False, True)), ("reshape", (3, 2))]),
    ((4,), [("pad", ((1, 2),)), ("flip", (True,))]),
    ((2, 3), [("pad", ((0, 0), (1, 0))), ("flip", (False, True)), ("shrink", ((0, 2), (1, 4)))]),
    ((1,), [("pad", ((1, 1),)), ("reshape", (3, 1)), ("expand", (3, 2))]),
    ((2, 2), [("pad", ((0, 1), (0, 0))), ("reshape", (3, 1, 2)), ("permute", (2, 1, 0))]),
    ((3, 4), [("shrink", ((1, 3), (1, 3))), ("reshape", (4,))]),
    ((3, 4), [("shrink", ((0, 3), (0, 2))), ("permute", (1, 0)), ("reshape", (3, 2))]),
    ((2, 1, 3), [("reshape", (2, 3)), ("reshape", (1, 6, 1))]),
    ((8,), [("reshape", (2, 2, 2)), ("permute", (2, 1, 0)), ("reshape", (4, 2)), ("permute", (1, 0))]),
]


@pytest.mark.parametrize(("shape", "ops"), CHAINS, ids=[str(i) for i in range(len(CHAINS))])
def test_chain_matches_reference(shape: tuple[int, ...], ops: list[tuple[str, Any]]) -> None:
    check_against_reference(shape, ops)


def test_all_padding_valid_simplifies_to_false() -> None:
    st_ = ShapeTracker.from_shape((2, 3)).pad(((1, 1), (1, 1))).shrink(((0, 1), (0, 5)))
    idxs = [UOp.variable("a", 0, 0), UOp.variable("b", 0, 4)]
    _, valid = st_.to_indexed_uops(idxs)
    assert valid is UOp.const(dtypes.bool, False)


def test_contiguous_index_is_plain() -> None:
    i, j = UOp.variable("i", 0, 3), UOp.variable("j", 0, 5)
    idx, valid = ShapeTracker.from_shape((4, 6)).to_indexed_uops([i, j])
    assert idx is i * 6 + j and valid is UOp.const(dtypes.bool, True)


def test_stacked_view_index_simplifies() -> None:
    st_ = ShapeTracker.from_shape((4, 6)).permute((1, 0)).reshape((3, 8))
    assert len(st_.views) == 2 and st_.shape == (3, 8)
    i, j = UOp.variable("i", 0, 2), UOp.variable("j", 0, 7)
    idx, valid = st_.to_indexed_uops([i, j])
    assert valid is UOp.const(dtypes.bool, True)
    # logical (i, j) is position 8i+j of the (6, 4) transposed view: row (8i+j)//4 = 2i + j//4, col j%4,
    # which is element [j%4][2i + j//4] of the (4, 6) buffer
    for a, b in itertools.product(range(3), range(8)):
        assert sym_infer(idx, {i: a, j: b}) == (b % 4) * 6 + 2 * a + b // 4
    assert "%" in render(idx) and "//" in render(idx) and render(idx).count("i") == 1


# ---------------------------------------------------------------------------------------------------------------
# View and ShapeTracker bookkeeping
# ---------------------------------------------------------------------------------------------------------------


def test_view_create_canonical() -> None:
    v = View.create((2, 3, 4))
    assert v.strides == (12, 4, 1) and v.offset == 0 and v.mask is None and v.contiguous
    assert View.create((2, 3, 4)) is v  # cached
    assert View.create((2, 1, 4), (4, 4, 1)).strides == (4, 0, 1)
    assert View.create((2, 1, 4), (4, 4, 1)).contiguous
    assert not View.create((2, 3), (1, 2)).contiguous
    assert not View.create((2, 3), offset=1).contiguous
    full = View.create((2, 3), mask=((0, 2), (0, 3)))
    assert full.mask is None and full.contiguous
    part = View.create((2, 3), mask=((0, 1), (0, 3)))
    assert part.mask == ((0, 1), (0, 3)) and not part.contiguous
    empty = View.create((2, 3), (3, 1), 5, ((1, 1), (0, 3)))
    assert empty.mask == ((0, 0), (0, 0)) and empty.strides == (0, 0) and empty.offset == 0
    assert v.size == 24


def test_view_movement_fields() -> None:
    v = View.create((2, 3))
    assert v.permute((1, 0)) == View.create((3, 2), (1, 3))
    assert v.flip((True, False)) == View.create((2, 3), (-3, 1), 3)
    assert v.shrink(((1, 2), (1, 3))) == View.create((1, 2), (3, 1), 4)
    assert v.pad(((1, 0), (0, 0))) == View.create((3, 3), (3, 1), -3, ((1, 3), (0, 3)))
    col = View.create((3, 1))
    assert col.expand((3, 4)) == View.create((3, 4), (1, 0))
    with pytest.raises(ValueError, match="expand"):
        v.expand((4, 3))
    assert v.reshape((2, 3)) is v
    assert v.reshape((6,)) == View.create((6,))
    assert v.permute((1, 0)).reshape((6,)) is None
    assert v.permute((1, 0)).reshape((3, 1, 2)) == View.create((3, 1, 2), (1, 0, 3))


def test_masked_view_reshape_only_moves_ones() -> None:
    p = View.create((3,)).pad(((1, 0),))
    r = p.reshape((1, 4, 1))
    assert r is not None and r.mask == ((0, 1), (1, 4), (0, 1)) and r.offset == p.offset
    assert p.reshape((2, 2)) is None


def test_shapetracker_views_and_contiguity() -> None:
    base = ShapeTracker.from_shape((4, 6))
    assert base.contiguous and base.shape == (4, 6) and base.size == 24 and len(base.views) == 1
    t = base.permute((1, 0))
    assert not t.contiguous and len(t.views) == 1
    back = t.permute((1, 0))
    assert back.contiguous
    stacked = t.reshape((24,))
    assert len(stacked.views) == 2 and not stacked.contiguous
    # a contiguous view on top of a contiguous one collapses
    assert base.reshape((2, 12)).reshape((24,)).views == (View.create((24,)),)
    with pytest.raises(ValueError, match="reshape"):
        base.reshape((5, 5))


def test_apply_by_op() -> None:
    st_ = ShapeTracker.from_shape((2, 3))
    assert st_.apply(Ops.PERMUTE, (1, 0)) == st_.permute((1, 0))
    assert st_.apply(Ops.RESHAPE, (3, 2)) == st_.reshape((3, 2))
    assert st_.apply(Ops.PAD, ((1, 1), (0, 0))) == st_.pad(((1, 1), (0, 0)))
    assert st_.apply(Ops.SHRINK, ((0, 1), (0, 3))) == st_.shrink(((0, 1), (0, 3)))
    assert st_.apply(Ops.FLIP, (True, False)) == st_.flip((True, False))
    assert st_.reshape((2, 1, 3)).apply(Ops.EXPAND, (2, 5, 3)) == st_.reshape((2, 1, 3)).expand((2, 5, 3))


def test_real_strides() -> None:
    st_ = ShapeTracker.from_shape((2, 3))
    assert st_.real_strides() == (3, 1)
    assert st_.permute((1, 0)).real_strides() == (1, 3)
    assert st_.reshape((2, 3, 1)).expand((2, 3, 4)).real_strides() == (3, 1, 0)
    assert st_.pad(((1, 0), (0, 0))).real_strides() == (None, 1)
    assert st_.permute((1, 0)).reshape((6,)).real_strides() == (None,)


def test_real_strides_of_a_stack_read_off_the_index() -> None:
    # a transpose flattened (two views): dim 0 is tangled in div/mod, the expanded dim 1 is a broadcast
    stack = ShapeTracker.from_shape((2, 3)).permute((1, 0)).reshape((6, 1)).expand((6, 4))
    assert len(stack.views) == 2
    assert stack.real_strides() == (None, 0)
    # with a batch dim in front: it enters the index as 6 * i alone, so it keeps stride 6
    batched = ShapeTracker.from_shape((5, 2, 3)).permute((0, 2, 1)).reshape((5, 6, 1)).expand((5, 6, 4))
    assert len(batched.views) == 2
    assert batched.real_strides() == (6, None, 0)


def test_shapetracker_is_hashable_value() -> None:
    a = ShapeTracker.from_shape((2, 3)).permute((1, 0))
    b = ShapeTracker.from_shape((2, 3)).permute((1, 0))
    assert a == b and hash(a) == hash(b)
    assert a != ShapeTracker.from_shape((3, 2))


# ---------------------------------------------------------------------------------------------------------------
# fuzzer: random chains of movement ops on small shapes
# ---------------------------------------------------------------------------------------------------------------

MAX_SIZE = 144


@st.composite
def _reshape_target(draw: st.DrawFn, size: int) -> tuple[int, ...]:
    ndim = draw(st.integers(1, 4))
    dims, rest = [], size
    for _ in range(ndim - 1):
        d = draw(st.sampled_from([k for k in range(1, rest + 1) if rest % k == 0]))
        dims.append(d)
        rest //= d
    dims.append(rest)
    return tuple(draw(st.permutations(dims)))


@st.composite
def _movement(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[str, Any]:
    size = math.prod(shape)
    kinds = ["reshape", "permute", "shrink", "flip"]
    if size <= MAX_SIZE // 4:
        kinds.append("pad")
    if 1 in shape and size <= MAX_SIZE // 3:
        kinds.append("expand")
    kind = draw(st.sampled_from(kinds))
    if kind == "reshape":
        return kind, draw(_reshape_target(size))
    if kind == "permute":
        return kind, tuple(draw(st.permutations(range(len(shape)))))
    if kind == "flip":
        return kind, tuple(draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape))))
    if kind == "expand":
        return kind, tuple(draw(st.integers(1, 3)) if s == 1 else s for s in shape)
    if kind == "pad":
        return kind, tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape)
    arg = []
    for s in shape:
        b = draw(st.integers(0, s - 1))
        arg.append((b, draw(st.integers(b + 1, s))))
    return kind, tuple(arg)


def _apply_shape(shape: tuple[int, ...], op: tuple[str, Any]) -> tuple[int, ...]:
    kind, arg = op
    if kind in ("reshape", "expand"):
        return tuple(arg)
    if kind == "permute":
        return tuple(shape[i] for i in arg)
    if kind == "pad":
        return tuple(s + b + a for s, (b, a) in zip(shape, arg, strict=True))
    if kind == "shrink":
        return tuple(e - b for b, e in arg)
    return shape


@st.composite
def _chain(draw: st.DrawFn) -> tuple[tuple[int, ...], list[tuple[str, Any]]]:
    base = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    shape, ops = base, []
    for _ in range(draw(st.integers(1, 6))):
        op = draw(_movement(shape))
        ops.append(op)
        shape = _apply_shape(shape, op)
    return base, ops


@given(_chain())
@settings(max_examples=200, deadline=None)
def test_fuzz_movement_chains(case: tuple[tuple[int, ...], list[tuple[str, Any]]]) -> None:
    base, ops = case
    check_against_reference(base, ops)
