"""The examples in tg-nn's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import types

import pytest

import tg_nn
import tg_nn.state


@pytest.mark.parametrize("module", [tg_nn, tg_nn.state], ids=lambda m: m.__name__)
def test_docstring_examples(module: types.ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
