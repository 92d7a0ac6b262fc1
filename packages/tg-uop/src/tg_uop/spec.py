"""Spec checks: `verify(graph, stage)` for each IR stage of the design, as tables of rules.

Each stage is a PatternMatcher whose rules return None when a node is well formed and a sentence naming
the broken rule when it is not; a node no rule covers is refused too. `SPEC=1` makes tg check every graph
it builds (the tensor graph when scheduling, each kernel AST, each loop program).

>>> from tg_uop import UOp, Ops, dtypes
>>> one = UOp.const(dtypes.int32, 1, (UOp(Ops.DEVICE, arg="CPU"),))
>>> verify(UOp.sink((one + one).reshape((1,)).expand((4,))), "tensor")
>>> try:
...     verify(UOp(Ops.ADD, dtypes.int32, (UOp.const(dtypes.int32, 1),)), "kernel")
... except SpecError as e:
...     print(e.rule)
ADD takes 2 sources, got 1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tg_uop.dtype import PtrDType, dtypes
from tg_uop.ops import CustomKernel, GroupOp, Ops, RangeArg
from tg_uop.rewrite import PatternMatcher, UPat
from tg_uop.uop import UOp, pretty_print, toposort


class SpecError(ValueError):
    """A node breaks a rule of its IR stage. `.node` is the node, `.rule` the rule it broke."""

    def __init__(self, node: UOp, rule: str, stage: str) -> None:
        self.node, self.rule, self.stage = node, rule, stage
        srcs = "\n".join(f"  src {i}: {s!r}" for i, s in enumerate(node.src)) or "  (no sources)"
        super().__init__(f"{stage} spec: {rule}\n  node: {node!r}\n{srcs}")


STAGES = ("tensor", "kernel", "program")
_ARITY = {**{op: 1 for op in GroupOp.Unary}, **{op: 2 for op in GroupOp.Binary}, **{op: 3 for op in GroupOp.Ternary}}


def _alu(x: UOp) -> str | None:
    """Arity and dtypes of an ALU op: sources agree in dtype, comparisons give bool, WHERE takes a bool."""
    if len(x.src) != _ARITY[x.op]:
        return f"{x.op.name} takes {_ARITY[x.op]} sources, got {len(x.src)}"
    values = x.src[1:] if x.op is Ops.WHERE else x.src
    if x.op is Ops.WHERE and x.src[0].dtype.scalar() != dtypes.bool:
        return f"WHERE's condition must be bool, not {x.src[0].dtype!r}"
    if x.op not in (Ops.SHL, Ops.SHR) and len({v.dtype for v in values}) > 1:
        return f"{x.op.name} mixes dtypes {[v.dtype for v in values]}"
    want = dtypes.bool if x.op in GroupOp.Comparison else values[0].dtype
    if x.dtype.scalar() != want.scalar():
        return f"{x.op.name} of {values[0].dtype!r} must be {want!r}, not {x.dtype!r}"
    if x.op in (Ops.IDIV, Ops.MOD, Ops.AND, Ops.OR, Ops.XOR, Ops.SHL, Ops.SHR) and x.dtype.is_float:
        return f"{x.op.name} is not defined on {x.dtype!r}"
    return None


def _shaped_alu(x: UOp) -> str | None:
    # kernel ASTs may broadcast size-1 dims and scalars (see broadcast_shape)
    if (err := _alu(x)) is not None:
        return err
    if x.shape is None and any(s.shape is not None for s in x.src):
        return f"{x.op.name} sources have shapes {[s.shape for s in x.src]} that do not broadcast"
    return None


def _tensor_alu(x: UOp) -> str | None:
    # tensor graphs broadcast explicitly (RESHAPE + EXPAND): the sources of an ALU op have one shape
    if (err := _alu(x)) is not None:
        return err
    shapes = {s.shape for s in x.src}
    return None if len(shapes) == 1 else f"{x.op.name} sources have different shapes {sorted(map(str, shapes))}"


def _const(x: UOp) -> str | None:
    v = x.arg
    if x.dtype.count != 1:
        return "CONST is a scalar"
    if not isinstance(v, (int, float, bool)):
        return f"CONST's value must be a Python number, not {type(v).__name__}"
    if x.dtype.is_bool and not isinstance(v, bool):
        return "a bool CONST holds True or False"
    if x.dtype.is_int and not (isinstance(v, int) and not isinstance(v, bool) and x.dtype.min <= v <= x.dtype.max):
        return f"an {x.dtype.name} CONST holds an int in its range, not {v!r}"
    if x.dtype.is_float and not isinstance(v, float):
        return f"a {x.dtype.name} CONST holds a float, not {v!r}"
    return None


def _movement(x: UOp) -> str | None:
    if len(x.src) != 1 or x.src[0].shape is None:
        return f"{x.op.name} takes one source with a shape"
    s, a = x.src[0].shape, x.arg
    n = len(s)
    if x.dtype != x.src[0].dtype:
        return f"{x.op.name} keeps the dtype"
    if x.op is Ops.RESHAPE:
        ok = isinstance(a, tuple) and all(isinstance(d, int) and d >= 0 for d in a) and math.prod(a) == math.prod(s)
        return None if ok else f"RESHAPE {s} -> {a}: sizes differ or a dim is not a non-negative int"
    if not isinstance(a, tuple) or len(a) != n:
        return f"{x.op.name} needs one entry per dim of {s}, got {a!r}"
    if x.op is Ops.PERMUTE:
        return None if sorted(a) == list(range(n)) else f"PERMUTE {a} is not a permutation of {n} axes"
    if x.op is Ops.EXPAND:
        return None if all(d == e or d == 1 for d, e in zip(s, a, strict=True)) else f"EXPAND {s} -> {a}"
    if x.op is Ops.PAD:
        ok = all(isinstance(p, tuple) and len(p) == 2 and p[0] >= 0 and p[1] >= 0 for p in a)
        return None if ok else f"PAD {a} needs (before, after) pairs >= 0"
    if x.op is Ops.SHRINK:
        ok = all(isinstance(p, tuple) and len(p) == 2 and 0 <= p[0] <= p[1] <= d for p, d in zip(a, s, strict=True))
        return None if ok else f"SHRINK {a} is not inside {s}"
    return None if all(isinstance(f, bool) for f in a) else f"FLIP needs one bool per axis, got {a!r}"


def _reduce_axis(x: UOp) -> str | None:
    s = x.src[0].shape if len(x.src) == 1 else None
    if s is None or not (isinstance(x.arg, tuple) and len(x.arg) == 2):
        return "REDUCE_AXIS takes one shaped source and (op, axes)"
    op, axes = x.arg
    if op not in (Ops.ADD, Ops.MUL, Ops.MAX):
        return f"REDUCE_AXIS op must be ADD, MUL or MAX, not {op}"
    if not all(isinstance(a, int) and 0 <= a < len(s) for a in axes) or len(set(axes)) != len(axes):
        return f"REDUCE_AXIS axes {axes} do not fit shape {s}"
    return None if x.dtype == x.src[0].dtype else "REDUCE_AXIS keeps the dtype"


def _ok(**_: Any) -> None:
    return None


def _rules(table: list[tuple[UPat, Any]]) -> PatternMatcher:
    # each check returns None when the node is fine: the matcher sees True then, so "no rule" stays None
    return PatternMatcher([(pat, lambda fn=fn, **kw: fn(**kw) or True) for pat, fn in table])


def _one_src(x: UOp) -> str | None:
    return None if len(x.src) == 1 and x.dtype == x.src[0].dtype else f"{x.op.name} takes one source of its dtype"


def _bitcast(x: UOp) -> str | None:
    if len(x.src) != 1 or x.dtype.itemsize != x.src[0].dtype.itemsize:
        return "BITCAST keeps the item size"
    return None


def _variable(x: UOp) -> str | None:
    ok = isinstance(x.arg, tuple) and len(x.arg) == 3 and isinstance(x.arg[0], str) and x.arg[1] <= x.arg[2]
    return None if ok and x.dtype.is_int and not x.src else "DEFINE_VAR is an int with arg (name, min, max)"


def _custom(x: UOp) -> str | None:
    if not isinstance(x.arg, CustomKernel) or not x.src:
        return "CUSTOM takes a CustomKernel arg and its inputs as sources"
    if x.arg.ast is None:
        return None if isinstance(x.arg.src, str) and isinstance(x.arg.device, str) else "CUSTOM: an ast or a src"
    params = {u.arg for u in x.arg.ast.toposort() if u.op is Ops.DEFINE_GLOBAL}
    return None if params <= set(range(len(x.src) + 1)) else "CUSTOM: the kernel reads parameters it is not given"


_common = [
    (UPat(Ops.SINK, name="x"), _ok),
    (UPat(Ops.DEFINE_VAR, name="x"), _variable),
    (UPat(Ops.BIND, src=(UPat(Ops.DEFINE_VAR), UPat(Ops.CONST)), name="x"), _ok),
    (UPat(Ops.CAST, name="x"), lambda x: None if len(x.src) == 1 else "CAST takes one source"),
    (UPat(Ops.BITCAST, name="x"), _bitcast),
]

pm_tensor_spec = _rules(
    [
        *_common,
        (UPat(GroupOp.ALU, name="x"), _tensor_alu),
        (UPat(Ops.CONST, src=(UPat(Ops.DEVICE),), name="x"), _const),
        (UPat(Ops.CONST, src=(), name="x"), _const),
        (UPat(Ops.DEVICE, src=(), name="x"), lambda x: None if isinstance(x.arg, str) else "DEVICE's arg is a name"),
        (
            UPat(Ops.BUFFER, src=(), name="x"),
            lambda x: (
                None if hasattr(x.arg, "size") and hasattr(x.arg, "device") else "BUFFER's arg has .size and .device"
            ),
        ),
        (UPat(GroupOp.Movement, name="x"), _movement),
        (UPat(Ops.REDUCE_AXIS, name="x"), _reduce_axis),
        (UPat((Ops.CONTIGUOUS, Ops.DETACH), name="x"), _one_src),
        (
            UPat(Ops.COPY, name="x"),
            lambda x: None if len(x.src) == 1 and isinstance(x.arg, str) else "COPY(src, device)",
        ),
        (UPat(Ops.CUSTOM, name="x"), _custom),
        (
            UPat(Ops.ASSIGN, name="x"),
            lambda x: (
                None
                if len(x.src) == 2 and x.src[0].shape == x.src[1].shape and x.src[0].dtype == x.src[1].dtype
                else "ASSIGN(target, value) of one shape and dtype"
            ),
        ),
    ]
)


def _store(x: UOp) -> str | None:
    if not (len(x.src) == 3 and x.src[0].op is Ops.DEFINE_GLOBAL and x.src[1].op is Ops.VIEW):
        return "a kernel STORE takes (DEFINE_GLOBAL, VIEW, value)"
    vs, ss = x.src[2].shape, x.src[1].arg.shape
    return None if vs in ((), tuple(ss)) else f"STORE of a value of shape {vs} through a view of shape {tuple(ss)}"


pm_kernel_spec = _rules(
    [
        *_common,
        (UPat(GroupOp.ALU, name="x"), _shaped_alu),
        (UPat(Ops.CONST, src=(UPat(Ops.VIEW),), name="x"), _const),
        (UPat(Ops.CONST, src=(), name="x"), _const),
        (UPat(Ops.VIEW, src=(), name="x"), lambda x: None if hasattr(x.arg, "shape") else "VIEW's arg is a view"),
        (UPat(Ops.DEFINE_GLOBAL, src=(), name="x"), lambda x: None if isinstance(x.dtype, PtrDType) else "a pointer"),
        (UPat(Ops.LOAD, src=(UPat(Ops.DEFINE_GLOBAL), UPat(Ops.VIEW)), name="x"), _ok),
        (UPat(Ops.STORE, name="x"), _store),
        (UPat(Ops.REDUCE_AXIS, name="x"), _reduce_axis),
    ]
)


def _range(x: UOp, end: UOp) -> str | None:
    return None if end.dtype.is_int and isinstance(x.arg, RangeArg) else "RANGE takes an int end and a RangeArg"


def _index(x: UOp) -> str | None:
    ok = len(x.src) in (2, 3) and isinstance(x.src[0].dtype, PtrDType) and x.src[1].dtype.is_int
    ok = ok and (len(x.src) == 2 or x.src[2].dtype == dtypes.bool)
    return None if ok else "INDEX takes (pointer, int index[, bool valid])"


pm_program_spec = _rules(
    [
        *_common,
        (UPat(GroupOp.ALU, name="x"), _alu),
        (UPat(Ops.CONST, src=(), name="x"), _const),
        (UPat(Ops.DEFINE_GLOBAL, src=(), name="x"), lambda x: None if isinstance(x.dtype, PtrDType) else "a pointer"),
        (UPat(Ops.RANGE, src=(UPat.var("end"),), name="x"), _range),
        (UPat(Ops.ENDRANGE, src=(UPat(Ops.RANGE),)), _ok),
        (UPat(Ops.SPECIAL, src=(), name="x"), _ok),
        (
            UPat(Ops.DEFINE_ACC, src=(UPat.var("init"),), name="x"),
            lambda x, init: None if init.dtype == x.dtype else "acc",
        ),
        (
            UPat(Ops.ASSIGN, src=(UPat(Ops.DEFINE_ACC, name="a"), UPat.var("v"))),
            lambda a, v: None if a.dtype == v.dtype else "ASSIGN dtype",
        ),
        (UPat(Ops.INDEX, name="x"), _index),
        (
            UPat(Ops.LOAD, src=(UPat(Ops.INDEX),), allow_any_len=True, name="x"),
            lambda x: None if len(x.src) <= 2 else "LOAD",
        ),
        (UPat(Ops.STORE, src=(UPat(Ops.INDEX), UPat.var("v")), name="x"), _ok),
        (UPat(Ops.IF, src=(UPat(dtype=dtypes.bool),)), _ok),
        (UPat(Ops.ENDIF, src=(UPat(Ops.IF),)), _ok),
        (UPat((Ops.BARRIER, Ops.NOOP)), _ok),
    ]
)

_SPECS = {"tensor": pm_tensor_spec, "kernel": pm_kernel_spec, "program": pm_program_spec}


def verify(graph: UOp | Sequence[UOp], stage: str) -> None:
    """Check every node of a graph (or, for a loop program, a list of UOps in program order) against the
    rules of `stage` ("tensor", "kernel" or "program"); raise SpecError at the first node that breaks one."""
    if stage not in _SPECS:
        raise ValueError(f"verify: stage must be one of {STAGES}, not {stage!r}")
    spec = _SPECS[stage]
    if isinstance(graph, UOp):
        nodes = toposort([graph])
    else:
        nodes = list(graph)
        seen: set[UOp] = set()
        for u in nodes:
            missing = [s for s in u.src if s not in seen]
            if missing:
                raise SpecError(u, f"uses {missing[0].op.name} before it is defined in the program", stage)
            seen.add(u)
    for u in nodes:
        result = spec.rewrite(u)
        if result is None:
            raise SpecError(u, f"no rule allows {u.op.name} with these sources in the {stage} stage", stage)
        if isinstance(result, str):
            raise SpecError(u, result, stage)


def pretty_error(e: SpecError) -> str:
    """The error with the whole graph under the node, for debugging."""
    return f"{e}\n{pretty_print(e.node)}"
