"""CL: OpenCL C compiled by the platform's OpenCL driver and launched through pyopencl.

`CL` is the first device of the first platform, `CL:N` the N-th device counting across all platforms in the order
the ICD loader lists them. Each device gets its own context and one in-order command queue with profiling on, so
copies and launches run in the order they were asked for and `wait=True` can report the kernel's own time.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

from tg_runtime.allocator import Allocator
from tg_runtime.compiler import CompileError, Compiler
from tg_runtime.device import Capabilities, Compiled, DeviceUnavailable, Launch, Program
from tg_uop.dtype import DType, dtypes

_IMPORT_ERROR: ImportError | None = None
try:
    import pyopencl as cl
except ImportError as e:  # the module stays importable so that create_device can say why CL cannot work
    _IMPORT_ERROR = e

# driver status codes that mean "no memory": the base Allocator empties its cache and retries on MemoryError
_OOM_CODES = frozenset({-4, -5, -6})  # MEM_OBJECT_ALLOCATION_FAILURE, OUT_OF_RESOURCES, OUT_OF_HOST_MEMORY
_INT32 = struct.Struct("=i")  # native byte order, like the int the kernel reads
# no contraction of a*b+c into one fused multiply-add (drivers contract by default): results must round like the
# PYTHON reference, as on CPU; `#line 1` keeps the driver's line numbers those of the given source
_PRELUDE = "#pragma OPENCL FP_CONTRACT OFF\n#line 1\n"


class CLDevice:
    """One OpenCL device with its context and in-order, profiling command queue."""

    def __init__(self, device: cl.Device) -> None:
        self.device = device
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context, device, properties=cl.command_queue_properties.PROFILING_ENABLE)

    def synchronize(self) -> None:
        """Wait until every queued copy and kernel has finished."""
        self.queue.finish()


class CLAllocator(Allocator):
    """`pyopencl.Buffer`s. A fresh buffer is touched once before it is handed out: OpenCL drivers may defer the
    real allocation to first use, and out-of-memory must show up here, where the cache can be emptied and the
    allocation retried, not in some later kernel launch. Zero-byte buffers take one byte (OpenCL has none)."""

    def __init__(self, name: str, dev: CLDevice) -> None:
        super().__init__(name)
        self.dev = dev
        self.max_alloc: int = dev.device.max_mem_alloc_size
        # CL_DEVICE_MEM_BASE_ADDR_ALIGN is in bits; a sub-buffer must start at a multiple of it
        self.align: int = max(1, dev.device.mem_base_addr_align // 8)

    def _alloc(self, nbytes: int) -> cl.Buffer:
        if nbytes > self.max_alloc:
            raise MemoryError(f"{self.device}: {nbytes} bytes is more than one buffer may hold ({self.max_alloc})")
        try:
            return self._new_buffer(max(nbytes, 1))
        except cl.Error as e:
            if isinstance(e, cl.MemoryError) or e.code in _OOM_CODES:
                raise MemoryError(f"{self.device}: {e}") from e
            raise

    def _new_buffer(self, nbytes: int) -> cl.Buffer:
        buf = cl.Buffer(self.dev.context, cl.mem_flags.READ_WRITE, nbytes)
        try:
            # waiting for a one-byte fill forces the driver to back the buffer with memory now
            cl.enqueue_fill_buffer(self.dev.queue, buf, b"\0", 0, 1).wait()
        except cl.Error:
            buf.release()
            raise
        return buf

    def _free(self, opaque: cl.Buffer) -> None:
        # the driver keeps the memory until queued commands that use it are done
        opaque.release()

    def _copyin(self, dest: cl.Buffer, src: memoryview) -> None:
        if src.nbytes:
            cl.enqueue_copy(self.dev.queue, dest, src, is_blocking=True)

    def _copyout(self, dest: memoryview, src: cl.Buffer) -> None:
        # the queue is in order: the copy starts after every kernel queued before it has finished
        if dest.nbytes:
            cl.enqueue_copy(self.dev.queue, dest, src, is_blocking=True)

    def _offset(self, opaque: cl.Buffer, offset: int, nbytes: int) -> cl.Buffer:
        if nbytes == 0:
            return opaque  # nothing can be read or written through an empty view, and OpenCL has no empty buffers
        if offset % self.align:
            raise ValueError(
                f"{self.device}: a view must start at a multiple of {self.align} bytes (the device's base address "
                f"alignment); offset {offset} is not"
            )
        return opaque.get_sub_region(offset, nbytes)


def _describe(dev: cl.Device) -> str:
    return f"{dev.name} on {dev.platform.name}"


class CLCompiler(Compiler):
    """OpenCL C source -> the driver's program binary for one device, compiled with floating-point contraction off.

    Built with pyopencl's low-level program object on purpose: the high-level `pyopencl.Program.build` adds
    include paths and `$PYOPENCL_BUILD_OPTIONS`, keeps its own disk cache and writes failed sources to temporary
    files; here the options are exactly `options`, which the cache key (`identity`) names.
    """

    def __init__(self, name: str, dev: CLDevice, options: tuple[str, ...] = ()) -> None:
        self.name, self.dev, self.options = name, dev, options
        d, p = dev.device, dev.device.platform
        self.identity = " | ".join(
            [
                f"opencl {p.name} {p.version}",
                d.name,
                f"driver {d.driver_version}",
                f"options {' '.join(options)}",
                f"prelude {_PRELUDE!r}",
            ]
        )

    def compile(self, src: str) -> bytes:
        prg = cl._cl._Program(self.dev.context, _PRELUDE + src)
        try:
            prg.build(" ".join(self.options).encode(), [self.dev.device])
        except cl.Error as e:
            log = ""
            try:
                log = str(prg.get_build_info(self.dev.device, cl.program_build_info.LOG))
            except cl.Error:
                pass  # some drivers keep no log for a failed build: the exception text is all there is
            raise CompileError(log.strip() or str(e), src, self.name) from None
        binaries: Any = prg.get_info(cl.program_info.BINARIES)  # one per device of the program: ours alone
        binary = binaries[0]
        if not binary:
            raise CompileError("the driver built the program but returned an empty binary", src, self.name)
        return bytes(binary)


class CLProgram(Program):
    """A kernel loaded from a program binary. Buffers are set as arguments first, then the int32 `vals`.

    OpenCL's global work size is `global_size * local_size` per dimension; with `local_size=None` it is
    `global_size` and the driver picks the work-group size.
    """

    def __init__(self, dev: CLDevice, options: tuple[str, ...], name: str, binary: bytes) -> None:
        self.dev, self.name = dev, name
        self._prg = cl._cl._Program(dev.context, [dev.device], [binary])
        self._prg.build(" ".join(options).encode(), [dev.device])
        try:
            self._kernel = cl.Kernel(self._prg, name)
        except cl.Error:
            names = self._prg.get_info(cl.program_info.KERNEL_NAMES)
            raise ValueError(f"{name!r} is not a kernel of this program (its kernels: {names or 'none'})") from None
        self.nargs: int = self._kernel.num_args
        # arguments live on the kernel object: setting them and enqueueing must not interleave across threads
        self._lock = threading.Lock()

    def launch(self, bufs: tuple[cl.Buffer, ...], how: Launch) -> float | None:
        if len(bufs) + len(how.vals) != self.nargs:
            raise ValueError(
                f"{self.name}: takes {self.nargs} arguments, got {len(bufs)} buffers and {len(how.vals)} values"
            )
        if how.local_size is not None and len(how.local_size) != len(how.global_size):
            raise ValueError(
                f"{self.name}: global_size {how.global_size} and local_size {how.local_size} differ in length"
            )
        gws = (
            tuple(g * l for g, l in zip(how.global_size, how.local_size))
            if how.local_size is not None
            else tuple(how.global_size)
        )
        lws = tuple(how.local_size) if how.local_size is not None else None
        args: list[Any] = []
        for b in bufs:
            if not isinstance(b, cl.Buffer):
                raise TypeError(f"{self.name}: buffer arguments must be CL buffer handles, got {type(b).__name__}")
            args.append(b)
        for v in how.vals:
            if not -(2**31) <= v < 2**31:
                raise ValueError(f"{self.name}: variable value {v} does not fit in an int32")
            args.append(_INT32.pack(v))  # pyopencl passes any bytes-like value as the argument's raw bytes
        if 0 in gws:
            return 0.0 if how.wait else None  # nothing to run (OpenCL 1.x refuses an empty range)
        with self._lock:
            for i, a in enumerate(args):
                self._kernel.set_arg(i, a)
            try:
                event = cl.enqueue_nd_range_kernel(self.dev.queue, self._kernel, gws, lws)
            except cl.LogicError as e:
                raise ValueError(f"{self.name}: launch with global {gws}, local {lws} refused: {e}") from e
        if not how.wait:
            return None
        event.wait()
        return float(event.profile.end - event.profile.start) * 1e-9


def _all_devices() -> list[cl.Device]:
    """Every OpenCL device, platform by platform."""
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:
        raise DeviceUnavailable(f"no OpenCL platform found (is an ICD such as pocl-opencl-icd installed?): {e}") from e
    out: list[cl.Device] = []
    for p in platforms:
        try:
            out.extend(p.get_devices())
        except cl.Error:
            continue  # a platform without devices reports DEVICE_NOT_FOUND
    return out


def _supported_dtypes(device: cl.Device) -> frozenset[DType]:
    exts = set(device.extensions.split())
    out = {d for d in dtypes.all() if d not in (dtypes.float16, dtypes.bfloat16, dtypes.float64)}
    if "cl_khr_fp16" in exts:
        out.add(dtypes.float16)
    if "cl_khr_fp64" in exts:
        out.add(dtypes.float64)
    # 64-bit integers are optional only in the embedded profile
    if device.profile == "EMBEDDED_PROFILE" and "cles_khr_int64" not in exts:
        out -= {dtypes.int64, dtypes.uint64}
    return frozenset(out)


def _build_options(device: cl.Device) -> tuple[str, ...]:
    # correctly rounded float32 division and sqrt where the device offers it, so results match the PYTHON
    # reference bit for bit (OpenCL otherwise allows errors of a few ulp)
    if device.single_fp_config & cl.device_fp_config.CORRECTLY_ROUNDED_DIVIDE_SQRT:
        return ("-cl-fp32-correctly-rounded-divide-sqrt",)
    return ()


def create_device(name: str) -> Compiled:
    if _IMPORT_ERROR is not None:
        raise DeviceUnavailable(f"pyopencl is not installed (pip install 'tg-runtime[opencl]'): {_IMPORT_ERROR}")
    _, _, index_text = name.partition(":")
    try:
        index = int(index_text or "0")
    except ValueError:
        raise DeviceUnavailable(f"{name}: the device number must be an integer") from None
    devices = _all_devices()
    if not devices:
        raise DeviceUnavailable("no OpenCL device found on any platform")
    if not 0 <= index < len(devices):
        found = "; ".join(f"CL:{i} = {_describe(d)}" for i, d in enumerate(devices))
        pocl = "Portable" in found  # PoCL makes as many CPU devices as POCL_DEVICES lists
        hint = " (for two on PoCL: POCL_DEVICES='pthread pthread')" if pocl else ""
        raise DeviceUnavailable(f"{name}: there are only {len(devices)} OpenCL device(s): {found}{hint}")
    dev = CLDevice(devices[index])
    d = dev.device
    options = _build_options(d)
    caps = Capabilities(
        language="OpenCL",
        dtypes=_supported_dtypes(d),
        local_memory=d.local_mem_size,
        max_local_size=tuple(d.max_work_item_sizes),
        has_workgroups=True,
        has_threads=False,
        threads=1,
        extra={
            "max_work_group_size": d.max_work_group_size,
            "device": _describe(d),
            # codegen tiles for a GPU differently from a CPU driven through OpenCL (PoCL)
            "device_type": "gpu" if d.type & cl.device_type.GPU else "cpu" if d.type & cl.device_type.CPU else "other",
        },
    )
    return Compiled(
        name,
        CLAllocator(name, dev),
        CLCompiler(name, dev, options),
        lambda prg_name, binary: CLProgram(dev, options, prg_name, binary),
        caps,
        synchronize=dev.synchronize,
    )
