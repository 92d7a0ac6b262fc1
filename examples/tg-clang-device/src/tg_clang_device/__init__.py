"""CLANGCC: tg's C kernels compiled by clang. A template for device plugins (see docs/adding-a-device.md).

The factory `create_device(name) -> Compiled` is what the `tg.devices` entry point names. It raises
`DeviceUnavailable` with the reason when clang is missing, so `Device.available()` can say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from tg_runtime import Capabilities, Compiled, CompileError, Compiler, DeviceUnavailable
from tg_runtime.backends.cpu import CPUProgram, HostAllocator
from tg_uop import dtypes

__all__ = ["ClangCompiler", "create_device", "find_clang"]

# as tg's CPU device: no fused multiply-add (results must equal the PYTHON reference's bit for bit)
FLAGS = ("-O2", "-march=native", "-fPIC", "-shared", "-fno-math-errno", "-ffp-contract=off")


def find_clang() -> str:
    """$TG_CLANG, else `clang`, else the newest `clang-NN` on the PATH."""
    if cc := os.environ.get("TG_CLANG"):
        return cc
    for name in ("clang", *(f"clang-{v}" for v in range(25, 10, -1))):
        if shutil.which(name):
            return name
    raise DeviceUnavailable("no clang found (install clang, or set TG_CLANG)")


def _run(cmd: list[str], src: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=src, capture_output=True, text=True, timeout=120)


class ClangCompiler(Compiler):
    """C source -> a shared library, by clang; with OpenMP where clang has it (libomp)."""

    def __init__(self) -> None:
        self.cc = find_clang()
        try:
            version = subprocess.run([self.cc, "--version"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise DeviceUnavailable(f"{self.cc} does not run: {e}") from e
        self.openmp = self._works("-fopenmp")
        self.flags = (*FLAGS, *(("-fopenmp",) if self.openmp else ()), "-lm")
        self.identity = f"{version.splitlines()[0] if version else self.cc} {' '.join(self.flags)}"

    def _works(self, flag: str) -> bool:
        src = "int f(int n) {\n  int s = 0;\n#pragma omp parallel for reduction(+:s)\n"
        src += "  for (int i = 0; i < n; i++) s += i;\n  return s;\n}\n"
        with tempfile.TemporaryDirectory(prefix="tg-clang-") as d:
            cmd = [self.cc, "-x", "c", "-", flag, "-shared", "-fPIC", "-o", os.path.join(d, "t.so")]
            try:
                return _run(cmd, src).returncode == 0
            except (OSError, subprocess.SubprocessError):
                return False

    def compile(self, src: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="tg-clang-") as d:
            out = os.path.join(d, "lib.so")
            proc = _run([self.cc, "-x", "c", "-", "-o", out, *self.flags], src)
            if proc.returncode != 0:
                raise CompileError(proc.stderr or proc.stdout, src, "CLANGCC")
            with open(out, "rb") as f:
                return f.read()


def create_device(name: str) -> Compiled:
    """The CLANGCC device: host memory and program loading from tg's CPU device, clang as the compiler."""
    compiler = ClangCompiler()
    caps = Capabilities(
        language="C",  # tg-codegen renders C for it, with the CPU's heuristics
        dtypes=frozenset(d for d in dtypes.all() if d != dtypes.bfloat16),
        has_threads=compiler.openmp,
        threads=len(os.sched_getaffinity(0)) if compiler.openmp else 1,
    )
    return Compiled(name, HostAllocator(name), compiler, CPUProgram, caps)
