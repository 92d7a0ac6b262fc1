"""CUDA: CUDA C compiled to PTX by `nvcc`, loaded and launched on an NVIDIA GPU through pycuda.

The compiler needs only `nvcc` (`$NVCC`, else `nvcc` on the PATH, else /usr/local/cuda/bin/nvcc): it works
without pycuda and without a GPU, which is how CUDA source is checked where no GPU exists. Running programs
needs the `tg-runtime[cuda]` extra (pycuda), a CUDA driver and a GPU; pycuda is imported only then.

Kernels must be declared `extern "C" __global__` so that their PTX entry keeps its name. They are launched
with grid = `global_size` and block = `local_size` and take the buffer pointers, then the int32 variables.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import tempfile
from types import TracebackType
from typing import Any

from tg_runtime.allocator import Allocator
from tg_runtime.compiler import CompileError, Compiler
from tg_runtime.device import Capabilities, Compiled, DeviceUnavailable, Launch, Program
from tg_uop.dtype import dtypes

# the target when no GPU says otherwise: Ampere, the oldest architecture of current data-centre GPUs; its PTX is
# compiled again by the driver for any newer GPU
DEFAULT_ARCH = "sm_80"
_FALLBACK_NVCC = "/usr/local/cuda/bin/nvcc"
_INSTALL_HINT = "pip install tg-runtime[cuda]"

# ---- the compiler (no pycuda, no GPU) ----


def find_nvcc() -> str:
    """The nvcc to use: $NVCC, else nvcc on the PATH, else /usr/local/cuda/bin/nvcc."""
    if nvcc := os.environ.get("NVCC"):
        # compiles run inside a temporary folder: a relative path must not depend on the working directory
        return os.path.abspath(nvcc) if os.sep in nvcc else nvcc
    if nvcc := shutil.which("nvcc"):
        return nvcc
    if os.access(_FALLBACK_NVCC, os.X_OK):
        return _FALLBACK_NVCC
    raise DeviceUnavailable(
        f"nvcc not found (set NVCC, put nvcc on the PATH or install the CUDA toolkit in {_FALLBACK_NVCC})"
    )


@functools.cache
def nvcc_version(nvcc: str) -> str:
    """The release line of `nvcc --version`, e.g. 'Cuda compilation tools, release 13.0, V13.0.88'."""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise DeviceUnavailable(f"nvcc {nvcc!r} does not run: {e}") from e
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return next((line for line in lines if "release" in line), lines[-1] if lines else nvcc)


@functools.cache
def nvcc_archs(nvcc: str) -> tuple[str, ...]:
    """The architectures this nvcc can target ('sm_75', ...); empty if it cannot say (nvcc older than 11)."""
    try:
        out = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ()
    if out.returncode != 0:
        return ()
    return tuple("sm_" + a.removeprefix("compute_") for a in out.stdout.split() if re.fullmatch(r"compute_\d+", a))


def _arch_key(arch: str) -> tuple[int, int]:
    digits = arch.removeprefix("sm_")
    return int(digits[:-1]), int(digits[-1])


def pick_arch(capability: tuple[int, int], supported: tuple[str, ...]) -> str:
    """The target for a GPU of compute `capability`: its own architecture if nvcc knows it, else the newest one
    nvcc knows below it (the driver compiles that PTX for the newer GPU)."""
    own = f"sm_{capability[0]}{capability[1]}"
    if not supported or own in supported:
        return own
    older = [a for a in supported if _arch_key(a) <= capability]
    if not older:
        raise DeviceUnavailable(f"this nvcc cannot target the GPU ({own}); it knows {', '.join(supported)}")
    return max(older, key=_arch_key)


class CUDACompiler(Compiler):
    """CUDA C source -> PTX text (bytes) with `nvcc --ptx`, for `arch` (default sm_80)."""

    # no contraction of a*b+c into one fused multiply-add: results must round like the PYTHON reference
    flags = ("--ptx", "-fmad=false")

    def __init__(self, arch: str | None = None) -> None:
        self.nvcc = find_nvcc()
        self.version = nvcc_version(self.nvcc)
        self.arch = arch or DEFAULT_ARCH
        known = nvcc_archs(self.nvcc)
        # nvcc lists plain architectures only; sm_90a and sm_100f are variants of sm_90 and sm_100
        if known and re.sub(r"[a-z]$", "", self.arch) not in known:
            raise ValueError(f"nvcc cannot target {self.arch}; it knows {', '.join(known)}")
        self.identity = f"nvcc {self.version} -arch={self.arch} {' '.join(self.flags)}"

    def compile(self, src: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="tg-nvcc-") as d:
            # relative names, run inside the folder: nvcc's messages then say 'kernel.cu(3): error ...'
            with open(os.path.join(d, "kernel.cu"), "w") as f:
                f.write(src)
            cmd = [self.nvcc, *self.flags, f"-arch={self.arch}", "-o", "kernel.ptx", "kernel.cu"]
            try:
                proc = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
            except OSError as e:
                raise CompileError(f"could not run {self.nvcc}: {e}", src, "CUDA") from e
            if proc.returncode != 0:
                raise CompileError(proc.stderr or proc.stdout or f"nvcc exited with {proc.returncode}", src, "CUDA")
            with open(os.path.join(d, "kernel.ptx"), "rb") as f:
                return f.read()


_ENTRY = re.compile(r"\.entry\s+([\w$]+)\s*\(([^)]*)\)")
_PARAM_TYPE = re.compile(r"\.([busf])(\d+)\b")


def ptx_kernels(ptx: bytes) -> dict[str, tuple[str, ...]]:
    """The kernels of a PTX module and the type of each parameter, e.g. {'vadd': ('u64', 'u64', 'u32')}."""
    out: dict[str, tuple[str, ...]] = {}
    for m in _ENTRY.finditer(ptx.decode(errors="replace")):
        params = [p for p in m.group(2).split(",") if p.strip()]
        out[m.group(1)] = tuple("".join(t.groups()) if (t := _PARAM_TYPE.search(p)) else "?" for p in params)
    return out


def arg_format(name: str, params: tuple[str, ...]) -> str:
    """The struct format of a kernel's arguments ('P' per buffer pointer, 'i' per int32 variable), checking
    that the kernel takes 64-bit pointers first and then 32-bit integers, the only arguments tg passes."""
    fmt = "".join(
        "P" if p[1:] == "64" and p[0] != "f" else "i" if p[1:] == "32" and p[0] != "f" else "?" for p in params
    )
    if not re.fullmatch(r"P*i*", fmt):
        raise ValueError(
            f"CUDA kernel {name} takes parameters ({', '.join(params)}): "
            "tg passes buffer pointers and then int32 values"
        )
    return fmt


# ---- running on a GPU (pycuda) ----


def _import_driver() -> Any:
    """pycuda.driver, or DeviceUnavailable saying why it cannot be had."""
    try:
        import pycuda.driver as drv
    except ModuleNotFoundError as e:
        if (e.name or "pycuda").startswith("pycuda"):
            raise DeviceUnavailable(f"pycuda is not installed ({_INSTALL_HINT})") from e
        raise DeviceUnavailable(f"pycuda cannot be imported: {e}") from e
    except ImportError as e:  # pycuda's extension links against libcuda: no driver library, no import
        if "libcuda" in str(e):
            raise DeviceUnavailable(f"no CUDA driver: {e}") from e
        raise DeviceUnavailable(f"pycuda cannot be imported: {e}") from e
    return drv


class CUDAContext:
    """A GPU's primary context, made current for the duration of a `with` block.

    Every operation pushes it and pops it again, so several GPUs (CUDA:0, CUDA:1) and other libraries that use
    the same primary context (torch, cupy) can share the thread.
    """

    def __init__(self, drv: Any, device: Any) -> None:
        self.drv, self.device = drv, device
        self.ctx = device.retain_primary_context()

    def __enter__(self) -> CUDAContext:
        self.ctx.push()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.drv.Context.pop()

    def synchronize(self) -> None:
        with self:
            self.drv.Context.synchronize()


class CUDAMemory:
    """Device memory: its address `ptr`, its size, and `owner` that keeps it alive (a pycuda DeviceAllocation,
    or the block a view was cut from)."""

    __slots__ = ("nbytes", "owner", "ptr")

    def __init__(self, ptr: int, nbytes: int, owner: Any) -> None:
        self.ptr, self.nbytes, self.owner = ptr, nbytes, owner

    def __repr__(self) -> str:
        return f"<CUDAMemory 0x{self.ptr:x} {self.nbytes} bytes>"


class CUDAAllocator(Allocator):
    """GPU memory from cuMemAlloc; a view is the same memory at an address `offset` bytes further on."""

    def __init__(self, device: str, ctx: CUDAContext) -> None:
        super().__init__(device)
        self.ctx, self.drv = ctx, ctx.drv

    def _alloc(self, nbytes: int) -> CUDAMemory:
        with self.ctx:
            try:
                mem = self.drv.mem_alloc(max(nbytes, 1))  # CUDA refuses 0-byte allocations
            except self.drv.MemoryError as e:
                raise MemoryError(str(e)) from e  # the base class retries once after emptying its cache
        return CUDAMemory(int(mem), nbytes, mem)

    def _free(self, opaque: CUDAMemory) -> None:
        if not isinstance(opaque.owner, CUDAMemory):
            with self.ctx:
                opaque.owner.free()

    def _copyin(self, dest: CUDAMemory, src: memoryview) -> None:
        if src.nbytes:
            with self.ctx:
                self.drv.memcpy_htod(dest.ptr, src)

    def _copyout(self, dest: memoryview, src: CUDAMemory) -> None:
        if dest.nbytes:
            with self.ctx:
                self.drv.memcpy_dtoh(dest, src.ptr)

    def _offset(self, opaque: CUDAMemory, offset: int, nbytes: int) -> CUDAMemory:
        return CUDAMemory(opaque.ptr + offset, nbytes, opaque)


def _dims(size: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if not 1 <= len(size) <= 3 or any(not isinstance(n, int) or n < 0 for n in size):
        raise ValueError(f"CUDA {what} must be 1 to 3 non-negative ints, got {size}")
    d = (*size, 1, 1)
    return d[0], d[1], d[2]


class CUDAProgram(Program):
    """A kernel of a PTX module, launched with grid = global_size, block = local_size (default (1, 1, 1))."""

    def __init__(self, ctx: CUDAContext, max_threads: int, name: str, ptx: bytes) -> None:
        self.ctx, self.drv, self.name, self.max_threads = ctx, ctx.drv, name, max_threads
        kernels = ptx_kernels(ptx)
        if name not in kernels:
            raise ValueError(
                f'no CUDA kernel {name!r} in the PTX (it has {sorted(kernels)}); declare it extern "C" __global__'
            )
        self.fmt = arg_format(name, kernels[name])
        self.nbufs, self.nvals = self.fmt.count("P"), self.fmt.count("i")
        with ctx:
            try:
                # the driver reads PTX as a NUL-terminated string
                self.module = self.drv.module_from_buffer(ptx if ptx.endswith(b"\0") else ptx + b"\0")
            except self.drv.Error as e:
                msg = f"the CUDA driver could not load the PTX: {e}"
                raise CompileError(msg, ptx.decode(errors="replace"), "CUDA") from e
            self.function = self.module.get_function(name)
        # prepared calls pack the arguments with `struct` formats: no numpy scalars needed
        self.function.prepare(self.fmt)

    def launch(self, bufs: tuple[CUDAMemory, ...], how: Launch) -> float | None:
        if len(bufs) != self.nbufs or len(how.vals) != self.nvals:
            raise ValueError(
                f"{self.name}: takes {self.nbufs} buffers and {self.nvals} int32 values, "
                f"got {len(bufs)} and {len(how.vals)}"
            )
        for v in how.vals:
            if not -(2**31) <= v < 2**31:
                raise ValueError(f"{self.name}: variable value {v} does not fit in int32")
        grid, block = _dims(how.global_size, "global_size"), _dims(how.local_size or (1, 1, 1), "local_size")
        if math.prod(block) > self.max_threads:
            raise ValueError(f"{self.name}: block {block} has more than {self.max_threads} threads")
        if math.prod(grid) * math.prod(block) == 0:
            return 0.0 if how.wait else None  # nothing to run (CUDA refuses empty launches)
        args = [b.ptr for b in bufs] + list(how.vals)
        with self.ctx:
            if not how.wait:
                self.function.prepared_call(grid, block, *args)
                return None
            start, end = self.drv.Event(), self.drv.Event()
            start.record()
            self.function.prepared_call(grid, block, *args)
            end.record()
            end.synchronize()
            return float(start.time_till(end)) * 1e-3  # milliseconds -> seconds


def _device_index(name: str) -> int:
    _, _, rest = name.partition(":")
    if not rest.isdigit():
        if rest:
            raise DeviceUnavailable(f"{name}: the device number must be a non-negative integer")
        return 0
    return int(rest)


def create_device(name: str) -> Compiled:
    drv = _import_driver()
    try:
        drv.init()
    except drv.Error as e:
        raise DeviceUnavailable(f"no CUDA driver: {e}") from e
    index = _device_index(name)
    try:
        count = drv.Device.count()
        if count == 0:
            raise DeviceUnavailable("no CUDA GPU")
        if index >= count:
            raise DeviceUnavailable(f"{name}: no such GPU ({count} CUDA GPU(s) here)")
        dev = drv.Device(index)
        major, minor = dev.compute_capability()
        attr = drv.device_attribute
        get = dev.get_attribute
        max_threads = int(get(attr.MAX_THREADS_PER_BLOCK))
        max_block = (int(get(attr.MAX_BLOCK_DIM_X)), int(get(attr.MAX_BLOCK_DIM_Y)), int(get(attr.MAX_BLOCK_DIM_Z)))
        max_grid = (int(get(attr.MAX_GRID_DIM_X)), int(get(attr.MAX_GRID_DIM_Y)), int(get(attr.MAX_GRID_DIM_Z)))
        shared = int(get(attr.MAX_SHARED_MEMORY_PER_BLOCK))
        gpu_name = str(dev.name())
        ctx = CUDAContext(drv, dev)
    except drv.Error as e:
        raise DeviceUnavailable(f"{name}: the CUDA GPU cannot be used: {e}") from e
    compiler = CUDACompiler(pick_arch((major, minor), nvcc_archs(find_nvcc())))
    caps = Capabilities(
        language="CUDA",
        dtypes=frozenset(dtypes.all()),
        local_memory=shared,
        max_local_size=max_block,
        has_workgroups=True,
        extra={
            "gpu": gpu_name,
            "arch": compiler.arch,
            "compute_capability": (major, minor),
            "max_threads_per_block": max_threads,
            "max_global_size": max_grid,
        },
    )
    program = functools.partial(CUDAProgram, ctx, max_threads)
    return Compiled(name, CUDAAllocator(name, ctx), compiler, program, caps, synchronize=ctx.synchronize)
