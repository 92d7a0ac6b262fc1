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
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tg_runtime.allocator import Allocator
from tg_runtime.compiler import Compiler
from tg_runtime.counters import COUNTERS
from tg_runtime.plugin import Discovery, Plugin, discover
from tg_uop.dtype import DType
from tg_uop.helpers import DEBUG


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
        return self.run(bufs, Launch(global_size, local_size, vals, wait))

    def run(self, bufs: tuple[Any, ...], how: Launch) -> float | None:
        """The call with its `Launch` made beforehand (a JIT replay makes one per kernel, once)."""
        COUNTERS.launches += 1
        return self.launch(bufs, how)

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
        COUNTERS.compiles += 1
        return self.program(name, self.compiler.compile_cached(src))


# backend module for each device name; CPU first: it is the default when nothing is asked for
BACKENDS: dict[str, str] = {
    "CPU": "tg_runtime.backends.cpu",
    "LLVM": "tg_runtime.backends.llvm",
    "CL": "tg_runtime.backends.cl",
    "CUDA": "tg_runtime.backends.cuda",
    "PYTHON": "tg_runtime.backends.python",
    "DISK": "tg_runtime.backends.disk",
}
# the default device is the first of these that works (DISK is storage, never a default)
_DEFAULT_ORDER = ("CPU", "LLVM", "CL", "CUDA", "PYTHON")


# device-selection flags that name a device by another name: the documents' CLANG=1 is the C backend
FLAG_ALIASES: dict[str, str] = {"CLANG": "CPU"}
# what a device's creation raises when it cannot work here (a plugin may fail in any way: see _create)
_UNAVAILABLE = (DeviceUnavailable, ImportError, OSError)


def canonicalize(device: str) -> str:
    """'cpu' -> 'CPU', 'cl:0' -> 'CL:0', 'disk:/path' keeps its path; KeyError for unknown names (built-in
    devices and the `tg.devices` plugins are known). A device tuple is its devices joined by commas:
    'cpu:0,cpu:1' -> 'CPU,CPU:1' (each device once)."""
    return Device.canonical(device)


def split_devices(device: str) -> tuple[str, ...]:
    """The devices a (canonical) device name stands for: one, or each of a device tuple.

    >>> split_devices("CPU,CPU:1"), split_devices("CPU")
    (('CPU', 'CPU:1'), ('CPU',))
    """
    return tuple(device.split(",")) if "," in device else (device,)


class _Registry:
    """Device instances, created on first use (the device cache named by the design)."""

    def __init__(self) -> None:
        self._devices: dict[str, Compiled] = {}
        self._threads: dict[str, int] = {}  # thread budgets asked for with set_threads
        self._default: str | None = None
        self._discovery: Discovery | None = None
        # threads using a device for the first time at once must get one instance (two OpenCL contexts would
        # each reject the other's buffers): creation is serialized; reentrant, as a backend may look up another
        self._lock = threading.RLock()

    def plugins(self) -> dict[str, Plugin]:
        """The device plugins installed (entry point group `tg.devices`), by device name."""
        return {p.name: p for p in self._discover().plugins}

    def _discover(self) -> Discovery:
        if self._discovery is None:
            self._discovery = discover(frozenset(BACKENDS))
        return self._discovery

    def canonical(self, device: str) -> str:
        """The canonical name of `device` (see `canonicalize`), knowing this registry's plugins."""
        if "," in device and not device.upper().startswith("DISK:"):
            names = [self.canonical(d.strip()) for d in device.split(",")]
            if len(set(names)) != len(names):
                raise KeyError(f"device tuple {device!r} names a device twice")
            return ",".join(names)
        base, sep, rest = device.partition(":")
        base = base.upper()
        if base not in BACKENDS and base not in self.plugins():
            raise KeyError(f"unknown device {device!r}; known: {sorted([*BACKENDS, *self.plugins()])}")
        if base == "DISK" or rest in ("", "0"):
            return base + (sep + rest if base == "DISK" else "")
        return f"{base}:{rest}"

    def __getitem__(self, name: str) -> Compiled:
        key = self.canonical(name)
        if (dev := self._devices.get(key)) is not None:
            return dev
        if len(split_devices(key)) > 1:
            raise KeyError(f"{name!r} is a device tuple; Device[...] takes one device")
        with self._lock:
            if key not in self._devices:
                self._devices[key] = self._with_threads(self._create(key))
            return self._devices[key]

    def set_threads(self, name: str, threads: int) -> None:
        """Give one device instance its own thread budget: its kernels use at most `threads` CPU threads (each
        instance, `CPU:0`, `CPU:1`, ..., is a device of its own, with its own allocator). Kernels built before
        keep the count they were built with. A device without threads (a GPU) ignores it.

        >>> Device.set_threads("CPU:3", 1)
        >>> Device["CPU:3"].caps.threads
        1
        """
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"set_threads: threads must be an int >= 1, got {threads!r}")
        key = self.canonical(name)
        if len(split_devices(key)) > 1:
            raise KeyError(f"set_threads: {name!r} is a device tuple; give one device")
        with self._lock:
            self._threads[key] = threads
            if key in self._devices:
                self._devices[key] = self._with_threads(self._devices[key])

    def _with_threads(self, dev: Compiled) -> Compiled:
        want = self._threads.get(dev.name)
        if want is not None and dev.caps.has_threads:
            dev.caps = replace(dev.caps, threads=want)
        return dev

    def _create(self, key: str) -> Compiled:
        base = key.split(":")[0]
        if base in BACKENDS:
            created = importlib.import_module(BACKENDS[base]).create_device(key)
            assert isinstance(created, Compiled)
            return created
        plugin = self.plugins()[base]
        try:
            created = plugin.load()(key)
        except _UNAVAILABLE:
            raise
        except Exception as e:  # a broken plugin says so, whatever it raised
            raise DeviceUnavailable(f"device plugin {base} ({plugin.target}) failed: {e!r}") from e
        if not isinstance(created, Compiled):
            raise DeviceUnavailable(
                f"device plugin {base} ({plugin.target}) returned {type(created).__name__}, not Compiled"
            )
        return created

    def available(self) -> dict[str, str | None]:
        """Every known device, built-in and plugin: None when it works here, else the reason it does not."""
        out: dict[str, str | None] = {}
        for name in [*BACKENDS, *self.plugins()]:
            try:
                self[name]
                out[name] = None
            except _UNAVAILABLE as e:
                out[name] = str(e) or type(e).__name__
        out.update(self._discover().refused)
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
        self._default = self.canonical(name)

    def _asked(self) -> tuple[str, str] | None:
        """(the flag, the device) the environment asks for: `DEVICE=NAME`, else the first `NAME=1`."""
        if want := os.environ.get("DEVICE"):
            return f"DEVICE={want}", want
        for flag in [*BACKENDS, *FLAG_ALIASES, *self.plugins()]:
            if os.environ.get(flag, "0") not in ("", "0"):
                return f"{flag}={os.environ[flag]}", FLAG_ALIASES.get(flag, flag)
        return None

    def _pick_default(self) -> str:
        if (asked := self._asked()) is not None:
            flag, want = asked
            try:
                self[want]
                return self.canonical(want)
            except (KeyError, *_UNAVAILABLE) as e:
                works = ", ".join(n for n, why in self.available().items() if why is None)
                # an unknown name stays a KeyError, as from Device[name]
                err = KeyError if isinstance(e, KeyError) else DeviceUnavailable
                why = e.args[0] if isinstance(e, KeyError) else e
                raise err(f"{flag}: {why}; the devices that work here: {works}") from None
        reasons = []
        for name in _DEFAULT_ORDER:
            try:
                self[name]
            except _UNAVAILABLE as e:
                reasons.append(f"{name}: {e}")
                continue
            if reasons and DEBUG >= 1:  # e.g. no C compiler here: say why the default is not CPU
                print(f"tg: default device {name} ({'; '.join(reasons)})", file=sys.stderr)
            return name
        raise DeviceUnavailable("no device works here: " + "; ".join(reasons))


Device = _Registry()
