"""`LaunchPlan`: captured kernel items resolved once into a tight loop of launches, for JIT replays.

Everything a replay does not change is worked out when the plan is built: each kernel's compiled program, the
device handles of the buffers it was captured with (weights, intermediates, outputs: their memory never moves
once allocated), its launch sizes, and where each of its variables' values comes from. A replay then only looks
up the handles of its new input buffers (and views of them) and the values of its variables, and launches.
Building a plan compiles and allocates everything, so a plan that cannot run fails before any kernel writes.
Copies are not planned (`LaunchPlan.build` returns None for items holding one): they replay as a schedule.

>>> import struct
>>> from tg_uop import UOp, Ops, dtypes
>>> from tg_runtime import Buffer
>>> from tg_schedule import realize
>>> from tg_schedule.item import capture
>>> x = Buffer("CPU", 2, dtypes.float).copyin(memoryview(struct.pack("2f", 1, 2)))
>>> two = UOp.const(dtypes.float, 2.0, (UOp(Ops.DEVICE, arg="CPU"),)).reshape((1,)).expand((2,))
>>> with capture() as items:
...     out = list(realize([UOp(Ops.BUFFER, dtypes.float, (), x) * two]).values())[0].base.arg
>>> plan = LaunchPlan.build(items, [x])
>>> plan.run([Buffer("CPU", 2, dtypes.float).copyin(memoryview(struct.pack("2f", 5, 7)))], {})
>>> out.as_memoryview().cast("f").tolist()
[10.0, 14.0]
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tg_runtime.buffer import Buffer
from tg_runtime.device import Launch, Program
from tg_schedule.item import ScheduleItem
from tg_schedule.run import get_kernel, launch_dims, variable_values
from tg_uop.uop import UOp

# where a replay's handle for an input slot comes from: (input index, (size, dtype, offset) of a view, or None)
InputSlot = tuple[int, tuple[int, Any, int] | None]


@dataclass(frozen=True)
class PlannedLaunch:
    """One kernel of a plan: its program and captured handles, the argument positions that take a replay's input
    handles (position, index into the replay's input slots), its variables with their captured values, and its
    launch sizes (a global size holding variables is evaluated at each replay's values)."""

    program: Program
    handles: tuple[Any, ...]
    swaps: tuple[tuple[int, int], ...]
    variables: tuple[tuple[UOp, int], ...]
    global_size: tuple[Any, ...]
    local_size: tuple[int, ...] | None

    def launch(self, slots: list[Any], var_vals: Mapping[UOp, int]) -> None:
        """Run the kernel with the replay's input handles (`slots`) and variable values."""
        args: Any = self.handles
        if self.swaps:
            args = list(args)
            for pos, k in self.swaps:
                args[pos] = slots[k]
            args = tuple(args)
        if not self.variables:
            self.program.run(args, self.fixed)
            return
        vals = tuple(var_vals.get(v, c) for v, c in self.variables)
        size = launch_dims(self.global_size, [v for v, _ in self.variables], vals)
        self.program.run(args, Launch(size, self.local_size, vals, True))

    @functools.cached_property
    def fixed(self) -> Launch:
        """The launch of a kernel without variables: the same at every replay."""
        return Launch(self.global_size, self.local_size, (), True)


class LaunchPlan:
    """Kernel items captured with `inputs`, replayable with other input buffers (same sizes and dtypes)."""

    def __init__(self, launches: list[PlannedLaunch], slots: list[InputSlot]) -> None:
        self.launches = launches
        self.slots = slots

    @classmethod
    def build(cls, items: Sequence[ScheduleItem], inputs: Sequence[Buffer]) -> LaunchPlan | None:
        """The plan of `items` (compiling and allocating what they need), or None when one of them is a copy."""
        if any(si.kind == "copy" for si in items):
            return None
        position = {id(b): k for k, b in enumerate(inputs)}
        slots: list[InputSlot] = []
        launches = []
        for si in items:
            k = get_kernel(si.ast, si.bufs[0].device)
            handles, swaps = [], []
            for pos, b in enumerate(si.bufs):
                slot = _slot(b, position)
                handles.append(None if slot is not None else b.handle)
                if slot is not None:
                    if slot not in slots:
                        slots.append(slot)
                    swaps.append((pos, slots.index(slot)))
            by_name = {v.arg[0]: v for v in si.var_vals}
            values = variable_values(si, k.spec)  # raises here, before any launch, for a variable with no value
            variables = tuple((by_name[v.arg[0]], val) for v, val in zip(k.spec.vars, values, strict=True))
            launches.append(
                PlannedLaunch(k.program, tuple(handles), tuple(swaps), variables, k.spec.global_size, k.spec.local_size)
            )
        return cls(launches, slots)

    def run(self, inputs: Sequence[Buffer], var_vals: Mapping[UOp, int]) -> None:
        """Launch every kernel with `inputs` in place of the captured inputs and the variables at `var_vals` (the
        captured values for those not given)."""
        handles = [
            (inputs[k] if view is None else inputs[k].view(view[0], view[1], view[2])).handle for k, view in self.slots
        ]
        for launch in self.launches:
            launch.launch(handles, var_vals)


def _slot(b: Buffer, position: dict[int, int]) -> InputSlot | None:
    """Which input (or view of one) a captured buffer is; None for a buffer the plan keeps."""
    if id(b) in position:
        return (position[id(b)], None)
    if b.base is not None and id(b.base) in position:
        return (position[id(b.base)], (b.size, b.dtype, b.offset))
    return None
