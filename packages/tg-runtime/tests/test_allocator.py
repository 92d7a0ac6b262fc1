"""Allocator: reuse of freed blocks, counters, emptying the cache, and out-of-memory handling."""

from __future__ import annotations

import pytest
from helpers import HostMem

from tg_runtime import Allocator, Device


def test_freed_block_is_reused_for_the_same_size() -> None:
    a = HostMem()
    x = a.alloc(64)
    a.free(x, 64)
    assert a.alloc(64) is x
    assert a.alloc_calls == 1


def test_freed_block_is_not_used_for_another_size() -> None:
    a = HostMem()
    x = a.alloc(64)
    a.free(x, 64)
    y = a.alloc(32)
    assert y is not x and y.nbytes == 32
    z = a.alloc(128)
    assert z is not x and z.nbytes == 128
    assert a.alloc_calls == 3
    assert a.cached_bytes == 64


def test_several_freed_blocks_of_one_size_are_all_reused() -> None:
    a = HostMem()
    blocks = [a.alloc(16) for _ in range(3)]
    for b in blocks:
        a.free(b, 16)
    again = [a.alloc(16) for _ in range(3)]
    assert {id(b) for b in again} == {id(b) for b in blocks}
    assert a.alloc_calls == 3
    fresh = a.alloc(16)  # the cache is empty now: a new block
    assert all(fresh is not b for b in blocks)
    assert a.alloc_calls == 4


def test_live_blocks_are_distinct_memory() -> None:
    a = HostMem()
    x, y = a.alloc(8), a.alloc(8)
    x[:] = b"\x01" * 8
    y[:] = b"\x02" * 8
    assert bytes(x) == b"\x01" * 8


def test_in_use_and_peak_counters() -> None:
    a = HostMem()
    assert (a.in_use, a.peak, a.cached_bytes) == (0, 0, 0)
    x = a.alloc(100)
    y = a.alloc(50)
    assert (a.in_use, a.peak) == (150, 150)
    a.free(x, 100)
    assert (a.in_use, a.peak, a.cached_bytes) == (50, 150, 100)
    z = a.alloc(100)  # from the cache: counts as in use again
    assert z is x
    assert (a.in_use, a.peak, a.cached_bytes) == (150, 150, 0)
    a.free(y, 50)
    a.free(z, 100)
    assert (a.in_use, a.peak, a.cached_bytes) == (0, 150, 150)
    a.alloc(10)
    assert a.peak == 150


def test_free_cache_gives_blocks_back_to_the_backend() -> None:
    a = HostMem()
    x, y, z = a.alloc(10), a.alloc(20), a.alloc(20)
    for blk, n in ((x, 10), (y, 20), (z, 20)):
        a.free(blk, n)
    assert a.held == 50
    a.free_cache()
    assert a.cached_bytes == 0 and a.held == 0
    assert sorted(map(id, a.freed)) == sorted(map(id, (x, y, z)))
    w = a.alloc(20)  # nothing cached any more: a fresh block
    assert w is not y and w is not z
    assert a.alloc_calls == 4


def test_free_cache_keeps_live_blocks() -> None:
    a = HostMem()
    live = a.alloc(32)
    dead = a.alloc(16)
    a.free(dead, 16)
    a.free_cache()
    assert len(a.freed) == 1 and a.freed[0] is dead
    assert a.in_use == 32 and a.held == 32
    live[:] = bytes(range(32))
    assert bytes(live) == bytes(range(32))


def test_zero_size_allocation() -> None:
    a = HostMem()
    x = a.alloc(0)
    assert x.nbytes == 0 and a.in_use == 0
    a.free(x, 0)
    assert a.alloc(0) is x


def test_negative_size_is_refused() -> None:
    a = HostMem()
    with pytest.raises(ValueError, match="-8"):
        a.alloc(-8)
    assert a.alloc_calls == 0 and a.in_use == 0


# ---- out of memory ----


def test_out_of_memory_names_size_and_bytes_in_use() -> None:
    a = HostMem("TESTMEM", limit=1000)
    a.alloc(600)
    with pytest.raises(MemoryError) as info:
        a.alloc(500)
    msg = str(info.value)
    assert "TESTMEM" in msg
    assert "500 bytes" in msg
    assert "600" in msg  # what tg holds


def test_out_of_memory_leaves_counters_alone_and_allocator_usable() -> None:
    a = HostMem(limit=1000)
    x = a.alloc(600)
    with pytest.raises(MemoryError):
        a.alloc(500)
    assert (a.in_use, a.peak, a.cached_bytes) == (600, 600, 0)
    y = a.alloc(400)  # exactly fits
    assert y.nbytes == 400 and a.in_use == 1000
    a.free(x, 600)
    a.free(y, 400)
    assert a.in_use == 0
    z = a.alloc(600)
    assert z is x


def test_out_of_memory_empties_the_cache_and_retries() -> None:
    a = HostMem(limit=100)
    x = a.alloc(64)
    a.free(x, 64)  # cached: the backend still holds it
    y = a.alloc(48)  # 64 + 48 > 100: fails once, the cache is emptied, then it fits
    assert y.nbytes == 48
    assert len(a.freed) == 1 and a.freed[0] is x
    assert a.cached_bytes == 0 and a.in_use == 48 and a.held == 48
    assert a.alloc_calls == 3


def test_out_of_memory_after_emptying_the_cache() -> None:
    a = HostMem(limit=100)
    live = a.alloc(70)
    cached = a.alloc(20)
    a.free(cached, 20)
    with pytest.raises(MemoryError, match="50 bytes"):
        a.alloc(50)  # 70 live + 50 > 100 even with the cache emptied
    assert len(a.freed) == 1 and a.freed[0] is cached and a.cached_bytes == 0
    assert a.in_use == 70
    a.free(live, 70)
    assert a.alloc(70) is live


def test_memory_error_does_not_chain_backend_internals() -> None:
    a = HostMem(limit=10)
    with pytest.raises(MemoryError) as info:
        a.alloc(11)
    assert info.value.__cause__ is None


# ---- base class and backends ----


def test_base_class_needs_a_backend() -> None:
    a = Allocator("BARE")
    with pytest.raises(NotImplementedError):
        a.alloc(8)
    with pytest.raises(NotImplementedError, match="BARE"):
        a.offset(object(), 0, 8)
    assert a.in_use == 0


@pytest.mark.parametrize("device", ["CPU", "PYTHON"])
def test_device_allocator_roundtrip_and_offset(device: str) -> None:
    a = Device[device].allocator
    h = a.alloc(16)
    try:
        a.copyin(h, memoryview(bytes(range(16))))
        sub = a.offset(h, 4, 8)
        out = memoryview(bytearray(8))
        a.copyout(out, sub)
        assert out.tobytes() == bytes(range(4, 12))
        a.copyin(sub, memoryview(b"\xee" * 8))
        whole = memoryview(bytearray(16))
        a.copyout(whole, h)
        assert whole.tobytes() == bytes(range(4)) + b"\xee" * 8 + bytes(range(12, 16))
    finally:
        a.free(h, 16)
