"""Buffer: lazy allocation, copies in and out with size checks, views sharing memory, copies across devices."""

from __future__ import annotations

import gc
import struct

import pytest
from helpers import HostMem, buf, read

from tg_runtime import Buffer, Device
from tg_uop import dtypes

DEVICES = ["CPU", "PYTHON"]


def i32(*vals: int) -> memoryview:
    return memoryview(struct.pack(f"<{len(vals)}i", *vals))


# ---- lazy allocation ----


def test_not_allocated_until_used(testmem: HostMem) -> None:
    b = Buffer("testmem", 16, dtypes.float32)
    assert b.device == "TESTMEM"
    assert not b.is_allocated
    assert "lazy" in repr(b)
    assert testmem.alloc_calls == 0 and testmem.in_use == 0
    b.copyin(memoryview(bytes(64)))
    assert b.is_allocated
    assert "allocated" in repr(b)
    assert testmem.alloc_calls == 1 and testmem.in_use == 64


def test_allocate_once(testmem: HostMem) -> None:
    b = Buffer("TESTMEM", 4, dtypes.float32)
    assert b.allocate() is b
    h = b.handle
    b.allocate()
    b.copyin(memoryview(bytes(16)))
    b.as_memoryview()
    assert b.handle is h
    assert testmem.alloc_calls == 1 and testmem.in_use == 16


def test_handle_allocates(testmem: HostMem) -> None:
    b = Buffer("TESTMEM", 3, dtypes.float32)
    assert b.handle is not None
    assert b.is_allocated and testmem.in_use == 12


def test_nbytes() -> None:
    assert Buffer("PYTHON", 5, dtypes.float64).nbytes == 40
    assert Buffer("PYTHON", 5, dtypes.int16).nbytes == 10
    assert Buffer("PYTHON", 0, dtypes.int32).nbytes == 0


def test_dropped_buffer_returns_its_memory(testmem: HostMem) -> None:
    b = Buffer("TESTMEM", 8, dtypes.float32).allocate()
    h = b.handle
    del b
    gc.collect()
    assert testmem.in_use == 0 and testmem.cached_bytes == 32
    again = Buffer("TESTMEM", 8, dtypes.float32)
    assert again.handle is h  # the freed block is reused
    assert testmem.alloc_calls == 1


def test_dropping_lazy_buffer_frees_nothing(testmem: HostMem) -> None:
    b = Buffer("TESTMEM", 8, dtypes.float32)
    del b
    gc.collect()
    assert testmem.alloc_calls == 0 and testmem.in_use == 0 and testmem.cached_bytes == 0


def test_out_of_memory_leaves_buffer_unallocated(testmem: HostMem) -> None:
    testmem.limit = 100
    keep = Buffer("TESTMEM", 20, dtypes.float32).allocate()  # 80 bytes
    big = Buffer("TESTMEM", 10, dtypes.float32)  # 40 more would pass the limit
    with pytest.raises(MemoryError, match="40 bytes"):
        big.allocate()
    assert not big.is_allocated
    del keep
    gc.collect()
    big.copyin(i32(*range(10)))  # room now: the cached 80-byte block is given back and the allocation retried
    assert big.as_memoryview().cast("i").tolist() == list(range(10))


def test_bad_sizes_and_devices() -> None:
    with pytest.raises(ValueError, match="-1"):
        Buffer("PYTHON", -1, dtypes.float32)
    with pytest.raises(KeyError, match="NOPE"):
        Buffer("NOPE", 4, dtypes.float32)


# ---- copies in and out ----


@pytest.mark.parametrize("device", DEVICES)
def test_copyin_copyout_roundtrip(device: str) -> None:
    vals = [1.5, -2.25, 3.0e10, 0.0, -0.0]
    b = Buffer(device, 5, dtypes.float64)
    assert b.copyin(memoryview(struct.pack("<5d", *vals))) is b
    out = memoryview(bytearray(40))
    assert b.copyout(out).tobytes() == struct.pack("<5d", *vals)
    assert out.tobytes() == struct.pack("<5d", *vals)
    assert struct.unpack("<5d", b.as_memoryview().tobytes()) == tuple(vals)


@pytest.mark.parametrize("device", DEVICES)
def test_copyin_accepts_typed_memoryviews_and_bytes(device: str) -> None:
    b = Buffer(device, 3, dtypes.int32)
    b.copyin(memoryview(struct.pack("<3i", 7, 8, 9)).cast("i"))
    assert read(b) == [7, 8, 9]
    b.copyin(bytearray(struct.pack("<3i", -1, -2, -3)))  # type: ignore[arg-type]
    assert read(b) == [-1, -2, -3]
    b.copyin(struct.pack("<3i", 4, 5, 6))  # type: ignore[arg-type]
    assert read(b) == [4, 5, 6]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("nbytes", [0, 11, 13, 24])
def test_copyin_wrong_size_raises_and_writes_nothing(device: str, nbytes: int) -> None:
    b = buf(device, dtypes.int32, [1, 2, 3])
    with pytest.raises(ValueError, match=f"{nbytes} bytes .* 12 bytes"):
        b.copyin(memoryview(b"\xff" * nbytes))
    assert read(b) == [1, 2, 3]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("nbytes", [0, 11, 13])
def test_copyout_wrong_size_raises_and_writes_nothing(device: str, nbytes: int) -> None:
    b = buf(device, dtypes.int32, [1, 2, 3])
    dest = bytearray(b"\xab" * nbytes)
    with pytest.raises(ValueError, match=f"{nbytes} bytes .* 12 bytes"):
        b.copyout(memoryview(dest))
    assert dest == bytearray(b"\xab" * nbytes)


def test_copyin_wrong_size_does_not_allocate(testmem: HostMem) -> None:
    b = Buffer("TESTMEM", 4, dtypes.float32)
    with pytest.raises(ValueError):
        b.copyin(memoryview(bytes(15)))
    assert not b.is_allocated and testmem.alloc_calls == 0


@pytest.mark.parametrize("device", DEVICES)
def test_as_memoryview_is_a_copy(device: str) -> None:
    b = buf(device, dtypes.int32, [10, 20])
    mv = b.as_memoryview()
    assert mv.nbytes == 8 and not mv.readonly
    mv[:4] = struct.pack("<i", 99)
    assert read(b) == [10, 20]
    assert b.as_memoryview().cast("i").tolist() == [10, 20]


def test_empty_buffer() -> None:
    b = Buffer("PYTHON", 0, dtypes.float32)
    b.copyin(memoryview(b""))
    assert b.as_memoryview().tobytes() == b""


# ---- views ----


@pytest.mark.parametrize("device", DEVICES)
def test_view_shares_memory_with_base(device: str) -> None:
    base = buf(device, dtypes.int32, [0, 1, 2, 3, 4, 5, 6, 7])
    view = base.view(3, dtypes.int32, offset=8)
    assert view.base is base and view.offset == 8 and view.nbytes == 12
    assert read(view) == [2, 3, 4]
    view.copyin(i32(-2, -3, -4))
    assert read(base) == [0, 1, -2, -3, -4, 5, 6, 7]
    base.copyin(i32(*range(100, 108)))
    assert read(view) == [102, 103, 104]


@pytest.mark.parametrize("device", DEVICES)
def test_view_with_other_dtype_sees_the_same_bytes(device: str) -> None:
    base = buf(device, dtypes.float32, [1.0, -2.0, 0.5, 3.0])
    bits = base.view(2, dtypes.uint32, offset=4)
    assert read(bits) == list(struct.unpack("<2I", struct.pack("<2f", -2.0, 0.5)))
    low = base.view(2, dtypes.uint16, offset=12)
    assert read(low) == list(struct.unpack("<2H", struct.pack("<f", 3.0)))


@pytest.mark.parametrize("device", DEVICES)
def test_view_allocates_its_base(device: str) -> None:
    base = Buffer(device, 4, dtypes.int32)
    view = base.view(2, dtypes.int32, offset=8)
    assert not base.is_allocated and not view.is_allocated
    view.copyin(i32(5, 6))
    assert base.is_allocated
    assert read(base)[2:] == [5, 6]


@pytest.mark.parametrize("device", DEVICES)
def test_view_at_the_very_end_and_whole_base(device: str) -> None:
    base = buf(device, dtypes.int32, [1, 2, 3])
    assert read(base.view(1, dtypes.int32, offset=8)) == [3]
    assert read(base.view(3, dtypes.int32, offset=0)) == [1, 2, 3]
    assert base.view(0, dtypes.int32, offset=12).nbytes == 0


@pytest.mark.parametrize(
    ("size", "offset"),
    [(4, 4), (1, 16), (5, 0), (1, -4), (2, 12), (0, 17)],
)
def test_view_out_of_bounds_raises(size: int, offset: int) -> None:
    base = Buffer("PYTHON", 4, dtypes.int32)  # 16 bytes
    with pytest.raises(ValueError, match="outside"):
        base.view(size, dtypes.int32, offset=offset)


def test_view_of_a_view_raises() -> None:
    base = Buffer("PYTHON", 4, dtypes.int32)
    view = base.view(2, dtypes.int32, offset=0)
    with pytest.raises(ValueError, match="base"):
        view.view(1, dtypes.int32, offset=0)


def test_view_on_another_device_raises() -> None:
    base = Buffer("PYTHON", 4, dtypes.int32)
    with pytest.raises(ValueError, match="CPU"):
        Buffer("CPU", 2, dtypes.int32, base=base, offset=0)


def test_view_keeps_base_memory_alive(testmem: HostMem) -> None:
    base = Buffer("TESTMEM", 4, dtypes.float32)
    view = base.view(2, dtypes.float32, offset=8)
    view.copyin(memoryview(struct.pack("<2f", 1.5, 2.5)))
    del base
    gc.collect()
    assert testmem.in_use == 16  # the base is still referenced by its view
    other = Buffer("TESTMEM", 4, dtypes.float32).allocate()  # must not get the view's memory
    other.copyin(memoryview(bytes(16)))
    assert struct.unpack("<2f", view.as_memoryview().tobytes()) == (1.5, 2.5)


# ---- across devices ----


@pytest.mark.parametrize(("src", "dst"), [("CPU", "PYTHON"), ("PYTHON", "CPU"), ("CPU", "CPU"), ("PYTHON", "python")])
def test_copy_to(src: str, dst: str) -> None:
    vals = [3, -1, 4, -1, 5, -9]
    a = buf(src, dtypes.int16, vals)
    b = a.copy_to(dst)
    assert b is not a
    assert b.device == dst.upper() and b.size == 6 and b.dtype == dtypes.int16 and b.base is None
    assert read(b) == vals
    a.copyin(memoryview(struct.pack("<6h", *([0] * 6))))  # separate memory: changing the source leaves the copy
    assert read(b) == vals


@pytest.mark.parametrize("device", DEVICES)
def test_copy_of_a_view_copies_only_the_view(device: str) -> None:
    base = buf(device, dtypes.int32, [1, 2, 3, 4, 5])
    copy = base.view(2, dtypes.int32, offset=4).copy_to("PYTHON" if device == "CPU" else "CPU")
    assert copy.size == 2 and read(copy) == [2, 3]


def test_buffers_on_the_same_device_share_its_allocator() -> None:
    a, b = Buffer("cpu", 1, dtypes.int8), Buffer("CPU", 1, dtypes.int8)
    assert a.allocator is b.allocator is Device["CPU"].allocator
