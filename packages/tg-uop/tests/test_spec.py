"""verify(graph, stage): well-formed graphs of each IR stage pass; each broken rule is named."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tg_uop import AxisType, Ops, RangeArg, ShapeTracker, UOp, dtypes
from tg_uop.spec import SpecError, verify


@dataclass(frozen=True)
class FakeBuffer:
    size: int
    device: str = "CPU"


DEV = UOp(Ops.DEVICE, arg="CPU")


def buf(size: int, dtype=dtypes.float32) -> UOp:
    return UOp(Ops.BUFFER, dtype, (), FakeBuffer(size))


def const(v: float, shape: tuple[int, ...] = (), dtype=dtypes.float32) -> UOp:
    c = UOp.const(dtype, v, (DEV,))
    return c.reshape((1,) * len(shape)).expand(shape) if shape else c


def view(shape: tuple[int, ...]) -> UOp:
    return UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape(shape))


def glob(i: int, size: int, dtype=dtypes.float32) -> UOp:
    return UOp(Ops.DEFINE_GLOBAL, dtype.ptr(size), (), i)


# ---- tensor stage ----


def test_a_realistic_tensor_graph_passes() -> None:
    a, b = buf(6).reshape((2, 3)), buf(6).reshape((3, 2)).permute((1, 0))
    x = (a + b).alu(Ops.MAX, const(0.0, (2, 3))).reduce_axis(Ops.ADD, (1,))
    y = UOp(Ops.COPY, dtypes.float32, (x.reshape((2,)),), "PYTHON")
    z = UOp(Ops.ASSIGN, dtypes.float32, (buf(2).reshape((2,)), UOp(Ops.CONTIGUOUS, dtypes.float32, (y,))))
    verify(UOp.sink(z, (a < b).alu(Ops.WHERE, a, b).cast(dtypes.int32)), "tensor")


@pytest.mark.parametrize(
    "node, rule",
    [
        (lambda: UOp(Ops.ADD, dtypes.float32, (buf(4),)), "ADD takes 2 sources, got 1"),
        (lambda: buf(4).alu(Ops.ADD, buf(4, dtypes.int32)), "mixes dtypes"),
        (lambda: UOp(Ops.CMPLT, dtypes.float32, (buf(4), buf(4))), "must be dtypes.bool"),
        (lambda: UOp(Ops.WHERE, dtypes.float32, (buf(4), buf(4), buf(4))), "condition must be bool"),
        (lambda: buf(4).alu(Ops.ADD, buf(6)), "different shapes"),
        (lambda: buf(4).alu(Ops.MOD, buf(4)), "not defined on dtypes.float32"),
        (lambda: UOp(Ops.RESHAPE, dtypes.float32, (buf(6),), (4,)), "RESHAPE (6,) -> (4,)"),
        (lambda: UOp(Ops.PERMUTE, dtypes.float32, (buf(6).reshape((2, 3)),), (0, 0)), "not a permutation"),
        (lambda: UOp(Ops.EXPAND, dtypes.float32, (buf(6).reshape((2, 3)),), (4, 3)), "EXPAND (2, 3) -> (4, 3)"),
        (lambda: UOp(Ops.SHRINK, dtypes.float32, (buf(6),), ((2, 9),)), "not inside"),
        (lambda: UOp(Ops.PAD, dtypes.float32, (buf(6),), ((-1, 0),)), "pairs >= 0"),
        (lambda: UOp(Ops.FLIP, dtypes.float32, (buf(6),), (1,)), "one bool per axis"),
        (lambda: UOp(Ops.REDUCE_AXIS, dtypes.float32, (buf(6),), (Ops.ADD, (1,))), "do not fit shape"),
        (lambda: UOp(Ops.REDUCE_AXIS, dtypes.float32, (buf(6),), (Ops.SUB, (0,))), "must be ADD, MUL or MAX"),
        (lambda: UOp(Ops.CONST, dtypes.int32, (DEV,), 2.5), "holds an int"),
        (lambda: UOp(Ops.CONST, dtypes.float32, (DEV,), 2), "holds a float"),
        (lambda: UOp(Ops.BITCAST, dtypes.int8, (buf(4),)), "item size"),
        (lambda: UOp(Ops.ASSIGN, dtypes.float32, (buf(4), buf(6))), "ASSIGN(target, value)"),
        (lambda: UOp(Ops.COPY, dtypes.float32, (buf(4),), 3), "COPY(src, device)"),
    ],
)
def test_tensor_rules(node, rule: str) -> None:
    with pytest.raises(SpecError, match=rule.replace("(", r"\(").replace(")", r"\)")) as info:
        verify(UOp.sink(node()), "tensor")
    assert info.value.stage == "tensor" and rule in info.value.rule


def test_a_node_no_rule_covers_is_refused_with_its_op() -> None:
    with pytest.raises(SpecError, match="no rule allows RANGE"):
        verify(UOp(Ops.RANGE, dtypes.int32, (UOp.const(dtypes.int32, 4),), RangeArg(0, AxisType.GLOBAL)), "tensor")


def test_the_error_names_the_node_and_its_sources() -> None:
    bad = UOp(Ops.ADD, dtypes.float32, (buf(4),))
    with pytest.raises(SpecError) as info:
        verify(UOp.sink(bad), "tensor")
    assert info.value.node is bad
    assert "src 0: <UOp BUFFER" in str(info.value)


# ---- kernel stage ----


def kernel(value: UOp, out_shape: tuple[int, ...]) -> UOp:
    return UOp.sink(UOp(Ops.STORE, dtypes.void, (glob(0, 64), view(out_shape), value)))


def test_a_kernel_ast_with_a_reduction_and_broadcast_passes() -> None:
    x = UOp(Ops.LOAD, dtypes.float32, (glob(1, 24), view((4, 6))))
    m = x.reduce_axis(Ops.MAX, (1,))  # (4, 1), read again inside the next reduction's loop
    s = (x - m).reduce_axis(Ops.ADD, (1,))
    verify(kernel(s * 2.0, (4, 1)), "kernel")


@pytest.mark.parametrize(
    "ast, rule",
    [
        (
            lambda: UOp.sink(UOp(Ops.STORE, dtypes.void, (glob(0, 4), UOp.const(dtypes.float32, 1.0)))),
            "STORE takes (DEFINE_GLOBAL, VIEW, value)",
        ),
        (lambda: kernel(UOp(Ops.LOAD, dtypes.float32, (glob(1, 24), view((4, 6)))), (4, 1)), "through a view of shape"),
        (
            lambda: kernel(
                UOp(Ops.LOAD, dtypes.float32, (glob(1, 24), view((4, 6))))
                + UOp(Ops.LOAD, dtypes.float32, (glob(2, 24), view((6, 4)))),
                (4, 6),
            ),
            "do not broadcast",
        ),
        (lambda: kernel(UOp(Ops.LOAD, dtypes.float32, (glob(1, 24),)), (4, 6)), "no rule allows LOAD"),
    ],
)
def test_kernel_rules(ast, rule: str) -> None:
    with pytest.raises(SpecError, match=rule.replace("(", r"\(").replace(")", r"\)")):
        verify(ast(), "kernel")


# ---- program stage ----


def loop_program() -> list[UOp]:
    g0, g1 = glob(0, 8), glob(1, 8)
    end = UOp.const(dtypes.int32, 8)
    r = UOp(Ops.RANGE, dtypes.int32, (end,), RangeArg(0, AxisType.GLOBAL))
    ld = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, g1.dtype, (g1, r)),))
    zero = UOp.const(dtypes.float32, 0.0)
    acc = UOp(Ops.DEFINE_ACC, dtypes.float32, (zero,), 0)
    upd = acc + ld
    st = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, g0.dtype, (g0, r)), ld))
    return [
        g0,
        g1,
        end,
        zero,
        acc,
        r,
        ld.src[0],
        ld,
        upd,
        UOp(Ops.ASSIGN, dtypes.float32, (acc, upd)),
        st.src[0],
        st,
        UOp(Ops.ENDRANGE, dtypes.void, (r,)),
    ]


def test_a_loop_program_passes() -> None:
    verify(loop_program(), "program")


def test_a_program_using_a_value_before_defining_it_is_refused() -> None:
    prog = loop_program()
    prog[5], prog[6] = prog[6], prog[5]  # the INDEX before its RANGE
    with pytest.raises(SpecError, match="before it is defined"):
        verify(prog, "program")


def test_program_rules() -> None:
    g = glob(0, 8)
    with pytest.raises(SpecError, match="INDEX takes"):
        verify(
            [g, UOp.const(dtypes.float32, 1.0), UOp(Ops.INDEX, g.dtype, (g, UOp.const(dtypes.float32, 1.0)))], "program"
        )
    with pytest.raises(SpecError, match="no rule allows VIEW"):  # views are gone by the loop program
        x = UOp(Ops.LOAD, dtypes.float32, (g, view((8,))))
        verify(x.reduce_axis(Ops.ADD, (0,)), "program")


def test_unknown_stage() -> None:
    with pytest.raises(ValueError, match="stage must be one of"):
        verify(UOp.sink(), "nonsense")


def test_a_range_needs_a_range_arg() -> None:
    end = UOp.const(dtypes.int32, 8)
    with pytest.raises(SpecError, match="RangeArg"):
        verify([end, UOp(Ops.RANGE, dtypes.int32, (end,), (0, "global"))], "program")
