"""Process-wide counts of programs compiled and launched: a new value of a symbolic size, a TinyJit replay or a
schedule served from the cache should compile nothing, and these counts show it (tests read them; DEBUG=1 prints
them after each schedule).

>>> from tg_runtime.counters import COUNTERS
>>> before = COUNTERS.snapshot()
>>> COUNTERS.launches += 1  # what every Program call does
>>> COUNTERS.since(before)
Counts(compiles=0, launches=1)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Counts:
    """A reading of the counters (or the difference of two)."""

    compiles: int
    launches: int


@dataclass
class Counters:
    """`compiles`: programs built from source (`Compiled.build`, whether the binary came from the compiler or the
    disk cache); `launches`: program calls (`Program.__call__`)."""

    compiles: int = 0
    launches: int = 0

    def snapshot(self) -> Counts:
        return Counts(self.compiles, self.launches)

    def since(self, before: Counts) -> Counts:
        """What was counted after the `before` reading."""
        return Counts(self.compiles - before.compiles, self.launches - before.launches)


COUNTERS = Counters()
