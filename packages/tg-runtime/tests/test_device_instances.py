"""Several instances of one backend (`CPU:0`, `CPU:1`, ...): each its own device, allocator and thread budget;
device tuples ("CPU,CPU:1") name several devices for tensors placed on all of them."""

from __future__ import annotations

import pytest

from tg_runtime import Buffer, Device
from tg_runtime.device import canonicalize, split_devices
from tg_uop import dtypes


def test_instances_are_separate_devices() -> None:
    a, b = Device["CPU:0"], Device["CPU:1"]
    assert a is Device["CPU"] and a is not b and b.name == "CPU:1"
    assert a.allocator is not b.allocator
    in_a, in_b = a.allocator.in_use, b.allocator.in_use
    x = Buffer("CPU:1", 16, dtypes.float32).copyin(memoryview(bytearray(64)))
    assert b.allocator.in_use == in_b + 64 and a.allocator.in_use == in_a
    assert x.as_memoryview().nbytes == 64


def test_thread_budget_per_instance() -> None:
    Device.set_threads("CPU:5", 1)
    assert Device["CPU:5"].caps.threads == 1
    assert Device["CPU"].caps.threads == Device["CPU:6"].caps.threads  # others keep theirs
    Device.set_threads("cpu:5", 2)  # also after creation
    assert Device["CPU:5"].caps.threads == (2 if Device["CPU:5"].caps.has_threads else 1)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        Device.set_threads("CPU:5", 0)


def test_device_tuples() -> None:
    assert canonicalize("cpu:0, cpu:1") == "CPU,CPU:1"
    assert split_devices("CPU,CPU:1") == ("CPU", "CPU:1") and split_devices("CPU:1") == ("CPU:1",)
    with pytest.raises(KeyError, match="twice"):
        canonicalize("CPU,CPU:0")
    with pytest.raises(KeyError, match="unknown device"):
        canonicalize("CPU,NOPE")
    with pytest.raises(KeyError, match="Device\\[...\\] takes one device"):
        Device["CPU,CPU:1"]
    with pytest.raises(KeyError, match="device tuple"):
        Device.set_threads("CPU,CPU:1", 1)
