"""The default Opts (hand-written heuristics) and NOOPT=1: register tiles and threads on the CPU, work-groups on
GPUs, nothing on the PYTHON device or under NOOPT. What they choose must also be legal to replay and compute the
reference result.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from helpers import (
    caps_of,
    contig,
    cuda_caps,
    get_program,
    kernels_compiled,
    launch,
    load,
    matmul_ast,
    matmul_ref,
    param,
    sink,
    store,
)

from tg_codegen.compile import lane_axis
from tg_codegen.heuristic import THREAD_MIN_WORK, hand_coded_optimizations
from tg_codegen.kernel import AxisType, Kernel, OptOps
from tg_codegen.program import compile_kernel
from tg_runtime import Capabilities, Device
from tg_uop import UOp, dtypes
from tg_uop.helpers import Context
from tg_uop.ops import Ops
from tg_uop.view import ShapeTracker, View

M, N, K = 256, 256, 16
A = [float((i * 7) % 5 - 2) for i in range(M * K)]
B = [float((i * 3) % 7 - 3) for i in range(K * N)]


@pytest.fixture(scope="module")
def matmul_want() -> list[float]:
    return matmul_ref(A, B, M, N, K)


def cpu_caps(threads: int) -> Capabilities:
    return dataclasses.replace(caps_of("CPU"), has_threads=True, threads=threads)


def heuristic(ast: UOp, caps: Capabilities) -> Kernel:
    k = Kernel(ast, caps)
    hand_coded_optimizations(k)
    return k


def upcast_from(k: Kernel, axis: int) -> int:
    """The product of the upcast pieces split off original axis `axis`."""
    return math.prod(s for s, t, o in zip(k.full_shape, k.types, k.origin) if t is AxisType.UPCAST and o[0] == axis)


def elementwise(rows: int, cols: int) -> UOp:
    # a transposed read keeps two axes
    x = load(param(1, dtypes.float, rows * cols), contig((cols, rows)).permute((1, 0)))
    return sink(store(param(0, dtypes.float, rows * cols), contig((rows, cols)), x + 1.0))


def test_cpu_matmul_gets_a_register_tile_and_threads(matmul_want: list[float]) -> None:
    caps = cpu_caps(4)
    k = heuristic(matmul_ast(M, N, K), caps)
    ops = [o.op for o in k.applied]
    assert OptOps.UPCAST in ops and OptOps.THREAD in ops and OptOps.LOCAL not in ops
    # the tile: 32 columns (the output's contiguous axis, broadcast in a) by 8 or 4 rows (broadcast in b)
    assert upcast_from(k, 1) == 32 and upcast_from(k, 0) in (4, 8)
    # the innermost axis is 16 of those columns: the vector lanes
    assert k.types[-1] is AxisType.UPCAST and k.full_shape[-1] == 16 and k.origin[-1][0] == 1
    assert k.types[0] is AxisType.THREAD
    if not caps_of("CPU").has_threads:
        pytest.skip("the C compiler here has no OpenMP: the threaded kernel is not run")
    spec = compile_kernel(k, "CPU")
    assert "#pragma omp parallel for num_threads(4)" in spec.src and "vfloat16" in spec.src
    assert launch(spec, matmul_ast(M, N, K), {1: A, 2: B})[0] == matmul_want


def test_default_cpu_program_is_tiled_and_right(monkeypatch: pytest.MonkeyPatch, matmul_want: list[float]) -> None:
    seen = kernels_compiled(monkeypatch)
    ast = matmul_ast(M, N, K)
    spec = get_program(ast, "CPU")
    (k,) = seen
    assert upcast_from(k, 1) == 32
    caps = caps_of("CPU")
    # the tiled kernel has 32 row blocks to share between threads
    wants_thread = caps.has_threads and 1 < caps.threads <= 32
    assert (OptOps.THREAD in [o.op for o in k.applied]) == wants_thread
    assert launch(spec, ast, {1: A, 2: B})[0] == matmul_want


def test_small_kernel_gets_no_thread() -> None:
    caps = cpu_caps(4)
    assert OptOps.THREAD not in [o.op for o in heuristic(elementwise(8, 16), caps).applied]
    k = heuristic(matmul_ast(8, 16, 4), caps)
    assert OptOps.THREAD not in [o.op for o in k.applied]
    # the amount of work decides: just below and at the threshold
    rows = THREAD_MIN_WORK // 256
    assert OptOps.THREAD not in [o.op for o in heuristic(elementwise(rows - 1, 256), caps).applied]
    assert OptOps.THREAD in [o.op for o in heuristic(elementwise(rows, 256), caps).applied]
    # one thread: nothing to share
    assert OptOps.THREAD not in [o.op for o in heuristic(elementwise(rows, 256), cpu_caps(1)).applied]


OPENCL_GPU = Capabilities(
    language="OpenCL",
    dtypes=frozenset(dtypes.all()),
    has_workgroups=True,
    extra={"max_work_group_size": 256, "device_type": "gpu"},
)


@pytest.mark.parametrize("caps", [cuda_caps(), OPENCL_GPU], ids=["CUDA", "OpenCL-GPU"])
def test_gpu_capabilities_give_work_groups(caps: Capabilities) -> None:
    k = heuristic(matmul_ast(M, N, K), caps)
    ops = [o.op for o in k.applied]
    assert OptOps.LOCAL in ops and OptOps.THREAD not in ops
    # a smaller tile than on the CPU: 4 by 4 per work-item
    assert upcast_from(k, 1) == 4 and upcast_from(k, 0) == 4
    local = math.prod(s for s, t in zip(k.full_shape, k.types) if t is AxisType.LOCAL)
    assert 1 < local <= 256
    e = heuristic(elementwise(64, 64), caps)
    assert [o.op for o in e.applied] == [OptOps.LOCAL, OptOps.LOCAL]
    assert [s for s, t in zip(e.full_shape, e.types) if t is AxisType.LOCAL] == [16, 16]


def test_opencl_on_a_cpu_is_tiled_like_the_cpu() -> None:
    caps = Capabilities(
        language="OpenCL", dtypes=frozenset(dtypes.all()), has_workgroups=True, extra={"device_type": "cpu"}
    )
    k = heuristic(matmul_ast(M, N, K), caps)
    assert OptOps.LOCAL not in [o.op for o in k.applied]
    assert upcast_from(k, 1) == 32


def test_python_device_gets_no_opts() -> None:
    assert heuristic(matmul_ast(M, N, K), caps_of("PYTHON")).applied == []
    assert heuristic(elementwise(256, 256), caps_of("PYTHON")).applied == []


@pytest.mark.parametrize("caps", [cpu_caps(4), cuda_caps(), OPENCL_GPU], ids=["CPU", "CUDA", "OpenCL-GPU"])
def test_heuristic_opts_replay(caps: Capabilities) -> None:
    for ast in (matmul_ast(M, N, K), elementwise(64, 64), matmul_ast(8, 32, 4)):
        k = heuristic(ast, caps)
        again = Kernel(ast, caps)
        for opt in k.applied:
            again.apply(opt)
        assert again.ast is k.ast and again.types == k.types


# ---- NOOPT


def test_noopt_gives_the_plain_loop_nest(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = kernels_compiled(monkeypatch)
    ast = matmul_ast(M, N, K)
    with Context(NOOPT=1):
        spec = get_program(ast, "CPU")
    (k,) = seen
    assert k.applied == []
    assert k.types == [AxisType.GLOBAL, AxisType.GLOBAL, AxisType.REDUCE]
    assert spec.name == "r_256_256_16"
    assert "#pragma" not in spec.src and "typedef" not in spec.src and "vfloat" not in spec.src
    assert spec.src.count("for (") == 3
    # without NOOPT the same AST is optimized
    seen.clear()
    assert "vfloat" in get_program(ast, "CPU").src
    assert seen[0].applied != []


def test_noopt_on_every_device(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = kernels_compiled(monkeypatch)
    ast = elementwise(64, 64)
    devices = ["CPU", "PYTHON", *(["CL"] if Device.available()["CL"] is None else [])]
    with Context(NOOPT=1):
        specs = [get_program(ast, dev) for dev in devices]
    assert [k.applied for k in seen] == [[]] * len(devices)
    for spec in specs:
        assert spec.local_size in (None, (1, 1, 1))
    xs = [float(i % 9) for i in range(64 * 64)]
    want = [xs[c * 64 + r] + 1.0 for r in range(64) for c in range(64)]
    assert launch(specs[0], ast, {1: xs})[0] == want


def conv_ast(n: int, cin: int, cout: int, h: int, w: int) -> UOp:
    """A 3x3 'valid' convolution out[n, co, y, x] = sum_{ci, dy, dx} inp[n, ci, y+dy, x+dx] * wt[co, ci, dy, dx]:
    the input is read through overlapping strides (a window), broadcast along output channels."""
    ho, wo = h - 2, w - 2
    full = (n, cout, ho, wo, cin, 3, 3)
    window = View.create(full, (cin * h * w, 0, w, 1, h * w, w, 1))
    inp = load(param(1, dtypes.float, n * cin * h * w), ShapeTracker((window,)))
    wt = load(param(2, dtypes.float, cout * cin * 9), contig((1, cout, 1, 1, cin, 3, 3)).expand(full))
    out = contig((n, cout, ho, wo, 1, 1, 1))
    return sink(store(param(0, dtypes.float, n * cout * ho * wo), out, (inp * wt).reduce_axis(Ops.ADD, (4, 5, 6))))


def conv_launch_matches(k: Kernel, ast: UOp, n: int, cin: int, cout: int, h: int, w: int) -> bool:
    """Whether the compiled kernel gives conv_ast's convolution, computed here in Python."""
    inp = [float((i * 5) % 11 - 5) for i in range(n * cin * h * w)]
    wt = [float((i * 3) % 7 - 3) for i in range(cout * cin * 9)]
    want = []
    for b in range(n):
        for co in range(cout):
            for y in range(h - 2):
                for x in range(w - 2):
                    acc = 0.0
                    for ci in range(cin):
                        for dy in range(3):
                            for dx in range(3):
                                acc += (
                                    inp[((b * cin + ci) * h + y + dy) * w + x + dx]
                                    * wt[((co * cin + ci) * 3 + dy) * 3 + dx]
                                )
                    want.append(acc)
    return bool(launch(compile_kernel(k, "CPU"), ast, {1: inp, 2: wt})[0] == want)


def test_convolution_gets_a_channel_by_position_tile() -> None:
    # 8 output channels: too few for a vector of 16 (the channel tile below), so the scalar tile
    n, cin, cout, h, w = 2, 3, 8, 9, 16  # 14 output columns: 7 of them per tile
    ast = conv_ast(n, cin, cout, h, w)
    k = heuristic(ast, cpu_caps(1))
    # each loaded input value serves 8 output channels, each weight value 7 output columns
    assert upcast_from(k, 1) == 8 and upcast_from(k, 3) == 7
    assert not k.packed
    assert conv_launch_matches(k, ast, n, cin, cout, h, w)


def test_convolution_channels_become_vector_lanes_with_a_packed_weight() -> None:
    n, cin, cout, h, w = 2, 3, 32, 9, 16  # 14 output columns: 7 of them per tile
    ast = conv_ast(n, cin, cout, h, w)
    k = heuristic(ast, cpu_caps(1))
    # output channels are the last axis, two vectors of 16 lanes; the weight (buffer 2) is packed so each
    # vector is one contiguous load; each weight vector serves 7 output columns
    # the channels (axis 1) trade loop places with the columns (axis 3): the last loop is then channels
    swap = k.applied[0]
    assert swap.op is OptOps.SWAP and {swap.axis, swap.amt} == {1, 3}
    assert k.full_shape[-1] == 16 and k.types[-1] is AxisType.UPCAST and k.origin[-1][0] == 3
    assert upcast_from(k, 3) == 32 and upcast_from(k, 1) == 7
    assert k.packed == frozenset({2})
    assert "vfloat16" in compile_kernel(k, "CPU").src
    assert conv_launch_matches(k, ast, n, cin, cout, h, w)


def test_convolution_window_loops_are_unrolled_by_the_compiler() -> None:
    # the 3x3 window loops (9 iterations in all) of the vector tile ask gcc to unroll them: the window's
    # index math and padding checks become constants; the channel loop around them (27 iterations) is not
    n, cin, cout, h, w = 2, 3, 32, 9, 16
    ast = conv_ast(n, cin, cout, h, w)
    k = heuristic(ast, cpu_caps(1))
    lines = [line.strip() for line in compile_kernel(k, "CPU").src.splitlines()]
    # the loops of the tile: after the accumulators, the input channels, the window's rows and its columns
    first = max(i for i, line in enumerate(lines) if line.startswith("vfloat16 acc"))
    loops = [i for i, line in enumerate(lines) if i > first and line.startswith("for (int ridx")]
    assert [lines[i].split("<")[1].split(";")[0].strip() for i in loops] == ["3", "3", "3"]
    assert [lines[i - 1] for i in loops[1:]] == ["#pragma GCC unroll 3"] * 2
    assert not lines[loops[0] - 1].startswith("#pragma")
    assert conv_launch_matches(k, ast, n, cin, cout, h, w)
    # NOOPT's plain loop nest (scalar accumulators) has no pragma
    with Context(NOOPT=1):
        assert "#pragma" not in get_program(ast, "CPU").src


@pytest.mark.parametrize("channels,lanes,splits", [(16, 8, 2), (64, 16, 4), (256, 64, 4)])
def test_few_column_sums_leave_the_threads_a_share(channels: int, lanes: int, splits: int) -> None:
    # batch-norm statistics, channels last: sums down a (rows, channels) matrix; the channels are all the outputs
    rows = 8192
    x = load(param(1, dtypes.float32, rows * channels), contig((rows, channels)))
    ast = sink(store(param(0, dtypes.float32, channels), contig((1, channels)), x.reduce_axis(Ops.ADD, (0,))))
    k = heuristic(ast, cpu_caps(2))
    assert k.types[0] is AxisType.THREAD and k.full_shape[0] == splits
    assert math.prod(s for s, t in zip(k.full_shape, k.types, strict=True) if t is AxisType.UPCAST) == lanes
    # one thread only: all 16 channels in the lanes, as before
    one = heuristic(ast, cpu_caps(1))
    assert AxisType.THREAD not in one.types and one.full_shape[-1] == 16


@pytest.mark.parametrize("hw,unroll", [(784, 16), (196, 4), (100, 4)])
def test_channel_statistics_over_several_axes_get_partial_sums(hw: int, unroll: int) -> None:
    # batch-norm statistics, NCHW: each channel's sum and sum of squares over N and H*W (two reduce axes, one
    # kernel with two reductions); the H*W run is contiguous, so it is split into partial sums
    n, c = 64, 16
    st = contig((n, c, hw))
    x = load(param(2, dtypes.float32, n * c * hw), st)
    out = contig((1, c, 1))
    ast = sink(
        store(param(0, dtypes.float32, c), out, x.reduce_axis(Ops.ADD, (0, 2))),
        store(param(1, dtypes.float32, c), out, (x * x).reduce_axis(Ops.ADD, (0, 2))),
    )
    k = heuristic(ast, cpu_caps(2))
    assert math.prod(s for s, t in zip(k.full_shape, k.types, strict=True) if t is AxisType.UNROLL) == unroll
    assert k.types[0] is AxisType.THREAD
    data = [float((i * 7) % 11 - 5) for i in range(n * c * hw)]
    got = launch(compile_kernel(k, "CPU"), ast, {2: data})
    with Context(NOOPT=1):
        plain = launch(get_program(ast, "CPU"), ast, {2: data})
    want = [sum(data[(b * c + ch) * hw + j] for b in range(n) for j in range(hw)) for ch in range(c)]
    assert got[0] == plain[0] == want
    assert got[1] == plain[1]


def test_threads_share_an_even_first_loop() -> None:
    # outputs (3, 4), e.g. a 3x3 weight gradient's kernel rows by channel blocks: 3 rows over 2 threads would
    # leave one thread a third of the work; the 4-loop goes first (SWAP) and the threads split it evenly
    a, b, n = 3, 4, 8192
    x = load(param(1, dtypes.float32, a * b * n), contig((b, a, n)).permute((1, 0, 2)))  # axes do not merge
    ast = sink(store(param(0, dtypes.float32, a * b), contig((a, b, 1)), x.reduce_axis(Ops.ADD, (2,))))
    k = heuristic(ast, cpu_caps(2))
    assert k.types[0] is AxisType.THREAD and k.full_shape[0] == 4
    assert any(o.op is OptOps.SWAP for o in k.applied)
    data = [float((i * 7) % 11 - 5) for i in range(a * b * n)]
    want = [sum(data[(j * a + i) * n : (j * a + i + 1) * n]) for i in range(a) for j in range(b)]
    assert launch(compile_kernel(k, "CPU"), ast, {1: data})[0] == want
    # an even first loop, or a long one, stays first
    assert not any(o.op is OptOps.SWAP for o in heuristic(elementwise(512, 256), cpu_caps(2)).applied)
    assert not any(o.op is OptOps.SWAP for o in heuristic(elementwise(17, 4096), cpu_caps(2)).applied)


def test_weight_gradient_gets_lanes_along_its_reduction() -> None:
    # dw[a, c] = sum over n, w of x[n, w, a] * g[n, c, w]: like a convolution's weight gradient, the output is
    # not contiguous in g along c (rows of w apart) but g is along the innermost reduce axis w, and x is the
    # same for every c; so w becomes SIMD lanes (UNROLL, one vector accumulator per output) and c rows (UPCAST)
    a, c, n, w = 3, 8, 16, 32
    full = (a, c, n, w)
    x = load(
        param(1, dtypes.float32, n * w * a), contig((n, w, a)).permute((2, 0, 1)).reshape((a, 1, n, w)).expand(full)
    )
    g = load(
        param(2, dtypes.float32, n * c * w), contig((n, c, w)).permute((1, 0, 2)).reshape((1, c, n, w)).expand(full)
    )
    ast = sink(store(param(0, dtypes.float32, a * c), contig((a, c, 1, 1)), (x * g).reduce_axis(Ops.ADD, (2, 3))))
    k = heuristic(ast, cpu_caps(2))
    lanes = lane_axis(k)
    assert lanes is not None and k.types[lanes] is AxisType.UNROLL and k.full_shape[lanes] == 16
    assert upcast_from(k, 1) == 8
    spec = compile_kernel(k, "CPU")
    assert "vfloat16 acc" in spec.src, spec.src
    xs = [float((i * 7) % 11 - 5) for i in range(n * w * a)]
    gs = [float((i * 5) % 13 - 6) for i in range(n * c * w)]
    want = [
        sum(xs[(b * w + j) * a + i] * gs[(b * c + ch) * w + j] for b in range(n) for j in range(w))
        for i in range(a)
        for ch in range(c)
    ]
    assert launch(spec, ast, {1: xs, 2: gs})[0] == want


def test_channels_last_weight_gradient_gets_whole_vectors() -> None:
    # dw[co, ci] = sum over n, p of g[n, co, p] * x[n, p, ci], x channels-last: the columns (ci) are contiguous
    # in x, so the scalar window tile makes them one 16-lane vector (was 8), rows of co; the channel tile's
    # packed copy of x (n * p * 16 floats, over 1 MiB) and the lane tile (p = 130 takes no vector width) do not
    # apply. Integers: exactly the plain loop's result.
    n, co, ci, p = 128, 8, 16, 130
    full = (co, ci, n, p)
    g_st = contig((n, co, p)).permute((1, 0, 2)).reshape((co, 1, n, p)).expand(full)
    x_st = contig((n, p, ci)).permute((2, 0, 1)).reshape((1, ci, n, p)).expand(full)
    g, x = load(param(1, dtypes.float32, n * co * p), g_st), load(param(2, dtypes.float32, n * p * ci), x_st)
    ast = sink(store(param(0, dtypes.float32, co * ci), contig((co, ci, 1, 1)), (g * x).reduce_axis(Ops.ADD, (2, 3))))
    k = heuristic(ast, cpu_caps(2))
    assert not k.packed and upcast_from(k, 1) == 16 and upcast_from(k, 0) == 8
    spec = compile_kernel(k, "CPU")
    assert "vfloat16 acc" in spec.src
    gs = [float((i * 5) % 13 - 6) for i in range(n * co * p)]
    xs = [float((i * 7) % 11 - 5) for i in range(n * p * ci)]
    with Context(NOOPT=1):
        plain = launch(get_program(ast, "CPU"), ast, {1: gs, 2: xs})
    assert launch(spec, ast, {1: gs, 2: xs})[0] == plain[0]


def test_one_row_matmul_gets_lanes_on_its_outputs() -> None:
    # x (1, k) @ w (k, n), w stored (in, out) as a decoder's one-token step reads it: x is walked in order along
    # the reduction but shared by every output, so the lanes go on the outputs (w's rows read 16 at a time), not
    # partial sums along k (one float of w every n*4 bytes)
    n, k = 384, 128
    x = load(param(1, dtypes.float32, k), contig((1, k)).expand((n, k)))
    w = load(param(2, dtypes.float32, k * n), contig((k, n)).permute((1, 0)))
    ast = sink(store(param(0, dtypes.float32, n), contig((n, 1)), (x * w).reduce_axis(Ops.ADD, (1,))))
    kern = heuristic(ast, cpu_caps(1))
    assert upcast_from(kern, 0) >= 16 and all(o.op is not OptOps.UNROLL for o in kern.applied)
    xs, ws = [float(i % 5 - 2) for i in range(k)], [float((i * 3) % 7 - 3) for i in range(k * n)]
    assert launch(compile_kernel(kern, "CPU"), ast, {1: xs, 2: ws})[0] == matmul_ref(xs, ws, 1, n, k)
