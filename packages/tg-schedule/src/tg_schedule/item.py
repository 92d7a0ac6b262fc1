"""`ScheduleItem`: one step of a schedule, what tg-schedule runs and what `Tensor.schedule()` returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from tg_runtime.buffer import Buffer
from tg_uop.ops import Ops
from tg_uop.uop import UOp


@dataclass(frozen=True)
class ScheduleItem:
    """One step of a schedule: a kernel (`ast` is a SINK of STOREs) or a copy (`ast` is the COPY node).

    `bufs` are in parameter order, outputs first; for a copy, (destination, source).
    `var_vals` are the values of the symbolic variables the kernel takes.
    """

    ast: UOp
    bufs: tuple[Buffer, ...]
    var_vals: dict[UOp, int] = field(default_factory=dict)
    assigns: bool = False  # the output is an existing buffer (an ASSIGN), not a new one

    @property
    def kind(self) -> str:
        return "copy" if self.ast.op is Ops.COPY else "kernel"

    @property
    def outputs(self) -> tuple[Buffer, ...]:
        return self.bufs[:1] if self.kind == "copy" else self.bufs[: len(self.ast.src)]
