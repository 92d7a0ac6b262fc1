"""Random numbers: the Threefry generator (known answers), bit-exact agreement between devices, determinism,
fresh numbers under TinyJit replays, distributions (fixed seeds: deterministic, never flaky), initializers,
and bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tg_tensor import Tensor, TinyJit, dtypes
from tg_tensor.random import threefry2x32, threefry_graph

DEVICES = ["CPU", "PYTHON", "CL"]

# Random123's known-answer vectors for threefry2x32 with 20 rounds: (key, counter, result)
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def _u32(words) -> Tensor:
    return Tensor(np.array(words, dtype=np.uint32))


# ---- the generator ----


@pytest.mark.parametrize("key, ctr, want", KAT)
def test_threefry_known_answers_python(key, ctr, want):
    assert threefry2x32(key, *ctr) == want


@pytest.mark.parametrize("device", DEVICES)
def test_threefry_known_answers_in_a_kernel(device):
    # all three vectors at once, as elementwise uint32 graphs on the device
    k0, k1 = _u32([k[0] for k, _, _ in KAT]).to(device), _u32([k[1] for k, _, _ in KAT]).to(device)
    x0, x1 = _u32([c[0] for _, c, _ in KAT]).to(device), _u32([c[1] for _, c, _ in KAT]).to(device)
    # the third key word of the schedule: k0 ^ k1 ^ the Skein parity constant
    ks2 = Tensor(np.array([k[0] ^ k[1] ^ 0x1BD11BDA for k, _, _ in KAT], dtype=np.uint32)).to(device)
    y0, y1 = threefry_graph((k0.uop, k1.uop, ks2.uop), x0.uop, x1.uop)
    got = list(zip(Tensor(y0).tolist(), Tensor(y1).tolist()))
    assert got == [w for _, _, w in KAT]


def test_rand_bits_are_threefry_of_index_and_call():
    # element i of the n-th call after manual_seed(s): threefry(key=(s_lo, s_hi), counter=(i, n)); float32 rand
    # keeps the top 24 bits of word 0
    seed = 0x0123456789ABCDEF
    Tensor.manual_seed(seed)
    key = (seed & 0xFFFFFFFF, seed >> 32)
    for call in range(2):
        got = Tensor.rand(5, device="CPU").numpy()
        want = np.array([(threefry2x32(key, i, call)[0] >> 8) * 2.0**-24 for i in range(5)], np.float32)
        np.testing.assert_array_equal(got, want)


# ---- the same numbers everywhere ----


@pytest.mark.parametrize(
    "make",
    [
        lambda d: Tensor.rand(3, 37, device=d),
        lambda d: Tensor.rand(50, dtype=dtypes.float64, device=d),
        lambda d: Tensor.randint(-5, 1000, (41,), device=d),
        lambda d: Tensor.randint(0, 2**31 - 1, (9,), device=d),
        lambda d: Tensor.uniform(6, 5, low=-3.0, high=2.0, device=d),
    ],
    ids=["rand", "rand64", "randint", "randint_wide", "uniform"],
)
def test_same_bits_on_every_device(make):
    got = {}
    for d in DEVICES:
        Tensor.manual_seed(1234)
        t = make(d)
        assert t.device == d
        got[d] = t.numpy()
    np.testing.assert_array_equal(got["CPU"], got["PYTHON"])
    np.testing.assert_array_equal(got["CPU"], got["CL"])


def test_randn_across_devices():
    # the bits agree exactly; log and sin of the OpenCL compiler may differ from C's in the last bit
    got = {}
    for d in DEVICES:
        Tensor.manual_seed(99)
        got[d] = Tensor.randn(64, device=d).numpy()
    np.testing.assert_array_equal(got["CPU"], got["PYTHON"])
    np.testing.assert_allclose(got["CPU"], got["CL"], rtol=1e-6, atol=1e-6)


def test_float16_on_host_devices():
    # (an OpenCL device without cl_khr_fp16, like PoCL here, refuses float16 at the call: see test_torch_creation)
    got = {}
    for d in ("CPU", "PYTHON"):
        Tensor.manual_seed(5)
        got[d] = (
            Tensor.rand(40, dtype=dtypes.float16, device=d).numpy(),
            Tensor.randn(40, dtype="float16", device=d).numpy(),
        )
        assert got[d][0].dtype == np.float16
    for a, b in zip(got["CPU"], got["PYTHON"]):
        np.testing.assert_array_equal(a, b)
    u = got["CPU"][0]
    assert u.min() >= 0 and u.max() < 1 and np.all(u * 2048 == np.round(u * 2048))  # 11 exact bits


# ---- determinism and fresh numbers ----


def test_same_seed_same_tensors():
    def draw():
        return [
            Tensor.rand(3, 4).numpy(),
            Tensor.randn(5).numpy(),
            Tensor.randint(0, 7, (6,)).numpy(),
            Tensor.kaiming_uniform(4, 3).numpy(),
        ]

    Tensor.manual_seed(42)
    a = draw()
    Tensor.manual_seed(42)
    b = draw()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    Tensor.manual_seed(43)
    assert not np.array_equal(draw()[0], a[0])


def test_each_call_is_fresh_and_numbers_are_fixed_at_the_call():
    Tensor.manual_seed(3)
    first, second = Tensor.rand(16), Tensor.rand(16)
    b, a = second.numpy(), first.numpy()  # realized in the other order: each keeps its own numbers
    assert not np.array_equal(a, b)
    Tensor.manual_seed(3)
    np.testing.assert_array_equal(Tensor.rand(16).numpy(), a)
    np.testing.assert_array_equal(Tensor.rand(16).numpy(), b)


def test_seed_wraps_modulo_2_64():
    Tensor.manual_seed(-1)
    a = Tensor.rand(4).numpy()
    Tensor.manual_seed(2**64 - 1)
    np.testing.assert_array_equal(Tensor.rand(4).numpy(), a)
    Tensor.manual_seed(np.int64(7))  # numpy ints are ints
    b = Tensor.rand(4).numpy()
    Tensor.manual_seed(7)
    np.testing.assert_array_equal(Tensor.rand(4).numpy(), b)


def test_tinyjit_replays_draw_fresh_numbers():
    @TinyJit
    def noisy(x: Tensor) -> Tensor:
        return (x + Tensor.rand(8) + Tensor.randn(8)).realize()

    Tensor.manual_seed(9)
    plain = [(Tensor.zeros(8) + Tensor.rand(8) + Tensor.randn(8)).numpy() for _ in range(5)]
    Tensor.manual_seed(9)
    jitted = [noisy(Tensor.zeros(8)).numpy() for _ in range(5)]
    assert noisy.captured is not None  # calls 3..5 were replays
    # the replays advance the counter on the device: fresh numbers, the very ones the plain function draws
    for p, j in zip(plain, jitted):
        np.testing.assert_array_equal(p, j)
    assert len({row.tobytes() for row in jitted}) == 5
    # manual_seed rewinds the state a captured function reads too
    Tensor.manual_seed(9)
    np.testing.assert_array_equal(noisy(Tensor.zeros(8)).numpy(), plain[0])
    np.testing.assert_array_equal(noisy(Tensor.zeros(8)).numpy(), plain[1])


def test_random_tensor_fuses_with_its_consumers(kernels):
    Tensor.manual_seed(0)
    x = Tensor(np.ones(64, np.float32)).realize()
    assert kernels(x * Tensor.rand(64) + Tensor.randn(64)) == 1
    assert kernels(Tensor.uniform(8, 8, low=-1.0, high=1.0)) == 1


# ---- distributions (fixed seeds: these numbers never change) ----

N = 20_000


def _ks(sample: np.ndarray, cdf) -> float:
    """Kolmogorov-Smirnov distance between a sample and a continuous distribution."""
    x = np.sort(sample.astype(np.float64))
    f = cdf(x)
    n = len(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


# at the 0.1% level the KS distance of N samples stays below 1.95 / sqrt(N)
KS_BOUND = 1.95 / math.sqrt(N)
_normal_cdf = np.vectorize(lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2))))


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.float16])
def test_rand_is_uniform(dtype):
    Tensor.manual_seed(11)
    v = Tensor.rand(N, dtype=dtype).numpy().astype(np.float64)
    assert v.min() >= 0.0 and v.max() < 1.0
    assert abs(v.mean() - 0.5) < 4 * math.sqrt(1 / 12 / N)
    assert abs(v.var() - 1 / 12) < 0.005
    assert _ks(v, lambda x: x) < KS_BOUND + (1 / 2048 if dtype == dtypes.float16 else 0)


def test_randn_is_normal():
    Tensor.manual_seed(12)
    v = Tensor.randn(N).numpy().astype(np.float64)
    assert abs(v.mean()) < 4 / math.sqrt(N)
    assert abs(v.std() - 1) < 0.02
    assert _ks(v, _normal_cdf) < KS_BOUND
    assert np.all(np.isfinite(v)) and np.abs(v).max() < 5.8
    Tensor.manual_seed(12)
    v64 = Tensor.randn(N, dtype=dtypes.float64).numpy()
    assert _ks(v64, _normal_cdf) < KS_BOUND


def test_randint_is_uniform_over_its_range():
    Tensor.manual_seed(13)
    lo, hi = -3, 7
    v = Tensor.randint(lo, hi, (N,)).numpy()
    assert v.dtype == np.int32 and v.min() == lo and v.max() == hi - 1
    counts = np.bincount(v - lo, minlength=hi - lo)
    chi2 = float(((counts - N / (hi - lo)) ** 2 / (N / (hi - lo))).sum())
    assert chi2 < 27.9  # the 0.1% point of chi-square with 9 degrees of freedom


def test_uniform_and_normal_parameters():
    Tensor.manual_seed(14)
    u = Tensor.uniform(N, low=-2.0, high=6.0).numpy()
    assert u.min() >= -2.0 and u.max() <= 6.0
    assert abs(u.mean() - 2.0) < 0.1 and abs(u.std() - 8 / math.sqrt(12)) < 0.05
    n = Tensor.normal(N, mean=3.0, std=0.5).numpy()
    assert abs(n.mean() - 3.0) < 0.02 and abs(n.std() - 0.5) < 0.01
    assert Tensor.normal(4, std=0.0, mean=1.5).tolist() == [1.5] * 4


def _fan_in(shape):
    return math.prod(shape[1:])


@pytest.mark.parametrize("shape", [(64, 32), (16, 4, 3, 3)])
def test_initializer_bounds(shape):
    Tensor.manual_seed(15)
    a = 0.01
    ku = Tensor.kaiming_uniform(*shape).numpy()
    bound = math.sqrt(6 / ((1 + a * a) * _fan_in(shape)))
    assert np.abs(ku).max() <= bound * (1 + 1e-6) and np.abs(ku).max() > 0.95 * bound
    ku5 = Tensor.kaiming_uniform(shape, a=math.sqrt(5)).numpy()  # what torch's nn.Linear uses
    b5 = math.sqrt(6 / (6 * _fan_in(shape)))
    assert np.abs(ku5).max() <= b5 * (1 + 1e-6) and np.abs(ku5).max() > 0.95 * b5
    kn = Tensor.kaiming_normal(*shape).numpy()
    assert abs(kn.std() / math.sqrt(2 / ((1 + a * a) * _fan_in(shape))) - 1) < 0.05
    g = Tensor.glorot_uniform(*shape).numpy()
    gb = math.sqrt(6 / (shape[0] + _fan_in(shape)))
    assert np.abs(g).max() <= gb * (1 + 1e-6) and np.abs(g).max() > 0.95 * gb
    s = Tensor.scaled_uniform(*shape).numpy()
    sb = math.prod(shape) ** -0.5
    assert np.abs(s).max() <= sb * (1 + 1e-6) and np.abs(s).max() > 0.95 * sb


def test_kaiming_uniform_matches_torch_bound():
    # torch.nn.init.kaiming_uniform_ with the same slope uses the same bound (fan_in mode, leaky_relu)
    w = torch.empty(32, 16)
    torch.nn.init.kaiming_uniform_(w, a=0.01)
    Tensor.manual_seed(16)
    ours = Tensor.kaiming_uniform(32, 16).numpy()
    want_bound = math.sqrt(6 / ((1 + 0.01**2) * 16))
    assert w.abs().max().item() <= want_bound and np.abs(ours).max() <= want_bound * (1 + 1e-6)


# ---- shapes, dtypes, devices, gradients ----


def test_shapes_and_empty_tensors():
    for fn in (Tensor.rand, Tensor.randn):
        assert fn(2, 3).shape == (2, 3) and fn((2, 3)).shape == (2, 3) and fn([4]).shape == (4,)
        assert fn().shape == () and 0 <= abs(fn().item()) < 10
        assert fn(0, 3).numpy().shape == (0, 3)
    assert Tensor.randint(0, 5, ()).shape == () and Tensor.randint(0, 5, (0, 2)).numpy().shape == (0, 2)
    assert Tensor.uniform(0).numpy().shape == (0,)


def test_randint_conventions():
    Tensor.manual_seed(17)
    t = Tensor.randint(3, 4, low=5, high=8)  # tinygrad: positional ints are the shape
    v = t.numpy()
    assert t.shape == (3, 4) and t.dtype == dtypes.int32 and v.min() >= 5 and v.max() < 8
    assert Tensor.randint(10, (5,)).shape == (5,)  # torch: randint(high, size)
    assert Tensor.randint(2, 4, size=(2, 2)).numpy().min() >= 2  # torch: randint(low, high, size=)
    v = Tensor.randint(-(2**40), 2**40, (100,), dtype=dtypes.int64).numpy()
    assert v.dtype == np.int64 and np.abs(v).max() > 2**32
    assert Tensor.randint(0, 255, (10,), dtype="uint8").dtype == dtypes.uint8
    assert Tensor.randint().shape == ()  # tinygrad's defaults: low 0, high 10


def test_like_forms_keep_dtype_and_device():
    src = Tensor.zeros(2, 3, dtype=dtypes.float64, device="PYTHON")
    for name in ("rand_like", "randn_like"):
        t = getattr(src, name)()
        assert (t.shape, t.dtype, t.device) == ((2, 3), dtypes.float64, "PYTHON")
        t = getattr(src, name)(dtype=dtypes.float16, device="CPU")
        assert (t.shape, t.dtype, t.device) == ((2, 3), dtypes.float16, "CPU")
    with pytest.raises(ValueError, match="rand_like: the dtype must be a float type"):
        Tensor.zeros(2, dtype=dtypes.int32).rand_like()


def test_random_leaves_get_gradients():
    for make in (
        lambda: Tensor.rand(3, requires_grad=True),
        lambda: Tensor.randn(3, requires_grad=True),
        lambda: Tensor.uniform(3, low=-1.0, high=1.0, requires_grad=True),
        lambda: Tensor.normal(3, mean=1.0, requires_grad=True),
        lambda: Tensor.kaiming_uniform(3, 2, requires_grad=True),
        lambda: Tensor.glorot_uniform(3, 2, requires_grad=True),
        lambda: Tensor.scaled_uniform(3, requires_grad=True),
        lambda: Tensor.kaiming_normal(3, 2, requires_grad=True),
    ):
        w = make()
        assert w.requires_grad is True
        (w * w).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy(), rtol=1e-6)
    assert Tensor.rand(2).requires_grad is None


# ---- bad input raises at the call ----


def test_bad_random_arguments():
    with pytest.raises(ValueError, match=r"rand: invalid shape \(2, -3\): sizes must be >= 0"):
        Tensor.rand(2, -3)
    with pytest.raises(ValueError, match=r"randn: invalid shape \(2.5,\)"):
        Tensor.randn(2.5)
    with pytest.raises(ValueError, match="rand: the dtype must be a float type"):
        Tensor.rand(2, dtype=dtypes.int32)
    with pytest.raises(TypeError, match="randn: unknown dtype name 'flot32'"):
        Tensor.randn(2, dtype="flot32")
    with pytest.raises(KeyError, match="rand"):
        Tensor.rand(2, device="NOPE")
    with pytest.raises(ValueError, match=r"randint: low \(5\) must be less than high \(5\)"):
        Tensor.randint(5, 5, (3,))
    with pytest.raises(ValueError, match=r"randint: low \(6\) must be less than high \(2\)"):
        Tensor.randint(2, low=6, high=2)
    with pytest.raises(ValueError, match=r"randint: \[0, 300\) does not fit in dtypes.uint8"):
        Tensor.randint(0, 300, (2,), dtype=dtypes.uint8)
    with pytest.raises(ValueError, match="randint: the dtype must be an integer type"):
        Tensor.randint(0, 3, (2,), dtype=dtypes.float32)
    with pytest.raises(TypeError, match="randint: high must be an int"):
        Tensor.randint(0, 2.5, (2,))
    with pytest.raises(ValueError, match=r"randint: invalid shape \(-1,\)"):
        Tensor.randint(0, 3, (-1,))
    with pytest.raises(ValueError, match="randint: integer tensors cannot require gradients"):
        Tensor.randint(0, 3, (2,), requires_grad=True)
    with pytest.raises(ValueError, match="normal: std must be >= 0"):
        Tensor.normal(3, std=-1.0)
    with pytest.raises(TypeError, match="uniform: low must be a number"):
        Tensor.uniform(3, low="a")
    with pytest.raises(ValueError, match="glorot_uniform: needs a shape of at least one dimension"):
        Tensor.glorot_uniform()
    with pytest.raises(TypeError, match="manual_seed: the seed must be an int, got str"):
        Tensor.manual_seed("1")
    with pytest.raises(TypeError, match="manual_seed: the seed must be an int, got a bool"):
        Tensor.manual_seed(True)
    with pytest.raises(ValueError, match="rand: only floating point|rand: the dtype must be a float"):
        Tensor.rand(2, dtype=dtypes.int8, requires_grad=True)


def test_failed_calls_do_not_advance_the_generator():
    Tensor.manual_seed(21)
    a = Tensor.rand(4).numpy()
    Tensor.manual_seed(21)
    for bad in (lambda: Tensor.rand(-1), lambda: Tensor.randint(3, 3, (2,)), lambda: Tensor.randn(2, dtype="x")):
        with pytest.raises((ValueError, TypeError)):
            bad()
    np.testing.assert_array_equal(Tensor.rand(4).numpy(), a)
