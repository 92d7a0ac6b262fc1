"""Small shared helpers: environment flags, context-scoped settings, and list/shape utilities.

>>> from tg_uop.helpers import prod, Context, DEBUG
>>> prod((2, 3, 4))
24
>>> with Context(DEBUG=2):
...     DEBUG.value
2
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


@functools.cache
def getenv(key: str, default: Any = 0) -> Any:
    """Read an environment variable once, converted to the type of `default`.

    >>> getenv("TG_SURELY_UNSET_FLAG", 3)
    3
    """
    raw = os.environ.get(key)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() not in ("", "0", "false", "no", "off")
    return type(default)(raw)


class ContextVar:
    """A named setting whose start value comes from the environment and can be changed in a `Context`.

    The registry of ContextVars is the one piece of global state tg keeps besides caches: it holds the
    flags of the design (DEBUG, BEAM, NOOPT, JIT, SPEC, VIZ) so `Context(DEBUG=2)` can find them by name.
    """

    _registry: dict[str, ContextVar] = {}

    def __init__(self, key: str, default: int) -> None:
        if key in ContextVar._registry:
            raise ValueError(f"ContextVar {key} already exists")
        self.key = key
        self.value: int = getenv(key, default)
        ContextVar._registry[key] = self

    def __bool__(self) -> bool:
        return bool(self.value)

    def __ge__(self, other: int) -> bool:
        return self.value >= other

    def __gt__(self, other: int) -> bool:
        return self.value > other

    def __le__(self, other: int) -> bool:
        return self.value <= other

    def __lt__(self, other: int) -> bool:
        return self.value < other

    def __repr__(self) -> str:
        return f"ContextVar({self.key}={self.value})"


DEBUG = ContextVar("DEBUG", 0)
BEAM = ContextVar("BEAM", 0)
NOOPT = ContextVar("NOOPT", 0)
JIT = ContextVar("JIT", 1)
SPEC = ContextVar("SPEC", 0)
VIZ = ContextVar("VIZ", 0)


@contextlib.contextmanager
def Context(**kwargs: int) -> Iterator[None]:
    """Temporarily set ContextVars by name, restoring them on exit.

    >>> with Context(NOOPT=1):
    ...     bool(NOOPT)
    True
    """
    unknown = [k for k in kwargs if k not in ContextVar._registry]
    if unknown:
        raise KeyError(f"unknown ContextVar(s) {unknown}; known: {sorted(ContextVar._registry)}")
    old = {k: ContextVar._registry[k].value for k in kwargs}
    try:
        for k, v in kwargs.items():
            ContextVar._registry[k].value = v
        yield
    finally:
        for k, v in old.items():
            ContextVar._registry[k].value = v


def prod(xs: Iterable[Any], start: Any = 1) -> Any:
    """Product of the items (works for ints and symbolic UOps alike: no `1*` in front of a UOp)."""
    out: Any = None
    for x in xs:
        out = x if out is None else out * x
    return start if out is None else (out if isinstance(start, int) and start == 1 else start * out)


def all_same(xs: Iterable[Any]) -> bool:
    """True when every item equals the first (and for an empty iterable)."""
    items = list(xs)
    return all(x == items[0] for x in items[1:])


def all_int(xs: Iterable[Any]) -> bool:
    return all(isinstance(x, int) for x in xs)


def dedup(xs: Iterable[T]) -> list[T]:
    """Drop repeated items, keeping the first occurrence's order."""
    return list(dict.fromkeys(xs))


def flatten(xss: Iterable[Iterable[T]]) -> list[T]:
    return [x for xs in xss for x in xs]


def argsort(xs: list[Any]) -> list[int]:
    return sorted(range(len(xs)), key=xs.__getitem__)


def strides_for_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides, with 0 for dimensions of size 1 (so broadcasting views compare equal)."""
    out, acc = [], 1
    for s in reversed(shape):
        out.append(acc if s != 1 else 0)
        acc *= s
    return tuple(reversed(out))


def normalize_axis(axis: int, ndim: int, op: str = "op") -> int:
    """Map a possibly negative axis into range, raising IndexError naming the op when it is out of range."""
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise IndexError(f"{op}: axis {axis} is out of range for a tensor of {ndim} dimension(s)")
    return axis % max(ndim, 1)


_ANSI = {"black": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}


def colored(text: str, color: str | None, stream: Any = None) -> str:
    """Wrap text in an ANSI color when the stream (stdout by default) is a terminal."""
    stream = stream if stream is not None else sys.stdout
    if color is None or not getattr(stream, "isatty", lambda: False)() or os.environ.get("NO_COLOR"):
        return text
    return f"\x1b[{_ANSI[color]}m{text}\x1b[0m"


def round_up(x: int, multiple: int) -> int:
    return math.ceil(x / multiple) * multiple
