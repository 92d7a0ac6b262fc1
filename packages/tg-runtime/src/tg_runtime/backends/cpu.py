"""CPU: C source compiled by the system C compiler into a shared library, called through ctypes.

The compiler is `$CC` if set, else the first of cc, gcc, clang on the PATH. Programs may use all cores with
OpenMP: when the compiler accepts `-fopenmp`, libraries are built with it, `caps.has_threads` is True and
`caps.threads` is the number of cores this process may run on (`os.sched_getaffinity`); a kernel that wants
threads says so itself (`#pragma omp parallel for num_threads(N)`). Host memory comes from anonymous mmap:
page-aligned, zeroed lazily by the OS, and an allocation the system cannot map fails as MemoryError.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import mmap
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from typing import Any

from tg_runtime.allocator import Allocator
from tg_runtime.compiler import CompileError, Compiler, cache_dir, cache_enabled
from tg_runtime.device import Capabilities, Compiled, DeviceUnavailable, Launch, Program
from tg_uop.dtype import dtypes


class HostMemory:
    """A block of host memory: its aligned address (also as the ctypes argument `ptr`, made once: a launch passes
    it as is) and a memoryview of it. `owner` keeps the storage alive."""

    __slots__ = ("addr", "mv", "owner", "ptr")

    def __init__(self, addr: int, nbytes: int, owner: Any) -> None:
        self.addr, self.owner, self.ptr = addr, owner, ctypes.c_void_p(addr)
        self.mv = (
            memoryview((ctypes.c_uint8 * nbytes).from_address(addr)).cast("B") if nbytes else memoryview(bytearray())
        )


class HostAllocator(Allocator):
    """Host memory from anonymous mmap (page-aligned, so compiled code may use aligned vector loads)."""

    def _alloc(self, nbytes: int) -> HostMemory:
        try:
            mm = mmap.mmap(-1, max(nbytes, 1))
        except OSError as e:
            raise MemoryError(str(e)) from e
        anchor = ctypes.c_char.from_buffer(mm)  # pins the mapping's address for as long as the block lives
        return HostMemory(ctypes.addressof(anchor), nbytes, (mm, anchor))

    def _free(self, opaque: Any) -> None:
        pass  # the mapping is unmapped when the last reference to the block goes

    def _copyin(self, dest: HostMemory, src: memoryview) -> None:
        dest.mv[:] = src

    def _copyout(self, dest: memoryview, src: HostMemory) -> None:
        dest[:] = src.mv

    def _offset(self, opaque: HostMemory, offset: int, nbytes: int) -> HostMemory:
        return HostMemory(opaque.addr + offset, nbytes, opaque)


@functools.cache
def find_cc() -> str:
    """The C compiler to use: $CC, else cc, gcc or clang."""
    if cc := os.environ.get("CC"):
        return cc
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    raise DeviceUnavailable("no C compiler found (set CC, or install gcc or clang)")


@functools.cache
def _cc_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise DeviceUnavailable(f"C compiler {cc!r} does not run: {e}") from e
    return out.stdout.splitlines()[0] if out.stdout else cc


@functools.cache
def _supports_openmp(cc: str) -> bool:
    src = (
        "int f(int n) {\n  int s = 0;\n#pragma omp parallel for reduction(+:s)\n"
        "  for (int i = 0; i < n; i++) s += i;\n  return s;\n}\n"
    )
    with tempfile.TemporaryDirectory(prefix="tg-cc-") as d:
        cmd = [cc, "-x", "c", "-", "-fopenmp", "-shared", "-fPIC", "-o", os.path.join(d, "t.so")]
        try:
            return subprocess.run(cmd, input=src, capture_output=True, text=True, timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


class ClangStyleCompiler(Compiler):
    """gcc/clang: C source -> shared library bytes."""

    # no contraction of a*b+c into one fused multiply-add: results must round like the PYTHON reference
    base_flags = ("-O2", "-march=native", "-fPIC", "-shared", "-fno-math-errno", "-ffp-contract=off")
    # gcc's loop vectorizer is off: gcc 12 with AVX-512 miscompiles unrolled reduces of guarded loads (see
    # tests/test_regress_reduce.py); tg_codegen unrolls and vectorizes kernels itself. clang has no such flag.
    gcc_flags = ("-fno-tree-loop-vectorize",)

    def __init__(self) -> None:
        self.cc = find_cc()
        self.openmp = _supports_openmp(self.cc)
        version = _cc_version(self.cc)
        extra = () if "clang" in version.lower() else self.gcc_flags
        self.flags = (*self.base_flags, *extra, *(("-fopenmp",) if self.openmp else ()), "-lm")
        self.identity = f"{version} {' '.join(self.flags)}"

    def compile(self, src: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="tg-cc-") as d:
            out = os.path.join(d, "lib.so")
            proc = subprocess.run(
                [self.cc, "-x", "c", "-", "-o", out, *self.flags], input=src, capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise CompileError(proc.stderr or proc.stdout, src, "CPU")
            with open(out, "rb") as f:
                return f.read()


class CPUProgram(Program):
    """A function in a shared library, called with buffer addresses then int variables."""

    def __init__(self, name: str, lib: bytes) -> None:
        self.name = name
        self._lib = _load_library(lib)
        self._fxn = getattr(self._lib, name)
        self._fxn.restype = None

    def launch(self, bufs: tuple[HostMemory, ...], how: Launch) -> float | None:
        args: list[Any] = [b.ptr for b in bufs]
        if how.vals:
            args += [ctypes.c_int(v) for v in how.vals]
        start = time.perf_counter()
        self._fxn(*args)
        return time.perf_counter() - start if how.wait else None


def _intact(path: pathlib.Path, digest: str) -> bool:
    """Whether the file at `path` holds exactly the bytes whose SHA-256 is `digest` (read and hashed: a file of the
    right size can still be corrupted, and dlopen would run whatever it holds)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


def _load_library(lib: bytes) -> ctypes.CDLL:
    """dlopen needs a file: keep it next to the compile cache, named by the SHA-256 of its content and verified
    against it before every load (a mismatch is written again from `lib`, which the compile cache verified), or
    in a temporary file that is deleted once loaded (the mapping stays valid) when the cache is off or its folder
    is unusable."""
    if cache_enabled():
        try:
            folder = cache_dir() / "lib"
            folder.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(lib).hexdigest()
            path = folder / f"{digest}.so"
            if not _intact(path, digest):
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".so")
                with os.fdopen(fd, "wb") as f:
                    f.write(lib)
                os.replace(tmp, path)
            return ctypes.CDLL(str(path))
        except OSError:
            pass
    fd, tmp = tempfile.mkstemp(prefix="tg-lib-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(lib)
        return ctypes.CDLL(tmp)
    finally:
        os.unlink(tmp)


def create_device(name: str) -> Compiled:
    compiler = ClangStyleCompiler()
    caps = Capabilities(
        language="C",
        dtypes=frozenset(d for d in dtypes.all() if d != dtypes.bfloat16),
        has_threads=compiler.openmp,
        threads=len(os.sched_getaffinity(0)) if compiler.openmp else 1,
    )
    return Compiled(name, HostAllocator(name), compiler, CPUProgram, caps)
