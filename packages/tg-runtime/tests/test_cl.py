"""The CL device: hand-written OpenCL C kernels on the machine's real OpenCL device (PoCL on CPU in CI), checked
against plain Python and against the same computations as loop programs on the PYTHON device."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import Prog, buf, f32, read

from tg_runtime import Buffer, CompileError, Device, DeviceUnavailable
from tg_runtime.backends import cl as cl_backend
from tg_runtime.backends.python import serialize_program
from tg_uop import DType, Ops, UOp, dtypes

try:
    Device["CL"]
except DeviceUnavailable as e:
    pytest.skip(f"no usable OpenCL device here: {e}", allow_module_level=True)

import pyopencl as cl  # noqa: E402  (importable: the CL device works)

F32, I32 = dtypes.float32, dtypes.int32


def rand_f32(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [f32(rng.uniform(-10, 10)) for _ in range(n)]


VADD = """
__kernel void vadd(__global float* out, __global const float* a, __global const float* b) {
  int i = get_global_id(0);
  out[i] = a[i] + b[i];
}
"""


def test_device_is_available_and_describes_itself() -> None:
    assert Device.available()["CL"] is None
    dev = Device["CL"]
    caps = dev.caps
    assert caps.language == "OpenCL" and caps.has_workgroups and caps.threads == 1
    d = cl.get_platforms()[0].get_devices()[0]
    assert caps.local_memory == d.local_mem_size > 0
    assert caps.max_local_size == tuple(d.max_work_item_sizes)
    assert dtypes.float32 in caps.dtypes and dtypes.int32 in caps.dtypes and dtypes.bfloat16 not in caps.dtypes
    assert (dtypes.float64 in caps.dtypes) == ("cl_khr_fp64" in d.extensions.split())
    assert (dtypes.float16 in caps.dtypes) == ("cl_khr_fp16" in d.extensions.split())


def test_vector_add() -> None:
    a, b = rand_f32(64, 1), rand_f32(64, 2)
    out, ba, bb = Buffer("CL", 64, F32), buf("CL", F32, a), buf("CL", F32, b)
    prg = Device["CL"].build("vadd", VADD)
    assert prg(out.handle, ba.handle, bb.handle, global_size=(8,), local_size=(8,)) is None
    assert read(out) == [f32(x + y) for x, y in zip(a, b)]
    assert read(ba) == a and read(bb) == b


GROUP_SUM = """
__kernel void group_sum(__global int* out, __global const int* a) {
  __local int part[16];
  int l = get_local_id(0);
  part[l] = a[get_global_id(0)];
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int step = 8; step > 0; step /= 2) {
    if (l < step) part[l] += part[l + step];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0) out[get_group_id(0)] = part[0];
}
"""


def test_work_group_reduction_in_local_memory() -> None:
    rng = random.Random(5)
    a = [rng.randint(-1000, 1000) for _ in range(16 * 5)]
    out, inp = buf("CL", I32, [0] * 5), buf("CL", I32, a)
    Device["CL"].build("group_sum", GROUP_SUM)(out.handle, inp.handle, global_size=(5,), local_size=(16,))
    assert read(out) == [sum(a[g * 16 : (g + 1) * 16]) for g in range(5)]


SCALE = """
__kernel void scale(__global int* out, __global const int* x, int n, int k) {
  int i = get_global_id(0);
  if (i < n) out[i] = x[i] * k - i;
}
"""


@pytest.mark.parametrize(("n", "k"), [(5, 3), (2, -4), (0, 9), (8, 200_000_000)])
def test_integer_variable_arguments(n: int, k: int) -> None:
    x = [3, -1, 4, 1, -5, 9, 2, 6]
    out, inp = buf("CL", I32, [-77] * 8), buf("CL", I32, x)
    Device["CL"].build("scale", SCALE)(out.handle, inp.handle, global_size=(8,), vals=(n, k))

    def wrap(v: int) -> int:  # OpenCL int arithmetic wraps around
        return (v + 2**31) % 2**32 - 2**31

    assert read(out) == [wrap(x[i] * k - i) if i < n else -77 for i in range(8)]


def test_variable_out_of_int32_range_is_refused() -> None:
    out, inp = buf("CL", I32, [0] * 8), buf("CL", I32, [0] * 8)
    with pytest.raises(ValueError, match="int32"):
        Device["CL"].build("scale", SCALE)(out.handle, inp.handle, global_size=(8,), vals=(8, 2**31))


def test_argument_count_is_checked() -> None:
    out = buf("CL", I32, [0] * 8)
    with pytest.raises(ValueError, match="takes 4 arguments"):
        Device["CL"].build("scale", SCALE)(out.handle, vals=(1, 2))


# ---- launch geometry ----

IDS = """
__kernel void ids(__global int* count, __global int* rec) {
  int n0 = get_global_size(0), n1 = get_global_size(1);
  int lin = (get_global_id(2) * n1 + get_global_id(1)) * n0 + get_global_id(0);
  atomic_add(&count[lin], 1);
  for (int d = 0; d < 3; d++) {
    rec[lin * 9 + d] = get_global_id(d);
    rec[lin * 9 + 3 + d] = get_group_id(d);
    rec[lin * 9 + 6 + d] = get_local_id(d);
  }
}
"""


@pytest.mark.parametrize(
    ("global_size", "local_size"), [((3, 2, 2), (2, 3, 1)), ((5, 1, 1), (4, 1, 1)), ((2, 3, 4), (1, 1, 1))]
)
def test_every_work_item_runs_exactly_once(global_size: tuple[int, ...], local_size: tuple[int, ...]) -> None:
    n = [g * l for g, l in zip(global_size, local_size)]
    total = n[0] * n[1] * n[2]
    count, rec = buf("CL", I32, [0] * total), buf("CL", I32, [-1] * total * 9)
    Device["CL"].build("ids", IDS)(count.handle, rec.handle, global_size=global_size, local_size=local_size)
    assert read(count) == [1] * total
    want: list[int] = []
    for z in range(n[2]):
        for y in range(n[1]):
            for x in range(n[0]):
                gid = (x, y, z)
                want += [*gid, *(g // l for g, l in zip(gid, local_size)), *(g % l for g, l in zip(gid, local_size))]
    assert read(rec) == want


def test_driver_chooses_the_local_size_when_none_is_given() -> None:
    # global_size is then the number of work-items
    count, rec = buf("CL", I32, [0] * 10), buf("CL", I32, [-1] * 90)
    Device["CL"].build("ids", IDS)(count.handle, rec.handle, global_size=(10, 1, 1), local_size=None)
    assert read(count) == [1] * 10
    assert read(rec)[0::9] == list(range(10))


def test_empty_launch_runs_nothing() -> None:
    count, rec = buf("CL", I32, [0] * 4), buf("CL", I32, [-1] * 36)
    prg = Device["CL"].build("ids", IDS)
    assert prg(count.handle, rec.handle, global_size=(0, 1, 1), local_size=(4, 1, 1), wait=True) == 0.0
    assert read(count) == [0] * 4


def test_refused_launch_geometry_names_the_sizes() -> None:
    count, rec = buf("CL", I32, [0] * 4), buf("CL", I32, [-1] * 36)
    too_big = Device["CL"].caps.extra["max_work_group_size"] + 1
    with pytest.raises(ValueError, match="refused"):
        Device["CL"].build("ids", IDS)(count.handle, rec.handle, global_size=(1,), local_size=(too_big,))


# ---- the same computations on the PYTHON device ----


@dataclass
class Case:
    name: str
    build: Callable[[], Prog]
    cl_src: str  # defines `__kernel void k(...)`, parameters in the order of the DEFINE_GLOBALs then DEFINE_VARs
    inputs: list[tuple[DType, list[Any]]]
    expect: Callable[..., list[Any]]  # initial contents of every buffer -> contents of buffer 0 afterwards
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    vals: tuple[int, ...] = field(default=())


def special(p: Prog, name: str, n: int) -> UOp:
    return p.add(Ops.SPECIAL, I32, (), (name, n))


def p_vadd() -> Prog:
    # out[g * 4 + l] = a[...] + b[...] over 3 groups of 4
    p = Prog()
    out, a, b = p.glob(0, F32, 12), p.glob(1, F32, 12), p.glob(2, F32, 12)
    i = p.alu(Ops.ADD, p.alu(Ops.MUL, special(p, "gidx0", 3), p.const(I32, 4)), special(p, "lidx0", 4))
    p.store(out, i, p.alu(Ops.ADD, p.load(a, i), p.load(b, i)))
    return p


def p_row_sums() -> Prog:
    # out[r] = a[r, 0] + ... + a[r, 5], one row per work-item, summed in order
    p = Prog()
    out, a = p.glob(0, F32, 4), p.glob(1, F32, 24)
    row = special(p, "gidx0", 4)
    acc = p.add(Ops.DEFINE_ACC, F32, (p.const(F32, 0.0),), 0)
    j = p.range(p.const(I32, 6), 0)
    p.add(
        Ops.ASSIGN, F32, (acc, p.alu(Ops.ADD, acc, p.load(a, p.alu(Ops.ADD, p.alu(Ops.MUL, row, p.const(I32, 6)), j))))
    )
    p.endrange(j)
    p.store(out, row, acc)
    return p


def p_scaled() -> Prog:
    # out[i] = a[i] * m - i where i < n, for 8 work-items; n and m given at launch
    p = Prog()
    out, a = p.glob(0, I32, 8), p.glob(1, I32, 8)
    n, m = p.var("n", 0, 8), p.var("m", -100, 100)
    i = special(p, "gidx0", 8)
    p.store(out, i, p.alu(Ops.SUB, p.alu(Ops.MUL, p.load(a, i), m), i), gate=p.alu(Ops.CMPLT, i, n))
    return p


def p_grid() -> Prog:
    # out[(g1 * 3 + g0) * 2 + l0] = 100 * g0 + 10 * g1 + l0 over a (3, 2) grid of 2-item groups
    p = Prog()
    out = p.glob(0, I32, 12)
    g0, g1, l0 = special(p, "gidx0", 3), special(p, "gidx1", 2), special(p, "lidx0", 2)
    idx = p.alu(Ops.ADD, p.alu(Ops.MUL, p.alu(Ops.ADD, p.alu(Ops.MUL, g1, p.const(I32, 3)), g0), p.const(I32, 2)), l0)
    val = p.alu(
        Ops.ADD, p.alu(Ops.ADD, p.alu(Ops.MUL, g0, p.const(I32, 100)), p.alu(Ops.MUL, g1, p.const(I32, 10))), l0
    )
    p.store(out, idx, val)
    return p


def p_divide() -> Prog:
    # float32 division, correctly rounded on both devices
    p = Prog()
    out, a, b = p.glob(0, F32, 16), p.glob(1, F32, 16), p.glob(2, F32, 16)
    i = special(p, "gidx0", 16)
    p.store(out, i, p.alu(Ops.FDIV, p.load(a, i), p.load(b, i)))
    return p


A12, B12, ROWS = rand_f32(12, 3), rand_f32(12, 4), rand_f32(24, 5)
NUM, DEN = rand_f32(16, 6), [v if abs(v) > 0.1 else 3.0 for v in rand_f32(16, 7)]


def grid_expect(out: list[int]) -> list[int]:
    want = list(out)
    for g0 in range(3):
        for g1 in range(2):
            for l0 in range(2):
                want[(g1 * 3 + g0) * 2 + l0] = 100 * g0 + 10 * g1 + l0
    return want


def row_sums_expect(out: list[float], a: list[float]) -> list[float]:
    sums = []
    for r in range(4):
        acc = 0.0
        for j in range(6):
            acc = f32(acc + a[r * 6 + j])
        sums.append(acc)
    return sums


CASES = [
    Case(
        "vadd",
        p_vadd,
        "__kernel void k(__global float* out, __global const float* a, __global const float* b) {\n"
        "  int i = get_group_id(0) * 4 + get_local_id(0);\n  out[i] = a[i] + b[i];\n}",
        [(F32, [0.0] * 12), (F32, A12), (F32, B12)],
        lambda o, a, b: [f32(x + y) for x, y in zip(a, b)],
        (3,),
        (4,),
    ),
    Case(
        "row_sums",
        p_row_sums,
        "__kernel void k(__global float* out, __global const float* a) {\n"
        "  int r = get_group_id(0);\n  float acc = 0.0f;\n"
        "  for (int j = 0; j < 6; j++) acc += a[r * 6 + j];\n  out[r] = acc;\n}",
        [(F32, [-1.0] * 4), (F32, ROWS)],
        row_sums_expect,
        (4,),
        (1,),
    ),
    *(
        Case(
            f"scaled_n{n}_m{m}",
            p_scaled,
            "__kernel void k(__global int* out, __global const int* a, int n, int m) {\n"
            "  int i = get_group_id(0);\n  if (i < n) out[i] = a[i] * m - i;\n}",
            [(I32, [-5] * 8), (I32, [3, 1, 4, 1, 5, 9, 2, 6])],
            lambda o, a, n=n, m=m: [a[i] * m - i if i < n else o[i] for i in range(8)],
            (8,),
            (1,),
            (n, m),
        )
        for n, m in ((5, 3), (8, -7), (0, 1))
    ),
    Case(
        "grid",
        p_grid,
        "__kernel void k(__global int* out) {\n"
        "  int g0 = get_group_id(0), g1 = get_group_id(1), l0 = get_local_id(0);\n"
        "  out[(g1 * 3 + g0) * 2 + l0] = 100 * g0 + 10 * g1 + l0;\n}",
        [(I32, [-1] * 12)],
        grid_expect,
        (3, 2, 1),
        (2, 1, 1),
    ),
    Case(
        "divide",
        p_divide,
        "__kernel void k(__global float* out, __global const float* a, __global const float* b) {\n"
        "  int i = get_group_id(0);\n  out[i] = a[i] / b[i];\n}",
        [(F32, [0.0] * 16), (F32, NUM), (F32, DEN)],
        lambda o, a, b: [f32(x / y) for x, y in zip(a, b)],
        (16,),
        (1,),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_agrees_with_python_device_and_plain_python(case: Case) -> None:
    launch: dict[str, Any] = {"global_size": case.global_size, "local_size": case.local_size, "vals": case.vals}
    ref = [buf("PYTHON", dt, v) for dt, v in case.inputs]
    Device["PYTHON"].build("k", serialize_program(case.build().uops))(*[b.handle for b in ref], **launch)
    got = [buf("CL", dt, v) for dt, v in case.inputs]
    Device["CL"].build("k", case.cl_src)(*[b.handle for b in got], **launch)
    assert read(got[0]) == case.expect(*[list(v) for _, v in case.inputs])
    assert [read(b) for b in got] == [read(b) for b in ref]


# ---- timing and ordering ----


def test_wait_returns_the_kernel_time() -> None:
    a = buf("CL", F32, [1.5] * 64)
    out = Buffer("CL", 64, F32)
    prg = Device["CL"].build("vadd", VADD)
    t = prg(out.handle, a.handle, a.handle, global_size=(64,), wait=True)
    assert isinstance(t, float) and t > 0.0
    assert read(out) == [3.0] * 64


SLOW = """
__kernel void slow(__global float* out, int n) {
  int i = get_global_id(0);
  float x = 0.0f;
  for (int k = 0; k < n; k++) x = x * 0.5f + 1.0f;
  out[i] = x;
}
"""


def test_copy_after_an_unwaited_launch_sees_its_results() -> None:
    out = buf("CL", F32, [0.0] * 256)
    Device["CL"].build("slow", SLOW)(out.handle, global_size=(256,), vals=(20000,))
    host = memoryview(bytearray(out.nbytes))
    Device["CL"].allocator.copyout(host, out.handle)  # no synchronize: the in-order queue orders the copy
    assert host.cast("f").tolist() == [2.0] * 256  # x = x/2 + 1 converges to 2 in float32


# ---- compiling ----

BROKEN = """__kernel void broken(__global float* out) {
  out[0] = undefined_thing_xyz + 1.0f;
}
"""


def test_compile_error_carries_source_and_build_log() -> None:
    with pytest.raises(CompileError) as info:
        Device["CL"].build("broken", BROKEN)
    e = info.value
    assert e.source == BROKEN and e.device == "CL"
    assert "undefined_thing_xyz" in e.message
    assert ":2:" in e.message  # the log's line numbers are those of the source as given
    text = str(e)
    for i, line in enumerate(BROKEN.splitlines(), start=1):
        assert f"{i:4d} | {line}" in text


MULADD = """
__kernel void muladd(__global float* o, __global const float* a, __global const float* b, __global const float* c) {
  int i = get_global_id(0);
  o[i] = a[i] * b[i] + c[i];
}
"""


def test_multiply_add_rounds_twice_like_the_reference() -> None:
    # OpenCL lets a*b+c become one fused multiply-add (rounded once); the device compiles with contraction off
    a, b, c = rand_f32(256, 11), rand_f32(256, 12), rand_f32(256, 13)
    out = Buffer("CL", 256, F32)
    ins = [buf("CL", F32, v) for v in (a, b, c)]
    Device["CL"].build("muladd", MULADD)(out.handle, *(i.handle for i in ins), global_size=(256,))
    assert read(out) == [f32(f32(x * y) + z) for x, y, z in zip(a, b, c)]


def test_missing_kernel_name_is_reported() -> None:
    with pytest.raises(ValueError, match="vadd"):
        Device["CL"].build("no_such_kernel", VADD)


def test_identity_names_platform_device_driver_and_options() -> None:
    comp = Device["CL"].compiler
    assert isinstance(comp, cl_backend.CLCompiler)
    d = cl.get_platforms()[0].get_devices()[0]
    for part in (d.platform.name, d.platform.version, d.name, d.driver_version, *comp.options, "FP_CONTRACT OFF"):
        assert part in comp.identity


def test_build_is_served_from_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path))
    comp = Device["CL"].compiler
    assert comp is not None
    calls: list[str] = []
    real = comp.compile

    def counting(src: str) -> bytes:
        calls.append(src)
        return real(src)

    monkeypatch.setattr(comp, "compile", counting)
    src = "__kernel void cached(__global int* o) { o[0] = 31337; }"
    out = buf("CL", I32, [0])
    Device["CL"].build("cached", src)(out.handle)
    assert len(calls) == 1 and any(tmp_path.joinpath("compile").rglob("*"))
    Device["CL"].build("cached", src)(out.handle)
    assert len(calls) == 1
    assert read(out) == [31337]


def test_two_programs_with_the_same_kernel_name() -> None:
    first = Device["CL"].build("k", "__kernel void k(__global int* o) { o[0] = 111; }")
    second = Device["CL"].build("k", "__kernel void k(__global int* o) { o[0] = 222; }")
    out = buf("CL", I32, [0])
    first(out.handle)
    assert read(out) == [111]
    second(out.handle)
    assert read(out) == [222]


# ---- memory ----


def test_copy_between_cl_and_cpu() -> None:
    vals = rand_f32(33, 9)
    on_cl = buf("CL", F32, vals)
    on_cpu = on_cl.copy_to("CPU")
    assert on_cpu.device == "CPU" and read(on_cpu) == vals
    back = on_cpu.copy_to("CL")
    assert back.device == "CL" and read(back) == vals


def test_aligned_view_shares_memory_with_its_base() -> None:
    align = Device["CL"].allocator.align
    n = align // 4  # int32 elements before the view
    base = buf("CL", I32, list(range(3 * n)))
    view = base.view(n, I32, offset=align)
    assert read(view) == list(range(n, 2 * n))
    view.copyin(memoryview(struct.pack(f"<{n}i", *([-9] * n))))
    src = "__kernel void fill(__global int* o) { o[get_global_id(0)] += 1000; }"
    Device["CL"].build("fill", src)(view.handle, global_size=(n,))
    assert read(base) == list(range(n)) + [991] * n + list(range(2 * n, 3 * n))


def test_misaligned_view_is_refused() -> None:
    base = buf("CL", I32, [0] * 64)
    view = base.view(4, I32, offset=4)
    with pytest.raises(ValueError, match="multiple of"):
        view.allocate()


def test_zero_size_buffer_and_view() -> None:
    b = Buffer("CL", 0, F32).copyin(memoryview(b""))
    assert b.as_memoryview().nbytes == 0
    base = buf("CL", F32, [1.0, 2.0])
    assert base.view(0, F32, offset=4).as_memoryview().nbytes == 0


def test_freed_block_is_reused() -> None:
    alloc = Device["CL"].allocator
    before = alloc.in_use
    h = alloc.alloc(4096 + 12)
    assert alloc.in_use == before + 4096 + 12
    alloc.free(h, 4096 + 12)
    assert alloc.alloc(4096 + 12) is h
    alloc.free(h, 4096 + 12)
    alloc.free_cache()
    assert alloc.cached_bytes == 0


def test_absurd_allocation_raises_memory_error_and_device_still_works() -> None:
    with pytest.raises(MemoryError, match=str(1 << 50)):
        Buffer("CL", (1 << 50) // 4, F32).allocate()
    test_vector_add()


def test_driver_out_of_memory_empties_the_cache_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    alloc = Device["CL"].allocator
    assert isinstance(alloc, cl_backend.CLAllocator)
    alloc.free(alloc.alloc(1024 + 4), 1024 + 4)  # a cached block to be given back
    assert alloc.cached_bytes >= 1024 + 4
    real = alloc._new_buffer
    failures = [1]

    def flaky(nbytes: int) -> Any:
        if failures:
            failures.pop()
            raise cl.MemoryError(cl._cl._ErrorRecord(msg="MEM_OBJECT_ALLOCATION_FAILURE", code=-4, routine="test"))
        return real(nbytes)

    monkeypatch.setattr(alloc, "_new_buffer", flaky)
    h = alloc.alloc(2048 + 4)
    assert alloc.cached_bytes == 0 and not failures
    alloc.free(h, 2048 + 4)

    def always_full(nbytes: int) -> Any:
        raise cl.MemoryError(cl._cl._ErrorRecord(msg="OUT_OF_RESOURCES", code=-5, routine="test"))

    monkeypatch.setattr(alloc, "_new_buffer", always_full)
    with pytest.raises(MemoryError, match="out of memory allocating 4100 bytes"):
        alloc.alloc(4096 + 4)


# ---- availability ----


def test_device_number_past_the_last_device_is_unavailable() -> None:
    with pytest.raises(DeviceUnavailable, match="only .* OpenCL device"):
        cl_backend.create_device("CL:999")


def test_missing_pyopencl_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cl_backend, "_IMPORT_ERROR", ImportError("No module named 'pyopencl'"))
    with pytest.raises(DeviceUnavailable, match="pyopencl is not installed"):
        cl_backend.create_device("CL")


def test_no_platform_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def none_found() -> list[Any]:
        raise cl.LogicError(cl._cl._ErrorRecord(msg="PLATFORM_NOT_FOUND_KHR", code=-1001, routine="clGetPlatformIDs"))

    monkeypatch.setattr(cl, "get_platforms", none_found)
    with pytest.raises(DeviceUnavailable, match="no OpenCL platform"):
        cl_backend.create_device("CL")
