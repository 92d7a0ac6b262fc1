"""The template plugin installed: CLANGCC is found through its entry point, and tg runs the main job's model on it
(examples/fashion_mnist.py's CNN, forward in eval mode) with the CPU device's results."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tg_runtime import Device
from tg_tensor import Tensor

EXAMPLE = Path(__file__).resolve().parents[2] / "fashion_mnist.py"


def test_device_is_found_through_its_entry_point() -> None:
    assert "CLANGCC" in Device.plugins() and Device.plugins()["CLANGCC"].target == "tg_clang_device:create_device"
    assert Device.available()["CLANGCC"] is None
    assert Device["clangcc"].caps.language == "C"


def _forward(device: str, x: np.ndarray) -> np.ndarray:
    spec = importlib.util.spec_from_file_location("fashion_mnist_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLE.parent))  # the example imports its sibling examples/progress.py
    try:
        spec.loader.exec_module(example)
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    before = Device.DEFAULT
    Device.DEFAULT = device
    try:
        Tensor.manual_seed(0)
        model = example.make_model()
        with Tensor.train(False):
            return model(Tensor(x)).numpy()
    finally:
        Device.DEFAULT = before


@pytest.mark.parametrize("device", ["CLANGCC"])
def test_main_model_forward_matches_the_cpu_device(device: str) -> None:
    x = np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)
    got, want = _forward(device, x), _forward("CPU", x)
    assert got.shape == (8, 10) and np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
