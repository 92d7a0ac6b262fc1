"""The DISK device: file-backed, memory-mapped buffers, checked against the bytes written with `struct`."""

from __future__ import annotations

import os
import random
import resource
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import f32, read

from tg_runtime import Buffer, Device, DeviceUnavailable
from tg_runtime.backends.disk import DiskAllocator, DiskMemory
from tg_uop import DType, dtypes

F32, I16, U8 = dtypes.float32, dtypes.int16, dtypes.uint8

FLOATS = [1.5, -2.25, 3.0, 1e-3, -0.0, 65504.0, 1e30, -7.125]
SHORTS = [-32768, -1, 0, 1, 32767, 12345, -12345, 256]
BYTES = [0, 1, 127, 128, 255, 42, 7]
LAYOUT = struct.Struct(f"<{len(FLOATS)}f{len(SHORTS)}h{len(BYTES)}B")  # 32 + 16 + 7 = 55 bytes, packed


@pytest.fixture(autouse=True)
def _forget_disk_devices() -> Iterator[None]:
    # the registry keeps every device it made; drop this test's files so they are closed and never reused
    before = set(Device._devices)
    yield
    for key in set(Device._devices) - before:
        if key.startswith("DISK"):
            del Device._devices[key]


def disk(path: Path) -> str:
    return f"DISK:{path}"


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    """A file of FLOATS (float32), then SHORTS (int16), then BYTES (uint8), little-endian, no padding."""
    path = tmp_path / "packed.bin"
    path.write_bytes(LAYOUT.pack(*FLOATS, *SHORTS, *BYTES))
    return path


@pytest.fixture
def noise(tmp_path: Path) -> tuple[Path, bytes]:
    data = random.Random(7).randbytes(1000)
    path = tmp_path / "noise.bin"
    path.write_bytes(data)
    return path, data


def whole(path: Path, dtype: DType = U8) -> Buffer:
    """A DISK buffer over the whole file."""
    return Buffer(disk(path), os.path.getsize(path) // dtype.itemsize, dtype)


# ---- reading ----


def test_whole_file_reads_the_bytes_written(packed: Path) -> None:
    b = whole(packed)
    assert b.nbytes == LAYOUT.size == 55
    assert b.as_memoryview().tobytes() == packed.read_bytes()


def test_views_read_each_section_with_its_dtype(packed: Path) -> None:
    b = whole(packed)
    assert read(b.view(len(FLOATS), F32, 0)) == [f32(x) for x in FLOATS]
    assert read(b.view(len(SHORTS), I16, 32)) == SHORTS
    assert read(b.view(len(BYTES), U8, 48)) == BYTES
    # a slice in the middle of a section, and a dtype straddling two sections
    assert read(b.view(3, I16, 32 + 2 * 2)) == SHORTS[2:5]
    assert read(b.view(2, F32, 4 * 6)) == [f32(x) for x in FLOATS[6:8]]
    # an int16 at byte 47: the high byte of the last short, then the first uint8
    straddle = struct.pack("<h", SHORTS[-1])[1:] + bytes([BYTES[0]])
    assert read(b.view(1, I16, 47)) == [struct.unpack("<h", straddle)[0]]


@pytest.mark.parametrize(
    "dtype,offset,count",
    [(F32, 0, 250), (F32, 4, 10), (F32, 3, 7), (I16, 0, 500), (I16, 1, 11), (I16, 998, 1), (U8, 0, 1000)]
    + [(U8, 999, 1), (U8, 517, 100), (dtypes.float64, 992, 1), (dtypes.uint32, 13, 5)],
)
def test_views_at_any_offset_match_the_file(noise: tuple[Path, bytes], dtype: DType, offset: int, count: int) -> None:
    path, data = noise
    v = whole(path).view(count, dtype, offset)
    want = data[offset : offset + count * dtype.itemsize]
    assert v.as_memoryview().tobytes() == want
    assert dtype.fmt is not None
    got = struct.unpack(f"<{count}{dtype.fmt}", v.as_memoryview().tobytes())
    assert struct.pack(f"<{count}{dtype.fmt}", *got) == want  # values, not only bytes (NaNs compared as bits)


def test_a_buffer_may_cover_only_the_start_of_the_file(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    assert Buffer(disk(path), 10, I16).as_memoryview().tobytes() == data[:20]


def test_handle_is_a_window_not_a_copy(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    v = whole(path).view(16, U8, 100)
    h = v.handle
    assert isinstance(h, DiskMemory) and (h.offset, h.nbytes) == (100, 16)
    assert h.mv.tobytes() == data[100:116]
    path.write_bytes(b"\xaa" * 1000)  # the same file rewritten in place: the mapping shows the new bytes
    assert v.as_memoryview().tobytes() == b"\xaa" * 16


# ---- bounds ----


def test_views_past_the_end_raise(noise: tuple[Path, bytes]) -> None:
    path, _ = noise
    b = whole(path)
    with pytest.raises(ValueError, match="offset 1001"):
        b.view(0, U8, 1001)
    with pytest.raises(ValueError, match="8 bytes at offset 996.*1000 bytes"):
        b.view(2, F32, 996)
    with pytest.raises(ValueError):
        b.view(1, U8, -1)
    end = b.view(0, F32, 1000)  # exactly at the end, empty: fine
    assert end.as_memoryview().tobytes() == b""
    assert b.view(1, F32, 996).as_memoryview().tobytes() == path.read_bytes()[996:]


def test_a_buffer_larger_than_the_file_raises_naming_the_sizes(noise: tuple[Path, bytes]) -> None:
    path, _ = noise
    big = Buffer(disk(path), 251, F32)  # 1004 bytes: lazily allocated, refused when first used
    with pytest.raises(ValueError, match=r"1004 bytes at offset 0 are outside the file \(1000 bytes\)"):
        big.as_memoryview()
    assert Device[disk(path)].allocator.in_use == 0


def test_allocator_checks_views_against_the_base_and_the_file(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    alloc = Device[disk(path)].allocator
    assert isinstance(alloc, DiskAllocator)
    h = alloc.alloc(100)
    with pytest.raises(ValueError, match="at offset 96 is outside its base"):
        alloc.offset(h, 96, 8)
    with pytest.raises(ValueError):
        alloc.offset(h, -4, 4)
    sub = alloc.offset(h, 90, 10)
    out = memoryview(bytearray(10))
    alloc.copyout(out, sub)
    assert out.tobytes() == data[90:100]


def test_zero_length_buffers(noise: tuple[Path, bytes], tmp_path: Path) -> None:
    path, _ = noise
    assert Buffer(disk(path), 0, F32).as_memoryview().tobytes() == b""
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    e = Buffer(disk(empty), 0, F32)
    assert e.as_memoryview().tobytes() == b""
    assert e.view(0, U8, 0).as_memoryview().tobytes() == b""
    e.copyin(memoryview(b""))  # writing nothing is fine too
    with pytest.raises(ValueError, match=r"1 bytes at offset 0 are outside the file \(0 bytes\)"):
        Buffer(disk(empty), 1, U8).allocate()


# ---- to other devices ----


def cpu_or_skip() -> None:
    reason = Device.available()["CPU"]
    if reason is not None:
        pytest.skip(f"CPU device unavailable here: {reason}")


def test_copy_to_python_device(packed: Path) -> None:
    v = whole(packed).view(len(SHORTS), I16, 32)
    out = v.copy_to("PYTHON")
    assert out.device == "PYTHON" and read(out) == SHORTS


def test_copy_to_cpu_device(packed: Path) -> None:
    cpu_or_skip()
    out = whole(packed).view(len(FLOATS), F32, 0).copy_to("CPU")
    assert out.device == "CPU" and read(out) == [f32(x) for x in FLOATS]


def test_copyout_straight_into_cpu_memory(packed: Path) -> None:
    cpu_or_skip()
    dest = Buffer("CPU", len(BYTES), U8).allocate()
    whole(packed).view(len(BYTES), U8, 48).copyout(dest.handle.mv)  # one copy, no host buffer in between
    assert read(dest) == BYTES


# ---- writing ----


def test_writable_file_is_written_through(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    v = whole(path).view(3, I16, 10)
    v.copyin(memoryview(struct.pack("<3h", -5, 6, -7)))
    want = data[:10] + struct.pack("<3h", -5, 6, -7) + data[16:]
    assert path.read_bytes() == want  # the shared mapping and the file are one
    assert whole(path).as_memoryview().tobytes() == want
    assert read(Buffer(disk(path), 8, I16).view(3, I16, 10)) == [-5, 6, -7]


def test_read_only_file_reads_but_refuses_writes(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # no write bit: read-only even for root
    try:
        b = whole(path)
        assert b.as_memoryview().tobytes() == data
        v = b.view(4, U8, 0)
        with pytest.raises(PermissionError, match="read-only, cannot write 4 bytes"):
            v.copyin(memoryview(b"\x01\x02\x03\x04"))
        assert v.handle.mv.readonly
        assert path.read_bytes() == data
    finally:
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def test_write_must_fit_the_buffer(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    with pytest.raises(ValueError, match="3 bytes given for a buffer of 4 bytes"):
        whole(path).view(1, F32, 0).copyin(memoryview(b"abc"))
    assert path.read_bytes() == data


# ---- the device ----


def test_plain_disk_is_unavailable_with_the_reason() -> None:
    reason = "DISK needs a file: DISK:/path/to/file"
    assert Device.available()["DISK"] == reason
    with pytest.raises(DeviceUnavailable, match=reason):
        Device["disk"]
    with pytest.raises(DeviceUnavailable, match=reason):
        Device["disk:"]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors") as e:
        Device[disk(missing)]
    assert e.value.filename == str(missing)
    with pytest.raises(FileNotFoundError):
        Buffer(disk(missing), 1, U8).allocate()


def test_only_regular_files(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="regular file"):
        Device[disk(tmp_path)]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="regular file"):  # refused before open, which would block on a FIFO
        Device[disk(fifo)]


def test_device_runs_no_programs(packed: Path) -> None:
    dev = Device[disk(packed)]
    assert dev.compiler is None
    assert dev.caps.language == "" and dev.caps.dtypes == frozenset(dtypes.all())
    with pytest.raises(DeviceUnavailable, match="cannot run programs"):
        dev.build("k", "void k(void) {}")
    with pytest.raises(DeviceUnavailable, match="cannot run programs"):
        dev.program("k", b"")


def test_name_is_case_insensitive_and_keeps_the_path(packed: Path) -> None:
    assert Device[f"disk:{packed}"] is Device[f"DISK:{packed}"]
    assert Buffer(f"disk:{packed}", 1, U8).device == f"DISK:{packed}"


def test_free_keeps_nothing_for_reuse(noise: tuple[Path, bytes]) -> None:
    path, _ = noise
    alloc = Device[disk(path)].allocator
    a = alloc.alloc(64)
    b = alloc.alloc(64)
    assert alloc.in_use == 128
    alloc.free(a, 64)
    assert (alloc.in_use, alloc.cached_bytes) == (64, 0)
    c = alloc.alloc(64)
    assert c is not a and c.mv.tobytes() == b.mv.tobytes()  # windows onto the same bytes
    alloc.free(b, 64)
    alloc.free(c, 64)
    assert alloc.in_use == 0


def test_file_stays_the_one_opened_when_the_path_is_replaced(noise: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = noise
    b = whole(path)
    b.allocate()
    other = tmp_path / "other.bin"
    other.write_bytes(b"\x00" * 1000)
    os.replace(other, path)
    assert Buffer(disk(path), 1000, U8).as_memoryview().tobytes() == data


# ---- files that change size ----


def test_shrunk_file_raises_instead_of_reading_past_its_end(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    b = whole(path)
    head, tail = b.view(16, U8, 0), b.view(16, U8, 900)
    b.allocate()
    os.truncate(path, 500)
    assert head.as_memoryview().tobytes() == data[:16]  # still inside the file
    with pytest.raises(ValueError, match=r"16 bytes at offset 900 are outside the file \(500 bytes\)"):
        tail.as_memoryview()
    with pytest.raises(ValueError, match=r"outside the file \(500 bytes\)"):
        tail.copyin(memoryview(bytes(16)))
    with pytest.raises(ValueError, match=r"1000 bytes at offset 0 .*\(500 bytes\)"):
        Buffer(disk(path), 1000, U8).allocate()
    assert Buffer(disk(path), 500, U8).as_memoryview().tobytes() == data[:500]


def test_grown_file_is_mapped_again(noise: tuple[Path, bytes]) -> None:
    path, data = noise
    assert whole(path).as_memoryview().tobytes() == data
    with open(path, "ab") as f:
        f.write(b"more")
    assert Buffer(disk(path), 1004, U8).view(4, U8, 1000).as_memoryview().tobytes() == b"more"


# ---- large files are not read ----


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024


def test_large_sparse_file_is_mapped_not_read(tmp_path: Path) -> None:
    gib = 1 << 30
    path = tmp_path / "large.bin"
    with open(path, "wb") as f:
        f.truncate(gib)  # sparse: takes no disk space, reads as zeros
        f.seek(gib // 2)
        f.write(struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))
        f.seek(gib - 3)
        f.write(b"end")
    before = resident_bytes()
    b = Buffer(disk(path), gib, U8).allocate()
    middle = b.view(4, F32, gib // 2)
    hole = b.view(8, I16, gib // 4)
    last = b.view(3, U8, gib - 3)
    assert read(middle) == [1.0, 2.0, 3.0, 4.0]
    assert read(hole) == [0] * 8
    assert last.as_memoryview().tobytes() == b"end"
    grown = resident_bytes() - before
    assert grown < 32 << 20, f"resident memory grew by {grown} bytes: the file was read, not mapped"
    assert Device[disk(path)].allocator.in_use == gib  # counted, never held
