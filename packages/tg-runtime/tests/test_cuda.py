"""The CUDA device: CUDA C compiled to PTX by nvcc (wherever nvcc exists, GPU or not), the backend's pycuda glue
against a stand-in driver, and real launches on a GPU (skipped, with the reason, where there is none)."""

from __future__ import annotations

import importlib.abc
import math
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fake_pycuda
import pytest
from helpers import Prog, available_or_skip, buf, f32, read

from tg_runtime import Buffer, Compiled, CompileError, Device, DeviceUnavailable
from tg_runtime.backends import cuda
from tg_runtime.backends.cuda import CUDACompiler, pick_arch, ptx_kernels
from tg_runtime.backends.python import serialize_program
from tg_uop import Ops, dtypes

F32, I32 = dtypes.float32, dtypes.int32

# three kernels in one module; every launch follows tg's convention: grid = global_size, block = local_size
KERNELS = r"""
extern "C" __global__ void vadd(float* out, const float* a, const float* b) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  out[i] = a[i] + b[i];
}

// one block per row of `a` (rows x n); blockDim.x must be a power of two <= 256
extern "C" __global__ void row_sum(float* out, const float* a, int n) {
  __shared__ float part[256];
  const float* row = a + blockIdx.x * n;
  int t = threadIdx.x;
  float acc = 0.0f;
  for (int i = t; i < n; i += blockDim.x) acc += row[i];
  part[t] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = part[0];
}

extern "C" __global__ void scale(int* out, const int* x, int n, int k) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = x[i] * k - i;
}
"""

BROKEN = """extern "C" __global__ void broken(float* out) {
  out[0] = undefined_thing_xyz + 1.0f;
}
"""


def nvcc_or_skip() -> CUDACompiler:
    return available_or_skip(CUDACompiler, "nvcc is not available")


@pytest.fixture(scope="module")
def ptx() -> bytes:
    # compiled without the disk cache: a module fixture runs outside the per-test private cache folder
    return nvcc_or_skip().compile(KERNELS)


def rand_f32(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [f32(rng.uniform(-10, 10)) for _ in range(n)]


# ---- compiling (nvcc only) ----


def test_kernels_compile_to_ptx_with_an_entry_each(ptx: bytes) -> None:
    text = ptx.decode()
    for name in ("vadd", "row_sum", "scale"):
        assert re.search(rf"\.entry\s+{name}\s*\(", text), name
    assert re.search(r"^\.target\s+sm_80\b", text, re.M)
    # the shared array and the barrier made it into the PTX
    assert ".shared" in text and "bar.sync" in text


def test_ptx_parameters_are_read_from_each_entry(ptx: bytes) -> None:
    kernels = ptx_kernels(ptx)
    assert kernels == {
        "vadd": ("u64", "u64", "u64"),
        "row_sum": ("u64", "u64", "u32"),
        "scale": ("u64", "u64", "u32", "u32"),
    }
    assert [cuda.arg_format(n, p) for n, p in kernels.items()] == ["PPP", "PPi", "PPii"]


def test_no_fused_multiply_add() -> None:
    # a*b+c rounds twice, like the PYTHON reference: nvcc would otherwise fuse it into one fma
    src = 'extern "C" __global__ void k(float* o, const float* a, const float* b, const float* c) {\n'
    src += "  int i = threadIdx.x;\n  o[i] = a[i] * b[i] + c[i];\n}\n"
    text = nvcc_or_skip().compile(src).decode()
    assert "mul.rn.f32" in text and "add.rn.f32" in text and "fma" not in text


def test_kernel_without_extern_c_has_a_mangled_entry() -> None:
    comp = nvcc_or_skip()
    kernels = ptx_kernels(comp.compile("__global__ void plain(int* o) { o[0] = 1; }"))
    assert "plain" not in kernels and len(kernels) == 1  # C++ mangles it: tg's kernels must be extern "C"


def test_syntax_error_raises_compile_error_with_the_source() -> None:
    comp = nvcc_or_skip()
    with pytest.raises(CompileError) as info:
        comp.compile_cached(BROKEN)
    e = info.value
    assert e.source == BROKEN and e.device == "CUDA"
    assert "undefined_thing_xyz" in e.message
    assert "kernel.cu(2)" in e.message  # nvcc's line number, without a temporary folder's name
    text = str(e)
    for i, line in enumerate(BROKEN.splitlines(), start=1):
        assert f"{i:4d} | {line}" in text


def test_disk_cache_serves_ptx_without_running_nvcc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path))
    comp = nvcc_or_skip()
    real_run = subprocess.run
    compiles: list[list[str]] = []

    def counting_run(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        if "--ptx" in cmd:
            compiles.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(cuda.subprocess, "run", counting_run)
    src = 'extern "C" __global__ void cached(int* o) { o[0] = 31337; }'
    first = comp.compile_cached(src)
    assert len(compiles) == 1
    assert CUDACompiler().compile_cached(src) == first  # a new compiler, same identity: served from disk
    assert comp.compile_cached(src) == first
    assert len(compiles) == 1
    assert any(tmp_path.joinpath("compile").rglob("*"))


def test_identity_names_nvcc_version_arch_and_flags() -> None:
    comp = nvcc_or_skip()
    out = subprocess.run([comp.nvcc, "--version"], capture_output=True, text=True, check=True).stdout
    version = re.search(r"V\d+\.\d+\.\d+", out)
    assert version is not None
    assert version.group(0) in comp.identity
    assert "sm_80" in comp.identity and "-fmad=false" in comp.identity


def test_arch_is_part_of_the_output_and_the_cache_key() -> None:
    default = nvcc_or_skip()
    other = CUDACompiler("sm_86")
    assert "sm_86" in other.identity and other.identity != default.identity
    src = 'extern "C" __global__ void k(int* o) { o[0] = 2; }'
    assert other.cache_path(src) != default.cache_path(src)
    assert re.search(r"^\.target\s+sm_86\b", other.compile(src).decode(), re.M)


def test_unknown_arch_is_refused() -> None:
    nvcc_or_skip()
    if not cuda.nvcc_archs(cuda.find_nvcc()):
        pytest.skip("this nvcc cannot list its architectures")
    with pytest.raises(ValueError, match="sm_10"):
        CUDACompiler("sm_10")
    assert CUDACompiler("sm_90a").arch == "sm_90a"  # an arch-specific variant of a known architecture


# ---- finding nvcc (no nvcc needed) ----


def test_nvcc_from_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVCC", "/nonexistent/tg-test-nvcc")
    assert cuda.find_nvcc() == "/nonexistent/tg-test-nvcc"
    with pytest.raises(DeviceUnavailable, match="tg-test-nvcc"):
        CUDACompiler()


def test_relative_nvcc_path_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NVCC", "bin/nvcc")
    assert cuda.find_nvcc() == str(tmp_path / "bin" / "nvcc")
    monkeypatch.setenv("NVCC", "nvcc")  # a bare name is looked up on the PATH when run
    assert cuda.find_nvcc() == "nvcc"


def test_missing_nvcc_makes_the_compiler_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NVCC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(cuda, "_FALLBACK_NVCC", str(tmp_path / "nvcc"))
    with pytest.raises(DeviceUnavailable, match="nvcc not found"):
        CUDACompiler()


def test_gpu_arch_is_the_gpus_own_or_the_newest_older_one() -> None:
    known = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")
    assert pick_arch((8, 6), known) == "sm_86"
    assert pick_arch((10, 0), known) == "sm_100"
    assert pick_arch((8, 9), known) == "sm_86"  # nvcc without sm_89: PTX for sm_86 runs there too
    assert pick_arch((12, 1), known) == "sm_120"
    assert pick_arch((8, 9), ()) == "sm_89"  # an nvcc that cannot list its targets is trusted
    with pytest.raises(DeviceUnavailable, match="sm_70"):
        pick_arch((7, 0), known)


def test_module_imports_without_pycuda() -> None:
    code = "import sys, tg_runtime.backends.cuda; print(sorted(m for m in sys.modules if m.startswith('pycuda')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- why the device is unavailable ----


def test_available_reports_the_same_reason_as_lookup() -> None:
    reason = Device.available()["CUDA"]
    if reason is None:
        assert Device["CUDA"].caps.language == "CUDA"
        return
    assert isinstance(reason, str) and reason.strip()
    with pytest.raises(DeviceUnavailable) as info:
        Device["CUDA"]
    assert str(info.value) == reason


def test_no_pycuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pycuda", None)  # `import pycuda...` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "pycuda.driver", raising=False)
    with pytest.raises(DeviceUnavailable, match=re.escape("pycuda is not installed (pip install tg-runtime[cuda])")):
        cuda.create_device("CUDA")


class _NoDriverLibrary(importlib.abc.MetaPathFinder):
    """pycuda is there, but its extension cannot load libcuda (a machine without the NVIDIA driver)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.startswith("pycuda"):
            raise ImportError("libcuda.so.1: cannot open shared object file: No such file or directory")
        return None


def test_no_driver_library(monkeypatch: pytest.MonkeyPatch) -> None:
    for m in [m for m in sys.modules if m.startswith("pycuda")]:
        monkeypatch.delitem(sys.modules, m)
    monkeypatch.setattr(sys, "meta_path", [_NoDriverLibrary(), *sys.meta_path])
    with pytest.raises(DeviceUnavailable, match="no CUDA driver: libcuda.so.1"):
        cuda.create_device("CUDA")


def test_driver_that_does_not_initialize(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pycuda.install(monkeypatch, fake_pycuda.make_driver(init_error="cuInit failed: no CUDA-capable device"))
    with pytest.raises(DeviceUnavailable, match="no CUDA driver: cuInit failed"):
        cuda.create_device("CUDA")


def test_driver_without_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pycuda.install(monkeypatch, fake_pycuda.make_driver(gpus=0))
    with pytest.raises(DeviceUnavailable, match="no CUDA GPU"):
        cuda.create_device("CUDA")


def test_gpu_number_beyond_those_present(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pycuda.install(monkeypatch, fake_pycuda.make_driver(gpus=2))
    with pytest.raises(DeviceUnavailable, match=r"CUDA:2: no such GPU \(2 CUDA GPU"):
        cuda.create_device("CUDA:2")


# ---- the pycuda glue, against the stand-in driver (needs nvcc for the PTX) ----


def _fake_vadd(mem: fake_pycuda.Memory, grid: Any, block: Any, args: tuple[Any, ...]) -> None:
    out, a, b = args
    for bx in range(grid[0]):
        for tx in range(block[0]):
            i = bx * block[0] + tx
            mem.write(out, "f", i, f32(mem.read(a + 4 * i, "f", 1)[0] + mem.read(b + 4 * i, "f", 1)[0]))


def _fake_scale(mem: fake_pycuda.Memory, grid: Any, block: Any, args: tuple[Any, ...]) -> None:
    out, x, n, k = args
    for bx in range(grid[0]):
        for tx in range(block[0]):
            if (i := bx * block[0] + tx) < n:
                mem.write(out, "i", i, mem.read(x + 4 * i, "i", 1)[0] * k - i)


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Compiled, Any]]:
    """A CUDA device over the stand-in driver, registered as "CUDA" for the test (Buffers find it there)."""
    nvcc_or_skip()
    drv = fake_pycuda.make_driver(kernels={"vadd": _fake_vadd, "scale": _fake_scale}, capability=(8, 6))
    fake_pycuda.install(monkeypatch, drv)
    dev = cuda.create_device("CUDA")
    monkeypatch.setitem(Device._devices, "CUDA", dev)
    yield dev, drv
    assert drv.fake_stack == []  # every operation popped the context it pushed


def test_capabilities_come_from_the_gpu(fake_gpu: tuple[Compiled, Any]) -> None:
    dev, _ = fake_gpu
    assert dev.caps.language == "CUDA" and dev.caps.has_workgroups
    assert dev.caps.local_memory == 49152
    assert dev.caps.max_local_size == (1024, 1024, 64)
    assert dtypes.bfloat16 in dev.caps.dtypes and dtypes.float16 in dev.caps.dtypes
    assert dev.caps.extra["max_threads_per_block"] == 1024
    assert isinstance(dev.compiler, CUDACompiler) and dev.compiler.arch == "sm_86"


def test_memory_round_trip_and_views_by_address(fake_gpu: tuple[Compiled, Any]) -> None:
    _, drv = fake_gpu
    base = buf("CUDA", I32, [1, 2, 3, 4, 5, 6])
    view = base.view(2, I32, offset=8)
    assert view.handle.ptr == base.handle.ptr + 8
    assert read(view) == [3, 4]
    view.copyin(memoryview(bytes(8)))
    assert read(base) == [1, 2, 0, 0, 5, 6]
    assert Buffer("CUDA", 0, I32).allocate().handle.nbytes == 0  # 0 bytes: CUDA refuses, the backend rounds up
    assert drv.fake_stack == []


def test_freed_memory_goes_back_to_the_driver(fake_gpu: tuple[Compiled, Any]) -> None:
    dev, drv = fake_gpu
    h = dev.allocator.alloc(64)
    dev.allocator.free(h, 64)
    assert drv.fake_memory.freed == []  # kept for reuse first
    dev.allocator.free_cache()
    assert drv.fake_memory.freed == [h.ptr]


def test_out_of_memory_is_a_memory_error(fake_gpu: tuple[Compiled, Any]) -> None:
    dev, _ = fake_gpu
    with pytest.raises(MemoryError, match=f"{2**31} bytes"):
        dev.allocator.alloc(2**31)


def test_launch_uses_grid_block_and_packed_pointers(fake_gpu: tuple[Compiled, Any], ptx: bytes) -> None:
    dev, drv = fake_gpu
    a, b = rand_f32(12, 1), rand_f32(12, 2)
    out, ba, bb = Buffer("CUDA", 12, F32), buf("CUDA", F32, a), buf("CUDA", F32, b)
    prg = dev.program("vadd", ptx)
    assert prg(out.handle, ba.handle, bb.handle, global_size=(3, 1, 1), local_size=(4, 1, 1)) is None
    assert drv.fake_launches[-1] == {"name": "vadd", "grid": (3, 1, 1), "block": (4, 1, 1), "format": "PPP"}
    assert read(out) == [f32(x + y) for x, y in zip(a, b)]
    assert drv.fake_loaded[-1].endswith(b"\0")


def test_launch_passes_int32_values_after_the_buffers(fake_gpu: tuple[Compiled, Any], ptx: bytes) -> None:
    dev, drv = fake_gpu
    x = [3, -1, 4, 1, -5, 9, 2, 6]
    out, bx = buf("CUDA", I32, [-7] * 8), buf("CUDA", I32, x)
    prg = dev.program("scale", ptx)
    prg(out.handle, bx.handle, global_size=(2,), local_size=(4,), vals=(5, -3))
    assert drv.fake_launches[-1]["format"] == "PPii"
    assert drv.fake_launches[-1]["grid"] == (2, 1, 1) and drv.fake_launches[-1]["block"] == (4, 1, 1)
    assert read(out) == [x[i] * -3 - i if i < 5 else -7 for i in range(8)]


def test_default_block_is_one_thread(fake_gpu: tuple[Compiled, Any], ptx: bytes) -> None:
    dev, drv = fake_gpu
    out, a = Buffer("CUDA", 2, F32), buf("CUDA", F32, [1.5, 2.5])
    dev.program("vadd", ptx)(out.handle, a.handle, a.handle, global_size=(2, 1, 1))
    assert drv.fake_launches[-1]["block"] == (1, 1, 1)
    assert read(out) == [3.0, 5.0]


def test_wait_returns_the_event_time_in_seconds(fake_gpu: tuple[Compiled, Any], ptx: bytes) -> None:
    dev, _ = fake_gpu
    out, a = Buffer("CUDA", 1, F32), buf("CUDA", F32, [1.0])
    t = dev.program("vadd", ptx)(out.handle, a.handle, a.handle, wait=True)
    assert t == fake_pycuda.EVENT_MS / 1000


def test_wrong_arguments_are_refused_before_launch(fake_gpu: tuple[Compiled, Any], ptx: bytes) -> None:
    dev, drv = fake_gpu
    a = buf("CUDA", I32, [0] * 4)
    prg = dev.program("scale", ptx)
    with pytest.raises(ValueError, match="2 buffers and 2 int32 values, got 2 and 1"):
        prg(a.handle, a.handle, vals=(4,))
    with pytest.raises(ValueError, match="int32"):
        prg(a.handle, a.handle, vals=(4, 2**31))
    with pytest.raises(ValueError, match="more than 1024 threads"):
        prg(a.handle, a.handle, vals=(4, 1), local_size=(64, 32, 1))
    assert drv.fake_launches == []
    assert prg(a.handle, a.handle, vals=(4, 1), global_size=(0, 1, 1), wait=True) == 0.0  # empty: nothing runs
    assert drv.fake_launches == []


def test_program_name_must_be_an_entry_of_the_ptx(fake_gpu: tuple[Compiled, Any], ptx: bytes) -> None:
    dev, _ = fake_gpu
    with pytest.raises(ValueError, match='extern "C"'):
        dev.program("nope", ptx)


# ---- on a GPU ----


@pytest.fixture
def gpu() -> Compiled:
    return available_or_skip(lambda: Device["CUDA"], "no CUDA device")


def run_python(p: Prog, bufs: list[Buffer], **launch: Any) -> None:
    Device["PYTHON"].build("k", serialize_program(p.uops))(*[b.handle for b in bufs], **launch)


def special(p: Prog, name: str, size: int) -> Any:
    return p.add(Ops.SPECIAL, I32, (), (name, size))


def test_gpu_vector_add(gpu: Compiled) -> None:
    groups, items = 5, 8
    n = groups * items
    a, b = rand_f32(n, 3), rand_f32(n, 4)
    out, ba, bb = Buffer("CUDA", n, F32), buf("CUDA", F32, a), buf("CUDA", F32, b)
    gpu.build("vadd", KERNELS)(out.handle, ba.handle, bb.handle, global_size=(groups, 1, 1), local_size=(items, 1, 1))
    assert read(out) == [f32(x + y) for x, y in zip(a, b)]
    # the same program on the PYTHON device
    p = Prog()
    o, pa, pb = p.glob(0, F32, n), p.glob(1, F32, n), p.glob(2, F32, n)
    i = p.alu(Ops.ADD, p.alu(Ops.MUL, special(p, "gidx0", groups), p.const(I32, items)), special(p, "lidx0", items))
    p.store(o, i, p.alu(Ops.ADD, p.load(pa, i), p.load(pb, i)))
    ref = [Buffer("PYTHON", n, F32), buf("PYTHON", F32, a), buf("PYTHON", F32, b)]
    run_python(p, ref, global_size=(groups, 1, 1), local_size=(items, 1, 1))
    assert read(out) == read(ref[0])


def tree_row_sums(a: list[float], rows: int, n: int, threads: int) -> list[float]:
    """row_sum's order of float32 additions, in plain Python: strided partial sums, then a halving tree."""
    out = []
    for r in range(rows):
        part = []
        for t in range(threads):
            acc = 0.0
            for i in range(t, n, threads):
                acc = f32(acc + a[r * n + i])
            part.append(acc)
        s = threads // 2
        while s:
            part[:s] = [f32(part[t] + part[t + s]) for t in range(s)]
            s //= 2
        out.append(part[0])
    return out


def test_gpu_reduction_in_shared_memory(gpu: Compiled) -> None:
    rows, n, threads = 3, 1000, 128
    a = rand_f32(rows * n, 5)
    out, ba = Buffer("CUDA", rows, F32), buf("CUDA", F32, a)
    prg = gpu.build("row_sum", KERNELS)
    t = prg(out.handle, ba.handle, global_size=(rows, 1, 1), local_size=(threads, 1, 1), vals=(n,), wait=True)
    assert isinstance(t, float) and t >= 0.0
    assert read(out) == tree_row_sums(a, rows, n, threads)


def test_gpu_reduction_against_python_device(gpu: Compiled) -> None:
    # small integers: every order of float32 additions gives the exact sum, so the sequential PYTHON program agrees
    rows, n = 2, 300
    a = [float(random.Random(6 + i).randint(-50, 50)) for i in range(rows * n)]
    out, ba = Buffer("CUDA", rows, F32), buf("CUDA", F32, a)
    gpu.build("row_sum", KERNELS)(out.handle, ba.handle, global_size=(rows, 1, 1), local_size=(64, 1, 1), vals=(n,))
    p = Prog()
    o, pa = p.glob(0, F32, rows), p.glob(1, F32, rows * n)
    r = p.range(p.const(I32, rows), 0)
    acc = p.add(Ops.DEFINE_ACC, F32, (p.const(F32, 0.0),), 0)
    k = p.range(p.const(I32, n), 1)
    p.add(
        Ops.ASSIGN, F32, (acc, p.alu(Ops.ADD, acc, p.load(pa, p.alu(Ops.ADD, p.alu(Ops.MUL, r, p.const(I32, n)), k))))
    )
    p.endrange(k)
    p.store(o, r, acc)
    p.endrange(r)
    ref = [Buffer("PYTHON", rows, F32), buf("PYTHON", F32, a)]
    run_python(p, ref)
    assert read(out) == read(ref[0]) == [math.fsum(a[i * n : (i + 1) * n]) for i in range(rows)]


@pytest.mark.parametrize(("n", "k"), [(10, 3), (3, -4), (0, 9), (12, 1)])
def test_gpu_kernel_with_int_variables(gpu: Compiled, n: int, k: int) -> None:
    groups, items = 3, 4
    x = [3, -1, 4, 1, -5, 9, 2, 6, 5, -3, 5, 8]
    out, bx = buf("CUDA", I32, [-77] * 12), buf("CUDA", I32, x)
    launch: dict[str, Any] = {"global_size": (groups, 1, 1), "local_size": (items, 1, 1), "vals": (n, k)}
    gpu.build("scale", KERNELS)(out.handle, bx.handle, **launch)
    assert read(out) == [x[i] * k - i if i < n else -77 for i in range(12)]
    p = Prog()
    o, px = p.glob(0, I32, 12), p.glob(1, I32, 12)
    vn, vk = p.var("n", 0, 12), p.var("k", -100, 100)
    i = p.alu(Ops.ADD, p.alu(Ops.MUL, special(p, "gidx0", groups), p.const(I32, items)), special(p, "lidx0", items))
    ok = p.alu(Ops.CMPLT, i, vn)
    p.store(o, i, p.alu(Ops.SUB, p.alu(Ops.MUL, p.load(px, i, ok, p.const(I32, 0)), vk), i), gate=ok)
    ref = [buf("PYTHON", I32, [-77] * 12), buf("PYTHON", I32, x)]
    run_python(p, ref, **launch)
    assert read(out) == read(ref[0])


def test_gpu_view_is_an_address_inside_its_base(gpu: Compiled) -> None:
    base = buf("CUDA", I32, [0] * 8)
    src = buf("CUDA", I32, [5, 6, 7])
    view = base.view(3, I32, offset=3 * 4)
    gpu.build("scale", KERNELS)(view.handle, src.handle, global_size=(1,), local_size=(3,), vals=(3, 10))
    assert read(base) == [0, 0, 0, 50, 59, 68, 0, 0]
