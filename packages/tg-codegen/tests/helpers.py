"""Helpers shared by the tg-codegen tests (put on sys.path by conftest.py).

Two halves that know nothing of each other:

- builders of kernel ASTs (IR stage 2) out of UOps, and a runner that renders an AST for a device with
  `get_program`, compiles it with tg-runtime and launches it on plain-Python inputs;
- `Arr`, a tiny plain-Python n-d array (shape + element function) with its own movement ops, elementwise
  maps and keepdim reductions: the independent reference the kernels are checked against.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import random
import struct
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tg_codegen import ProgramSpec, get_program
from tg_codegen.kernel import Kernel, KernelOptError, Opt, OptOps
from tg_codegen.search import candidate_opts
from tg_runtime import Buffer, Capabilities, Device, DeviceUnavailable
from tg_runtime.backends.cuda import CUDACompiler
from tg_uop import DType, Ops, ShapeTracker, UOp, dtypes

# every device that works here: CPU and PYTHON always, CL where OpenCL is installed (CI installs PoCL), LLVM
# where llvmlite is installed
DEVICES = ("CPU", "PYTHON", *(d for d in ("CL", "LLVM") if Device.available()[d] is None))

# ---------------------------------------------------------------- AST builders


def param(i: int, dtype: DType, size: int) -> UOp:
    """Kernel parameter number `i`: a buffer of `size` elements of `dtype`."""
    return UOp(Ops.DEFINE_GLOBAL, dtype.ptr(size), (), i)


def view(st: ShapeTracker) -> UOp:
    return UOp(Ops.VIEW, dtypes.void, (), st)


def load(g: UOp, st: ShapeTracker) -> UOp:
    return UOp(Ops.LOAD, g.dtype.base, (g, view(st)))


def store(g: UOp, st: ShapeTracker, val: UOp) -> UOp:
    return UOp(Ops.STORE, dtypes.void, (g, view(st), val))


def bconst(dtype: DType, value: Any, shape: tuple[int, ...]) -> UOp:
    """A constant broadcast to `shape` (a stride-0 view)."""
    st = ShapeTracker.from_shape((1,) * len(shape)).expand(shape)
    return UOp.const(dtype, value, (view(st),))


def contig(shape: tuple[int, ...]) -> ShapeTracker:
    return ShapeTracker.from_shape(shape)


def sink(*stores: UOp) -> UOp:
    return UOp.sink(*stores)


# ---------------------------------------------------------------- running


def pack(dtype: DType, values: Sequence[Any]) -> memoryview:
    assert dtype.fmt is not None
    return memoryview(struct.pack(f"<{len(values)}{dtype.fmt}", *values))


def f32(x: float) -> float:
    """`x` rounded to float32."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def params_of(ast: UOp) -> dict[int, UOp]:
    return {u.arg: u for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL}


def launch(
    spec: ProgramSpec,
    ast: UOp,
    inputs: dict[int, Sequence[Any]],
    fill: Any = None,
    vals: tuple[int, ...] = (),
) -> dict[int, list[Any]]:
    """Run a rendered kernel on its device; returns the contents of every parameter after the launch.

    Parameters not in `inputs` (outputs) start filled with `fill` (default: a sentinel per dtype), so
    elements a kernel fails to write are visible.
    """
    dev = spec.device
    bufs: list[Buffer] = []
    gs = params_of(ast)
    assert sorted(gs) == list(range(len(gs))), "parameters must be numbered 0..n-1"
    for i in range(len(gs)):
        dt = gs[i].dtype
        assert dt.base is not None
        if i in inputs:
            data = list(inputs[i])
        else:
            sentinel = (
                fill if fill is not None else (-777.0 if dt.base.is_float else (True if dt.base.is_bool else -777))
            )
            data = [sentinel] * dt.size
        assert len(data) == dt.size, f"param {i}: {len(data)} values for a buffer of {dt.size}"
        bufs.append(Buffer(dev, dt.size, dt.base).copyin(pack(dt.base, data)))
    prg = Device[dev].build(spec.name, spec.src)
    prg(*[b.handle for b in bufs], global_size=spec.global_size, local_size=spec.local_size, vals=vals)
    out = {}
    for i, b in enumerate(bufs):
        assert b.dtype.fmt is not None
        out[i] = b.as_memoryview().cast(b.dtype.fmt).tolist()
    return out


def run(ast: UOp, device: str, inputs: dict[int, Sequence[Any]], **kw: Any) -> dict[int, list[Any]]:
    return launch(get_program(ast, device), ast, inputs, **kw)


def run_both(ast: UOp, inputs: dict[int, Sequence[Any]], **kw: Any) -> dict[str, dict[int, list[Any]]]:
    return {dev: run(ast, dev, inputs, **kw) for dev in DEVICES}


def close(a: Any, b: Any, rel: float = 1e-5, abs_: float = 1e-6) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))
    return bool(a == b)


def assert_close(got: Sequence[Any], want: Sequence[Any], rel: float = 1e-5, what: str = "") -> None:
    assert len(got) == len(want), f"{what}: {len(got)} values, expected {len(want)}"
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if not close(g, w, rel)]
    assert not bad, f"{what}: {len(bad)} mismatches (index, got, want), first: {bad[:5]}"


# ---------------------------------------------------------------- plain-Python reference arrays


class Arr:
    """An n-d array as a shape and a function from index tuples to values (no tg code involved)."""

    def __init__(self, shape: tuple[int, ...], at: Callable[[tuple[int, ...]], Any]) -> None:
        self.shape, self.at = tuple(shape), at

    @staticmethod
    def flat(values: Sequence[Any], shape: tuple[int, ...]) -> Arr:
        vals = list(values)
        assert len(vals) == math.prod(shape)
        return Arr(shape, lambda idx: vals[ravel(idx, shape)])

    def tolist(self) -> list[Any]:
        return [self.at(idx) for idx in itertools.product(*(range(s) for s in self.shape))]

    # movement: each written from its definition, independently of tg_uop's views
    def permute(self, order: tuple[int, ...]) -> Arr:
        inv = [order.index(i) for i in range(len(order))]
        return Arr(
            tuple(self.shape[o] for o in order), lambda idx: self.at(tuple(idx[inv[i]] for i in range(len(idx))))
        )

    def expand(self, shape: tuple[int, ...]) -> Arr:
        src = self.shape
        return Arr(shape, lambda idx: self.at(tuple(0 if s == 1 else i for i, s in zip(idx, src))))

    def shrink(self, arg: tuple[tuple[int, int], ...]) -> Arr:
        return Arr(tuple(e - b for b, e in arg), lambda idx: self.at(tuple(i + b for i, (b, _) in zip(idx, arg))))

    def flip(self, axes: tuple[bool, ...]) -> Arr:
        src = self.shape
        return Arr(src, lambda idx: self.at(tuple(s - 1 - i if f else i for i, s, f in zip(idx, src, axes))))

    def pad(self, arg: tuple[tuple[int, int], ...], zero: Any = 0.0) -> Arr:
        src = self.shape

        def at(idx: tuple[int, ...]) -> Any:
            inner = tuple(i - b for i, (b, _) in zip(idx, arg))
            return self.at(inner) if all(0 <= i < s for i, s in zip(inner, src)) else zero

        return Arr(tuple(s + b + a for s, (b, a) in zip(src, arg)), at)

    def reshape(self, shape: tuple[int, ...]) -> Arr:
        assert math.prod(shape) == math.prod(self.shape)
        src = self.shape
        return Arr(shape, lambda idx: self.at(unravel(ravel(idx, shape), src)))

    # compute
    def map(self, fn: Callable[..., Any], *others: Arr) -> Arr:
        for o in others:
            assert o.shape == self.shape, (o.shape, self.shape)
        return Arr(self.shape, lambda idx: fn(self.at(idx), *(o.at(idx) for o in others)))

    def reduce(self, fn: Callable[[Any, Any], Any], axes: tuple[int, ...]) -> Arr:
        src = self.shape
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(src))

        def at(idx: tuple[int, ...]) -> Any:
            ranges = [range(src[i]) if i in axes else [idx[i]] for i in range(len(src))]
            items = [self.at(j) for j in itertools.product(*ranges)]
            acc = items[0]
            for x in items[1:]:
                acc = fn(acc, x)
            return acc

        return Arr(out_shape, at)


def ravel(idx: Sequence[int], shape: Sequence[int]) -> int:
    flat = 0
    for i, s in zip(idx, shape):
        assert 0 <= i < s
        flat = flat * s + i
    return flat


def unravel(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    out = []
    for s in reversed(shape):
        out.append(flat % s)
        flat //= s
    return tuple(reversed(out))


def c_idiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a: int, b: int) -> int:
    return a - c_idiv(a, b) * b


def loop_program_checks(uops: Sequence[UOp]) -> None:
    """Structural checks every loop program must pass: sources before use, balanced loops."""
    seen: set[UOp] = set()
    open_loops: list[UOp] = []
    for u in uops:
        for s in u.src:
            assert s in seen, f"{u.op} uses {s.op} before it is defined"
        if u.op is Ops.RANGE:
            open_loops.append(u)
        elif u.op is Ops.ENDRANGE:
            assert open_loops and open_loops[-1] is u.src[0], "ENDRANGE does not close the innermost loop"
            open_loops.pop()
        seen.add(u)
    assert not open_loops, "loops left open"


# ---------------------------------------------------------------- random kernel ASTs (the fuzzers)


@dataclasses.dataclass
class Leaf:
    """A random expression: as a kernel AST and as its plain-Python reference."""

    uop: UOp
    arr: Arr


def random_movement(rng: random.Random, target: tuple[int, ...]) -> tuple[tuple[int, ...], list[tuple[str, Any]]]:
    """A base buffer shape and movement ops that take it to `target`, chosen backwards from the target."""
    ops: list[tuple[str, Any]] = []
    cur = target
    for _ in range(rng.randint(0, 3)):
        n = len(cur)
        kind = rng.choice(
            ["permute", "expand", "shrink", "pad", "flip", "reshape", "permute_reshape", "permute_reshape"]
        )
        if kind == "permute_reshape":
            # a transposed (b, a) buffer reshaped from (a, b) to the target: usually needs a two-view tracker
            size = math.prod(cur)
            divisors = [d for d in range(2, size) if size % d == 0]
            if divisors:
                a = rng.choice(divisors)
                ops += [("reshape", cur), ("permute", (1, 0))]
                cur = (size // a, a)
        elif kind == "permute":
            order = list(range(n))
            rng.shuffle(order)
            pre = [0] * n
            for i, o in enumerate(order):
                pre[o] = cur[i]
            ops.append(("permute", tuple(order)))
            cur = tuple(pre)
        elif kind == "expand":
            pre_t = tuple(1 if s > 1 and rng.random() < 0.5 else s for s in cur)
            if pre_t != cur:
                ops.append(("expand", cur))
                cur = pre_t
        elif kind == "shrink":
            arg, pre_l = [], []
            for s in cur:
                b, a = rng.randint(0, 2), rng.randint(0, 1)
                arg.append((b, b + s))
                pre_l.append(s + b + a)
            ops.append(("shrink", tuple(arg)))
            cur = tuple(pre_l)
        elif kind == "pad":
            arg, pre_l = [], []
            for s in cur:
                b = rng.randint(0, min(1, s - 1))
                a = rng.randint(0, min(1, s - 1 - b))
                arg.append((b, a))
                pre_l.append(s - b - a)
            ops.append(("pad", tuple(arg)))
            cur = tuple(pre_l)
        elif kind == "flip":
            ops.append(("flip", tuple(rng.random() < 0.5 for _ in cur)))
        else:
            dims = list(cur)
            rng.shuffle(dims)
            pre_t = tuple(dims) if rng.random() < 0.6 else (math.prod(cur),)
            ops.append(("reshape", cur))
            cur = pre_t
    return cur, list(reversed(ops))


def make_input(rng: random.Random, idx: int, dt: DType, shape: tuple[int, ...], zero: Any) -> tuple[Leaf, list[Any]]:
    base, ops = random_movement(rng, shape)
    n = math.prod(base)
    data = [rng.randint(-3, 3) for _ in range(n)]
    if dt.is_float:
        data = [float(v) for v in data]
    st, arr = ShapeTracker.from_shape(base), Arr.flat(data, base)
    for name, arg in ops:
        st = getattr(st, name)(arg)
        arr = arr.pad(arg, zero=zero) if name == "pad" else getattr(arr, name)(arg)
    assert st.shape == shape == arr.shape
    return Leaf(load(param(idx, dt, n), st), arr), data


BINARY: dict[str, tuple[Callable[[UOp, UOp], UOp], Callable[[Any, Any], Any]]] = {
    "add": (lambda a, b: a + b, operator.add),
    "sub": (lambda a, b: a - b, operator.sub),
    "mul": (lambda a, b: a * b, operator.mul),
    "max": (lambda a, b: a.maximum(b), max),
}


def random_expr(rng: random.Random, depth: int, leaves: list[Leaf], dt: DType, shape: tuple[int, ...]) -> Leaf:
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.8:
            return rng.choice(leaves)
        c = rng.randint(-2, 2)
        value = float(c) if dt.is_float else c
        return Leaf(bconst(dt, value, shape), Arr(shape, lambda idx: value))
    kind = rng.choice([*BINARY, "neg", "where", "cmp_cast"])
    a = random_expr(rng, depth - 1, leaves, dt, shape)
    if kind == "neg":
        return Leaf(-a.uop, a.arr.map(operator.neg))
    b = random_expr(rng, depth - 1, leaves, dt, shape)
    if kind == "where":
        c = random_expr(rng, depth - 1, leaves, dt, shape)
        return Leaf((a.uop < b.uop).where(b.uop, c.uop), a.arr.map(lambda x, y, z: y if x < y else z, b.arr, c.arr))
    if kind == "cmp_cast":
        one = 1.0 if dt.is_float else 1
        return Leaf(a.uop.ne(b.uop).cast(dt), a.arr.map(lambda x, y: one if x != y else one * 0, b.arr))
    make, fn = BINARY[kind]
    return Leaf(make(a.uop, b.uop), a.arr.map(fn, b.arr))


REDUCES: list[tuple[Ops, Callable[[Any, Any], Any]]] = [(Ops.ADD, operator.add), (Ops.MAX, max)]


def random_inputs_and_expr(
    rng: random.Random, dt: DType, shape: tuple[int, ...], first: int
) -> tuple[Leaf, list[Leaf], dict[int, list[Any]]]:
    """1 to 3 random inputs read through random views (parameters `first`, `first`+1, ...) and a random
    expression of them: the expression, the inputs' leaves and their data."""
    zero: Any = 0.0 if dt.is_float else 0
    leaves, inputs = [], {}
    for i in range(rng.randint(1, 3)):
        leaf, inputs[first + i] = make_input(rng, first + i, dt, shape, zero)
        leaves.append(leaf)
    return random_expr(rng, rng.randint(1, 3), leaves, dt, shape), leaves, inputs


def random_axes(rng: random.Random, rank: int) -> tuple[int, ...]:
    """A random nonempty set of axes, in order."""
    return tuple(sorted(rng.sample(range(rank), rng.randint(1, rank))))


def random_reduce(rng: random.Random, leaf: Leaf, axes: tuple[int, ...]) -> Leaf:
    """`leaf` summed or maxed over `axes` (kept as size 1)."""
    op, fn = rng.choice(REDUCES)
    return Leaf(leaf.uop.reduce_axis(op, axes), leaf.arr.reduce(fn, axes))


def renumber_inputs(ast: UOp, inputs: dict[int, list[Any]], first: int) -> tuple[UOp, dict[int, list[Any]]]:
    """The inputs `ast` really reads (a load can simplify away) numbered `first`, `first`+1, ... without gaps."""
    used = sorted((u for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL and u.arg in inputs), key=lambda g: g.arg)
    renumber = {g: param(first + k, g.dtype.base, g.dtype.size) for k, g in enumerate(used)}
    return ast.substitute(renumber), {new.arg: inputs[old.arg] for old, new in renumber.items()}


# ---------------------------------------------------------------- optimized kernels (Opts)


def caps_of(device: str) -> Capabilities:
    return Device[device].caps


def nvcc_or_skip() -> CUDACompiler:
    """A CUDA compiler; the test is skipped where nvcc is not installed."""
    try:
        return CUDACompiler()
    except DeviceUnavailable as e:
        pytest.skip(f"CUDA source is compile-checked only where nvcc exists: {e}")


def cuda_caps() -> Capabilities:
    """The capabilities of a CUDA GPU, by hand: CUDA source is rendered (and compiled by nvcc) without one."""
    return Capabilities(
        language="CUDA",
        dtypes=frozenset(dtypes.all()),
        local_memory=48 * 1024,
        max_local_size=(1024, 1024, 64),
        has_workgroups=True,
        extra={"max_work_group_size": 1024},
    )


def gpu_cl_caps() -> Capabilities:
    """The CL device's capabilities, but saying it is a GPU: the heuristics then form work-groups."""
    caps = caps_of("CL")
    return dataclasses.replace(caps, extra={**caps.extra, "device_type": "gpu"})


def device_opts(device: str, opts: Sequence[Opt], threaded: Sequence[Opt] = (), local: Sequence[Opt] = ()) -> list[Opt]:
    """`opts`, then `threaded` where the device has CPU threads, then `local` where it has work-groups.

    THREAD opts get the device's thread count as their amount."""
    caps = caps_of(device)
    out = list(opts)
    if caps.has_threads:
        out += [Opt(o.op, o.axis, caps.threads) if o.op is OptOps.THREAD else o for o in threaded]
    if caps.has_workgroups:
        out += list(local)
    return out


def run_opts(ast: UOp, device: str, inputs: dict[int, Sequence[Any]], opts: Sequence[Opt], **kw: Any) -> Any:
    """Render `ast` for `device` with exactly `opts` applied, launch it; returns (spec, parameter contents)."""
    spec = get_program(ast, device, opts=list(opts))
    loop_program_checks(spec.uops)
    return spec, launch(spec, ast, inputs, **kw)


def apply_random_opts(rng: random.Random, k: Kernel, steps: int) -> Kernel:
    """Apply up to `steps` Opts drawn from BEAM's candidates, skipping the illegal ones (THREAD gets the
    device's thread count, as in the search)."""
    for _ in range(steps):
        cands = list(candidate_opts(k))
        rng.shuffle(cands)
        for opt in cands:
            if opt.op is OptOps.THREAD:
                opt = Opt(opt.op, opt.axis, k.caps.threads if k.caps is not None else 1)
            try:
                k.apply(opt)
                break
            except KernelOptError:
                continue
    return k


def matmul_ast(m: int, n: int, k: int, dt: DType = dtypes.float32) -> UOp:
    """out[m, n] = sum_k a[m, k] * b[k, n]: a (m, 1, k) and b read transposed, both expanded to (m, n, k)."""
    full = (m, n, k)
    a = load(param(1, dt, m * k), contig((m, 1, k)).expand(full))
    b = load(param(2, dt, k * n), contig((k, n)).permute((1, 0)).reshape((1, n, k)).expand(full))
    return sink(store(param(0, dt, m * n), contig((m, n, 1)), (a * b).reduce_axis(Ops.ADD, (2,))))


def matmul_ref(a: Sequence[Any], b: Sequence[Any], m: int, n: int, k: int) -> list[Any]:
    out = []
    for i in range(m):
        row = a[i * k : (i + 1) * k]
        for j in range(n):
            acc = row[0] * b[j]
            for t in range(1, k):
                acc += row[t] * b[t * n + j]
            out.append(acc)
    return out


def matmul_case(
    m: int, n: int, k: int, a: Sequence[Any], b: Sequence[Any]
) -> tuple[UOp, dict[int, Sequence[Any]], list[Any]]:
    """The AST of `a` (m, k) times `b` (k, n), its inputs (parameters 1 and 2) and the expected output."""
    return matmul_ast(m, n, k), {1: a, 2: b}, matmul_ref(a, b, m, n, k)


def kernels_compiled(monkeypatch: Any) -> list[Kernel]:
    """Record every Kernel that get_program hands to compile_kernel (its Opts are not in the ProgramSpec)."""
    import tg_codegen.program as program

    seen: list[Kernel] = []
    real = program.compile_kernel

    def spy(k: Kernel, device: str) -> ProgramSpec:
        seen.append(k.copy())
        return real(k, device)

    monkeypatch.setattr(program, "compile_kernel", spy)
    return seen
