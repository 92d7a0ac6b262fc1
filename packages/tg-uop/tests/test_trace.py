"""The trace (VIZ): records are plain JSON, every changing graph_rewrite is a pass whose steps replay to its output,
and nothing is recorded or built while tracing is off."""

import json
import os
import subprocess
import sys

from tg_uop import PatternMatcher, UOp, UPat, graph_rewrite, substitute, trace
from tg_uop.ops import Ops


def _passes(records):
    return [r for r in records if r["k"] == "pass"]


def test_off_by_default_records_nothing():
    class Loud:
        def __str__(self):
            raise AssertionError("encoded while tracing is off")

    assert not trace.ON
    trace.emit("note", value=Loud())  # no sink: returns before looking at its fields


def test_records_are_json_lines_with_a_version():
    lines = []
    trace.add_sink(lines.append)
    try:
        trace.emit("note", value=1.5, items=[1, "a"], graph=UOp.variable("x", 0, 3) * 2)
    finally:
        trace.remove_sink(lines.append)
    recs = [json.loads(line) for line in lines]
    assert recs[0]["k"] == "meta" and recs[0]["v"] == trace.VERSION
    assert recs[1]["k"] == "note" and recs[1]["items"] == [1, "a"]
    ops = [n[0] for n in recs[1]["graph"]["nodes"]]
    assert ops == ["DEFINE_VAR", "CONST", "MUL"] and recs[1]["graph"]["roots"] == [2]
    assert not trace.ON


def test_pass_steps_name_their_rule_with_file_line_and_source():
    x = UOp.variable("x", 0, 9)
    drop_mul_one = PatternMatcher([(UPat.var("a") * 1, lambda a: a)])
    with trace.capture() as recs:
        graph_rewrite((x * 1) * 1 + 3, drop_mul_one)
    (p,) = _passes(recs)
    assert p["name"] == "test_pass_steps_name_their_rule_with_file_line_and_source"
    assert p["site"].startswith(__file__)
    rules = {r["id"]: r for r in recs if r["k"] == "rule"}
    assert len(p["steps"]) == 2 and {s[2] for s in p["steps"]} == {next(iter(rules))}
    rule = rules[p["steps"][0][2]]
    assert rule["file"] == __file__ and "lambda a: a" in rule["src"] and rule["line"] > 0


def test_before_and_after_of_each_step_reproduce_the_rewrite():
    x, y = UOp.variable("x", 0, 9), UOp.variable("y", 0, 9)
    expr = ((x * 1 + 0) * 4 + (y + 0) * 4 + 3) // 4
    with trace.capture() as recs:
        out = expr.simplify()
    for p in _passes(recs):
        nodes = p["graph"]["nodes"]
        first, _ = trace.replay(p, 0)
        assert first == p["root"]  # no step replayed: the input graph
        last, table = trace.replay(p, len(p["steps"]))
        assert last == p["out"], p["name"]  # every step replayed: exactly the recorded output
        assert_steps_replay(p)
        assert nodes[p["out"]][0] == out.op.name
    assert out.render() == "(x+y)"


def assert_steps_replay(p):
    """Replaying a pass's first k steps shows step k's node in the graph (the viewer's 'before'), unless an
    earlier step already rewrote that same node (two nodes may rebuild into one); all steps give the output."""
    for k, (before, _, _) in enumerate(p["steps"]):
        root, nodes = trace.replay(p, k)
        assert before in trace.reachable(root, nodes) or any(b == before for b, _, _ in p["steps"][:k]), (p["name"], k)
    assert trace.replay(p, len(p["steps"]))[0] == p["out"], p["name"]


def test_once_passes_replay_without_rewriting_replacements():
    a, b = UOp.variable("a", 0, 9), UOp.variable("b", 0, 9)
    with trace.capture() as recs:
        out = substitute(a * 2 + b, {a: b, b: a})  # a swap: replaying replacements again would loop
    (p,) = _passes(recs)
    assert p["once"]
    root, nodes = trace.replay(p, len(p["steps"]))
    assert root == p["out"] and out.render(simplify=False) == "(b*2+a)"


def test_nested_passes_are_separate():
    x = UOp.variable("x", 0, 9)
    inner = PatternMatcher([(UPat.var("a") + 0, lambda a: a)])
    outer = PatternMatcher(
        [(UPat(Ops.MUL, name="m"), lambda m: graph_rewrite(m.src[0], inner) if m.src[0].op is Ops.ADD else None)]
    )
    with trace.capture() as recs:
        graph_rewrite((x + 0) * 3, outer)
    ps = _passes(recs)
    assert len(ps) == 2 and [len(p["steps"]) for p in ps] == [1, 1]
    for p in ps:
        assert trace.replay(p, len(p["steps"]))[0] == p["out"]


def test_unchanged_graphs_make_no_pass():
    x = UOp.variable("x", 0, 9)
    with trace.capture() as recs:
        graph_rewrite(x * 2, PatternMatcher([(UPat.var("a") + 0, lambda a: a)]))
    assert _passes(recs) == []


def test_refs_stay_the_same_across_records():
    x = UOp.variable("x", 0, 9)
    with trace.capture() as recs:
        trace.emit("a", r=trace.Ref(x))
        trace.emit("b", r=trace.Ref(x * 2), again=trace.Ref(x))
    assert recs[1]["r"] == recs[2]["again"] != recs[2]["r"]


def test_viz_out_writes_the_file(tmp_path):
    out = tmp_path / "trace.jsonl"
    code = "from tg_uop import UOp; x = UOp.variable('x', 0, 9); (x * 1 + 0).simplify()"
    env = {**os.environ, "VIZ_OUT": str(out)}
    env.pop("VIZ", None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs[0]["k"] == "meta" and any(r["k"] == "pass" for r in recs)


def test_bad_values_are_written_as_text():
    class Odd:
        def __str__(self):
            return "odd!"

    with trace.capture() as recs:
        trace.emit("note", v=Odd(), nested={"k": (Odd(), 2)})
    assert recs[1]["v"] == "odd!" and recs[1]["nested"] == {"k": ["odd!", 2]}
