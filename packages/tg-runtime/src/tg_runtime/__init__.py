"""tg-runtime: devices, buffers, allocators, compilers and program launch.

>>> from tg_runtime import Device
>>> "CPU" in Device.available()
True
"""

from tg_runtime.allocator import Allocator
from tg_runtime.buffer import Buffer
from tg_runtime.compiler import CompileError, Compiler
from tg_runtime.device import Capabilities, Compiled, Device, DeviceUnavailable, Launch, Program

__version__ = "0.1.0"

__all__ = [
    "Allocator",
    "Buffer",
    "Capabilities",
    "CompileError",
    "Compiled",
    "Compiler",
    "Device",
    "DeviceUnavailable",
    "Launch",
    "Program",
]
