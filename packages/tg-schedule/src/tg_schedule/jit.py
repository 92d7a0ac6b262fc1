"""JIT capture: record the schedule items a function runs, then replay them with other input buffers.

`capture()` (defined next to `ScheduleItem`) collects every item `run_item` executes inside the block
(kernels and copies, with their buffers and variable values). `CapturedRun(items, inputs)` replays them: each
buffer of `inputs` is swapped for the buffer given at replay, everything else (weights, outputs,
intermediates, the buffers that ASSIGNs update) is used as captured. That is what tg-tensor's TinyJit is built on.

>>> import struct
>>> from tg_uop import UOp, Ops, dtypes
>>> from tg_runtime import Buffer
>>> from tg_schedule import realize
>>> from tg_schedule.jit import capture, CapturedRun
>>> x = Buffer("CPU", 2, dtypes.float).copyin(memoryview(struct.pack("2f", 1, 2)))
>>> three = UOp.const(dtypes.float, 3.0, (UOp(Ops.DEVICE, arg="CPU"),)).reshape((1,)).expand((2,))
>>> with capture() as items:
...     out = realize([UOp(Ops.BUFFER, dtypes.float, (), x) * three])
>>> y = Buffer("CPU", 2, dtypes.float).copyin(memoryview(struct.pack("2f", 5, 7)))
>>> CapturedRun(items, [x]).replay([y])
>>> list(out.values())[0].base.arg.as_memoryview().cast("f").tolist()
[15.0, 21.0]
"""

from __future__ import annotations

from collections.abc import Sequence

from tg_runtime.buffer import Buffer
from tg_schedule.item import ScheduleItem, capture
from tg_schedule.run import run_item

__all__ = ["CapturedRun", "capture"]


class CapturedRun:
    """Captured items, replayable with new input buffers in place of `inputs`."""

    def __init__(self, items: Sequence[ScheduleItem], inputs: Sequence[Buffer]) -> None:
        self.items = list(items)
        self.inputs = list(inputs)
        # where each input sits: (item, parameter position, input number)
        self.slots: list[tuple[int, int, int]] = []
        for i, si in enumerate(self.items):
            for pos, b in enumerate(si.bufs):
                for k, inp in enumerate(self.inputs):
                    if b is inp:
                        self.slots.append((i, pos, k))

    def replay(self, inputs: Sequence[Buffer]) -> None:
        """Run the captured items with `inputs` in place of the captured inputs (same sizes and dtypes)."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"replay: {len(self.inputs)} input buffers were captured, {len(inputs)} given")
        for new, old in zip(inputs, self.inputs, strict=True):
            if (new.device, new.size, new.dtype) != (old.device, old.size, old.dtype):
                raise ValueError(
                    f"replay: input {old.device} {old.size} {old.dtype!r} was captured,"
                    f" {new.device} {new.size} {new.dtype!r} given"
                )
        swaps: dict[int, list[tuple[int, int]]] = {}
        for i, pos, k in self.slots:
            swaps.setdefault(i, []).append((pos, k))
        for i, si in enumerate(self.items):
            if i in swaps:
                bufs = list(si.bufs)
                for pos, k in swaps[i]:
                    bufs[pos] = inputs[k]
                si = ScheduleItem(si.ast, tuple(bufs), si.var_vals, si.assigns)
            run_item(si, i)
