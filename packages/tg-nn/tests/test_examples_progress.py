"""The examples' progress report (examples/progress.py): when the output is not a terminal (a CI log, nox piped to
a file) it prints a plain line every few seconds and one at the end, never a redraw per update."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest

PROGRESS = Path(__file__).resolve().parents[3] / "examples" / "progress.py"


@pytest.fixture(scope="module")
def progress():  # type: ignore[no-untyped-def]
    if not PROGRESS.is_file():
        pytest.skip("examples/ is not next to this test (an installed copy of the tests)")
    spec = importlib.util.spec_from_file_location("examples_progress", PROGRESS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_not_a_terminal_prints_a_line_every_few_seconds(progress) -> None:  # type: ignore[no-untyped-def]
    out, clock = io.StringIO(), Clock()
    bar = progress.Progress(1000, "epoch 1", "step", every=10.0, stream=out, clock=clock)
    for _ in range(1000):  # 1000 updates over 50 seconds
        clock.t += 0.05
        bar.set_postfix(loss="0.5")
        bar.update(1)
    bar.close()
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert 5 <= len(lines) <= 6, lines  # one per 10 s, and the last
    assert lines[-1].startswith("epoch 1: 1000/1000 step in 50.0 s") and lines[-1].endswith("loss=0.5")


def test_a_short_run_prints_one_line(progress) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    with progress.Progress(3, "embedding corpus", "text", stream=out) as bar:
        bar.update(3)
    assert out.getvalue().count("\n") == 1 and out.getvalue().startswith("embedding corpus: 3/3 text")
