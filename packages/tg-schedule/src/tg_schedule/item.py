"""`ScheduleItem`: one step of a schedule, what tg-schedule runs and what `Tensor.schedule()` returns; and the
capture logs that record the items run (`capture`, `record`), which JIT capture builds on.

>>> from tg_uop import UOp, Ops, dtypes
>>> from tg_runtime import Buffer
>>> out = Buffer("CPU", 1, dtypes.float)
>>> si = ScheduleItem(UOp(Ops.COPY, dtypes.float, (UOp(Ops.BUFFER, dtypes.float, (), out),)), (out, out))
>>> with capture() as log:
...     record(si)
>>> log == [si] and si.kind == "copy"
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from tg_runtime.buffer import Buffer
from tg_uop.ops import Ops
from tg_uop.uop import UOp


@dataclass(frozen=True)
class ScheduleItem:
    """One step of a schedule: a kernel (`ast` is a SINK of STOREs, or a CUSTOM node holding a user's source) or a
    copy (`ast` is the COPY node).

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
        # a copy, and a kernel given as source (a CUSTOM node without sources), write their first buffer
        return self.bufs[:1] if self.ast.op in (Ops.COPY, Ops.CUSTOM) else self.bufs[: len(self.ast.src)]


# the capture logs open right now (a stack: captures may nest)
_logs: list[list[ScheduleItem]] = []


@contextlib.contextmanager
def capture() -> Iterator[list[ScheduleItem]]:
    """Record every schedule item run inside the block, in order."""
    log: list[ScheduleItem] = []
    depth = len(_logs)
    _logs.append(log)
    try:
        yield log
    finally:
        del _logs[depth]  # by position: logs with equal contents are still different logs


def capturing() -> bool:
    """Whether a capture log is open (what runs now must go through `record`)."""
    return bool(_logs)


def record(si: ScheduleItem) -> None:
    """Called by run_item for each item it runs."""
    for log in _logs:
        log.append(si)
