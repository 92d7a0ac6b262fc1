"""The LLVM device: hand-written LLVM IR compiled by llvmlite, run on host memory, split over threads; picked
as the default device when there is no C compiler."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest

from tg_runtime import Buffer, CompileError, Device, DeviceUnavailable
from tg_runtime.backends import llvm as llvm_backend
from tg_uop import dtypes

pytestmark = pytest.mark.skipif(Device.available()["LLVM"] is not None, reason="llvmlite is not installed")

# exp2 of each element, last to first (a loop that counts down; n > 0)
ADD = """
declare float @exp2f(float)
define void @add(ptr noalias %out, ptr noalias %a, i32 %n) {
entry:
  %last = sub i32 %n, 1
  br label %loop
loop:
  %i = phi i32 [%last, %entry], [%prev, %loop]
  %src = getelementptr inbounds float, ptr %a, i32 %i
  %x = load float, ptr %src
  %y = call float @exp2f(float %x)
  %dst = getelementptr inbounds float, ptr %out, i32 %i
  store float %y, ptr %dst
  %prev = sub i32 %i, 1
  %again = icmp sge i32 %prev, 0
  br i1 %again, label %loop, label %done
done:
  ret void
}
"""

# each of the 3 threads writes its number into its share [8*tid/3, 8*(tid+1)/3) of the 8 elements
SHARES = """; tg.threads = 3
define void @shares(ptr noalias %out, i64 %tid, i64 %nthreads) {
entry:
  br label %head
head:
  %i = phi i64 [0, %entry], [%next, %latch]
  %more = icmp slt i64 %i, 8
  br i1 %more, label %body, label %done
body:
  %t8 = mul i64 %i, %nthreads
  %owner = sdiv i64 %t8, 8
  %t8b = mul i64 %tid, 8
  %start = sdiv i64 %t8b, %nthreads
  %tid1 = add i64 %tid, 1
  %t8c = mul i64 %tid1, 8
  %end = sdiv i64 %t8c, %nthreads
  %ge = icmp sge i64 %i, %start
  %lt = icmp slt i64 %i, %end
  %mine = and i1 %ge, %lt
  br i1 %mine, label %write, label %latch
write:
  %p = getelementptr inbounds i32, ptr %out, i64 %i
  %v = trunc i64 %tid to i32
  store i32 %v, ptr %p
  br label %latch
latch:
  %next = add i64 %i, 1
  br label %head
done:
  ret void
}
"""


def test_hand_written_ir_runs_and_calls_the_c_library() -> None:
    a = Buffer("LLVM", 4, dtypes.float32).copyin(memoryview(struct.pack("4f", 0, 1, 2, -1)))
    out = Buffer("LLVM", 4, dtypes.float32)
    prg = Device["LLVM"].build("add", ADD)
    assert isinstance(prg(out.handle, a.handle, vals=(4,), wait=True), float)
    assert out.as_memoryview().cast("f").tolist() == [1.0, 2.0, 4.0, 0.5]
    with pytest.raises(ValueError, match="needs 3 buffers and values"):
        prg(out.handle, a.handle)
    with pytest.raises(ValueError, match="no such function"):
        Device["LLVM"].build("nope", ADD)


def test_threaded_kernel_runs_once_per_thread() -> None:
    out = Buffer("LLVM", 8, dtypes.int32)
    Device["LLVM"].build("shares", SHARES)(out.handle)
    assert out.as_memoryview().cast("i").tolist() == [0, 0, 1, 1, 1, 2, 2, 2]


def test_bad_ir_is_a_compile_error_with_the_source() -> None:
    with pytest.raises(CompileError, match=r"LLVM compile failed(.|\n)*1 \| define void @f"):
        Device["LLVM"].compiler.compile("define void @f() {\n  ret i32 1\n}\n")  # type: ignore[union-attr]


def test_missing_llvmlite_makes_the_device_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llvm_backend, "_IMPORT_ERROR", ImportError("No module named 'llvmlite'"))
    with pytest.raises(DeviceUnavailable, match=r"tg-runtime\[llvm\]"):
        llvm_backend.create_device("LLVM")


def test_default_is_llvm_without_a_c_compiler(tmp_path: os.PathLike[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DEVICE", "CPU", "CLANG", "LLVM", "CL", "PYTHON")}
    env.update(CC=str(tmp_path) + "/no-such-cc", DEBUG="1")
    code = "from tg_runtime import Device; print(Device.DEFAULT)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "LLVM"
    assert "tg: default device LLVM (CPU: C compiler" in proc.stderr
    env.pop("DEBUG")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "LLVM" and "default device" not in proc.stderr
