"""Launching scripts of ranks/ under mpirun, as CI does: 2 ranks, --oversubscribe (and --allow-run-as-root as
root), the test's interpreter and environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RANKS = Path(__file__).resolve().parent / "ranks"
REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    seconds: float


def mpirun_command(np_: int = 2) -> list[str]:
    exe = shutil.which("mpirun")
    if exe is None:
        raise RuntimeError("mpirun not found: install openmpi-bin and libopenmpi-dev (.ci/run does)")
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    return [exe, "-np", str(np_), "--oversubscribe", *root]


def run(script: str | Path, *args: str, ranks: int | None = 2, timeout: float = 300) -> Run:
    """Run a script of ranks/ (or a path) under mpirun with `ranks` processes, or plainly with ranks=None."""
    path = RANKS / script if isinstance(script, str) else script
    launcher = mpirun_command(ranks) if ranks is not None else []
    start = time.perf_counter()
    done = subprocess.run(
        [*launcher, sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout + done.stderr, time.perf_counter() - start)
