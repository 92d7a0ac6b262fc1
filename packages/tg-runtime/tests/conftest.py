"""Shared setup for the tg-runtime tests: `helpers` on sys.path, a private compile cache, a test device."""

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
from helpers import HostMem  # noqa: E402

from tg_runtime import Capabilities, Compiled, Device  # noqa: E402
from tg_runtime import device as device_mod  # noqa: E402
from tg_uop import dtypes  # noqa: E402


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        sys.modules["helpers"] = helpers


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("tg-cache"))


@pytest.fixture(autouse=True)
def _private_compile_cache(session_cache: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # compiled kernels go to a folder of this test run only: nothing passes because of an entry left by an
    # earlier run, and nothing is written to the user's ~/.cache
    monkeypatch.setenv("TG_CACHE_DIR", session_cache)
    monkeypatch.delenv("TG_COMPILE_CACHE", raising=False)
    yield


@pytest.fixture
def testmem(monkeypatch: pytest.MonkeyPatch) -> HostMem:
    """A device named TESTMEM in the global registry, backed by a fresh counting `HostMem` allocator.

    Buffers always find their allocator through the global `Device`; the entry is removed after the test.
    """
    alloc = HostMem("TESTMEM")
    caps = Capabilities("", frozenset({dtypes.float32}))
    dev = Compiled("TESTMEM", alloc, None, lambda name, lib: None, caps)
    monkeypatch.setitem(device_mod.BACKENDS, "TESTMEM", "tg_runtime_tests_no_such_module")
    monkeypatch.setitem(Device._devices, "TESTMEM", dev)
    return alloc
