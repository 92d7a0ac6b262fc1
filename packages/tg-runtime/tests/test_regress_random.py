"""Regression: the PYTHON device could not run a program with a float16 buffer (memoryview.cast refuses the
'e' format before Python 3.12, so binding the parameter raised ValueError). Found by tg-tensor's
`Tensor.rand(dtype=float16, device="PYTHON")`."""

from __future__ import annotations

import struct

from helpers import Prog, buf

from tg_runtime import Buffer, Device
from tg_runtime.backends.python import serialize_program
from tg_uop import Ops, dtypes

F16, I32 = dtypes.float16, dtypes.int32


def test_python_device_loads_and_stores_float16() -> None:
    # out[i] = a[i] * 2 + 0.5 in float16 (each step rounds to float16)
    p = Prog()
    out, a = p.glob(0, F16, 4), p.glob(1, F16, 4)
    r = p.range(p.const(I32, 4), 0)
    twice = p.alu(Ops.MUL, p.load(a, r), p.const(F16, 2.0))
    p.store(out, r, p.alu(Ops.ADD, twice, p.const(F16, 0.5)))
    p.endrange(r)
    src = [1.5, -0.25, 65504.0, 3.0e-5]
    bufs = [Buffer("PYTHON", 4, F16), buf("PYTHON", F16, src)]
    Device["PYTHON"].build("k", serialize_program(p.uops))(*[b.handle for b in bufs])
    got = list(struct.unpack("<4e", bufs[0].as_memoryview().tobytes()))
    # 65504 * 2 overflows float16; 0.5 + 6e-5 rounds back to 0.5 (float16's spacing there is 2**-11)
    assert got == [3.5, 0.0, float("inf"), 0.5]
