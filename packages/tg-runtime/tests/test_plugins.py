"""Device plugins (entry point group `tg.devices`) and the device-selection flags: plugins are found, listed with
the reason when they fail, never break the built-in devices, and cannot take a built-in name."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import pytest

from tg_runtime import Capabilities, Compiled, Device, DeviceUnavailable
from tg_runtime import plugin as plugin_mod
from tg_runtime.backends.python import PythonAllocator, PythonCompiler, PythonProgram
from tg_runtime.device import _Registry
from tg_uop import dtypes

FLAGS = ("DEVICE", "CPU", "CLANG", "LLVM", "CL", "CUDA", "PYTHON", "DISK", "GOOD", "BROKEN", "RAISES")


def _good_device(name: str) -> Compiled:
    caps = Capabilities(language="PYTHON", dtypes=frozenset({dtypes.float32, dtypes.int32}))
    return Compiled(name, PythonAllocator(name), PythonCompiler(), PythonProgram, caps)


def _raising_device(name: str) -> Compiled:
    raise RuntimeError("the fake accelerator caught fire")


class _Dist:
    name = "tg-fake-plugins"


def _ep(name: str, target: str) -> EntryPoint:
    ep = EntryPoint(name, target, plugin_mod.ENTRY_POINT_GROUP)
    return ep._for(_Dist())  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four entry points: a working device, one whose module does not import, one whose factory raises, one
    that takes a built-in name, and one with a name that is not a device name."""
    module = types.ModuleType("tg_fake_plugin_devices")
    module.good = _good_device  # type: ignore[attr-defined]
    module.raises = _raising_device  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tg_fake_plugin_devices", module)
    eps = [
        _ep("GOOD", "tg_fake_plugin_devices:good"),
        _ep("BROKEN", "tg_no_such_plugin_module:create_device"),
        _ep("raises", "tg_fake_plugin_devices:raises"),
        _ep("CPU", "tg_fake_plugin_devices:good"),
        _ep("not a name", "tg_fake_plugin_devices:good"),
    ]
    monkeypatch.setattr(plugin_mod, "entry_points", lambda group: eps if group == plugin_mod.ENTRY_POINT_GROUP else [])
    for flag in FLAGS:
        monkeypatch.delenv(flag, raising=False)


def test_plugins_are_listed_with_reasons(fake_plugins: None) -> None:
    reg = _Registry()
    avail = reg.available()
    assert avail["GOOD"] is None and avail["CPU"] is None and avail["PYTHON"] is None
    assert "tg_no_such_plugin_module" in str(avail["BROKEN"]) and "failed to load" in str(avail["BROKEN"])
    assert "caught fire" in str(avail["RAISES"])
    assert "not a device name" in str(avail["not a name"])
    assert reg["CPU"].caps.language == "C"  # the built-in device, not the plugin that took its name
    assert "name of a built-in device" in str(avail["CPU (plugin from tg-fake-plugins)"])


def test_plugin_device_runs_and_is_selectable(fake_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = _Registry()
    assert reg["good"].name == "GOOD" and reg["GOOD:1"].name == "GOOD:1"
    monkeypatch.setenv("GOOD", "1")
    assert _Registry().DEFAULT == "GOOD"
    monkeypatch.delenv("GOOD")
    monkeypatch.setenv("DEVICE", "good")
    assert _Registry().DEFAULT == "GOOD"


def test_broken_plugin_asked_for_names_what_works(fake_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVICE", "BROKEN")
    with pytest.raises(DeviceUnavailable, match=r"DEVICE=BROKEN: .*failed to load.*work here: CPU, .*PYTHON, GOOD"):
        _ = _Registry().DEFAULT
    monkeypatch.setenv("DEVICE", "RAISES")
    with pytest.raises(DeviceUnavailable, match="caught fire"):
        _ = _Registry().DEFAULT


def test_unreadable_entry_points_do_not_break_tg(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(group: str) -> list[EntryPoint]:
        raise OSError("corrupt metadata")

    monkeypatch.setattr(plugin_mod, "entry_points", boom)
    avail = _Registry().available()
    assert avail["PYTHON"] is None and "corrupt metadata" in str(avail["(entry points)"])


@pytest.mark.parametrize(("flag", "device"), [("CLANG", "CPU"), ("CPU", "CPU"), ("LLVM", "LLVM"), ("PYTHON", "PYTHON")])
def test_name_flags(flag: str, device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for f in FLAGS:
        monkeypatch.delenv(f, raising=False)
    if Device.available().get(device) is not None:
        pytest.skip(f"{device} does not work here")
    monkeypatch.setenv(flag, "1")
    assert _Registry().DEFAULT == device


def test_unavailable_device_flag_names_what_works(monkeypatch: pytest.MonkeyPatch) -> None:
    for f in FLAGS:
        monkeypatch.delenv(f, raising=False)
    monkeypatch.setenv("DISK", "1")  # storage only: never a device to compute on
    with pytest.raises(DeviceUnavailable, match=r"DISK=1: .*the devices that work here: CPU"):
        _ = _Registry().DEFAULT
