"""JIT capture: record the schedule items a function runs, then replay them with other input buffers.

`capture()` (defined next to `ScheduleItem`) collects every item `run_item` executes inside the block
(kernels and copies, with their buffers and variable values). `CapturedRun(items, inputs, fresh)` replays them:
each buffer of `inputs` is swapped for the buffer given at replay; everything else (weights, intermediates,
the buffers that ASSIGNs update, the outputs) is used as captured, so state that refers to a captured buffer
(a gradient a first function left in `p.grad` for a second to read) follows every replay, as in tinygrad. The
outputs a caller keeps (`fresh`) are then copied to new buffers (`copies()`), returned by each replay, so values
an earlier call returned are never overwritten by a later one.
A replay runs like any schedule: every buffer is allocated and every kernel compiled before the first item
writes. Replays run through a `LaunchPlan` (built at the first replay: programs, captured handles and variable
positions resolved once), except while a capture is open, with DEBUG or VIZ on (each item then runs as a
schedule, recorded and printed), or for items holding a copy. That is what tg-tensor's TinyJit is built on.

>>> import struct
>>> from tg_uop import UOp, Ops, dtypes
>>> from tg_runtime import Buffer
>>> from tg_schedule import realize
>>> from tg_schedule.jit import capture, CapturedRun
>>> x = Buffer("CPU", 2, dtypes.float).copyin(memoryview(struct.pack("2f", 1, 2)))
>>> three = UOp.const(dtypes.float, 3.0, (UOp(Ops.DEVICE, arg="CPU"),)).reshape((1,)).expand((2,))
>>> with capture() as items:
...     out = list(realize([UOp(Ops.BUFFER, dtypes.float, (), x) * three]).values())[0].base.arg
>>> y = Buffer("CPU", 2, dtypes.float).copyin(memoryview(struct.pack("2f", 5, 7)))
>>> [new_out] = CapturedRun(items, [x], fresh=[out]).replay([y])
>>> new_out.as_memoryview().cast("f").tolist(), out.as_memoryview().cast("f").tolist()
([15.0, 21.0], [15.0, 21.0])
>>> new_out is out
False
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tg_runtime.buffer import Buffer
from tg_schedule.item import ScheduleItem, capture, capturing
from tg_schedule.launch_plan import LaunchPlan
from tg_schedule.run import run_schedule
from tg_uop import trace
from tg_uop.helpers import DEBUG
from tg_uop.uop import UOp

__all__ = ["CapturedRun", "capture"]


class CapturedRun:
    """Captured items, replayable with new input buffers in place of `inputs`; each replay returns copies of the
    `fresh` outputs."""

    def __init__(self, items: Sequence[ScheduleItem], inputs: Sequence[Buffer], fresh: Sequence[Buffer] = ()) -> None:
        self.items = list(items)
        self.inputs = list(inputs)
        self.fresh = list(fresh)
        if any(b.base is not None for b in self.fresh):
            raise ValueError("CapturedRun: fresh buffers must be base buffers, not views")
        if {id(b) for b in self.fresh} & {id(b) for b in self.inputs}:
            raise ValueError("CapturedRun: a buffer cannot be both an input and a fresh output")
        self.plan: LaunchPlan | None = None
        self.planned = False  # whether `plan` was built (None then: the items cannot be planned)

    def replay(self, inputs: Sequence[Buffer], var_vals: Mapping[UOp, int] | None = None) -> list[Buffer]:
        """Run the captured items with `inputs` in place of the captured inputs (same sizes and dtypes) and the
        symbolic variables at `var_vals` (the captured values for those not given); copies of the `fresh`
        outputs after the run, in its order."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"replay: {len(self.inputs)} input buffers were captured, {len(inputs)} given")
        swap: dict[int, Buffer] = {}
        for new, old in zip(inputs, self.inputs, strict=True):
            if (new.device, new.size, new.dtype) != (old.device, old.size, old.dtype):
                raise ValueError(
                    f"replay: input {old.device} {old.size} {old.dtype!r} was captured,"
                    f" {new.device} {new.size} {new.dtype!r} given"
                )
            if swap.setdefault(id(old), new) is not new:
                raise ValueError("replay: one captured input buffer is given two different buffers")
        if not capturing() and not DEBUG and not trace.ON:
            if not self.planned:
                self.plan, self.planned = LaunchPlan.build(self.items, self.inputs), True
            if self.plan is not None:
                self.plan.run(inputs, var_vals or {})
                return self.copies()
        views: dict[int, Buffer] = {}

        def swapped(b: Buffer) -> Buffer:
            if id(b) in swap:
                return swap[id(b)]
            if b.base is not None and id(b.base) in swap:  # a view of a swapped buffer: the same view of the new
                if id(b) not in views:
                    views[id(b)] = swap[id(b.base)].view(b.size, b.dtype, b.offset)
                return views[id(b)]
            return b

        items = [
            ScheduleItem(si.ast, tuple(swapped(b) for b in si.bufs), _with(si.var_vals, var_vals), si.assigns)
            for si in self.items
        ]
        run_schedule(items)
        return self.copies()

    def copies(self) -> list[Buffer]:
        """New buffers holding the current contents of the `fresh` outputs, in its order."""
        return [b.copy_to(b.device) for b in self.fresh]


def _with(captured: dict[UOp, int], now: Mapping[UOp, int] | None) -> dict[UOp, int]:
    # the variables of a captured item at this replay's values
    return captured if not now or not captured else {v: now.get(v, val) for v, val in captured.items()}
