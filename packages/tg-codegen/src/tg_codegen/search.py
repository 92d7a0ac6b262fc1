"""BEAM search: try transformations on the real device, keep the fastest kernels, repeat.

The beam starts with the unoptimized kernel and the hand-coded one. Each round extends every kernel of the
beam by every legal Opt, compiles the candidates, times them on
random inputs (best of three launches) and keeps the `width` fastest. Candidates that fail to compile or
run, or whose output differs from the unoptimized kernel's, are dropped. The search stops when a round
brings no improvement. The winning list of Opts is cached on disk by (kernel AST, device, width), so a
kernel is searched once per machine.

>>> from tg_uop import UOp, Ops, dtypes, ShapeTracker
>>> v = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((256,)))
>>> g0, g1 = (UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(256), (), i) for i in range(2))
>>> ast = UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, v, UOp(Ops.LOAD, dtypes.float, (g1, v)) * 2.0)))
>>> opts = beam_search(ast, "CPU", width=2)
>>> isinstance(opts, list)
True
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import struct
import tempfile
from collections.abc import Iterator

from tg_codegen.compile import ProgramSpec, compile_kernel
from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import AxisType, Kernel, KernelOptError, Opt, OptOps
from tg_runtime.buffer import Buffer
from tg_runtime.compiler import cache_dir, cache_enabled
from tg_runtime.device import Device
from tg_uop.dtype import DType, PtrDType
from tg_uop.helpers import DEBUG
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort

MAX_ROUNDS = 6
# part of the cache key: bump it when opts or code generation change what a cached list of opts means
SEARCH_VERSION = 4


def candidate_opts(k: Kernel) -> Iterator[Opt]:
    """Every Opt worth trying next on `k` (legality is checked when it is applied)."""
    for axis, kind in enumerate(k.types):
        if kind in (AxisType.GLOBAL, AxisType.THREAD, AxisType.LOCAL):
            for amt in (2, 3, 4, 8, 16):
                yield Opt(OptOps.UPCAST, axis, amt)
        if kind is AxisType.REDUCE:
            for amt in (2, 4, 8):
                yield Opt(OptOps.UNROLL, axis, amt)
            for amt in (4, 16, 64):
                yield Opt(OptOps.GROUP, axis, amt)
        if kind in (AxisType.GLOBAL, AxisType.REDUCE) and k.full_shape[axis] % 4:
            for amt in (4, 8, 16, 32):
                yield Opt(OptOps.PADTO, axis, amt)
        if kind is AxisType.GLOBAL:
            for amt in (2, 4, 8, 16, 32):
                yield Opt(OptOps.LOCAL, axis, amt)
            for other in range(axis + 1, len(k.types)):
                yield Opt(OptOps.SWAP, axis, other)
    yield Opt(OptOps.THREAD, 0, 0)
    for buf in sorted({u.src[0].arg for u in toposort([k.ast]) if u.op is Ops.LOAD}):
        yield Opt(OptOps.PACK, buf, 0)


def _fill(dt: DType, n: int, rng: random.Random) -> memoryview:
    if dt.is_bool:
        return memoryview(bytes(rng.randint(0, 1) for _ in range(n)))
    assert dt.fmt is not None
    values = [rng.uniform(-1, 1) if dt.is_float else rng.randint(-8, 8) for _ in range(n)]
    if dt.is_unsigned:
        values = [abs(int(v)) for v in values]
    return memoryview(struct.pack(f"<{n}{dt.fmt}", *values))


class _Bench:
    """Scratch buffers for one kernel: inputs random, outputs compared with the unoptimized kernel's."""

    def __init__(self, ast: UOp, device: str) -> None:
        self.device = device
        params = sorted((u for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL), key=lambda u: u.arg)
        rng = random.Random(0)
        self.bufs = []
        for p in params:
            assert isinstance(p.dtype, PtrDType) and p.dtype.base is not None
            b = Buffer(device, max(p.dtype.size, 1), p.dtype.base)
            self.bufs.append(b.copyin(_fill(b.dtype, b.size, rng)))
        self.outs = sorted({u.src[0].arg for u in ast.src})
        self.reference: list[bytes] | None = None

    def run(self, spec: ProgramSpec) -> tuple[float, list[bytes]]:
        prg = Device[self.device].build(spec.name, spec.src)
        handles = [b.handle for b in self.bufs]
        best = math.inf
        for _ in range(3):
            t = prg(*handles, global_size=spec.global_size, local_size=spec.local_size, wait=True)
            best = min(best, t if t is not None else math.inf)
        return best, [bytes(self.bufs[i].as_memoryview()) for i in self.outs]

    def agrees(self, outputs: list[bytes]) -> bool:
        assert self.reference is not None
        for i, (got, want) in zip(self.outs, zip(outputs, self.reference, strict=True), strict=True):
            dt = self.bufs[i].dtype
            if dt.fmt is None or not dt.is_float:
                if got != want:
                    return False
                continue
            a, b = memoryview(got).cast(dt.fmt), memoryview(want).cast(dt.fmt)
            for x, y in zip(a, b, strict=True):
                if not (x == y or abs(x - y) <= 1e-3 + 1e-3 * abs(y) or (math.isnan(x) and math.isnan(y))):
                    return False
        return True


def _cache_file(ast: UOp, device: str, width: int) -> str:
    caps = Device[device].caps
    text = f"{SEARCH_VERSION}\0{ast.pretty()}\0{device}\0{caps.language}\0{caps.extra}\0{width}"
    key = hashlib.sha256(text.encode()).hexdigest()
    return str(cache_dir() / "beam" / key[:2] / f"{key}.json")


def _load_cached(path: str) -> list[Opt] | None:
    try:
        with open(path) as f:
            return [Opt(OptOps[op], axis, amt) for op, axis, amt in json.load(f)]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(path: str, opts: list[Opt]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump([[o.op.name, o.axis, o.amt] for o in opts], f)
        os.replace(tmp, path)
    except OSError:
        pass


def beam_search(ast: UOp, device: str, width: int) -> list[Opt]:
    """The Opts of the fastest kernel the search finds for `ast` on `device` (cached on disk)."""
    path = _cache_file(ast, device, width)
    if cache_enabled() and (cached := _load_cached(path)) is not None:
        return cached
    caps = Device[device].caps
    bench = _Bench(ast, device)
    base = Kernel(ast, caps)
    base_time, bench.reference = bench.run(compile_kernel(base, device))
    beam: list[tuple[float, Kernel]] = [(base_time, base)]
    seen: set[tuple[Opt, ...]] = {()}
    # the hand-coded kernel starts in the beam too: the search refines it and never returns anything slower
    hand = Kernel(ast, caps)
    hand_coded_optimizations(hand)
    if hand.applied:
        seen.add(tuple(hand.applied))
        hand_time, outputs = bench.run(compile_kernel(hand, device))
        if bench.agrees(outputs):
            beam = sorted([*beam, (hand_time, hand)], key=lambda c: c[0])[:width]
    best_time, best = beam[0]
    for _ in range(MAX_ROUNDS):
        candidates: list[tuple[float, Kernel]] = []
        for _, k in beam:
            for opt in candidate_opts(k):
                trial = k.copy()
                try:
                    trial.apply(Opt(opt.op, opt.axis, caps.threads) if opt.op is OptOps.THREAD else opt)
                except KernelOptError:
                    continue
                key = tuple(trial.applied)
                if key in seen:
                    continue
                seen.add(key)
                try:
                    t, outputs = bench.run(compile_kernel(trial, device))
                except Exception as e:  # a candidate that does not compile or run is just dropped
                    if DEBUG >= 3:
                        print(f"beam: {trial.applied} failed: {type(e).__name__}: {str(e)[:200]}")
                    continue
                if bench.agrees(outputs):
                    candidates.append((t, trial))
        if not candidates:
            break
        candidates.sort(key=lambda c: c[0])
        beam = candidates[:width]
        if DEBUG >= 2:
            print(f"beam: best {beam[0][0] * 1e6:.1f} us with {beam[0][1].applied} ({len(candidates)} candidates)")
        if beam[0][0] >= best_time:
            break
        best_time, best = beam[0]
    if cache_enabled():
        _store(path, best.applied)
    return best.applied
