"""tg-nn's MPI tests (run by `nox -s mpi`): each test launches a script of ranks/ under mpirun and checks
what the job printed, its exit status and its time; a few run in this process as a job of one rank."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# as in the other packages' tests: this folder's `helpers` module, put back before each test module imports it
sys.path.insert(0, str(Path(__file__).parent))
sys.modules.pop("helpers", None)
import helpers  # noqa: E402


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        sys.modules["helpers"] = helpers
