"""tg-runtime speed: launch overhead of a tiny kernel and copy bandwidth, per device, next to tinygrad.

Run: python bench/launch.py [--launches 2000] [--mib 64]

For each available tg device (CPU, CL, CUDA; PYTHON for launch only) and, when tinygrad is installed, its CPU
and CL devices, in this process:
- launch: microseconds per call of a one-element add kernel (three buffers), launched back to back and
  synchronized once at the end;
- copy in / copy out: GB/s moving a --mib MiB buffer from / to host memory.
Prints tg's figures and the ratio to tinygrad's for the same device (above 1: tg is faster).
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("tg-uop", "tg-runtime"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))

KERNELS = {
    "C": "void add1(float* restrict c, const float* restrict a, const float* restrict b) { c[0] = a[0] + b[0]; }",
    "OpenCL": "__kernel void add1(__global float* c, __global const float* a, __global const float* b) {"
    " c[0] = a[0] + b[0]; }",
    "CUDA": 'extern "C" __global__ void add1(float* c, const float* a, const float* b) { c[0] = a[0] + b[0]; }',
}


def best(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def tg_device(name: str, launches: int, nbytes: int, repeat: int) -> dict[str, float]:
    from tg_runtime import Buffer, Device
    from tg_uop import dtypes

    dev = Device[name]
    out: dict[str, float] = {}
    if name == "PYTHON":
        from tg_runtime.backends.python import serialize_program
        from tg_uop import Ops, UOp

        c, a, b = (UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(1), (), i) for i in range(3))
        zero = UOp.const(dtypes.int32, 0)
        ia, ib, ic = (UOp(Ops.INDEX, g.dtype, (g, zero)) for g in (a, b, c))
        la, lb = UOp(Ops.LOAD, dtypes.float32, (ia,)), UOp(Ops.LOAD, dtypes.float32, (ib,))
        total = la + lb
        st = UOp(Ops.STORE, dtypes.void, (ic, total))
        prg = dev.build("add1", serialize_program([c, a, b, zero, ia, ib, ic, la, lb, total, st]))
        launches = min(launches, 200)
    else:
        prg = dev.build("add1", KERNELS[dev.caps.language])
    bufs = [Buffer(name, 1, dtypes.float32).copyin(memoryview(struct.pack("f", 1.0))) for _ in range(3)]
    handles = [b.handle for b in bufs]
    local = (1, 1, 1) if dev.caps.has_workgroups else None

    def launch() -> float:
        start = time.perf_counter()
        for _ in range(launches):
            prg(*handles, global_size=(1, 1, 1), local_size=local)
        dev.synchronize()
        return (time.perf_counter() - start) / launches

    out["launch_us"] = best(repeat, launch) * 1e6
    if name != "PYTHON":
        big = Buffer(name, nbytes // 4, dtypes.float32).allocate()
        host = memoryview(bytearray(nbytes))

        def copy_in() -> float:
            start = time.perf_counter()
            big.copyin(host)
            dev.synchronize()
            return time.perf_counter() - start

        def copy_out() -> float:
            start = time.perf_counter()
            big.copyout(host)
            return time.perf_counter() - start

        out["in_gbs"] = nbytes / best(repeat, copy_in) / 1e9
        out["out_gbs"] = nbytes / best(repeat, copy_out) / 1e9
    return out


def tinygrad_device(name: str, launches: int, nbytes: int, repeat: int) -> dict[str, float] | None:
    try:
        from tinygrad import Device, Tensor
        from tinygrad.engine.realize import runtime_cache
    except ImportError:
        return None
    try:
        a, b = Tensor([1.0], device=name).realize(), Tensor([2.0], device=name).realize()
        before = set(runtime_cache)
        c = (a + b).realize()
    except Exception as e:  # a tinygrad device that does not work here
        print(f"tinygrad {name}: unavailable ({type(e).__name__}: {e})")
        return None
    prg = runtime_cache[[k for k in runtime_cache if k not in before][-1]]
    bufs = [t.uop.buffer._buf for t in (c, a, b)]

    def launch() -> float:
        start = time.perf_counter()
        for _ in range(launches):
            prg(*bufs, global_size=(1, 1, 1), local_size=(1, 1, 1))
        Device[name].synchronize()
        return (time.perf_counter() - start) / launches

    out = {"launch_us": best(repeat, launch) * 1e6}
    from tinygrad.device import Buffer as TinyBuffer
    from tinygrad.dtype import dtypes as tiny_dtypes

    big = TinyBuffer(name, nbytes // 4, tiny_dtypes.float32).allocate()._buf
    alloc = Device[name].allocator
    host = memoryview(bytearray(nbytes))

    def copy_in() -> float:  # the allocator's raw copies: the same level as tg's Buffer copies
        start = time.perf_counter()
        alloc._copyin(big, host)
        Device[name].synchronize()
        return time.perf_counter() - start

    def copy_out() -> float:
        start = time.perf_counter()
        Device[name].synchronize()
        alloc._copyout(host, big)
        return time.perf_counter() - start

    out["in_gbs"] = nbytes / best(repeat, copy_in) / 1e9
    out["out_gbs"] = nbytes / best(repeat, copy_out) / 1e9
    return out


def fmt(v: float | None, unit: str) -> str:
    return "-" if v is None else f"{v:8.2f} {unit}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--launches", type=int, default=2000)
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    from tg_runtime import Device

    nbytes = args.mib << 20
    print(f"{'device':10s} {'launch':>12s} {'copy in':>12s} {'copy out':>12s}   vs tinygrad (launch, in, out)")
    for name, reason in Device.available().items():
        if name == "DISK":
            continue
        if reason is not None:
            print(f"{name:10s} unavailable: {reason}")
            continue
        ours = tg_device(name, args.launches, nbytes, args.repeat)
        theirs = tinygrad_device(name, args.launches, nbytes, args.repeat) if name in ("CPU", "CL") else None
        ratios = ""
        if theirs is not None:
            parts = [
                f"{theirs['launch_us'] / ours['launch_us']:.2f}x",
                f"{ours['in_gbs'] / theirs['in_gbs']:.2f}x",
                f"{ours['out_gbs'] / theirs['out_gbs']:.2f}x",
            ]
            ratios = (
                f"   {', '.join(parts)}  (tinygrad: {theirs['launch_us']:.2f} us,"
                f" {theirs['in_gbs']:.2f} GB/s, {theirs['out_gbs']:.2f} GB/s)"
            )
        print(
            f"{name:10s} {fmt(ours['launch_us'], 'us'):>12s} {fmt(ours.get('in_gbs'), 'GB/s'):>12s}"
            f" {fmt(ours.get('out_gbs'), 'GB/s'):>12s}{ratios}"
        )


if __name__ == "__main__":
    main()
