"""What every device must do, checked on the device named by `DEVICE=NAME` (or `NAME=1`; else the default).

Run: `DEVICE=NAME pytest --pyargs tg_runtime.conformance`.
"""

from __future__ import annotations

import struct

import pytest

from tg_runtime.allocator import Allocator
from tg_runtime.buffer import Buffer
from tg_runtime.compiler import CompileError, Compiler
from tg_runtime.conformance import SAMPLES, N
from tg_runtime.device import Capabilities, Compiled, Device, Program
from tg_uop.dtype import DType, dtypes


@pytest.fixture(scope="module")
def name() -> str:
    return Device.DEFAULT


@pytest.fixture(scope="module")
def dev(name: str) -> Compiled:
    return Device[name]


def _pack(dt: DType, n: int) -> memoryview:
    assert dt.fmt is not None
    values = [(i * 7) % 5 == 0 for i in range(n)] if dt.is_bool else [(i * 7) % 100 for i in range(n)]
    return memoryview(struct.pack(f"<{n}{dt.fmt}", *values))


def test_device_is_registered_and_works(name: str, dev: Compiled) -> None:
    assert Device.available()[name.split(":")[0]] is None
    assert dev.name == name and Device[name] is dev  # created once, then cached


def test_pieces_have_the_contract_types(dev: Compiled) -> None:
    assert isinstance(dev.allocator, Allocator)
    assert dev.compiler is None or (isinstance(dev.compiler, Compiler) and dev.compiler.identity != "none")
    assert callable(dev.program) and callable(dev.synchronize)
    caps = dev.caps
    assert isinstance(caps, Capabilities) and isinstance(caps.language, str)
    assert dtypes.float32 in caps.dtypes and all(isinstance(d, DType) for d in caps.dtypes)
    assert caps.threads >= 1 and (caps.has_threads or caps.threads == 1)
    if caps.has_workgroups:
        assert caps.max_local_size and all(n >= 1 for n in caps.max_local_size)


@pytest.mark.parametrize("n", [1, 3, 1000])
def test_memory_round_trips_every_dtype(name: str, dev: Compiled, n: int) -> None:
    for dt in sorted((d for d in dev.caps.dtypes if d.fmt is not None), key=lambda d: d.name):
        data = _pack(dt, n)
        buf = Buffer(name, n, dt).copyin(data)
        assert bytes(buf.as_memoryview()) == bytes(data), dt
        out = bytearray(n * dt.itemsize)
        buf.copyout(memoryview(out))
        assert bytes(out) == bytes(data), dt


def test_views_read_and_write_their_part(name: str) -> None:
    base = Buffer(name, 64, dtypes.int32).copyin(_pack(dtypes.int32, 64))
    view = base.view(16, dtypes.int32, 32 * 4)
    assert bytes(view.as_memoryview()) == bytes(_pack(dtypes.int32, 64))[128:192]
    view.copyin(memoryview(struct.pack("<16i", *range(16))))
    got = list(struct.unpack("<64i", base.as_memoryview()))
    assert got[32:48] == list(range(16)) and got[:32] == list(struct.unpack("<32i", _pack(dtypes.int32, 32)))


def test_freed_memory_is_reused_and_counted(dev: Compiled) -> None:
    alloc = dev.allocator
    before = alloc.in_use
    block = alloc.alloc(4096)
    assert alloc.in_use == before + 4096
    alloc.free(block, 4096)
    assert alloc.in_use == before
    again = alloc.alloc(4096)
    alloc.free(again, 4096)
    alloc.free_cache()


def test_copies_to_and_from_the_reference_device(name: str) -> None:
    data = _pack(dtypes.float32, 100)
    there = Buffer(name, 100, dtypes.float32).copyin(data).copy_to("PYTHON")
    back = there.copy_to(name)
    assert bytes(there.as_memoryview()) == bytes(back.as_memoryview()) == bytes(data)


def test_compiler_rejects_garbage_with_a_compile_error(dev: Compiled) -> None:
    if dev.compiler is None:
        pytest.skip(f"{dev.name} runs no programs (storage only)")
    with pytest.raises(CompileError):
        dev.compiler.compile("@@ this is not a program in any language @@")


def test_sample_program_compiles_caches_and_runs(name: str, dev: Compiled) -> None:
    if dev.compiler is None:
        pytest.skip(f"{dev.name} runs no programs (storage only)")
    sample = SAMPLES.get(dev.caps.language)
    if sample is None:  # a new language: tg-codegen needs a renderer for it, and this suite a sample
        pytest.fail(f"no sample program for the language {dev.caps.language!r}: add one to tg_runtime.conformance")
    assert dev.compiler.compile_cached(sample.src) == dev.compiler.compile_cached(sample.src)
    prg = dev.build(sample.name, sample.src)
    assert isinstance(prg, Program)
    a = Buffer(name, N, dtypes.float32).copyin(memoryview(struct.pack(f"<{N}f", *range(N))))
    out = Buffer(name, N, dtypes.float32)
    seconds = prg(out.handle, a.handle, global_size=sample.global_size, local_size=sample.local_size, wait=True)
    assert isinstance(seconds, float) and seconds >= 0
    dev.synchronize()
    assert list(struct.unpack(f"<{N}f", out.as_memoryview())) == [i + 1.0 for i in range(N)]
