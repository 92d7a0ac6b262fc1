"""Shared setup for the tg-codegen tests: `helpers` on sys.path, a private compile cache."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Every package's tests call their helper module `helpers`. A run over several packages loads all their
# conftests first, so this folder's module is imported here, under that name, and put back in place before
# each test module of this folder is imported (see pytest_collectstart).
sys.modules.pop("helpers", None)
import helpers  # noqa: E402


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        sys.modules["helpers"] = helpers


@pytest.fixture(scope="session", autouse=True)
def _private_compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # compiled kernels go to a fresh folder: no test passes because of an entry left by an earlier run
    old = os.environ.get("TG_CACHE_DIR")
    os.environ["TG_CACHE_DIR"] = str(tmp_path_factory.mktemp("tg-cache"))
    yield
    if old is None:
        os.environ.pop("TG_CACHE_DIR", None)
    else:
        os.environ["TG_CACHE_DIR"] = old
