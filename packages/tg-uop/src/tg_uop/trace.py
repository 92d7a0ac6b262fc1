"""The trace: an append-only, versioned record of what tg did, one JSON object a line, for the viewer (VIZ).

Every layer reports here with plain data (tg-uop knows no devices): `emit(kind, **fields)` appends a record
to each active sink; a UOp field is written as a graph, a list of UOps as a graph of that list, `Ref(uop)` as
a small number naming that node across records. When no sink is active (VIZ and VIZ_OUT unset) `emit`
returns at its first line and `graph_rewrite` checks one module attribute, `ON`.

>>> from tg_uop import UOp
>>> x = UOp.variable("x", 0, 9)
>>> with capture() as records:
...     emit("note", graph=x + 1, what="hello")
>>> [r["k"] for r in records], records[1]["what"], [n[0] for n in records[1]["graph"]["nodes"]]
(['meta', 'note'], 'hello', ['DEFINE_VAR', 'CONST', 'ADD'])

Records (`"k"` is the kind, `"t"` seconds since the trace began; graphs are `{"nodes": [[op, dtype, arg,
[source ids], shape, tag], ...], "roots": [ids]}` with sources before their users):

- `meta`: first record, `v` (the format's version) and `argv`;
- `rule`: a rewrite rule, once: `id`, `name`, `file`, `line`, `src` (its source text);
- `pass`: one `graph_rewrite` that changed something: `name`, `site` (its caller), `once`, `graph` (every node
  seen), `root`, `out`, `steps` ([before id, after id, rule id] in the order the rules fired);
- `realize`: a tensor graph being realized: `graph`, `kernels` (refs of the kernel ASTs it was cut into),
  `hit` (the schedule came from the schedule cache);
- `kernel`: a compiled kernel: `ref`, `name`, `device`, `opts`, `ast`, `program`, `src`, `ops`, `mem`;
- `launch`: one kernel or copy run: `ref` (null for copies), `name`, `device`, `start`, `dt`, `gflops`, `gbs`;
- `cache`: `what` ("schedule" or "compile"), `hit`;
- `jit`: a TinyJit capture: `fn`, `kernels` (refs), `copies`.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from tg_uop.uop import UOp, toposort

VERSION = 1
ON = False  # True while a sink is active; read on hot paths as `trace.ON`

Sink = Callable[[str], None]
_sinks: list[Sink] = []
_start = time.perf_counter()
_refs: dict[UOp, int] = {}
_rules: dict[Any, int] = {}


@dataclass(frozen=True)
class Ref:
    """A field naming a node by a number that stays the same across records (kernel ASTs, for links)."""

    uop: UOp


def add_sink(sink: Sink) -> None:
    """Send every later record (a JSON line without its newline) to `sink`; the first sink starts the trace."""
    global ON
    if not _sinks:
        _sinks.append(sink)
        ON = True
        emit("meta", v=VERSION, argv=list(sys.argv), pid=os.getpid())
    else:
        _sinks.append(sink)
        sink(json.dumps({"k": "meta", "v": VERSION, "t": 0.0, "argv": list(sys.argv), "pid": os.getpid()}))


def remove_sink(sink: Sink) -> None:
    global ON
    _sinks.remove(sink)
    ON = bool(_sinks)


def ref(u: UOp) -> int:
    """The trace-wide number of `u` (kept alive while tracing so numbers are never reused)."""
    return _refs.setdefault(u, len(_refs))


def encode_graph(roots: Sequence[UOp]) -> dict[str, Any]:
    """`roots` and everything under them as a graph record field."""
    enc = GraphEncoder()
    ids = [enc.add(r) for r in roots]
    return {"nodes": enc.nodes, "roots": ids}


class GraphEncoder:
    """Numbers nodes as they are added (sources first) and keeps their rows; `nodes` is the graph's table."""

    def __init__(self) -> None:
        self.ids: dict[UOp, int] = {}
        self.nodes: list[list[Any]] = []

    def add(self, u: UOp) -> int:
        got = self.ids.get(u)
        if got is not None:
            return got
        for n in toposort([u], gate=lambda n: n not in self.ids):
            if n not in self.ids:
                self.ids[n] = len(self.nodes)
                self.nodes.append(_row(n, [self.ids[s] for s in n.src]))
        return self.ids[u]


def _row(u: UOp, srcs: list[int]) -> list[Any]:
    try:
        shape = None if u.op.name in ("CONST", "DEFINE_VAR") else u.shape
    except Exception:  # a node of a later stage may have no shape; the viewer shows none
        shape = None
    dtype = str(u.dtype).removeprefix("dtypes.")
    tag = None if u.tag is None else str(u.tag)
    return [u.op.name, dtype, _short(u.arg), srcs, None if shape is None else str(shape), tag]


def _short(arg: Any) -> Any:
    if arg is None or isinstance(arg, bool | int | float):
        return arg if not isinstance(arg, float) else repr(arg)
    text = str(arg)
    return text if len(text) <= 300 else text[:297] + "..."


def _encode(value: Any) -> Any:
    if isinstance(value, UOp):
        return encode_graph([value])
    if isinstance(value, Ref):
        return ref(value.uop)
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, UOp) for v in value):
            return encode_graph(list(value))
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def emit(kind: str, **fields: Any) -> None:
    """Append one record of this kind to the trace (nothing happens when no sink is active)."""
    if not ON:
        return
    record = {"k": kind, "t": round(time.perf_counter() - _start, 6)}
    record.update((k, _encode(v)) for k, v in fields.items())
    line = json.dumps(record, separators=(",", ":"), default=str)
    for sink in _sinks:
        sink(line)


def rule_id(fn: Any) -> int:
    """The number of a rewrite rule's callback; its `rule` record (file, line, source) is emitted once."""
    got = _rules.get(fn)
    if got is not None:
        return got
    rid = _rules[fn] = len(_rules)
    code = getattr(fn, "__code__", None)
    try:
        src = inspect.getsource(fn) if code is not None else repr(fn)
    except (OSError, TypeError):
        src = ""
    file = code.co_filename if code is not None else ""
    line = code.co_firstlineno if code is not None else 0
    emit("rule", id=rid, name=getattr(fn, "__qualname__", repr(fn)), file=file, line=line, src=src)
    return rid


# passes called through these files' helpers are named after the helper and located at its caller
_HELPER_FILES = {os.path.join(os.path.dirname(__file__), f) for f in ("rewrite.py", "uop.py", "symbolic.py")}


def emit_pass(root: UOp, out: UOp, steps: list[tuple[UOp, UOp, Any]], once: bool, depth: int = 2) -> None:
    """Record one graph_rewrite: its input and output graphs and each step as (before, after, rule callback).
    `depth` is how many frames up the rewrite's caller is (the pass is named after it)."""
    steps = [s for s in steps if isinstance(s[1], UOp)]
    if not ON or not steps:
        return
    caller, helper = sys._getframe(depth), ""
    while caller.f_back is not None and caller.f_code.co_filename in _HELPER_FILES:  # substitute, simplify, ...
        helper = helper or caller.f_code.co_name
        caller = caller.f_back
    site = f"{caller.f_code.co_filename}:{caller.f_lineno}"
    enc = GraphEncoder()
    root_id = enc.add(root)
    rows = [[enc.add(b), enc.add(a), rule_id(fn)] for b, a, fn in steps]
    out_id = enc.add(out)
    graph = {"nodes": enc.nodes, "roots": [root_id]}
    name = f"{helper} in {caller.f_code.co_qualname}" if helper else caller.f_code.co_qualname
    emit("pass", name=name, site=site, once=once, graph=graph, root=root_id, out=out_id, steps=rows)


def replay(record: dict[str, Any], upto: int) -> tuple[int, list[list[Any]]]:
    """The graph of a recorded pass after its first `upto` steps: (root id, node table). Nodes the pass never
    built are appended to the table (as the viewer does). Replaying every step gives the pass's output graph.

    Each step replaces a node by another; a node whose sources changed is rebuilt and, when a node with the
    same fields is in the table, becomes that node (the graph is hash-consed, so it is the one the pass saw).
    """
    nodes = [list(n) for n in record["graph"]["nodes"]]
    key = {_key(n): i for i, n in enumerate(nodes)}
    repl = {b: a for b, a, _ in record["steps"][:upto]}
    once, done = record["once"], dict[int, int]()
    # (node, stage, target): stage 0 first visit, 1 sources done, 2 wait for `target` and take its result
    stack: list[tuple[int, int, int]] = [(record["root"], 0, -1)]
    budget = 20 * (len(nodes) + len(repl)) + 1000
    while stack:
        budget -= 1
        if budget < 0:
            raise ValueError("replay: the recorded steps do not reach a fixed point")
        n, stage, target = stack.pop()
        if n in done:
            continue
        if stage == 2:
            if target in done:
                done[n] = done[target]
            else:
                stack += [(n, 2, target), (target, 0, -1)]
        elif stage == 0 and n in repl:
            if once:
                done[n] = repl[n]
            else:
                stack.append((n, 2, repl[n]))
        elif stage == 0:
            stack.append((n, 1, -1))
            stack += [(s, 0, -1) for s in reversed(nodes[n][3]) if s not in done]
        else:
            m = _rebuilt(n, [done[s] for s in nodes[n][3]], nodes, key)
            if m in repl and m != n:
                stack.append((n, 2, m))
            else:
                done[n] = done.setdefault(m, m)
    return done[record["root"]], nodes


def reachable(root: int, nodes: list[list[Any]]) -> set[int]:
    """The ids of a recorded graph's nodes under `root` (itself included), e.g. of a replayed pass."""
    seen, todo = set(), [root]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(nodes[n][3])
    return seen


def _rebuilt(n: int, srcs: list[int], nodes: list[list[Any]], key: dict[str, int]) -> int:
    if srcs == nodes[n][3]:
        return n
    row = [*nodes[n][:3], srcs, *nodes[n][4:]]
    got = key.get(_key(row))
    if got is None:
        got = key[_key(row)] = len(nodes)
        nodes.append(row)
    return got


def _key(row: list[Any]) -> str:
    return json.dumps([row[0], row[1], row[2], row[3], row[5]])


@contextlib.contextmanager
def capture() -> Iterator[list[dict[str, Any]]]:
    """Collect the records emitted inside the block, decoded (for tests and tools)."""
    records: list[dict[str, Any]] = []

    def sink(line: str) -> None:
        records.append(json.loads(line))

    add_sink(sink)
    try:
        yield records
    finally:
        remove_sink(sink)


def write_to(path: str) -> TextIO:
    """Write the trace to `path` from now on (what `VIZ_OUT=path` does); the file is flushed at exit."""
    f = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed at exit

    def sink(line: str) -> None:
        f.write(line + "\n")

    add_sink(sink)
    atexit.register(f.close)
    return f


if os.environ.get("VIZ_OUT"):
    write_to(os.environ["VIZ_OUT"])
