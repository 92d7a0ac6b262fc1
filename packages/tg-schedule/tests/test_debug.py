"""DEBUG output of run_schedule: a summary line at 1, a line per kernel at 2, kernel sources at 3."""

from __future__ import annotations

from helpers import leaf, view_values

from tg_schedule import ScheduleItem, create_schedule, get_kernel, realize, run_schedule
from tg_uop import Context, Ops, UOp, dtypes


def two_kernel_schedule() -> list[ScheduleItem]:
    # a reduction read through a permute: realized by one kernel, read by the next
    x = leaf([1.0, 5.0, 2.0, 7.0, 3.0, 0.0], (2, 3))
    out = x.reduce_axis(Ops.MAX, (1,)).permute((1, 0)) * leaf([2.0, -1.0], (1, 2))
    sched, _ = create_schedule([out])
    assert [si.kind for si in sched] == ["kernel", "kernel"]
    return sched


def names(sched: list[ScheduleItem]) -> list[str]:
    return [get_kernel(si.ast, si.bufs[0].device).spec.name for si in sched]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_debug_0_prints_nothing(capsys):
    sched = two_kernel_schedule()
    with Context(DEBUG=0):
        run_schedule(sched)
    assert capsys.readouterr().out == ""


def test_debug_1_prints_one_summary_line(capsys):
    sched = two_kernel_schedule()
    with Context(DEBUG=1):
        run_schedule(sched)
    out = lines(capsys.readouterr().out)
    assert len(out) == 1
    assert "2 kernel" in out[0]
    # no per-kernel detail at this level
    assert not any(name in out[0] for name in names(sched))


def test_debug_2_prints_a_line_per_kernel_with_its_name(capsys):
    sched = two_kernel_schedule()
    kernel_names = names(sched)
    capsys.readouterr()
    # the reduction's kernel is named r_..., the elementwise one E_... (tg_codegen.kernel_name)
    assert kernel_names[0].startswith("r_") and kernel_names[1].startswith("E_")
    with Context(DEBUG=2):
        run_schedule(sched)
    out = lines(capsys.readouterr().out)
    per_kernel = [line for line in out if any(name in line for name in kernel_names)]
    assert len(per_kernel) == 2
    assert kernel_names[0] in per_kernel[0] and kernel_names[1] in per_kernel[1]
    assert all("CPU" in line for line in per_kernel)
    # plus the summary line, and no sources
    assert len(out) == 3
    assert not any("void " in line for line in out)


def test_debug_3_also_prints_each_kernel_source(capsys):
    sched = two_kernel_schedule()
    specs = [get_kernel(si.ast, "CPU").spec for si in sched]
    capsys.readouterr()
    with Context(DEBUG=3):
        run_schedule(sched)
    text = capsys.readouterr().out
    for spec in specs:
        assert spec.src in text
        assert f"void {spec.name}(" in text
    # the first kernel's source comes before the second's
    assert text.index(specs[0].src) < text.index(specs[1].src)
    assert sum(1 for line in lines(text) if any(s.name in line and "void" not in line for s in specs)) == 2


def test_debug_2_prints_a_line_for_a_copy(capsys):
    src = leaf([1.0, 2.0, 3.0], device="PYTHON")
    sched, _ = create_schedule([UOp(Ops.COPY, dtypes.float32, (src,), arg="CPU")])
    with Context(DEBUG=2):
        run_schedule(sched)
    out = lines(capsys.readouterr().out)
    copy_lines = [line for line in out if "copy" in line and "PYTHON" in line]
    assert len(copy_lines) == 1
    assert "12" in copy_lines[0]  # 3 float32s
    assert "1 copy" in out[-1] and "0 kernel" in out[-1]


def test_get_kernel_is_cached():
    sched = two_kernel_schedule()
    first = get_kernel(sched[0].ast, "CPU")
    assert get_kernel(sched[0].ast, "CPU") is first
    assert first.spec.device == "CPU"
    assert first.spec.src.strip()


def test_debug_4_prints_the_tensor_graph_the_kernel_ast_and_the_loop_program(capsys):
    x = leaf([1.0, 2.0, 3.0])
    out = (x * x).reduce_axis(Ops.ADD, (0,))
    with Context(DEBUG=4):
        becomes = realize([out])
    text = capsys.readouterr().out
    assert view_values(becomes[out]) == [14.0]
    assert "tensor graph:" in text and "REDUCE_AXIS" in text
    assert "kernel AST of r_3:" in text and "STORE" in text
    assert "loop program of r_3:" in text and "DEFINE_ACC" in text and "ENDRANGE" in text
    assert "void r_3(" in text  # DEBUG=4 includes DEBUG=3's source
