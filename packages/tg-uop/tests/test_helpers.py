"""helpers: getenv, ContextVar/Context, and the small list and shape utilities."""

from __future__ import annotations

import io
import uuid

import pytest

from tg_uop import BEAM, DEBUG, JIT, NOOPT, SPEC, VIZ, Context, ContextVar, getenv
from tg_uop.helpers import (
    all_int,
    all_same,
    argsort,
    colored,
    dedup,
    flatten,
    normalize_axis,
    prod,
    round_up,
    strides_for_shape,
)


def _fresh_key() -> str:
    return f"TG_TEST_{uuid.uuid4().hex.upper()}"


# ---------------------------------------------------------------------------------------------------------------
# getenv
# ---------------------------------------------------------------------------------------------------------------


def test_getenv_default_when_unset() -> None:
    key = _fresh_key()
    assert getenv(key) == 0
    assert getenv(key, 7) == 7
    assert getenv(key, "abc") == "abc"


def test_getenv_converts_to_the_type_of_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _fresh_key()
    monkeypatch.setenv(key, "12")
    assert getenv(key) == 12 and isinstance(getenv(key), int)
    assert getenv(key, "x") == "12"
    assert getenv(key, 0.5) == 12.0 and isinstance(getenv(key, 0.5), float)


def test_getenv_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _fresh_key()
    monkeypatch.setenv(key, "3")
    assert getenv(key) == 3
    monkeypatch.setenv(key, "4")
    assert getenv(key) == 3  # cached: flags are read at first use


def test_getenv_bad_int_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _fresh_key()
    monkeypatch.setenv(key, "not-a-number")
    with pytest.raises(ValueError):
        getenv(key, 0)


# ---------------------------------------------------------------------------------------------------------------
# ContextVar and Context
# ---------------------------------------------------------------------------------------------------------------


def test_design_flags_exist_with_their_defaults_registered() -> None:
    for var, key in ((DEBUG, "DEBUG"), (BEAM, "BEAM"), (NOOPT, "NOOPT"), (JIT, "JIT"), (SPEC, "SPEC"), (VIZ, "VIZ")):
        assert var.key == key and ContextVar._registry[key] is var
        assert isinstance(var.value, int)


def test_contextvar_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _fresh_key()
    monkeypatch.setenv(key, "5")
    var = ContextVar(key, 1)
    assert var.value == 5
    other = ContextVar(_fresh_key(), 2)
    assert other.value == 2


def test_contextvar_comparisons_and_bool() -> None:
    var = ContextVar(_fresh_key(), 2)
    assert var >= 2 and var > 1 and var <= 2 and var < 3
    assert not (var > 2) and not (var < 2)
    assert bool(var)
    var.value = 0
    assert not bool(var)
    assert repr(var) == f"ContextVar({var.key}=0)"


def test_contextvar_duplicate_key_refused() -> None:
    key = _fresh_key()
    ContextVar(key, 0)
    with pytest.raises(ValueError, match=key):
        ContextVar(key, 1)


def test_context_sets_and_restores() -> None:
    a, b = ContextVar(_fresh_key(), 1), ContextVar(_fresh_key(), 10)
    with Context(**{a.key: 4, b.key: 40}):
        assert a.value == 4 and b.value == 40
        with Context(**{a.key: 5}):
            assert a.value == 5 and b.value == 40
        assert a.value == 4
    assert a.value == 1 and b.value == 10


def test_context_restores_on_exception() -> None:
    a = ContextVar(_fresh_key(), 3)
    with pytest.raises(RuntimeError, match="boom"), Context(**{a.key: 9}):
        assert a.value == 9
        raise RuntimeError("boom")
    assert a.value == 3


def test_context_restores_a_value_changed_inside() -> None:
    a = ContextVar(_fresh_key(), 3)
    with Context(**{a.key: 9}):
        a.value = 11
    assert a.value == 3


def test_context_on_design_flags() -> None:
    before = DEBUG.value, NOOPT.value
    with Context(DEBUG=4, NOOPT=1):
        assert DEBUG.value == 4 and DEBUG >= 3 and bool(NOOPT)
    assert (DEBUG.value, NOOPT.value) == before


def test_context_unknown_name_changes_nothing() -> None:
    a = ContextVar(_fresh_key(), 3)
    with pytest.raises(KeyError, match="NOT_A_FLAG"), Context(**{a.key: 8, "NOT_A_FLAG": 1}):
        pass
    assert a.value == 3


# ---------------------------------------------------------------------------------------------------------------
# list and shape utilities
# ---------------------------------------------------------------------------------------------------------------


def test_prod() -> None:
    assert prod((2, 3, 4)) == 24
    assert prod(()) == 1
    assert prod([], start=5) == 5
    assert prod((2.5, 2)) == 5.0
    assert prod(iter([3, 0, 7])) == 0
    assert prod((2, 3), start=10) == 60


def test_dedup_keeps_first_occurrence_order() -> None:
    assert dedup([3, 1, 3, 2, 1, 4]) == [3, 1, 2, 4]
    assert dedup([]) == []
    assert dedup("abracadabra") == ["a", "b", "r", "c", "d"]
    assert dedup(iter((1, 1, 1))) == [1]


def test_all_same_all_int_flatten_argsort() -> None:
    assert all_same([]) and all_same([2]) and all_same([2, 2, 2])
    assert not all_same([2, 2, 3])
    assert all_int((1, 2, 3)) and all_int(()) and not all_int((1, 2.0))
    assert flatten([[1, 2], [], [3]]) == [1, 2, 3]
    assert argsort([30, 10, 20]) == [1, 2, 0]
    assert argsort([]) == []


def test_strides_for_shape() -> None:
    assert strides_for_shape((2, 3, 4)) == (12, 4, 1)
    assert strides_for_shape((2, 1, 4)) == (4, 0, 1)
    assert strides_for_shape((1,)) == (0,)
    assert strides_for_shape(()) == ()
    assert strides_for_shape((5,)) == (1,)


def test_round_up() -> None:
    assert [round_up(x, 4) for x in (0, 1, 4, 5, 8)] == [0, 4, 4, 8, 8]


def test_colored_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colored("x", "red", io.StringIO()) == "x"
    assert colored("x", "red", Tty()) == "\x1b[31mx\x1b[0m"
    assert colored("x", None, Tty()) == "x"
    monkeypatch.setenv("NO_COLOR", "1")
    assert colored("x", "red", Tty()) == "x"


@pytest.mark.parametrize(
    ("axis", "ndim", "want"), [(0, 3, 0), (2, 3, 2), (-1, 3, 2), (-3, 3, 0), (1, 2, 1), (-2, 2, 0), (0, 0, 0)]
)
def test_normalize_axis(axis: int, ndim: int, want: int) -> None:
    assert normalize_axis(axis, ndim) == want


@pytest.mark.parametrize(("axis", "ndim"), [(3, 3), (-4, 3), (100, 1), (-2, 1), (1, 0), (-2, 0)])
def test_normalize_axis_out_of_range(axis: int, ndim: int) -> None:
    with pytest.raises(IndexError, match="sum"):
        normalize_axis(axis, ndim, "sum")
    with pytest.raises(IndexError, match=str(axis)):
        normalize_axis(axis, ndim)
