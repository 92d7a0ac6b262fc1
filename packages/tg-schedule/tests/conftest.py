"""Shared setup: the helper module next to the tests importable as `helpers` (pytest runs with
--import-mode=importlib, which does not put this folder on sys.path)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Every package's tests call their helper module `helpers`; in a run over several packages each folder's own
# module is put back under that name before its test modules are imported.
sys.modules.pop("helpers", None)
import helpers  # noqa: E402


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        sys.modules["helpers"] = helpers
