"""Running a schedule: each kernel is lowered by tg-codegen (cached per AST and device), compiled and
launched through tg-runtime; copies move bytes between devices. DEBUG prints what ran.

DEBUG=1: one line per run_schedule (kernel count, time). DEBUG=2: one line per kernel (name, shape, time,
GFLOP/s, GB/s). DEBUG=3: also each kernel's source. DEBUG=4: also the tensor graph being realized, and each
kernel's AST and loop program.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from tg_codegen.compile import Estimates
from tg_codegen.lower import kernel_axes
from tg_codegen.program import ProgramSpec, get_program
from tg_runtime.counters import COUNTERS
from tg_runtime.device import Device, DeviceUnavailable, Program
from tg_schedule.item import ScheduleItem, record
from tg_schedule.schedule import create_schedule
from tg_uop import trace
from tg_uop.helpers import DEBUG, colored
from tg_uop.ops import Ops
from tg_uop.symbolic import sym_infer
from tg_uop.uop import UOp


@dataclass(frozen=True)
class CompiledKernel:
    spec: ProgramSpec
    program: Program


# the program cache named by the design: kernel AST and device -> compiled program
_programs: dict[tuple[UOp, str], CompiledKernel] = {}


def get_kernel(ast: UOp, device: str) -> CompiledKernel:
    """Lower, render and compile a kernel AST for a device, once."""
    key = (ast, device)
    if key not in _programs:
        if not Device[device].caps.language:  # DISK: memory only
            raise DeviceUnavailable(
                f"{device} runs no programs: it only holds bytes; copy the tensor to a compute device first"
                " (`t.to('CPU')`) and compute there"
            )
        spec = source_program(ast, device) if ast.op is Ops.CUSTOM else get_program(ast, device)
        _programs[key] = CompiledKernel(spec, Device[device].build(spec.name, spec.src))
    return _programs[key]


def source_program(node: UOp, device: str) -> ProgramSpec:
    """The program of a custom kernel given as source (a CUSTOM node without sources): its text as written."""
    k = node.arg
    # the text is not parsed: the inputs (parameters 1..n) are not listed, and no work is estimated
    return ProgramSpec(
        k.name, k.src, device, Device[device].caps.language, k.global_size, k.local_size, (0,), (), (),
        Estimates(0, 0), node, (),
    )  # fmt: skip


def _shape_text(spec: ProgramSpec) -> str:
    shape = spec.global_size if spec.ast.op is Ops.CUSTOM else kernel_axes(spec.ast).full_shape
    # a symbolic size by its expression: (4, n)
    return str(tuple(s.render() if isinstance(s, UOp) else s for s in shape)).replace("'", "")


def _listing(uops: tuple[UOp, ...]) -> str:
    # the loop program one instruction a line, sources by line number
    pos = {u: i for i, u in enumerate(uops)}
    lines = []
    for i, u in enumerate(uops):
        srcs = " ".join(f"%{pos[s]}" for s in u.src if s in pos)
        arg = "" if u.arg is None else f" {u.arg!r}"
        lines.append(f"%{i:<3d} {u.op.name:12s} {str(u.dtype).removeprefix('dtypes.'):14s} {srcs}{arg}")
    return "\n".join(lines)


def variable_values(si: ScheduleItem, spec: ProgramSpec) -> tuple[int, ...]:
    """The values of a program's variables, in its parameter order, from the item's `var_vals` (by name)."""
    if not spec.vars:
        return ()
    by_name = {v.arg[0]: val for v, val in si.var_vals.items()}
    missing = [v.arg[0] for v in spec.vars if v.arg[0] not in by_name]
    if missing:
        raise ValueError(f"{spec.name}: no value for the variable(s) {missing}; bind them (`var.bind(value)`)")
    return tuple(by_name[v.arg[0]] for v in spec.vars)


def launch_dims(size: tuple[int, ...], variables: Sequence[UOp], vals: Sequence[int]) -> tuple[int, ...]:
    """A launch size with its symbolic entries evaluated at the values `vals` of `variables` (DEFINE_VARs)."""
    if all(isinstance(s, int) for s in size):
        return size
    named = {v.arg[0]: val for v, val in zip(variables, vals, strict=True)}
    return tuple(int(sym_infer(s, named)) for s in size)


def run_item(si: ScheduleItem, index: int = 0) -> float:
    """Run one schedule item; the seconds it took (device time for kernels)."""
    record(si)
    if si.kind == "copy":
        dst, src = si.bufs
        start = time.perf_counter()
        dst.copyin(src.as_memoryview())
        elapsed = time.perf_counter() - start
        if DEBUG >= 2:
            print(
                f"*** {dst.device:6s} {index:4d} {colored('copy', 'yellow'):30s} {src.nbytes:>10d} bytes"
                f" from {src.device} {elapsed * 1e6:9.2f} us"
            )
        trace.emit("launch", ref=None, name="copy", device=dst.device, dt=elapsed, nbytes=src.nbytes)
        return elapsed
    device = si.bufs[0].device
    k = get_kernel(si.ast, device)
    if DEBUG >= 4:
        print(f"kernel AST of {k.spec.name}:\n" + si.ast.pretty())
        print(f"loop program of {k.spec.name}:\n" + _listing(k.spec.uops))
    if DEBUG >= 3:
        print(k.spec.src)
    handles = [b.handle for b in si.bufs]
    vals = variable_values(si, k.spec)
    global_size = launch_dims(k.spec.global_size, k.spec.vars, vals)
    elapsed = k.program(*handles, global_size=global_size, local_size=k.spec.local_size, vals=vals, wait=True) or 0.0
    if trace.ON:  # VIZ (checked here: building the fields costs a microsecond per launch)
        trace.emit("launch", ref=trace.Ref(si.ast), name=k.spec.name, device=device, dt=elapsed)
    if DEBUG >= 2:
        gflops = k.spec.estimates.ops / max(elapsed, 1e-9) / 1e9
        gbs = k.spec.estimates.mem / max(elapsed, 1e-9) / 1e9
        name = colored(f"{k.spec.name:30s}", "cyan" if k.spec.name.startswith("r") else "green")
        print(
            f"*** {device:6s} {index:4d} {name} shape {_shape_text(k.spec):20s} {elapsed * 1e6:9.2f} us"
            f" {gflops:8.2f} GFLOP/s {gbs:8.2f} GB/s"
        )
    return elapsed


def prepare_schedule(schedule: list[ScheduleItem]) -> None:
    """Compile every kernel, allocate every buffer and check every copy's source can be read: what can fail
    before anything runs fails here, so a schedule that fails has written nothing."""
    for si in schedule:
        if si.kind == "kernel":
            get_kernel(si.ast, si.bufs[0].device)
        for b in si.bufs:
            b.allocate()
        if si.kind == "copy":
            si.bufs[1].check_readable()


def run_schedule(schedule: list[ScheduleItem]) -> float:
    """Run every item in order; the total seconds. Everything is compiled and allocated first
    (`prepare_schedule`): a compile error, an allocation that fails or an unreadable source raises before the
    first item writes anything, leaving every buffer as it was."""
    prepare_schedule(schedule)
    total = 0.0
    for i, si in enumerate(schedule):
        total += run_item(si, i)
    if DEBUG >= 1 and schedule:
        kernels = sum(si.kind == "kernel" for si in schedule)
        print(
            f"realized {kernels} kernel(s), {len(schedule) - kernels} copy(ies) in {total * 1e3:.3f} ms"
            f" (so far: {COUNTERS.compiles} program(s) compiled, {COUNTERS.launches} launched)"
        )
    return total


def realize(outs: list[UOp]) -> dict[UOp, UOp]:
    """Schedule and run `outs`; what each becomes (a view of its new buffer)."""
    if DEBUG >= 4:
        print("tensor graph:\n" + UOp.sink(*outs).pretty())
    sched, becomes = create_schedule(outs)
    run_schedule(sched)
    return becomes
