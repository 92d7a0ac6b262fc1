"""The device registry: `Device["CPU"]`, `Device.DEFAULT`, `Device.available()`.

A device is three pieces and a record: an `Allocator` (memory), a `Compiler` (source -> binary, cached) and
a program factory (binary -> callable `Program`), plus `Capabilities` that tg-codegen reads to choose a
renderer and its limits. Backends live in `tg_runtime.backends.<name>` and are imported only when used.

>>> from tg_runtime import Device
>>> Device["PYTHON"].caps.language
'PYTHON'
"""

from __future__ import annotations

import importlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tg_runtime.allocator import Allocator
from tg_runtime.compiler import Compiler
from tg_uop.dtype import DType


class DeviceUnavailable(RuntimeError):
    """A device cannot be used here; the message says why."""


@dataclass(frozen=True)
class Capabilities:
    """What a device offers, for code generators.

    language: the source language the device compiles ("C", "OpenCL", "CUDA", "PYTHON"; "" for DISK).
    local_memory: bytes of work-group shared memory (0: none). max_local_size: largest work-group per axis.
    threads: CPU threads a program may use (1 for GPUs: their parallelism is in global/local sizes).
    """

    language: str
    dtypes: frozenset[DType]
    local_memory: int = 0
    max_local_size: tuple[int, ...] = ()
    has_workgroups: bool = False
    has_threads: bool = False
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Launch:
    """How one call of a `Program` runs: launch geometry, variable values, and whether to time it."""

    global_size: tuple[int, ...] = (1, 1, 1)
    local_size: tuple[int, ...] | None = None
    vals: tuple[int, ...] = ()
    wait: bool = False


class Program(ABC):
    """A compiled kernel. Called with device buffer handles, then launch geometry and integer variables.

    `global_size` counts work-groups per dimension and `local_size` work-items per group (OpenCL's global work
    size is their product; CUDA's grid and block). Devices that loop inside the kernel (CPU) ignore both.
    `vals` are the int32 values of the program's variables, in the order of its DEFINE_VARs. With `wait` the
    call blocks until the kernel is done and returns the seconds it ran; otherwise it returns None.
    Backends implement `launch`; the call signature lives here once.
    """

    name: str

    def __call__(
        self,
        *bufs: Any,
        global_size: tuple[int, ...] = (1, 1, 1),
        local_size: tuple[int, ...] | None = None,
        vals: tuple[int, ...] = (),
        wait: bool = False,
    ) -> float | None:
        return self.launch(bufs, Launch(global_size, local_size, vals, wait))

    @abstractmethod
    def launch(self, bufs: tuple[Any, ...], how: Launch) -> float | None:
        """Run the kernel once over `bufs` as `how` says."""


@dataclass
class Compiled:
    """A usable device: allocator, compiler, program factory and capabilities."""

    name: str
    allocator: Allocator
    compiler: Compiler | None
    program: Callable[[str, bytes], Program]
    caps: Capabilities
    synchronize: Callable[[], None] = lambda: None

    def build(self, name: str, src: str) -> Program:
        """Compile `src` (through the disk cache) and load the function `name` from it."""
        if self.compiler is None:
            raise DeviceUnavailable(f"{self.name} cannot run programs")
        return self.program(name, self.compiler.compile_cached(src))


# backend module for each device name; CPU first: it is the default when nothing is asked for
BACKENDS: dict[str, str] = {
    "CPU": "tg_runtime.backends.cpu",
    "CL": "tg_runtime.backends.cl",
    "CUDA": "tg_runtime.backends.cuda",
    "PYTHON": "tg_runtime.backends.python",
    "DISK": "tg_runtime.backends.disk",
}
# the default device is the first of these that works (DISK is storage, never a default)
_DEFAULT_ORDER = ("CPU", "CL", "CUDA", "PYTHON")


def canonicalize(device: str) -> str:
    """'cpu' -> 'CPU', 'cl:0' -> 'CL:0', 'disk:/path' keeps its path; KeyError for unknown names."""
    base, sep, rest = device.partition(":")
    base = base.upper()
    if base not in BACKENDS:
        raise KeyError(f"unknown device {device!r}; known: {sorted(BACKENDS)}")
    if base == "DISK" or rest in ("", "0"):
        return base + (sep + rest if base == "DISK" else "")
    return f"{base}:{rest}"


class _Registry:
    """Device instances, created on first use (the device cache named by the design)."""

    def __init__(self) -> None:
        self._devices: dict[str, Compiled] = {}
        self._default: str | None = None
        # threads using a device for the first time at once must get one instance (two OpenCL contexts would
        # each reject the other's buffers): creation is serialized; reentrant, as a backend may look up another
        self._lock = threading.RLock()

    def __getitem__(self, name: str) -> Compiled:
        key = canonicalize(name)
        if (dev := self._devices.get(key)) is not None:
            return dev
        with self._lock:
            if key not in self._devices:
                base = key.split(":")[0]
                module = importlib.import_module(BACKENDS[base])
                self._devices[key] = module.create_device(key)
            return self._devices[key]

    def available(self) -> dict[str, str | None]:
        """Every known device: None when it works here, else the reason it does not."""
        out: dict[str, str | None] = {}
        for name in BACKENDS:
            try:
                self[name]
                out[name] = None
            except (DeviceUnavailable, ImportError, OSError) as e:
                out[name] = str(e) or type(e).__name__
        return out

    @property
    def DEFAULT(self) -> str:
        """`DEVICE=...` or `<NAME>=1` from the environment, else the first device that works (CPU first)."""
        if self._default is None:
            self._default = self._pick_default()
        return self._default

    @DEFAULT.setter
    def DEFAULT(self, name: str) -> None:
        self[name]
        self._default = canonicalize(name)

    def _pick_default(self) -> str:
        if want := os.environ.get("DEVICE"):
            return canonicalize(want)
        for name in BACKENDS:
            if os.environ.get(name, "0") not in ("", "0"):
                return name
        reasons = []
        for name in _DEFAULT_ORDER:
            try:
                self[name]
                return name
            except (DeviceUnavailable, ImportError, OSError) as e:
                reasons.append(f"{name}: {e}")
        raise DeviceUnavailable("no device works here: " + "; ".join(reasons))


Device = _Registry()
