"""LLVM: LLVM IR compiled in-process by llvmlite (`tg-runtime[llvm]`): a CPU device that needs no C compiler.

The compiler optimizes the IR at -O2 for the host CPU (loop and SLP vectorizers on, no fast-math) and emits an
object file, which is what the disk cache keeps; a program loads it into its own MCJIT engine (kernels of
different programs share names) and calls the function through ctypes. Math functions resolve to the C
library of this process, the same `exp2f`/`log2f`/`sinf` the CPU device's kernels call.

A kernel whose IR starts with `; tg.threads = N` takes two trailing 64-bit parameters, its thread's
number and N, and runs its share of its THREAD loop: the device calls it once on each of N threads of a
thread pool (ctypes releases the GIL during the call), no OpenMP needed. Host memory is the CPU device's.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import re
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tg_runtime.backends.cpu import HostAllocator, HostMemory
from tg_runtime.compiler import CompileError, Compiler
from tg_runtime.device import Capabilities, Compiled, DeviceUnavailable, Launch, Program
from tg_uop.dtype import dtypes

_IMPORT_ERROR: ImportError | None = None
try:
    import llvmlite
    import llvmlite.binding as llvm
except ImportError as e:  # the module stays importable so that create_device can say why LLVM cannot work
    _IMPORT_ERROR = e

_MAGIC = b"TGLL"
_THREADS = re.compile(r"^; tg\.threads = (\d+)", re.MULTILINE)
_CTYPES = {"ptr": ctypes.c_void_p, "i8": ctypes.c_int8, "i16": ctypes.c_int16, "i32": ctypes.c_int32}
_CTYPES["i64"] = ctypes.c_int64


@functools.cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def _target_machine() -> Any:
    _init()
    target = llvm.Target.from_default_triple()
    features = llvm.get_host_cpu_features().flatten()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=features, opt=2, jit=True)


class LLVMCompiler(Compiler):
    """LLVM IR text -> a header (each function's parameter types and threads) and an object file."""

    def __init__(self) -> None:
        self.tm = _target_machine()
        self.identity = f"llvmlite {llvmlite.__version__} {self.tm.triple} {llvm.get_host_cpu_name()} O2"
        self._lock = threading.Lock()

    def compile(self, src: str) -> bytes:
        with self._lock:  # one target machine: compile one module at a time
            try:
                mod = llvm.parse_assembly(src)
                mod.verify()
            except RuntimeError as e:
                raise CompileError(str(e), src, "LLVM") from None
            mod.triple, mod.data_layout = self.tm.triple, str(self.tm.target_data)
            pto = llvm.create_pipeline_tuning_options(speed_level=2)
            pto.loop_vectorization, pto.slp_vectorization = True, True
            pb = llvm.create_pass_builder(self.tm, pto)
            pb.getModulePassManager().run(mod, pb)
            obj = bytes(self.tm.emit_object(mod))
        threads = int(m.group(1)) if (m := _THREADS.search(src)) else 0  # 0: not a threaded kernel
        funcs = {f.name: [str(a.type) for a in f.arguments] for f in mod.functions if not f.is_declaration}
        header = json.dumps({"threads": threads, "functions": funcs}).encode()
        return _MAGIC + struct.pack("<I", len(header)) + header + obj


@functools.cache
def _pool(pid: int, n: int) -> ThreadPoolExecutor:
    # one pool per process: a forked child has none of its parent's threads
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="tg-llvm")


class LLVMProgram(Program):
    """A function of an object file, loaded into its own MCJIT engine and called through ctypes."""

    def __init__(self, name: str, lib: bytes) -> None:
        if lib[:4] != _MAGIC:
            raise ValueError(f"{name}: not an LLVM device binary")
        (n,) = struct.unpack("<I", lib[4:8])
        header = json.loads(lib[8 : 8 + n])
        if name not in header["functions"]:
            raise ValueError(f"{name}: no such function in the program (has {sorted(header['functions'])})")
        self.name, self.threads = name, int(header["threads"])
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
        self._engine.add_object_file(llvm.ObjectFileRef.from_data(lib[8 + n :]))
        self._engine.finalize_object()
        argtypes = [_CTYPES[t] for t in header["functions"][name]]
        self._nargs = len(argtypes) - (2 if self.threads else 0)
        self._fxn = ctypes.CFUNCTYPE(None, *argtypes)(self._engine.get_function_address(name))

    def launch(self, bufs: tuple[HostMemory, ...], how: Launch) -> float | None:
        args = [b.addr for b in bufs] + list(how.vals)
        if len(args) != self._nargs:
            raise ValueError(f"{self.name}: needs {self._nargs} buffers and values, got {len(args)}")
        start = time.perf_counter()
        if self.threads == 1:
            self._fxn(*args, 0, 1)
        elif self.threads > 1:
            pool = _pool(os.getpid(), self.threads)
            jobs = [pool.submit(self._fxn, *args, t, self.threads) for t in range(self.threads)]
            for job in jobs:
                job.result()
        else:
            self._fxn(*args)
        return time.perf_counter() - start if how.wait else None


def create_device(name: str) -> Compiled:
    if _IMPORT_ERROR is not None:
        raise DeviceUnavailable(f"llvmlite is not installed (pip install 'tg-runtime[llvm]'): {_IMPORT_ERROR}")
    compiler = LLVMCompiler()
    threads = len(os.sched_getaffinity(0))
    caps = Capabilities(
        language="LLVM",
        dtypes=frozenset(d for d in dtypes.all() if d != dtypes.bfloat16),
        has_threads=True,
        threads=threads,
    )
    return Compiled(name, HostAllocator(name), compiler, LLVMProgram, caps)
