"""VIZ's trace from a small training step: every stage is recorded (tensor graphs and their kernels, kernel AST,
loop program, source, opts, launches, compile and schedule cache, TinyJit captures) and every rewrite pass replays."""

from tg_tensor import Tensor, TinyJit
from tg_uop import trace


def test_every_stage_of_a_training_step_is_recorded():
    # shapes no other test uses, so the kernels are compiled (and recorded) here
    w = Tensor.rand(7, 5, requires_grad=True).realize()

    @TinyJit
    def step(x: Tensor) -> Tensor:
        loss = (x @ w).relu().sum()
        loss.backward()
        w.assign((w - w.grad * 0.1).detach())
        return loss.realize()

    with trace.capture() as recs:
        for _ in range(3):
            step(Tensor.rand(3, 7).realize())
    kinds = {r["k"] for r in recs}
    assert {"meta", "rule", "pass", "realize", "kernel", "launch", "cache", "jit"} <= kinds
    kernels = {r["ref"]: r for r in recs if r["k"] == "kernel"}
    realized = [ref for r in recs if r["k"] == "realize" for ref in r["kernels"]]
    assert realized and set(kernels) <= set(realized)  # each compiled kernel belongs to a realize
    for k in kernels.values():
        assert k["src"] and k["name"] in k["src"] and k["device"]
        assert k["ast"]["nodes"][k["ast"]["roots"][0]][0] == "SINK"
        assert any(n[0] == "STORE" for n in k["program"]["nodes"])
        assert isinstance(k["opts"], list)
    launches = [r for r in recs if r["k"] == "launch" and r["ref"] is not None]
    assert launches and all(r["ref"] in realized and r["dt"] >= 0 for r in launches)
    (jit,) = [r for r in recs if r["k"] == "jit"]
    assert jit["fn"] == "step" and jit["kernels"] and set(jit["kernels"]) <= set(realized)
    realizes = [r for r in recs if r["k"] == "realize"]
    assert all(r["graph"]["roots"] for r in realizes)


def test_every_rewrite_pass_of_a_realize_replays_to_its_output():
    a, b = Tensor.rand(4, 8), Tensor.rand(8, 3)
    with trace.capture() as recs:
        ((a @ b).relu().sum(axis=1) + 1).realize()
    passes = [r for r in recs if r["k"] == "pass"]
    assert len(passes) > 10 and sum(len(p["steps"]) for p in passes) > 100
    for p in passes:
        for k, (before, _, _) in enumerate(p["steps"]):
            root, nodes = trace.replay(p, k)
            assert before in trace.reachable(root, nodes) or any(s[0] == before for s in p["steps"][:k])
        assert trace.replay(p, len(p["steps"]))[0] == p["out"], p["name"]
