"""Random tensors and the initializers built on them, from a counter-based generator computed in the graph.

The generator is Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011): a keyed bijection of 64-bit blocks made of 32-bit additions, rotations and xors. Element i of the
n-th random tensor made on a device since `Tensor.manual_seed(seed)` gets the two words

    threefry(key=(seed mod 2**32, seed // 2**32 mod 2**32), counter=(i, n))

so the numbers are a pure function of (seed, n, i): the same seed gives the same numbers on every device
(plain uint32 arithmetic, bit-identical in C, OpenCL C and the PYTHON interpreter) and each call gives new
numbers. The tensor stays lazy: `Tensor.rand(1000)` is a graph (the element indices come from `index_range`,
also a graph), and a random tensor feeding elementwise ops is one kernel with them.

Each device keeps its state in a 4-word uint32 buffer: the key, the key's parity word, and the count n. A
random call runs one small schedule at once: it copies the state into a buffer of the call's own (so a tensor
realized later still sees its own n) and adds 1 to the count on the device. The key and n reach the kernel
through that buffer, not as constants, so the kernel source is the same for every call and every seed and
compiles once. Because the count advances by a kernel, `TinyJit` captures it: replays of a jitted function
draw fresh numbers, the same ones the plain function would have drawn. `manual_seed` rewrites the state
buffers in place, so it applies to captured functions too. The count is per device: after a seed, the first
`rand(3, device="CPU")` and the first `rand(3, device="CL")` are equal.

From bits to numbers:

- `rand`: the top m bits of word 0 times 2**-m, m the significand width of the dtype (24 for float32, 11 for
  float16; 53 from both words for float64): every value is exact and in [0, 1).
- `randn`: Box-Muller, `sqrt(-2 ln(u1)) * sin(2 pi u2)` with u1 = 1 - (uniform of word 0) in (0, 1] and u2 the
  uniform of word 1, computed in float32 (float64 for float64). |values| stay below sqrt(2 ln 2**24) = 5.77
  in float32 (the normal tail beyond it has probability 8e-9); log and sin may differ in the last bits
  between devices.
- `randint`: the 64 bits of both words modulo (high - low), plus low: a bias of at most (high - low) / 2**64
  in the probability of a value, far below anything measurable.

>>> from tg_tensor import Tensor
>>> Tensor.manual_seed(0)
>>> a = Tensor.rand(3).tolist()
>>> Tensor.manual_seed(0)
>>> Tensor.rand(3).tolist() == a
True
>>> all(0 <= v < 1 for v in a)
True
"""

from __future__ import annotations

import math
import operator
from typing import Any, ClassVar, Self

import numpy as np

from tg_runtime.device import split_devices
from tg_tensor import multi
from tg_tensor.creation import (
    CreationMixin,
    check_grad,
    check_supported,
    device_arg,
    dtype_arg,
    full_uop,
    index_range,
    number_arg,
    shape_arg,
)
from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import DTypeLike, const_uop, uop_from_numpy
from tg_uop.dtype import DType, dtypes
from tg_uop.helpers import prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp

_U32 = dtypes.uint32
_MASK32 = 0xFFFFFFFF
# Threefry-2x32: the rotation of each round (mod 8), and the key-schedule parity constant (from Skein)
_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
_PARITY = 0x1BD11BDA
_ROUNDS = 20
# significand bits (with the implicit one) of each float dtype: that many random bits give exact values
_SIGNIFICAND = {dtypes.float16: 11, dtypes.bfloat16: 8, dtypes.float32: 24, dtypes.float64: 53}


def threefry2x32(key: tuple[int, int], x0: int, x1: int) -> tuple[int, int]:
    """Threefry-2x32-20 of one block in Python: the reference the graph version is tested against.

    >>> [hex(w) for w in threefry2x32((0, 0), 0, 0)]  # the Random123 known-answer test
    ['0x6b200159', '0x99ba4efe']
    """
    ks = (key[0], key[1], key[0] ^ key[1] ^ _PARITY)
    x0, x1 = (x0 + ks[0]) & _MASK32, (x1 + ks[1]) & _MASK32
    for r in range(_ROUNDS):
        rot = _ROTATIONS[r % 8]
        x0 = (x0 + x1) & _MASK32
        x1 = (((x1 << rot) | (x1 >> (32 - rot))) & _MASK32) ^ x0
        if r % 4 == 3:  # key injection s after every 4 rounds
            s = r // 4 + 1
            x0, x1 = (x0 + ks[s % 3]) & _MASK32, (x1 + ks[(s + 1) % 3] + s) & _MASK32
    return x0, x1


def threefry_graph(ks: tuple[UOp, UOp, UOp], x0: UOp, x1: UOp) -> tuple[UOp, UOp]:
    """The same function as `threefry2x32`, elementwise over uint32 tensor-graph UOps (C's unsigned
    arithmetic wraps modulo 2**32 by itself)."""

    def rotl(x: UOp, r: int) -> UOp:
        return x.alu(Ops.SHL, full_uop(x, r)).alu(Ops.OR, x.alu(Ops.SHR, full_uop(x, 32 - r)))

    x0, x1 = x0 + ks[0], x1 + ks[1]
    for r in range(_ROUNDS):
        x0 = x0 + x1
        x1 = rotl(x1, _ROTATIONS[r % 8]).alu(Ops.XOR, x0)
        if r % 4 == 3:
            s = r // 4 + 1
            x0, x1 = x0 + ks[s % 3], x1 + (ks[(s + 1) % 3] + full_uop(x1, s))
    return x0, x1


def _unit(bits: UOp, dtype: DType) -> UOp:
    """Uniform floats in [0, 1) of a float dtype of at most 32 significand bits, from 32-bit words: the top
    m bits times 2**-m, exact in float32 and in `dtype` (m its significand width, at most 24 here)."""
    m = min(_SIGNIFICAND[dtype], 24) if dtype != dtypes.float64 else 32
    calc = dtypes.float64 if dtype == dtypes.float64 else dtypes.float32
    top = bits.alu(Ops.SHR, full_uop(bits, 32 - m)) if m < 32 else bits
    f = top.cast(calc)
    return f * full_uop(f, 2.0**-m)


class RandomMixin(CreationMixin):
    """Random tensors and initializers; mixed into `Tensor`."""

    __slots__ = ()
    # the seed, and each device's generator state: a realized uint32 tensor [k0, k1, k0 ^ k1 ^ parity, calls]
    _rng_seed: ClassVar[int] = 0
    _rng_states: ClassVar[dict[str, Self]] = {}

    @classmethod
    def manual_seed(cls, seed: int = 0) -> None:
        """Seed the generator: the random tensors made after it are the same on every run and every device.

        The state buffers of devices already used are rewritten in place, so a `TinyJit` function captured
        before the call restarts from the seed too.
        """
        if isinstance(seed, bool):
            raise TypeError("manual_seed: the seed must be an int, got a bool")
        try:
            s = operator.index(seed)
        except TypeError:
            raise TypeError(f"manual_seed: the seed must be an int, got {type(seed).__name__}") from None
        RandomMixin._rng_seed = s % 2**64
        words = _state_words(RandomMixin._rng_seed)
        for state in RandomMixin._rng_states.values():
            state.buffer().copyin(memoryview(words.tobytes()))

    @classmethod
    def _next_key(cls, device: str) -> UOp:
        """This call's key and number on `device` (a realized (4,) uint32 buffer), advancing the device's count.

        The count lives in a device buffer and advances by a kernel that runs now, together with a kernel
        copying the state out for this call (a snapshot, so a random tensor realized later still sees its own
        number). TinyJit captures both kernels, so its replays advance the count and draw fresh numbers.
        """
        state = RandomMixin._rng_states.get(device)
        if state is None:
            state = cls._wrap(uop_from_numpy(_state_words(RandomMixin._rng_seed), device, _U32)).realize()
            RandomMixin._rng_states[device] = state
        one_in_last = cls._wrap(const_uop(_U32, 1, device).reshape((1,)).pad(((3, 0),)))
        snapshot = state.contiguous()
        state.assign(state + one_in_last)
        cls.realize(snapshot, state)
        return snapshot.uop

    @classmethod
    def _random_words(cls, numel: int, device: str, op: str) -> tuple[UOp, UOp]:
        """Two uint32 words per element (shape (numel,)), from the device's next call number."""
        if numel >= 2**32:
            raise ArgumentError(f"{op}: at most 2**32 - 1 random elements per call, asked for {numel}")
        devices = split_devices(device)
        key = cls._next_key(devices[0])

        def word(i: int) -> UOp:
            return key.shrink(((i, i + 1),)).expand((numel,))

        w0, w1 = threefry_graph((word(0), word(1), word(2)), index_range(numel, _U32, devices[0]), word(3))
        if len(devices) == 1:
            return w0, w1
        # on a device tuple: made on its first device and replicated, so a sharded tensor's dropout mask is the
        # one a single device would draw, each device using its rows
        return multi.replicate(w0, devices), multi.replicate(w1, devices)

    @classmethod
    def _random(
        cls, op: str, shape: tuple[Any, ...], dtype: Any, device: Any, requires_grad: bool | None
    ) -> tuple[tuple[int, ...], DType, str]:
        shp = shape_arg(shape, op)
        if any(isinstance(s, UOp) for s in shp):
            raise ArgumentError(f"{op}: random tensors take int sizes; draw at the largest size and slice (t[:n])")
        dt = _float_dtype(dtype_arg(dtype, dtypes.default_float, op), op)
        check_grad(requires_grad, dt, op)
        dev = device_arg(device, op)
        check_supported(dt, dev, op)
        return shp, dt, dev

    @classmethod
    def _random_leaf(cls, u: UOp, shape: tuple[int, ...], requires_grad: bool | None) -> Self:
        # each random tensor has a key buffer of its own, so its graph is a distinct leaf for autograd
        t = cls._wrap(u.reshape(shape))
        t.requires_grad = requires_grad
        return t

    @classmethod
    def rand(
        cls, *shape: Any, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """Uniform in [0, 1). `Tensor.rand(2, 3)` or `Tensor.rand((2, 3))`."""
        shp, dt, dev = cls._random("rand", shape, dtype, device, requires_grad)
        n = prod(shp)
        if n == 0:
            return cls._random_leaf(_full_shape(dt, 0.0, dev, (0,)), shp, requires_grad)
        w0, w1 = cls._random_words(n, dev, "rand")
        if dt == dtypes.float64:  # 53 bits: 21 from word 0, 32 from word 1
            hi = w0.alu(Ops.SHR, full_uop(w0, 11)).cast(dtypes.float64)
            lo = w1.cast(dtypes.float64)
            u = hi * full_uop(hi, 2.0**-21) + lo * full_uop(lo, 2.0**-53)
        else:
            u = _unit(w0, dt).cast(dt)
        return cls._random_leaf(u, shp, requires_grad)

    @classmethod
    def randn(
        cls, *shape: Any, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """Standard normal (mean 0, variance 1), by Box-Muller. `Tensor.randn(2, 3)` or `((2, 3))`."""
        shp, dt, dev = cls._random("randn", shape, dtype, device, requires_grad)
        n = prod(shp)
        if n == 0:
            return cls._random_leaf(_full_shape(dt, 0.0, dev, (0,)), shp, requires_grad)
        w0, w1 = cls._random_words(n, dev, "randn")
        calc = dtypes.float64 if dt == dtypes.float64 else dtypes.float32
        u1 = _full_shape(calc, 1.0, dev, (n,)) - _unit(w0, calc)  # in (0, 1]: log(u1) is finite
        u2 = _unit(w1, calc)
        radius = (u1.alu(Ops.LOG2) * full_uop(u1, -2.0 * math.log(2))).alu(Ops.SQRT)
        z = radius * (u2 * full_uop(u2, 2 * math.pi)).alu(Ops.SIN)
        return cls._random_leaf(z.cast(dt), shp, requires_grad)

    @classmethod
    def randint(
        cls,
        *args: Any,
        low: int | None = None,
        high: int | None = None,
        size: Any = None,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """Uniform integers in [low, high) (low defaults to 0 and high to 10, as in tinygrad).

        Both conventions work: tinygrad's `Tensor.randint(2, 3, low=0, high=10)` (the positional ints are the
        shape) and PyTorch's `Tensor.randint(low, high, (2, 3))`,
        `Tensor.randint(high, (2, 3))` or `size=(2, 3)` (a shape given as a tuple or `size`). The dtype
        defaults to int32.
        """
        if size is not None or (args and isinstance(args[-1], (tuple, list))):
            shape, bounds = (size, args) if size is not None else (args[-1], args[:-1])
            if len(bounds) > 2 or (bounds and (low is not None or high is not None)):
                raise TypeError(f"randint: give low and high once: randint(low, high, size), got {args}")
            if len(bounds) == 2:
                low, high = bounds
            elif len(bounds) == 1:
                high = bounds[0]
            shp = shape_arg((shape,) if not isinstance(shape, (tuple, list)) else tuple(shape), "randint")
        else:
            shp = shape_arg(args, "randint")
        lo, hi = _int_bound(0 if low is None else low, "low"), _int_bound(10 if high is None else high, "high")
        dt = dtype_arg(dtype, dtypes.default_int, "randint")
        if not dt.is_int:
            raise ArgumentError(f"randint: the dtype must be an integer type, got {dt!r}")
        if requires_grad:
            raise ArgumentError("randint: integer tensors cannot require gradients")
        if lo >= hi:
            raise ArgumentError(f"randint: low ({lo}) must be less than high ({hi})")
        if lo < dt.min or hi - 1 > dt.max:
            raise ArgumentError(f"randint: [{lo}, {hi}) does not fit in {dt!r} ([{dt.min}, {dt.max}])")
        dev = device_arg(device, "randint")
        check_supported(dt, dev, "randint")
        n = prod(shp)
        if n == 0:
            return cls._random_leaf(_full_shape(dt, 0, dev, (0,)), shp, requires_grad)
        w0, w1 = cls._random_words(n, dev, "randint")
        u64 = dtypes.uint64
        bits = w0.cast(u64).alu(Ops.SHL, _full_shape(u64, 32, dev, (n,))).alu(Ops.OR, w1.cast(u64))
        offset = bits.alu(Ops.MOD, full_uop(bits, hi - lo))  # in [0, high - low): see the module docstring
        value = offset.cast(dtypes.int64) + _full_shape(dtypes.int64, lo, dev, (n,))
        return cls._random_leaf(value.cast(dt), shp, requires_grad)

    # ---- distributions and initializers built on rand and randn ----

    @classmethod
    def uniform(
        cls,
        *shape: Any,
        low: float = 0.0,
        high: float = 1.0,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """Uniform in [low, high): `low + (high - low) * rand` (rounding can reach high itself)."""
        lo, hi = number_arg(low, "uniform", "low"), number_arg(high, "uniform", "high")
        r = cls.rand(*shape, dtype=dtype, device=device)
        return cls._random_leaf((r * (hi - lo) + lo).uop, r.shape, requires_grad)

    @classmethod
    def normal(
        cls,
        *shape: Any,
        mean: float = 0.0,
        std: float = 1.0,
        dtype: DTypeLike | None = None,
        device: str | None = None,
        requires_grad: bool | None = None,
    ) -> Self:
        """Normal with a mean and standard deviation: `mean + std * randn`."""
        mu, sigma = number_arg(mean, "normal", "mean"), number_arg(std, "normal", "std")
        if sigma < 0:
            raise ArgumentError(f"normal: std must be >= 0, got {sigma}")
        r = cls.randn(*shape, dtype=dtype, device=device)
        return cls._random_leaf((r * sigma + mu).uop, r.shape, requires_grad)

    @classmethod
    def scaled_uniform(cls, *shape: Any, **kwargs: Any) -> Self:
        """Uniform in [-1, 1) scaled by 1 / sqrt(number of elements) (tinygrad's initializer)."""
        shp = shape_arg(shape, "scaled_uniform")
        return cls.uniform(shp, low=-1.0, high=1.0, **kwargs)._scaled(max(prod(shp), 1) ** -0.5)

    @classmethod
    def glorot_uniform(cls, *shape: Any, **kwargs: Any) -> Self:
        """Glorot (Xavier) uniform: in [-b, b) with b = sqrt(6 / (fan_out + fan_in)), where fan_out = shape[0]
        and fan_in = prod(shape[1:]) (tinygrad's convention for a weight of shape (out, in, ...))."""
        shp = shape_arg(shape, "glorot_uniform")
        if not shp:
            raise ArgumentError("glorot_uniform: needs a shape of at least one dimension, got ()")
        fans = shp[0] + prod(shp[1:])
        return cls.uniform(shp, low=-1.0, high=1.0, **kwargs)._scaled(math.sqrt(6 / max(fans, 1)))

    @classmethod
    def kaiming_uniform(cls, *shape: Any, a: float = 0.01, **kwargs: Any) -> Self:
        """He (Kaiming) uniform for a leaky-ReLU slope `a`: in [-b, b) with b = sqrt(6 / ((1 + a^2) * fan_in)),
        fan_in = prod(shape[1:]) (PyTorch's and tinygrad's convention for a weight of shape (out, in, ...))."""
        shp = shape_arg(shape, "kaiming_uniform")
        a = number_arg(a, "kaiming_uniform", "a")
        bound = math.sqrt(6 / ((1 + a * a) * max(prod(shp[1:]), 1)))
        return cls.uniform(shp, low=-1.0, high=1.0, **kwargs)._scaled(bound)

    @classmethod
    def kaiming_normal(cls, *shape: Any, a: float = 0.01, **kwargs: Any) -> Self:
        """He (Kaiming) normal for a leaky-ReLU slope `a`: standard deviation sqrt(2 / ((1 + a^2) * fan_in)),
        fan_in = prod(shape[1:])."""
        shp = shape_arg(shape, "kaiming_normal")
        a = number_arg(a, "kaiming_normal", "a")
        std = math.sqrt(2 / ((1 + a * a) * max(prod(shp[1:]), 1)))
        return cls.randn(shp, **kwargs)._scaled(std)

    def _scaled(self, factor: float) -> Self:
        # scale a fresh random leaf, keeping it a leaf with its requires_grad
        out = self._random_leaf((self * factor).uop, self.shape, self.requires_grad)
        return out

    # ---- the *_like forms ----

    def rand_like(
        self, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """`rand` with this tensor's shape, dtype and device (dtype and device can be overridden)."""
        dt = _float_dtype(dtype_arg(dtype, self.dtype, "rand_like"), "rand_like")
        return self.rand(self.shape, dtype=dt, device=device or self.device, requires_grad=requires_grad)

    def randn_like(
        self, dtype: DTypeLike | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Self:
        """`randn` with this tensor's shape, dtype and device (dtype and device can be overridden)."""
        dt = _float_dtype(dtype_arg(dtype, self.dtype, "randn_like"), "randn_like")
        return self.randn(self.shape, dtype=dt, device=device or self.device, requires_grad=requires_grad)


def _float_dtype(dt: DType, op: str) -> DType:
    if not dt.is_float or dt not in _SIGNIFICAND:
        raise ArgumentError(f"{op}: the dtype must be a float type, got {dt!r}")
    return dt


def _state_words(seed: int) -> np.ndarray:
    """A generator state for a seed, before its first call: the key, its parity word, and a count of 0."""
    k0, k1 = seed & _MASK32, seed >> 32
    return np.array([k0, k1, k0 ^ k1 ^ _PARITY, 0], dtype=np.uint32)


def _int_bound(x: Any, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"randint: {what} must be an int, got {x!r}")
    return int(x)


def _full_shape(dtype: DType, value: Any, device: str, shape: tuple[int, ...]) -> UOp:
    return const_uop(dtype, value, device).reshape((1,) * len(shape)).expand(shape)
