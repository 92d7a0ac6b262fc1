"""A realize that fails changes nothing: every buffer is allocated and every kernel compiled (and every copy's
source checked) before the first kernel writes, and pending assigns stay pending. Also the checks made at the
call (integer tensors refuse requires_grad, absurd sizes raise MemoryError) and float-to-int casts that agree on
every device."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tg_runtime import Buffer, Device, DeviceUnavailable
from tg_tensor import Tensor, TinyJit
from tg_uop import Ops, UOp, dtypes

HUGE = 2**48  # elements: 1 PiB of float32, more than any machine maps


def disk_tensor(path: Path, values: list[float]) -> Tensor:
    path.write_bytes(np.array(values, np.float32).tobytes())
    buf = Buffer(f"DISK:{path}", len(values), dtypes.float32)
    return Tensor(UOp(Ops.BUFFER, dtypes.float32, (), buf).reshape((len(values),)))


def test_a_failed_allocation_applies_no_assign() -> None:
    a = Tensor([1.0, 2.0, 3.0]).realize()
    a.assign(a + 1)
    with pytest.raises(MemoryError):
        Tensor.realize(a, Tensor.ones(HUGE) + 1)
    assert a.tolist() == [2.0, 3.0, 4.0]  # applied once, by this read
    assert a.tolist() == [2.0, 3.0, 4.0]


def test_a_failed_compile_applies_no_assign(tmp_path: Path) -> None:
    a = Tensor([1.0, 2.0]).realize()
    a.assign(a * 10)
    on_disk = disk_tensor(tmp_path / "w.bin", [5.0, 6.0])
    with pytest.raises(DeviceUnavailable, match="runs no programs"):
        Tensor.realize(a, on_disk + 1)  # a kernel on DISK: it cannot compile
    assert a.tolist() == [10.0, 20.0]


def test_a_failed_disk_read_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    src = disk_tensor(path, [7.0, 8.0, 9.0, 10.0])
    src.uop.base.arg.allocate()  # mapped now; the file shrinks afterwards
    b = Tensor([1.0, 1.0]).realize()
    target = Tensor([0.0, 0.0, 0.0, 0.0]).realize()
    b.assign(b + 1)
    target.assign(src.to(target.device) * 2)
    path.write_bytes(b"\0" * 4)
    with pytest.raises(ValueError, match="outside the file"):
        Tensor.realize(b, target)
    path.write_bytes(np.array([7.0, 8.0, 9.0, 10.0], np.float32).tobytes())  # the file is whole again
    assert b.tolist() == [2.0, 2.0]
    assert target.tolist() == [14.0, 16.0, 18.0, 20.0]


def test_the_target_of_a_failed_assign_keeps_its_old_value(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    src = disk_tensor(path, [1.0, 2.0])
    src.uop.base.arg.allocate()
    target = Tensor([5.0, 6.0]).realize()
    target.assign(src.to(target.device))
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="outside the file"):
        target.realize()
    assert target.uop.src[0].base.arg.as_memoryview().cast("f").tolist() == [5.0, 6.0]


def test_pending_assigns_survive_a_failed_jit_call() -> None:
    w = Tensor([1.0, 2.0]).realize()
    w.assign(w + 1)  # the caller's pending update: TinyJit applies it before the call
    f = TinyJit(lambda x: (x * 2).realize())
    with pytest.raises(MemoryError):
        f(Tensor.ones(HUGE) + 1)
    assert f(Tensor([1.0, 1.0])).tolist() == [2.0, 2.0]  # the next call applies it, once
    assert w.tolist() == [2.0, 3.0]


# ---- checks at the call ----


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(ValueError, match="floating point"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="floating point"):
        Tensor([True], requires_grad=True)
    with pytest.raises(ValueError, match="floating point"):
        Tensor([1, 2]).requires_grad_()
    assert Tensor([1.0, 2.0], requires_grad=True).requires_grad
    assert Tensor([1, 2], requires_grad=False).requires_grad is False


def test_an_absurd_empty_raises_memory_error_at_the_call() -> None:
    with pytest.raises(MemoryError):
        Tensor.empty(2**62, 2**62)
    with pytest.raises(MemoryError):
        Tensor.empty(2**61, dtype=dtypes.float64)


def test_computing_on_disk_says_disk_runs_no_programs(tmp_path: Path) -> None:
    t = disk_tensor(tmp_path / "x.bin", [1.0, 2.0])
    with pytest.raises(DeviceUnavailable, match="runs no programs"):
        (t + 1).realize()
    assert (t.to("CPU") + 1).tolist() == [2.0, 3.0]


# ---- float to int casts ----

VALUES = [math.nan, math.inf, -math.inf, 3e9, -3e9, 1e20, -1e20, 2.7, -2.7, 300.0, -1.0, 0.5, -0.5, 127.0, 128.0]


def saturated(v: float, dt: object) -> int:
    """The documented rule: NaN -> 0, past the range -> its min or max, else truncated toward zero."""
    lo, hi = dt.min, dt.max  # type: ignore[attr-defined]
    if math.isnan(v):
        return 0
    return int(min(max(math.trunc(v) if math.isfinite(v) else (hi if v > 0 else lo), lo), hi))


def _devices() -> list[str]:
    return [d for d in ("CPU", "PYTHON", "CL", "CUDA") if Device.available().get(d) is None]


DSTS = [dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.int32, dtypes.uint32, dtypes.int64, dtypes.uint64]


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("src", [dtypes.float32, dtypes.float64], ids=str)
def test_float_to_int_casts_agree_on_every_device(device: str, src: object) -> None:
    x = Tensor(VALUES, dtype=src, device=device)  # type: ignore[arg-type]
    held = [float(v) for v in np.array(VALUES, np.float32 if src == dtypes.float32 else np.float64)]
    for dst in DSTS:
        assert x.cast(dst).tolist() == [saturated(v, dst) for v in held], dst
