"""The device registry: names, canonicalisation, the default device, availability and capability records."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import sys
import types

import pytest

from tg_runtime import Capabilities, Compiled, Device, DeviceUnavailable
from tg_runtime import device as device_mod
from tg_runtime.backends import cpu as cpu_backend
from tg_runtime.device import _Registry, canonicalize
from tg_uop import DType, dtypes

DEVICE_FLAGS = ("DEVICE", "CPU", "PYTHON")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No device-choosing variable set, whatever the caller's shell has."""
    for k in DEVICE_FLAGS:
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


@pytest.fixture
def no_cc(monkeypatch: pytest.MonkeyPatch):
    """The C compiler is a path that does not exist: the CPU device cannot be created in a fresh registry."""
    monkeypatch.setenv("CC", "/nonexistent/tg-test-cc")
    cpu_backend.find_cc.cache_clear()
    yield
    cpu_backend.find_cc.cache_clear()  # forget the bogus compiler for the tests that follow


def failing_backend(monkeypatch: pytest.MonkeyPatch, device: str, reason: str) -> None:
    """Point `device` at an importable backend module whose create_device refuses with `reason`."""
    mod = types.ModuleType(f"tg_runtime_test_backend_{device.lower()}")

    def create_device(name: str) -> Compiled:
        raise DeviceUnavailable(reason)

    mod.create_device = create_device
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(device_mod.BACKENDS, device, mod.__name__)


# ---- names ----


@pytest.mark.parametrize("name", ["CPU", "PYTHON"])
def test_lookup_by_exact_name(name: str) -> None:
    dev = Device[name]
    assert isinstance(dev, Compiled)
    assert dev.name == name


@pytest.mark.parametrize(
    ("spelling", "canonical"), [("cpu", "CPU"), ("Cpu", "CPU"), ("python", "PYTHON"), ("CPU:0", "CPU")]
)
def test_spellings_give_the_same_device(spelling: str, canonical: str) -> None:
    assert canonicalize(spelling) == canonical
    assert Device[spelling] is Device[canonical]


def test_device_instances_are_cached() -> None:
    reg = _Registry()
    assert reg["PYTHON"] is reg["python"] is reg["PYTHON:0"]


def test_numbered_device_is_a_separate_instance() -> None:
    reg = _Registry()
    assert canonicalize("python:1") == "PYTHON:1"
    one = reg["python:1"]
    assert one.name == "PYTHON:1"
    assert one is not reg["PYTHON"]
    assert one.allocator is not reg["PYTHON"].allocator


@pytest.mark.parametrize("bad", ["TPU", "gpu:0", "", "CPUX", "not a device"])
def test_unknown_device_raises_keyerror_naming_choices(bad: str) -> None:
    with pytest.raises(KeyError) as info:
        Device[bad]
    msg = str(info.value)
    assert repr(bad) in msg
    assert "CPU" in msg and "PYTHON" in msg


def test_unknown_device_in_fresh_registry_creates_nothing() -> None:
    reg = _Registry()
    with pytest.raises(KeyError):
        reg["nope"]
    assert reg._devices == {}


# ---- the default device ----


def test_default_is_first_working_device(clean_env: pytest.MonkeyPatch) -> None:
    assert _Registry().DEFAULT == "CPU"


@pytest.mark.parametrize(("value", "expected"), [("PYTHON", "PYTHON"), ("python", "PYTHON"), ("cpu", "CPU")])
def test_default_from_DEVICE(clean_env: pytest.MonkeyPatch, value: str, expected: str) -> None:
    clean_env.setenv("DEVICE", value)
    assert _Registry().DEFAULT == expected


def test_default_from_name_flag(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PYTHON", "1")
    assert _Registry().DEFAULT == "PYTHON"


def test_zero_flag_does_not_select(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PYTHON", "0")
    assert _Registry().DEFAULT == "CPU"


def test_DEVICE_wins_over_name_flag(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PYTHON", "1")
    clean_env.setenv("DEVICE", "CPU")
    assert _Registry().DEFAULT == "CPU"


def test_unknown_DEVICE_raises_naming_choices(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DEVICE", "QPU")
    with pytest.raises(KeyError, match="QPU"):
        _ = _Registry().DEFAULT


def test_fresh_registry_leaves_global_default_alone(clean_env: pytest.MonkeyPatch) -> None:
    before = Device.DEFAULT
    clean_env.setenv("DEVICE", "PYTHON" if before != "PYTHON" else "CPU")
    assert _Registry().DEFAULT != before
    assert Device.DEFAULT == before


def test_default_can_be_set(clean_env: pytest.MonkeyPatch) -> None:
    reg = _Registry()
    reg.DEFAULT = "python"
    assert reg.DEFAULT == "PYTHON"
    with pytest.raises(KeyError):
        reg.DEFAULT = "nonsense"
    assert reg.DEFAULT == "PYTHON"


def test_default_skips_unavailable_devices_in_order(clean_env: pytest.MonkeyPatch, no_cc: None) -> None:
    # CPU, LLVM, CL, CUDA, PYTHON: the first that works is the default
    failing_backend(clean_env, "LLVM", "no llvmlite for this test")
    failing_backend(clean_env, "CL", "no OpenCL for this test")
    failing_backend(clean_env, "CUDA", "no CUDA for this test")
    assert _Registry().DEFAULT == "PYTHON"


def test_default_order_puts_cl_before_python(clean_env: pytest.MonkeyPatch, no_cc: None) -> None:
    failing_backend(clean_env, "LLVM", "no llvmlite for this test")  # without a C compiler LLVM comes first
    reg = _Registry()
    expected = "CL" if Device.available()["CL"] is None else "CUDA" if Device.available()["CUDA"] is None else "PYTHON"
    assert reg.DEFAULT == expected


def test_default_when_nothing_works_lists_every_reason(clean_env: pytest.MonkeyPatch, no_cc: None) -> None:
    failing_backend(clean_env, "LLVM", "no llvmlite for this test")
    failing_backend(clean_env, "CL", "no OpenCL for this test")
    failing_backend(clean_env, "CUDA", "no CUDA for this test")
    failing_backend(clean_env, "PYTHON", "the interpreter device is switched off for this test")
    with pytest.raises(DeviceUnavailable) as info:
        _ = _Registry().DEFAULT
    msg = str(info.value)
    assert "CPU" in msg and "tg-test-cc" in msg
    assert "PYTHON" in msg and "switched off for this test" in msg
    assert "no OpenCL for this test" in msg and "no CUDA for this test" in msg and "no llvmlite" in msg


# ---- availability ----


def test_available_lists_every_known_device() -> None:
    avail = Device.available()
    assert set(avail) == set(device_mod.BACKENDS)
    assert avail["PYTHON"] is None
    assert avail["CPU"] is None  # the test machines have a C compiler


def test_unavailable_cpu_has_a_reason(no_cc: None) -> None:
    reg = _Registry()
    with pytest.raises(DeviceUnavailable, match="tg-test-cc"):
        reg["CPU"]
    avail = reg.available()
    assert avail["PYTHON"] is None
    reason = avail["CPU"]
    assert isinstance(reason, str) and "tg-test-cc" in reason


def test_unavailable_backend_reason_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    failing_backend(monkeypatch, "FAKEDEV", "no fake hardware attached")
    avail = _Registry().available()
    assert avail["FAKEDEV"] == "no fake hardware attached"
    assert avail["PYTHON"] is None


def test_backend_that_cannot_be_imported_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(device_mod.BACKENDS, "GHOST", "tg_runtime.backends.no_such_backend_for_tests")
    avail = _Registry().available()
    reason = avail["GHOST"]
    assert isinstance(reason, str) and "no_such_backend_for_tests" in reason
    with pytest.raises(ImportError):
        _Registry()["GHOST"]


def test_build_without_compiler_raises() -> None:
    dev = Compiled("NOCOMP", Device["PYTHON"].allocator, None, lambda n, b: None, Device["PYTHON"].caps)
    with pytest.raises(DeviceUnavailable, match="NOCOMP"):
        dev.build("k", "")


# ---- capability records ----


def test_cpu_capabilities() -> None:
    caps = Device["CPU"].caps
    assert isinstance(caps, Capabilities)
    assert caps.language == "C"
    assert {
        dtypes.bool,
        dtypes.int8,
        dtypes.int32,
        dtypes.int64,
        dtypes.uint8,
        dtypes.float32,
        dtypes.float64,
    } <= caps.dtypes
    assert all(isinstance(d, DType) for d in caps.dtypes)
    assert caps.threads >= 1
    assert not caps.has_workgroups


def test_python_capabilities_cover_every_dtype() -> None:
    caps = Device["PYTHON"].caps
    assert caps.language == "PYTHON"
    assert caps.dtypes == frozenset(dtypes.all())
    assert caps.threads == 1


def test_capabilities_are_immutable() -> None:
    caps = Device["PYTHON"].caps
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.language = "C"


def test_capabilities_compare_by_value() -> None:
    a = Capabilities("C", frozenset({dtypes.float32}), extra={"note": 1})
    b = Capabilities("C", frozenset({dtypes.float32}), extra={"note": 2})
    assert a == b and hash(a) == hash(b)
    assert a != Capabilities("OpenCL", frozenset({dtypes.float32}))


def test_each_device_has_allocator_compiler_and_program() -> None:
    for name in ("CPU", "PYTHON"):
        dev = Device[name]
        assert dev.allocator.device == name
        assert dev.compiler is not None
        assert callable(dev.program)
        dev.synchronize()


# ---- documentation ----


@pytest.mark.parametrize("module", ["tg_runtime", "tg_runtime.device", "tg_runtime.buffer"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
