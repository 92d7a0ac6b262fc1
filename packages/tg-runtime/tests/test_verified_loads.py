"""What tg-runtime loads is what it verified: a cached shared library is checked by digest before dlopen, a
device is created once even when threads use it first at the same time, and absurd buffer sizes fail at once."""

from __future__ import annotations

import ctypes
import hashlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tg_runtime import Buffer
from tg_runtime.backends import cpu
from tg_runtime.backends.cpu import ClangStyleCompiler
from tg_runtime.device import Device, _Registry
from tg_uop.dtype import dtypes


def _lib(name: str, op: str) -> bytes:
    return ClangStyleCompiler().compile(f"int {name}(int a, int b) {{ return a {op} b; }}\n")


def test_a_same_size_corrupted_library_is_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path))
    name = f"f_{uuid.uuid4().hex}"  # a name no library loaded in this process has
    add, sub = _lib(name, "+"), _lib(name, "-")
    assert len(add) == len(sub) and add != sub  # another valid library of the very same size
    folder = tmp_path / "lib"
    folder.mkdir(parents=True)
    # the file that should hold `add` holds `sub`: a check by size alone would load it
    (folder / f"{hashlib.sha256(add).hexdigest()}.so").write_bytes(sub)
    fn = getattr(cpu._load_library(add), name)
    fn.restype = ctypes.c_int
    assert fn(5, 3) == 8
    assert (folder / f"{hashlib.sha256(add).hexdigest()}.so").read_bytes() == add  # repaired


def test_a_truncated_library_file_is_written_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path))
    name = f"g_{uuid.uuid4().hex}"
    mul = _lib(name, "*")
    path = tmp_path / "lib" / f"{hashlib.sha256(mul).hexdigest()}.so"
    path.parent.mkdir(parents=True)
    path.write_bytes(mul[:-7])
    fn = getattr(cpu._load_library(mul), name)
    fn.restype = ctypes.c_int
    assert fn(6, 7) == 42


def test_threads_using_a_device_first_get_one_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    from tg_runtime.backends import python as backend

    made = []
    real = backend.create_device

    def slow_create(name: str):  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # both threads are inside creation at once, unless creation is serialized
        made.append(name)
        return real(name)

    monkeypatch.setattr(backend, "create_device", slow_create)
    reg = _Registry()
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(reg["PYTHON"])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == ["PYTHON"] and len(got) == 4 and all(g is got[0] for g in got)


def test_cl_first_use_from_two_threads() -> None:
    if Device.available().get("CL") is not None:
        pytest.skip("no OpenCL device here")
    import struct

    reg = _Registry()
    results: list[object] = []
    errors: list[BaseException] = []

    def use() -> None:
        try:
            dev = reg["CL"]
            buf = dev.allocator.alloc(8)
            dev.allocator.copyin(buf, memoryview(struct.pack("2f", 1.0, 2.0)))
            out = memoryview(bytearray(8))
            dev.allocator.copyout(out, buf)
            results.append((dev, struct.unpack("2f", out)))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: use(), range(2)))
    assert not errors and len(results) == 2
    assert results[0][0] is results[1][0]  # type: ignore[index]


def test_an_unaddressable_buffer_fails_when_made() -> None:
    with pytest.raises(MemoryError, match="bytes"):
        Buffer("CPU", 2**62 * 2**62, dtypes.float32)
    with pytest.raises(MemoryError):
        Buffer("CPU", 2**62, dtypes.float32)
    assert Buffer("CPU", 2**60, dtypes.uint8).nbytes == 2**60  # lazy: made, never allocated
