"""Progress for the examples: tqdm's bar on a terminal; when the output is not a terminal (a CI log, `nox` piped
to a file) or tqdm is missing, one plain line every `every` seconds and one at the end, not a redraw per update.

>>> import io
>>> out = io.StringIO()
>>> with Progress(3, "demo", "step", stream=out) as p:
...     p.update(3)
>>> out.getvalue().startswith("demo: 3/3 step")
True
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

try:
    from tqdm import tqdm
except ImportError:  # plain lines only
    tqdm = None


class Progress:
    """`update(n)` adds n done units, `set_postfix(k=v)` sets what follows the count, `close()` ends."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        every: float = 10.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.total, self.desc, self.unit, self.every, self.clock = total, desc, unit, every, clock
        self.stream = stream if stream is not None else sys.stderr
        self.n, self.postfix = 0, ""
        self.start = self.last = clock()
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream) if tqdm is not None and tty else None

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.clock() - self.last >= self.every:
            self._line()

    def set_postfix(self, **values: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(**values)
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            self._line()

    def _line(self) -> None:
        self.last = self.clock()
        elapsed = self.last - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        extra = f", {self.postfix}" if self.postfix else ""
        print(
            f"{self.desc}: {self.n}/{self.total} {self.unit} in {elapsed:.1f} s ({rate:.1f} {self.unit}/s){extra}",
            file=self.stream,
            flush=True,
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
