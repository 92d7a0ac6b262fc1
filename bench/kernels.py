"""tg kernel speed: a matmul, a fused elementwise chain, a 3x3 convolution and a softmax, next to numpy, torch and
tinygrad in the same process.

Run: python bench/kernels.py [--skip-beam] [--cl-beam] [--quick] [--repeat 5]

Rows (each compares tg with what runs next to it; every tg result is checked against numpy or torch):
1. matmul 1024x1024x1024 float32 on CPU: GFLOP/s of tg (default heuristics), tg with BEAM=2, numpy, torch,
   tinygrad (CPU device, clang).
   Every CPU row has a "tg LLVM" column too: the same expression with LLVM as the default device (the same
   kernels rendered as LLVM IR, compiled in-process by llvmlite), where llvmlite is installed.
1b. x @ w.T, the same sizes with w stored (out, in) as a Linear layer keeps it (B read transposed): tg default,
   numpy, torch.
2. the same matmul on CL (OpenCL; here PoCL on the CPU): tg default, tg BEAM=2, tinygrad CL.
3. fused elementwise ((x*2+1).relu()*y) over 64 MiB float32 per input: GB/s counting bytes read and written
   (3 x 64 MiB), next to the copy bandwidth of the same machine measured in this run: numpy `np.copyto` of 64 MiB
   (one thread) and a tg copy kernel (x+0.0, threaded), both counted as 2 x 64 MiB; the target is 60% of the
   larger of the two. numpy, torch and tinygrad run the same chain (unfused in numpy and torch). tg with NOOPT=1
   (one thread, no THREAD opt) is printed too, as a diagnostic outside the table.
4. 3x3 convolution, batch 32, 64 -> 64 channels, 56x56, padding 1: tg has no conv2d yet, so it is written with
   pad, shrink, reshape, permute, mul and sum: the 9 shifted views of the padded input, each times its weight
   slice, are summed before one reduction over the input channels (one kernel). The product is laid out
   (N, H, W, Cout, Cin) so the output channels are contiguous (the default heuristics tile that axis); the
   result is stored NHWC and returned as an (N, Cout, H, W) view, a permute that costs nothing. Checked against
   torch.nn.functional.conv2d; GFLOP/s = 2*N*Cout*H*W*Cin*9 / time, next to torch's conv2d and tinygrad's.
5. softmax over the rows of a 4096x4096 float32 matrix: milliseconds of tg (Tensor.softmax), numpy (exp / sum),
   torch.softmax, tinygrad; log_softmax the same (`--rows logsoftmax`).
6. layer norm over the rows of the same matrix (no weight or bias, eps 1e-5): tg's and tinygrad's `layernorm`,
   numpy, torch.nn.functional.layer_norm.
Then the number of kernels tg runs for softmax, log_softmax and layer norm (`--rows kernels`; the target is one).
tinygrad runs on the device named in the row (rows 3-6: its CPU device, asked for explicitly, since its default
device is CL where PoCL is installed).

Timing: best of --repeat runs after one warm-up run. tg: the schedule items of the expression are lowered once
(`get_kernel`, or `get_program` under Context(BEAM=2)) and launched with wait=True; the time is the sum of the
kernel times the runtime reports (copies excluded; none happen, the inputs are realized first). tinygrad: its
schedule (a LINEAR of calls) is compiled once and its calls executed with wait=True, summing the kernel times its
runtime reports (its Python dispatch excluded, as for tg); if those internals move, the script falls back to
timing `.realize()` plus synchronize (including Python overhead) and says so. numpy and torch: wall time of the
call. Ratios are speeds, tg over the other (above 1: tg is faster).

BEAM=2 searches once per kernel and machine and caches the result on disk (TG_CACHE_DIR, ~/.cache/tg). On a
2-core VM the CPU matmul search takes about 5 minutes the first time, the CL one about 12: the CPU search runs
unless --skip-beam; the CL one only when its result is cached already or --cl-beam is given.
--quick: smaller sizes (matmul 512, 16 MiB, batch 4, softmax 1024x1024), best of 2, no BEAM.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))

from tg_codegen import get_program  # noqa: E402
from tg_nn import Conv2d  # noqa: E402
from tg_runtime import Device  # noqa: E402
from tg_schedule import create_schedule, get_kernel, run_item  # noqa: E402
from tg_tensor import Tensor  # noqa: E402
from tg_uop import Context  # noqa: E402

BEAM_WIDTH = 2


@dataclass
class Row:
    """One line of the table: a speed per implementation (higher is better, or time in ms when `lower`)."""

    workload: str
    unit: str
    values: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    err: float | None = None
    lower: bool = False  # the values are times: lower is better


# ---------------------------------------------------------------- timing helpers


def best_wall(repeat: int, fn: Callable[[], Any], sync: Callable[[], Any] | None = None) -> float:
    """Best wall-clock seconds of `fn` over `repeat` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return min(times)


def beam_cached(ast: Any, device: str) -> bool:
    """Whether BEAM's result for this kernel is on disk already (so asking for it costs no search)."""
    try:
        from tg_codegen.search import _cache_file  # private, but it is the one place the key is made

        return os.environ.get("TG_COMPILE_CACHE", "1") != "0" and os.path.exists(_cache_file(ast, device, BEAM_WIDTH))
    except Exception:
        return False


def tg_run(out: Tensor, repeat: int, beam: bool = False, noopt: bool = False) -> tuple[float, np.ndarray, list[str]]:
    """(best summed kernel seconds, the result as numpy, kernel names) of realizing `out`.

    The schedule is made once; each kernel is lowered once (default heuristics, BEAM=2, or NOOPT=1), then the
    whole schedule is launched repeat+1 times with wait=True and the kernel times the runtime reports are summed."""
    sched, becomes = create_schedule([out.uop])
    compiled: list[tuple[Any, Any] | None] = []
    for si in sched:
        if si.kind == "copy":
            compiled.append(None)
            continue
        device = si.bufs[0].device
        if beam:
            cold = not beam_cached(si.ast, device)
            if cold:
                print(f"    BEAM={BEAM_WIDTH} on {device}: searching (minutes; cached on disk after)", flush=True)
            start = time.perf_counter()
            with Context(BEAM=BEAM_WIDTH, DEBUG=2 if cold else 0):
                spec = get_program(si.ast, device)
            if cold:
                print(f"    BEAM search done in {time.perf_counter() - start:.0f} s", flush=True)
            compiled.append((spec, Device[device].build(spec.name, spec.src)))
        elif noopt:
            with Context(NOOPT=1):
                spec = get_program(si.ast, device)
            compiled.append((spec, Device[device].build(spec.name, spec.src)))
        else:
            k = get_kernel(si.ast, device)
            compiled.append((k.spec, k.program))

    def once() -> float:
        total = 0.0
        for si, c in zip(sched, compiled, strict=True):
            if c is None:
                run_item(si)  # a copy: run, not timed
                continue
            spec, prg = c
            vals = tuple(si.var_vals[v] for v in spec.vars)
            t = prg(
                *[b.handle for b in si.bufs],
                global_size=spec.global_size,
                local_size=spec.local_size,
                vals=vals,
                wait=True,
            )
            total += t or 0.0
        return total

    once()
    best = min(once() for _ in range(repeat))
    result = Tensor(becomes[out.uop]).numpy()  # a view of the buffers just written (a permute may copy)
    names = [c[0].name for c in compiled if c is not None]
    return best, result, names


def tg_llvm(
    row: Row, make: Callable[[], Tensor], metric: Callable[[float], float], want: np.ndarray, repeat: int
) -> None:
    """The "tg LLVM" column: `make()` built and run with LLVM as the default device (the same kernels as the
    CPU column's, rendered as LLVM IR and compiled by llvmlite instead of the C compiler)."""
    if (why := Device.available().get("LLVM")) is not None:
        row.notes.append(f"LLVM: {why}")
        return
    before = Device.DEFAULT
    Device.DEFAULT = "LLVM"
    try:
        t, got, names = tg_run(make(), repeat)
    finally:
        Device.DEFAULT = before
    row.values["tg LLVM"] = metric(t)
    report("tg LLVM", row.values["tg LLVM"], row.unit, f"{names} max err {max_err(got, want):.1e}")


def tinygrad_run(make: Callable[[], Any], device: str, repeat: int) -> tuple[float, np.ndarray, str]:
    """(best seconds, result, how it was timed) for the tinygrad tensor `make()` builds (inputs realized)."""
    from tinygrad import Device as TinyDevice

    try:
        from tinygrad.engine.realize import ExecContext, compile_linear, link_linear, pm_exec

        out = make()
        linear, var_vals = out.linear_with_vars()
        linear = link_linear(compile_linear(linear))

        def once() -> float:
            ctx = ExecContext(var_vals, (), update_stats=False, wait=True)
            return sum(et for call in linear.src for et in (pm_exec.rewrite(call, ctx) or []) if et is not None)

        once()
        best = min(once() for _ in range(repeat))
        return best, out.numpy(), "kernel time"
    except (ImportError, AttributeError, TypeError):
        best = best_wall(repeat, lambda: make().realize(), TinyDevice[device].synchronize)
        return best, make().numpy(), "realize + sync, with Python overhead"


def have_tinygrad() -> bool:
    try:
        import tinygrad  # noqa: F401

        return True
    except ImportError:
        return False


def tinygrad_ok(device: str) -> str | None:
    """None when tinygrad's `device` works here, else why not."""
    if not have_tinygrad():
        return "tinygrad is not installed"
    try:
        from tinygrad import Tensor as TT

        (TT([1.0, 2.0], device=device) + 1).realize().numpy()
        return None
    except Exception as e:
        return f"{type(e).__name__}: {str(e)[:80]}"


def max_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())


def report(name: str, value: float | None, unit: str, extra: str = "") -> None:
    shown = "-" if value is None else f"{value:10.2f} {unit}"
    print(f"  {name:22s} {shown}{('  ' + extra) if extra else ''}", flush=True)


# ---------------------------------------------------------------- the rows


def row_matmul(device: str, n: int, repeat: int, beam: bool, compare_host: bool) -> Row:
    rng = np.random.default_rng(0)
    an, bn = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    want = an @ bn
    flop = 2 * n**3
    row = Row(f"matmul {n}x{n}x{n} ({device})", "GFLOP/s")
    print(f"{row.workload}:", flush=True)
    a, b = Tensor(an, device=device).realize(), Tensor(bn, device=device).realize()
    errs = []
    t, got, names = tg_run(a @ b, repeat)
    row.values["tg"] = flop / t / 1e9
    errs.append(max_err(got, want))
    report("tg", row.values["tg"], "GFLOP/s", f"{names} max err {errs[-1]:.1e}")
    if beam:
        t, got, names = tg_run(a @ b, repeat, beam=True)
        row.values["tg BEAM=2"] = flop / t / 1e9
        errs.append(max_err(got, want))
        report("tg BEAM=2", row.values["tg BEAM=2"], "GFLOP/s", f"{names} max err {errs[-1]:.1e}")
    row.err = max(errs)
    if device == "CPU":
        tg_llvm(row, lambda: Tensor(an) @ Tensor(bn), lambda t: flop / t / 1e9, want, repeat)
    if compare_host:
        out = np.empty_like(want)
        row.values["numpy"] = flop / best_wall(repeat, lambda: np.matmul(an, bn, out=out)) / 1e9
        report("numpy", row.values["numpy"], "GFLOP/s")
        import torch

        at, bt = torch.from_numpy(an), torch.from_numpy(bn)
        row.values["torch"] = flop / best_wall(repeat, lambda: at @ bt) / 1e9
        report("torch", row.values["torch"], "GFLOP/s")
    if (why := tinygrad_ok(device)) is None:
        from tinygrad import Tensor as TT

        ta, tb = TT(an, device=device).realize(), TT(bn, device=device).realize()
        t, got, how = tinygrad_run(lambda: ta @ tb, device, repeat)
        row.values["tinygrad"] = flop / t / 1e9
        report("tinygrad", row.values["tinygrad"], "GFLOP/s", f"({how}) max err {max_err(got, want):.1e}")
    else:
        row.notes.append(f"tinygrad {device}: {why}")
    return row


def row_linear(n: int, repeat: int) -> Row:
    """x @ w.T with w stored (out, in), as a Linear layer multiplies: B is read transposed."""
    rng = np.random.default_rng(3)
    xn, wn = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    want, flop = xn @ wn.T, 2 * n**3
    row = Row(f"x @ w.T {n}x{n}x{n} (CPU)", "GFLOP/s")
    print(f"{row.workload}:", flush=True)
    x, w = Tensor(xn).realize(), Tensor(wn).realize()
    t, got, names = tg_run(x @ w.T, repeat)
    row.values["tg"], row.err = flop / t / 1e9, max_err(got, want)
    report("tg", row.values["tg"], "GFLOP/s", f"{names} max err {row.err:.1e}")
    tg_llvm(row, lambda: Tensor(xn) @ Tensor(wn).T, lambda t: flop / t / 1e9, want, repeat)
    out = np.empty_like(want)
    row.values["numpy"] = flop / best_wall(repeat, lambda: np.matmul(xn, wn.T, out=out)) / 1e9
    report("numpy", row.values["numpy"], "GFLOP/s")
    import torch

    xt, wt = torch.from_numpy(xn), torch.from_numpy(wn)
    row.values["torch"] = flop / best_wall(repeat, lambda: xt @ wt.T) / 1e9
    report("torch", row.values["torch"], "GFLOP/s")
    return row


def row_elementwise(mib: int, repeat: int) -> Row:
    n = (mib << 20) // 4
    rng = np.random.default_rng(1)
    xn, yn = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    want = np.maximum(xn * 2 + 1, 0) * yn
    nbytes = 3 * n * 4  # two inputs read, one output written
    row = Row(f"(x*2+1).relu()*y, {mib} MiB/input", "GB/s")
    print(f"{row.workload}:", flush=True)
    x, y = Tensor(xn).realize(), Tensor(yn).realize()
    t, got, names = tg_run(((x * 2 + 1).relu() * y), repeat)
    row.values["tg"] = nbytes / t / 1e9
    row.err = max_err(got, want)
    report("tg", row.values["tg"], "GB/s", f"{names} max err {row.err:.1e}")
    tg_llvm(row, lambda: (Tensor(xn) * 2 + 1).relu() * Tensor(yn), lambda t: nbytes / t / 1e9, want, repeat)
    t, got, names = tg_run(((x * 2 + 1).relu() * y), repeat, noopt=True)
    one_thread = nbytes / t / 1e9
    report("tg NOOPT=1", one_thread, "GB/s", f"{names} (one thread; not in the table) max err {max_err(got, want):.1e}")
    row.notes.append(f"tg with NOOPT=1 (no THREAD opt, one thread): {one_thread:.2f} GB/s")
    # copy bandwidth, bytes read + written
    dst = np.empty_like(xn)
    copy_np = 2 * n * 4 / best_wall(repeat, lambda: np.copyto(dst, xn)) / 1e9
    report("copy: numpy copyto", copy_np, "GB/s", "(one thread)")
    copy_tg = None
    copy_expr = x + 0.0
    if [si.kind for si in copy_expr.schedule()] == ["kernel"]:
        t, got, names = tg_run(copy_expr, repeat)
        copy_tg = 2 * n * 4 / t / 1e9
        report("copy: tg x+0.0", copy_tg, "GB/s", f"{names} max err {max_err(got, xn):.1e}")
    copy_bw = max(copy_np, copy_tg or 0.0)
    frac = row.values["tg"] / copy_bw
    which = "tg copy kernel" if copy_tg is not None and copy_tg > copy_np else "numpy copyto"
    row.notes.append(
        f"copy bandwidth {copy_bw:.2f} GB/s ({which}; numpy copyto {copy_np:.2f}"
        + (f", tg copy {copy_tg:.2f}" if copy_tg is not None else "")
        + f"): tg reaches {frac:.0%} of it, target 60%: {'met' if frac >= 0.6 else 'NOT met'}"
    )
    row.values["numpy"] = nbytes / best_wall(repeat, lambda: np.maximum(xn * 2 + 1, 0) * yn) / 1e9
    report("numpy", row.values["numpy"], "GB/s", "(unfused: temporaries)")
    import torch

    xt, yt = torch.from_numpy(xn), torch.from_numpy(yn)
    row.values["torch"] = nbytes / best_wall(repeat, lambda: (xt * 2 + 1).relu() * yt) / 1e9
    report("torch", row.values["torch"], "GB/s", "(eager: unfused)")
    if (why := tinygrad_ok("CPU")) is None:
        from tinygrad import Tensor as TT

        tx, ty = TT(xn, device="CPU").realize(), TT(yn, device="CPU").realize()
        t, got, how = tinygrad_run(lambda: (tx * 2 + 1).relu() * ty, "CPU", repeat)
        row.values["tinygrad"] = nbytes / t / 1e9
        report("tinygrad", row.values["tinygrad"], "GB/s", f"({how}) max err {max_err(got, want):.1e}")
    else:
        row.notes.append(f"tinygrad CPU: {why}")
    row.values["copy"] = copy_bw
    return row


def tg_conv2d(x: Tensor, w: Tensor) -> Tensor:
    """3x3 convolution, stride 1, padding 1, of x (N, Cin, H, W) with w (Cout, Cin, 3, 3): (N, Cout, H, W).

    The 9 shifted views of the padded input, laid out (N, H, W, 1, Cin), times the weight slice (1, 1, 1, Cout,
    Cin) of each tap, summed, then reduced over Cin: one kernel. The result is stored (N, H, W, Cout) and
    returned permuted to (N, Cout, H, W)."""
    n, cin, h, wd = x.shape
    cout = w.shape[0]
    xp = x.pad(((0, 0), (0, 0), (1, 1), (1, 1))).permute(0, 2, 3, 1)  # (N, H+2, W+2, Cin)
    acc: Tensor | None = None
    for dy in range(3):
        for dx in range(3):
            xs = xp.shrink(((0, n), (dy, dy + h), (dx, dx + wd), (0, cin))).reshape(n, h, wd, 1, cin)
            ws = w.shrink(((0, cout), (0, cin), (dy, dy + 1), (dx, dx + 1))).reshape(1, 1, 1, cout, cin)
            term = xs * ws
            acc = term if acc is None else acc + term
    assert acc is not None
    return acc.sum(4).permute(0, 3, 1, 2)


def row_conv(batch: int, repeat: int) -> Row:
    import torch

    n, cin, cout, h, w = batch, 64, 64, 56, 56
    rng = np.random.default_rng(2)
    xn = rng.standard_normal((n, cin, h, w), dtype=np.float32)
    wn = rng.standard_normal((cout, cin, 3, 3), dtype=np.float32) * np.float32(1 / 24)
    xt, wt = torch.from_numpy(xn), torch.from_numpy(wn)
    want = torch.nn.functional.conv2d(xt, wt, padding=1).numpy()
    flop = 2 * n * cout * h * w * cin * 9
    row = Row(f"conv 3x3 {n}x{cin}x{h}x{w} -> {cout}", "GFLOP/s")
    print(f"{row.workload}:", flush=True)
    x, wg = Tensor(xn).realize(), Tensor(wn).realize()
    out = tg_conv2d(x, wg)
    kinds = [si.kind for si in out.schedule()]
    t, got, names = tg_run(out, repeat)
    row.values["tg"] = flop / t / 1e9
    row.err = max_err(got, want)
    report("tg", row.values["tg"], "GFLOP/s", f"{len(kinds)} kernel(s) {names} max err vs torch {row.err:.1e}")
    if kinds != ["kernel"]:
        row.notes.append(f"tg conv schedule: {kinds} (all kernels timed)")
    tg_llvm(row, lambda: tg_conv2d(Tensor(xn), Tensor(wn)), lambda t: flop / t / 1e9, want, repeat)
    row.values["torch"] = flop / best_wall(repeat, lambda: torch.nn.functional.conv2d(xt, wt, padding=1)) / 1e9
    report("torch", row.values["torch"], "GFLOP/s")
    if (why := tinygrad_ok("CPU")) is None:
        from tinygrad import Tensor as TT

        tx, tw = TT(xn, device="CPU").realize(), TT(wn, device="CPU").realize()
        t, got, how = tinygrad_run(lambda: tx.conv2d(tw, padding=1), "CPU", repeat)
        row.values["tinygrad"] = flop / t / 1e9
        report("tinygrad", row.values["tinygrad"], "GFLOP/s", f"({how}) max err {max_err(got, want):.1e}")
    else:
        row.notes.append(f"tinygrad CPU: {why}")
    return row


def tg_schedule_run(outs: list[Tensor], repeat: int) -> tuple[float, list[tuple[str, float]]]:
    """(best summed kernel seconds, (name, seconds) of each kernel in the best run) of realizing `outs` together.
    The schedule is made once and run repeat+1 times; copies are run but not timed."""
    sched, _ = create_schedule([t.uop for t in outs])
    best: tuple[float, list[tuple[str, float]]] = (float("inf"), [])
    for _ in range(repeat + 1):
        times = []
        for si in sched:
            sec = run_item(si)
            if si.kind != "copy":
                times.append((get_kernel(si.ast, si.bufs[0].device).spec.name, sec))
        total = sum(t for _, t in times)
        best = min(best, (total, times), key=lambda b: b[0])
    return best


def rows_conv_layer(batch: int, repeat: int) -> list[Row]:
    """`tg_nn.Conv2d(64, 64, 3, padding=1)` forward, and forward + backward (input, weight and bias gradients),
    against torch.nn.Conv2d with the same weights; milliseconds (tg: summed kernel times; torch: wall time)."""
    import torch

    n, c, hw = batch, 64, 56
    rng = np.random.default_rng(4)
    xn = rng.standard_normal((n, c, hw, hw), dtype=np.float32)
    gn = rng.standard_normal((n, c, hw, hw), dtype=np.float32)
    layer = Conv2d(c, c, 3, padding=1)
    assert layer.bias is not None
    layer.weight.requires_grad = layer.bias.requires_grad = True  # as an optimizer given them would
    Tensor.realize(layer.weight, layer.bias)
    th = torch.nn.Conv2d(c, c, 3, padding=1)
    with torch.no_grad():
        th.weight.copy_(torch.from_numpy(layer.weight.numpy()))
        th.bias.copy_(torch.from_numpy(layer.bias.numpy()))
    xt, gt = torch.from_numpy(xn).requires_grad_(), torch.from_numpy(gn)
    x, g = Tensor(xn, requires_grad=True).realize(), Tensor(gn).realize()
    rows = []
    for what in ("forward", "forward + backward"):
        row = Row(f"tg_nn.Conv2d(64, 64, 3, padding=1) {n}x{c}x{hw}x{hw} {what}", "ms", lower=True)
        print(f"{row.workload}:", flush=True)
        out = layer(x)
        outs = [out]
        if what != "forward":
            layer.weight.grad = layer.bias.grad = x.grad = None
            out.backward(g)
            outs = [x.grad, layer.weight.grad, layer.bias.grad]  # type: ignore[list-item]
        t, kernels = tg_schedule_run(outs, repeat)
        row.values["tg"] = t * 1e3
        want = [th(xt)] if what == "forward" else list(torch.autograd.grad(th(xt), [xt, th.weight, th.bias], gt))
        row.err = max(max_err(o.numpy(), w.detach().numpy()) for o, w in zip(outs, want, strict=True))
        listing = ", ".join(f"{name} {sec * 1e3:.1f} ms" for name, sec in kernels)
        report("tg", row.values["tg"], "ms", f"{len(kernels)} kernel(s): {listing}; max err {row.err:.1e}")
        if what == "forward":
            run = lambda: th(xt)  # noqa: E731
        else:
            run = lambda: torch.autograd.grad(th(xt), [xt, th.weight, th.bias], gt)  # noqa: E731
        row.values["torch"] = best_wall(repeat, run) * 1e3
        report("torch", row.values["torch"], "ms")
        row.notes.append(f"tg kernels: {len(kernels)}")
        rows.append(row)
    return rows


def row_rowwise(
    label: str,
    n: int,
    repeat: int,
    np_fn: Callable[[np.ndarray], np.ndarray],
    tg_fn: Callable[[Any], Any],
    torch_fn: Callable[[Any], Any],
) -> Row:
    """Milliseconds of a row-wise normalization of an n x n float32 matrix: tg (`tg_fn` on a Tensor, and on a
    tinygrad Tensor: the two share the method names), numpy, torch."""
    import torch

    rng = np.random.default_rng(3)
    xn = rng.standard_normal((n, n), dtype=np.float32)
    want = np_fn(xn)
    row = Row(f"{label} rows {n}x{n}", "ms", lower=True)
    print(f"{row.workload}:", flush=True)
    x = Tensor(xn).realize()
    t, got, names = tg_run(tg_fn(x), repeat)
    row.values["tg"] = t * 1e3
    row.err = max_err(got, want)
    report("tg", row.values["tg"], "ms", f"{names} max err {row.err:.1e}")
    tg_llvm(row, lambda: tg_fn(Tensor(xn)), lambda t: t * 1e3, want, repeat)
    row.values["numpy"] = best_wall(repeat, lambda: np_fn(xn)) * 1e3
    report("numpy", row.values["numpy"], "ms")
    xt = torch.from_numpy(xn)
    row.values["torch"] = best_wall(repeat, lambda: torch_fn(xt)) * 1e3
    report("torch", row.values["torch"], "ms")
    if (why := tinygrad_ok("CPU")) is None:
        from tinygrad import Tensor as TT

        tx = TT(xn, device="CPU").realize()
        t, got, how = tinygrad_run(lambda: tg_fn(tx), "CPU", repeat)
        row.values["tinygrad"] = t * 1e3
        report("tinygrad", row.values["tinygrad"], "ms", f"({how}) max err {max_err(got, want):.1e}")
    else:
        row.notes.append(f"tinygrad CPU: {why}")
    return row


def np_softmax(xn: np.ndarray) -> np.ndarray:
    e = np.exp(xn - xn.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def np_layernorm(xn: np.ndarray) -> np.ndarray:
    centred = xn - xn.mean(axis=1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + np.float32(1e-5))


def row_softmax(n: int, repeat: int) -> Row:
    import torch

    return row_rowwise("softmax", n, repeat, np_softmax, lambda x: x.softmax(-1), lambda x: torch.softmax(x, dim=-1))


def np_log_softmax(xn: np.ndarray) -> np.ndarray:
    d = xn - xn.max(axis=1, keepdims=True)
    return d - np.log(np.exp(d).sum(axis=1, keepdims=True))


def row_log_softmax(n: int, repeat: int) -> Row:
    import torch

    return row_rowwise(
        "log_softmax", n, repeat, np_log_softmax, lambda x: x.log_softmax(-1), lambda x: torch.log_softmax(x, dim=-1)
    )


def row_layernorm(n: int, repeat: int) -> Row:
    """Layer norm over each row (no weight or bias; eps 1e-5): tg's and tinygrad's `layernorm`."""
    import torch

    def torch_ln(x: Any) -> Any:
        return torch.nn.functional.layer_norm(x, (n,))

    return row_rowwise("layer norm", n, repeat, np_layernorm, lambda x: x.layernorm(), torch_ln)


def normalization_kernels(n: int) -> list[str]:
    """How many kernels tg runs for softmax, log_softmax and layer norm over the rows of an n x n matrix (the
    issue's target: one each), with their names."""
    x = Tensor(np.zeros((n, n), np.float32)).realize()
    lines = []
    for name, out in (("softmax", x.softmax(-1)), ("log_softmax", x.log_softmax(-1)), ("layer norm", x.layernorm())):
        sched, _ = create_schedule([out.uop])
        names = [get_kernel(si.ast, si.bufs[0].device).spec.name for si in sched if si.kind == "kernel"]
        lines.append(f"{name}: {len(names)} kernel(s) {names}")
    return lines


# ---------------------------------------------------------------- the table

COLUMNS = ("tg", "tg BEAM=2", "tg LLVM", "numpy", "torch", "tinygrad")


def ratios(row: Row) -> str:
    """tg's speed over each other's (above 1: tg is faster); for the elementwise row, the fraction of copy speed."""
    v = row.values
    parts = []
    mine = [k for k in ("tg", "tg BEAM=2") if v.get(k)]
    others = ["copy"] if "copy" in v else []
    others += [k for k in ("numpy", "torch", "tinygrad") if v.get(k)]
    for other in others:
        vals = []
        for m in mine:
            r = v[other] / v[m] if row.lower else v[m] / v[other]  # type: ignore[operator]
            vals.append(f"{r:.0%}" if other == "copy" else f"{r:.2f}x")
        parts.append(f"{other} " + " / ".join(vals))
    return "; ".join(parts)


def print_table(rows: list[Row]) -> None:
    header = ["workload", "unit", *COLUMNS, "tg (/ BEAM) vs", "tg max err"]
    lines = [header, ["---"] * len(header)]
    for row in rows:
        cells = [row.workload, row.unit]
        for c in COLUMNS:
            val = row.values.get(c)
            cells.append("-" if val is None else f"{val:.2f}")
        cells.append(ratios(row))
        cells.append("-" if row.err is None else f"{row.err:.1e}")
        lines.append(cells)
    print()
    for cells in lines:
        print("| " + " | ".join(cells) + " |")
    notes = [f"- {row.workload}: {note}" for row in rows for note in row.notes]
    if notes:
        print()
        print("\n".join(notes))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (best is kept)")
    p.add_argument("--skip-beam", action="store_true", help="no BEAM=2 columns (no search)")
    p.add_argument("--cl-beam", action="store_true", help="run the CL BEAM search even when it is not cached")
    p.add_argument("--quick", action="store_true", help="smaller sizes, best of 2, no BEAM")
    p.add_argument(
        "--rows",
        default="matmul,linear,cl,elementwise,conv,convlayer,softmax,logsoftmax,layernorm,kernels",
        help="comma-separated rows to run",
    )
    args = p.parse_args()
    quick = args.quick
    repeat = 2 if quick else args.repeat
    beam = not (args.skip_beam or quick)
    wanted = set(args.rows.split(","))
    n_mm, mib, batch, n_sm = (512, 16, 4, 1024) if quick else (1024, 64, 32, 4096)

    import torch

    tiny = "not installed"
    if have_tinygrad():
        from importlib.metadata import PackageNotFoundError, version

        try:
            tiny = version("tinygrad")
        except PackageNotFoundError:
            tiny = "installed"
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()},"
        f" numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), tinygrad {tiny};"
        f" tg CPU threads {Device['CPU'].caps.threads}; best of {repeat};"
        f" load average {os.getloadavg()[0]:.2f} (timings are only as quiet as the machine)"
    )
    available = Device.available()
    rows = []
    if "matmul" in wanted:
        rows.append(row_matmul("CPU", n_mm, repeat, beam, compare_host=True))
    if "linear" in wanted:
        rows.append(row_linear(n_mm, repeat))
    if "cl" in wanted:
        if available.get("CL") is not None:
            print(f"CL unavailable: {available.get('CL')}")
        else:
            print(f"CL: {Device['CL'].caps.extra.get('device', '?')}")
            cl_beam = beam
            if beam and not args.cl_beam:
                # the kernel AST depends on shapes only: ask the cache about the same matmul of two zero matrices
                a, b = (Tensor(np.zeros((n_mm, n_mm), np.float32), device="CL").realize() for _ in range(2))
                cl_beam = beam_cached((a @ b).schedule()[0].ast, "CL")
                if not cl_beam:
                    print("  CL BEAM=2: not cached, skipped (the search takes ~12 min here; pass --cl-beam to run it)")
            row = row_matmul("CL", n_mm, repeat, cl_beam, compare_host=False)
            if beam and not cl_beam:
                row.notes.append("BEAM=2 not run: not cached (pass --cl-beam to search, ~12 min on a 2-core VM)")
            rows.append(row)
    if "elementwise" in wanted:
        rows.append(row_elementwise(mib, repeat))
    if "conv" in wanted:
        rows.append(row_conv(batch, repeat))
    if "convlayer" in wanted:
        rows.extend(rows_conv_layer(2 if quick else 8, repeat))
    if "softmax" in wanted:
        rows.append(row_softmax(n_sm, repeat))
    if "logsoftmax" in wanted:
        rows.append(row_log_softmax(n_sm, repeat))
    if "layernorm" in wanted:
        rows.append(row_layernorm(n_sm, repeat))
    print_table(rows)
    if "kernels" in wanted:
        print("\nkernels per normalization (target: one each):")
        print("\n".join(f"- {line}" for line in normalization_kernels(n_sm)))


if __name__ == "__main__":
    main()
