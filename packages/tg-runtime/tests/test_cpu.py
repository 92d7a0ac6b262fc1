"""The CPU device: hand-written C kernels compiled by the system compiler, launched on host Buffers."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest
from helpers import buf, f32, read

from tg_runtime import Buffer, CompileError, Device
from tg_runtime.backends.cpu import ClangStyleCompiler
from tg_uop import DType, dtypes

VADD = """
void vadd(float* restrict out, const float* restrict a, const float* restrict b) {
  for (int i = 0; i < 7; i++) out[i] = a[i] + b[i];
}
"""

SUM = """
void total(float* restrict out, const float* restrict a) {
  float acc = 0.0f;
  for (int i = 0; i < 9; i++) acc += a[i];
  out[0] = acc;
}
"""

SCALE = """
void scale(int* restrict out, const int* restrict x, int n, int k) {
  for (int i = 0; i < n; i++) out[i] = x[i] * k - i;
}
"""


def rand_f32(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [f32(rng.uniform(-10, 10)) for _ in range(n)]


def test_vector_add() -> None:
    a, b = rand_f32(7, 1), rand_f32(7, 2)
    out, ba, bb = Buffer("CPU", 7, dtypes.float32), buf("CPU", dtypes.float32, a), buf("CPU", dtypes.float32, b)
    prg = Device["CPU"].build("vadd", VADD)
    assert prg(out.handle, ba.handle, bb.handle) is None
    # float32 addition is the float64 sum rounded once to float32
    assert read(out) == [f32(x + y) for x, y in zip(a, b)]
    assert read(ba) == a and read(bb) == b  # inputs untouched


def test_sum_reduction_into_one_element() -> None:
    a = rand_f32(9, 3)
    out = buf("CPU", dtypes.float32, [123.0])
    inp = buf("CPU", dtypes.float32, a)  # kept alive while the kernel runs: a freed block may be handed out again
    Device["CPU"].build("total", SUM)(out.handle, inp.handle)
    acc = 0.0
    for x in a:
        acc = f32(acc + x)
    assert read(out) == [acc]


def test_float32_accumulation_rounds_every_step() -> None:
    # in float32, 1e8 + 1 == 1e8: the exact sum (2) and the float32 sum (1) differ
    src = (
        "void s(float* out, const float* a) { float acc = 0.0f; for (int i = 0; i < 4; i++) acc += a[i]; *out = acc; }"
    )
    out = Buffer("CPU", 1, dtypes.float32)
    inp = buf("CPU", dtypes.float32, [1e8, 1.0, -1e8, 1.0])
    Device["CPU"].build("s", src)(out.handle, inp.handle)
    assert read(out) == [1.0]


def test_int64_reduction_beyond_int32() -> None:
    src = "void s(long long* out, const long long* a) {\n"
    src += "  long long t = 0;\n  for (int i = 0; i < 5; i++) t += a[i];\n  *out = t;\n}\n"
    vals = [2**40, -(2**35), 7, 2**33, -1]
    out = Buffer("CPU", 1, dtypes.int64)
    inp = buf("CPU", dtypes.int64, vals)
    Device["CPU"].build("s", src)(out.handle, inp.handle)
    assert read(out) == [sum(vals)]


@pytest.mark.parametrize(("n", "k"), [(5, 3), (2, -4), (0, 9), (8, 1)])
def test_integer_variable_arguments(n: int, k: int) -> None:
    x = [3, -1, 4, 1, -5, 9, 2, 6]
    out = buf("CPU", dtypes.int32, [-77] * 8)
    inp = buf("CPU", dtypes.int32, x)
    Device["CPU"].build("scale", SCALE)(out.handle, inp.handle, vals=(n, k))
    # only the first n elements are written
    assert read(out) == [x[i] * k - i if i < n else -77 for i in range(8)]


def test_same_program_runs_with_new_values_each_call() -> None:
    prg = Device["CPU"].build("scale", SCALE)
    x = buf("CPU", dtypes.int32, [1, 2, 3, 4, 5, 6, 7, 8])
    out = buf("CPU", dtypes.int32, [0] * 8)
    prg(out.handle, x.handle, vals=(8, 2))
    assert read(out) == [2 * v - i for i, v in enumerate(range(1, 9))]
    prg(out.handle, x.handle, vals=(3, 10))
    assert read(out)[:3] == [10, 19, 28]
    assert read(out)[3:] == [2 * v - i for i, v in enumerate(range(1, 9))][3:]


def test_wait_returns_elapsed_seconds() -> None:
    out = Buffer("CPU", 7, dtypes.float32)
    a = buf("CPU", dtypes.float32, [1.0] * 7)
    prg = Device["CPU"].build("vadd", VADD)
    t = prg(out.handle, a.handle, a.handle, wait=True)
    assert isinstance(t, float) and t >= 0.0
    assert read(out) == [2.0] * 7


def test_in_place_update() -> None:
    src = "void twice(int* a) { for (int i = 0; i < 4; i++) a[i] = a[i] * 2 + 1; }"
    a = buf("CPU", dtypes.int32, [0, 5, -3, 100])
    prg = Device["CPU"].build("twice", src)
    prg(a.handle)
    prg(a.handle)
    assert read(a) == [(v * 2 + 1) * 2 + 1 for v in [0, 5, -3, 100]]


def test_kernel_writes_through_a_view_into_its_base() -> None:
    src = "void fill(int* out) { for (int i = 0; i < 3; i++) out[i] = 10 * (i + 1); }"
    base = buf("CPU", dtypes.int32, [0] * 8)
    view = base.view(3, dtypes.int32, offset=3 * 4)
    Device["CPU"].build("fill", src)(view.handle)
    assert read(base) == [0, 0, 0, 10, 20, 30, 0, 0]
    assert read(view) == [10, 20, 30]


@pytest.mark.parametrize(
    ("ctype", "dtype", "a", "b", "expect"),
    [
        (
            "unsigned char",
            dtypes.uint8,
            [200, 255, 3],
            [100, 1, 4],
            [(x + y) % 256 for x, y in [(200, 100), (255, 1), (3, 4)]],
        ),
        ("short", dtypes.int16, [-30000, 7, 12], [-1000, 8, -20], [-31000, 15, -8]),
        ("double", dtypes.float64, [0.1, 1e300, -2.5], [0.2, 1e300, 2.5], [0.1 + 0.2, 2e300, 0.0]),
        ("unsigned int", dtypes.uint32, [2**32 - 1, 5, 2**31], [2, 6, 2**31], [1, 11, 0]),
    ],
)
def test_add_in_other_dtypes(ctype: str, dtype: DType, a: list, b: list, expect: list) -> None:
    src = f"void add3({ctype}* out, const {ctype}* a, const {ctype}* b) {{\n"
    src += "  for (int i = 0; i < 3; i++) out[i] = a[i] + b[i];\n}\n"
    out, ba, bb = Buffer("CPU", 3, dtype), buf("CPU", dtype, a), buf("CPU", dtype, b)
    Device["CPU"].build("add3", src)(out.handle, ba.handle, bb.handle)
    assert read(out) == expect


def test_two_libraries_with_the_same_function_name() -> None:
    first = Device["CPU"].build("k", "void k(int* o) { o[0] = 111; }")
    second = Device["CPU"].build("k", "void k(int* o) { o[0] = 222; }")
    out = buf("CPU", dtypes.int32, [0])
    first(out.handle)
    assert read(out) == [111]
    second(out.handle)
    assert read(out) == [222]
    first(out.handle)
    assert read(out) == [111]


def test_build_works_without_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TG_COMPILE_CACHE", "0")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # whatever the build puts in temp stays here
    src = "void nocache(int* o) { o[0] = 4242; }"
    out = buf("CPU", dtypes.int32, [0])
    Device["CPU"].build("nocache", src)(out.handle)
    assert read(out) == [4242]
    assert not (tmp_path / "cache").exists()


def test_build_is_served_from_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path))
    src = "void cached(int* o) { o[0] = 31337; }"
    Device["CPU"].build("cached", src)
    assert any(tmp_path.joinpath("compile").rglob("*"))

    class Counting(ClangStyleCompiler):
        calls = 0

        def compile(self, src: str) -> bytes:
            Counting.calls += 1
            return super().compile(src)

    lib = Counting().compile_cached(src)
    assert Counting.calls == 0
    out = buf("CPU", dtypes.int32, [0])
    Device["CPU"].program("cached", lib)(out.handle)
    assert read(out) == [31337]


# ---- compile errors ----

BROKEN = """void broken(float* out) {
  out[0] = undefined_thing_xyz + 1.0f;
}
"""


def test_compile_error_carries_source_and_message() -> None:
    with pytest.raises(CompileError) as info:
        Device["CPU"].build("broken", BROKEN)
    e = info.value
    assert isinstance(e, RuntimeError)
    assert e.source == BROKEN
    assert e.device == "CPU"
    assert "undefined_thing_xyz" in e.message
    text = str(e)
    assert "CPU" in text and "undefined_thing_xyz" in text
    # the source is printed with line numbers
    for i, line in enumerate(BROKEN.splitlines(), start=1):
        assert f"{i:4d} | {line}" in text


def test_compile_error_is_raised_again_not_cached() -> None:
    src = "void again(int* o) { o[0] = ; }"
    for _ in range(2):
        with pytest.raises(CompileError):
            Device["CPU"].build("again", src)


def test_compiler_identity_names_compiler_and_flags() -> None:
    comp = Device["CPU"].compiler
    assert isinstance(comp, ClangStyleCompiler)
    assert "-O2" in comp.identity
    assert comp.identity != "none"


def test_cc_environment_variable_picks_the_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    from tg_runtime.backends import cpu

    try:
        cpu.find_cc.cache_clear()
        monkeypatch.setenv("CC", "/nonexistent/tg-test-cc")
        assert cpu.find_cc() == "/nonexistent/tg-test-cc"
        cpu.find_cc.cache_clear()
        monkeypatch.delenv("CC")
        assert os.path.basename(cpu.find_cc()) in ("cc", "gcc", "clang")
    finally:
        cpu.find_cc.cache_clear()  # the next user reads the restored environment


MULADD = """
void muladd(float* restrict o, const float* restrict a, const float* restrict b, const float* restrict c) {
  for (int i = 0; i < 64; i++) o[i] = a[i] * b[i] + c[i];
}
"""


def test_multiply_add_rounds_twice_like_the_reference() -> None:
    # a fused multiply-add would round once; the PYTHON reference (and the design) round after each op
    a, b, c = rand_f32(64, 11), rand_f32(64, 12), rand_f32(64, 13)
    out = Buffer("CPU", 64, dtypes.float32)
    ins = [buf("CPU", dtypes.float32, v) for v in (a, b, c)]  # kept alive: a dropped Buffer's memory is reused
    Device["CPU"].build("muladd", MULADD)(out.handle, *(i.handle for i in ins))
    assert read(out) == [f32(f32(x * y) + z) for x, y, z in zip(a, b, c)]


def test_zero_size_buffer_accepts_an_empty_copy() -> None:
    b = Buffer("CPU", 0, dtypes.float32).copyin(memoryview(b""))
    assert b.as_memoryview().nbytes == 0


def test_build_survives_an_unusable_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("in the way")
    monkeypatch.setenv("TG_CACHE_DIR", str(not_a_dir))
    out = Buffer("CPU", 1, dtypes.int32)
    Device["CPU"].build("five", "void five(int* o) { o[0] = 5; }")(out.handle)
    assert read(out) == [5]


def test_build_without_cache_leaves_no_library_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_COMPILE_CACHE", "0")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = Buffer("CPU", 1, dtypes.int32)
    Device["CPU"].build("six", "void six(int* o) { o[0] = 6; }")(out.handle)
    assert read(out) == [6]
    assert [p for p in os.listdir(tmp_path) if p.startswith("tg-lib-")] == []


THREAD_IDS = """
#include <omp.h>
void ids(int* restrict out) {
#pragma omp parallel for num_threads(2) schedule(static)
  for (int i = 0; i < 1000; i++) out[i] = omp_get_thread_num();
}
"""


def test_kernels_can_use_several_cores_with_openmp() -> None:
    caps = Device["CPU"].caps
    assert caps.threads == (len(os.sched_getaffinity(0)) if caps.has_threads else 1)
    if not caps.has_threads:
        pytest.skip("the C compiler does not accept -fopenmp")
    out = Buffer("CPU", 1000, dtypes.int32)
    Device["CPU"].build("ids", THREAD_IDS)(out.handle)
    assert set(read(out)) == set(range(min(2, caps.threads)))


def test_an_allocation_the_system_cannot_map_is_a_memory_error_and_the_device_stays_usable() -> None:
    with pytest.raises(MemoryError, match=str(1 << 50)):
        Buffer("CPU", 1 << 50, dtypes.uint8).allocate()
    b = buf("CPU", dtypes.int32, [1, 2, 3])
    assert read(b) == [1, 2, 3]


def test_host_memory_is_page_aligned() -> None:
    assert Buffer("CPU", 3, dtypes.float32).allocate().handle.addr % 4096 == 0
