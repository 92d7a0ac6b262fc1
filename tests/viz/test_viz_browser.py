"""The viewer in a real headless browser (Debian's chromium + chromedriver, driven by selenium).

A small training step is traced with VIZ_OUT and served; the tests click through its realizes, kernels, rewrite
passes, timeline and caches and compare what is drawn with the trace. Screenshots go to $VIZ_ARTIFACTS (default: a
temporary directory, printed). The 100,000-rewrite, 5,000-kernel trace must load in under 10 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tg_uop import trace
from tg_uop.viz import load_trace, start_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from big_trace import write as write_big_trace  # noqa: E402
from browser import Browser  # noqa: E402

ARTIFACTS = Path(os.environ.get("VIZ_ARTIFACTS") or tempfile.mkdtemp(prefix="tg-viz-artifacts-"))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def step_trace(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("viz") / "step.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("VIZ", "VIZ_PORT")}
    env["VIZ_OUT"] = str(path)
    env["TG_CACHE_DIR"] = str(path.parent / "cache")  # an empty compile cache: every kernel compiles (misses)
    env.pop("TG_COMPILE_CACHE", None)
    subprocess.run([sys.executable, str(HERE / "train_step.py")], env=env, check=True, timeout=600)
    return path


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b.driver
    b.quit()


@pytest.fixture(scope="module")
def page(step_trace, browser):
    srv = start_server(load_trace(step_trace))
    _open(browser, srv.url)
    yield browser, _records(step_trace)
    srv.close()


def _open(d, url: str) -> float:
    start = time.perf_counter()
    d.get(url)
    deadline = time.time() + 60
    while d.execute_script("return document.body.dataset.loaded") != "1":
        assert time.time() < deadline, "the page did not finish loading"
        time.sleep(0.05)
    return time.perf_counter() - start


def _tab(d, name: str) -> None:
    d.find_element(By.CSS_SELECTOR, f"#tabs [data-tab={name}]").click()


def _filter(d, text: str) -> list:
    box = d.find_element(By.ID, "filter")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)  # (clear() sends no input event)
    if text:
        box.send_keys(text)
    return d.find_elements(By.CSS_SELECTOR, "#list .row")


def _shot(d, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    d.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def _no_errors(d) -> None:
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_the_status_line_counts_the_trace(page):
    d, recs = page
    status = d.find_element(By.ID, "status").text
    passes = [r for r in recs if r["k"] == "pass"]
    kernels = {r["ref"] for r in recs if r["k"] == "kernel"}
    assert f"{len(passes)} rewrite passes ({sum(len(p['steps']) for p in passes)} rewrites)" in status
    assert f"{len(kernels)} kernels" in status and not d.find_element(By.ID, "warnings").is_displayed()
    _no_errors(d)


def test_clicking_a_kernel_draws_its_whole_ast(page):
    d, recs = page
    kernels = [r for r in recs if r["k"] == "kernel"]
    _tab(d, "kernels")
    _filter(d, "")
    rows = d.find_elements(By.CSS_SELECTOR, "#list .row")
    assert len(rows) == len(kernels)
    for i in (0, len(kernels) // 2, len(kernels) - 1):
        d.find_elements(By.CSS_SELECTOR, "#list .row")[i].click()
        assert d.find_element(By.ID, "kernel-name").text == kernels[i]["name"]
        drawn = d.find_elements(By.CSS_SELECTOR, "#part svg .node")
        assert len(drawn) == len(kernels[i]["ast"]["nodes"]) > 3
        ops = sorted(n.find_element(By.TAG_NAME, "title").get_attribute("textContent").split()[0] for n in drawn)
        assert ops == sorted(n[0] for n in kernels[i]["ast"]["nodes"])
    _shot(d, "kernel.png")
    _no_errors(d)


def test_collapsing_elementwise_chains_draws_fewer_nodes(page):
    d, recs = page
    kernels = [r for r in recs if r["k"] == "kernel"]
    _tab(d, "kernels")
    fewer = 0
    for i, k in enumerate(kernels):
        d.find_elements(By.CSS_SELECTOR, "#list .row")[i].click()
        d.find_element(By.ID, "collapse").click()  # on
        collapsed = d.find_elements(By.CSS_SELECTOR, "#part svg .node")
        labels = [n.find_element(By.TAG_NAME, "title").get_attribute("textContent") for n in collapsed]
        assert len(collapsed) <= len(k["ast"]["nodes"])
        if len(collapsed) < len(k["ast"]["nodes"]):
            fewer += 1
            assert any(" ops " in label and " > " in label for label in labels)
        d.find_element(By.ID, "collapse").click()  # off again
        assert len(d.find_elements(By.CSS_SELECTOR, "#part svg .node")) == len(k["ast"]["nodes"])
    assert fewer > 0


def test_loop_program_and_highlighted_source(page):
    d, recs = page
    k = next(r for r in recs if r["k"] == "kernel")
    _tab(d, "kernels")
    _filter(d, k["name"])[0].click()
    d.find_element(By.CSS_SELECTOR, "[data-part=program]").click()
    lines = d.find_element(By.ID, "program").text.splitlines()
    assert len(lines) == len(k["program"]["roots"]) and any("STORE" in line for line in lines)
    d.find_element(By.CSS_SELECTOR, "[data-part=source]").click()
    src = d.find_element(By.ID, "source")
    assert src.text.strip() == k["src"].strip()
    assert (
        len(src.find_elements(By.CSS_SELECTOR, "span.k")) > 0 and len(src.find_elements(By.CSS_SELECTOR, "span.n")) > 0
    )
    _shot(d, "source.png")


def test_stepping_through_a_rewrite_pass_changes_the_graph(page):
    d, recs = page
    passes = [r for r in recs if r["k"] == "pass"]
    index, p = max(enumerate(passes), key=lambda ip: len(ip[1]["steps"]) if len(ip[1]["graph"]["nodes"]) < 200 else 0)
    rules = {r["id"]: r for r in recs if r["k"] == "rule"}
    _tab(d, "rewrites")
    _filter(d, f"#{index} ")[0].click()
    graph = lambda: d.find_element(By.CSS_SELECTOR, "#graph svg")  # noqa: E731
    drawn = [graph().get_attribute("innerHTML")]
    assert int(graph().get_attribute("data-nodes")) == len(trace.reachable(p["root"], p["graph"]["nodes"]))
    for k in range(1, 4):
        d.find_element(By.ID, "step-next").click()
        assert d.find_element(By.ID, "step-label").text == f"step {k} of {len(p['steps'])}"
        rule = rules[p["steps"][k - 1][2]]
        assert f"{rule['file']}:{rule['line']}" in d.find_element(By.ID, "rule-where").text
        assert d.find_element(By.ID, "rule-src").text.strip() == rule["src"].strip()
        drawn.append(graph().get_attribute("innerHTML"))
        assert drawn[-1] != drawn[-2]  # each step redraws a different graph
        if k == 1:
            _shot(d, "rewrite.png")
    d.find_element(By.ID, "step-last").click()
    root, nodes = trace.replay(p, len(p["steps"]))
    assert root == p["out"] and int(graph().get_attribute("data-nodes")) == len(trace.reachable(root, nodes))
    _no_errors(d)


def test_a_realize_shows_its_tensor_graph_and_kernels(page):
    d, recs = page
    realizes = [r for r in recs if r["k"] == "realize"]
    i = max(range(len(realizes)), key=lambda j: len(realizes[j]["kernels"]))
    _tab(d, "realizes")
    _filter(d, f"#{i} ")[0].click()
    assert len(d.find_elements(By.CSS_SELECTOR, "#graph svg .node")) == len(realizes[i]["graph"]["nodes"])
    known = {r["ref"] for r in recs if r["k"] == "kernel"}
    links = d.find_elements(By.CSS_SELECTOR, "#main a[data-kernel]")
    assert len(links) == len([k for k in realizes[i]["kernels"] if k in known]) > 0
    links[0].click()
    assert d.find_element(By.ID, "kernel-name").text


def test_timeline_jit_and_caches(page):
    d, recs = page
    _tab(d, "timeline")
    assert d.find_element(By.ID, "timeline").size["width"] > 100
    launches = [r for r in recs if r["k"] == "launch"]
    rows = d.find_elements(By.CSS_SELECTOR, "#time-table tr")[1:]
    runs = sum(int(r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows)
    assert runs == len(launches) or len(rows) == 30  # every launch counted (the table keeps the top 30)
    _shot(d, "timeline.png")
    _tab(d, "jit")
    (row,) = _filter(d, "")
    assert row.text.startswith("step:")
    _tab(d, "caches")
    cells = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#caches td")]
    realizes = [r for r in recs if r["k"] == "realize"]
    assert cells[:3] == [
        "schedule cache",
        str(sum(r["hit"] for r in realizes)),
        str(sum(not r["hit"] for r in realizes)),
    ]
    compiles = [r for r in recs if r["k"] == "cache"]
    assert cells[4:7] == ["compile cache (disk)", "0", str(len(compiles))] and len(compiles) > 0
    _no_errors(d)


def test_a_cut_trace_shows_a_warning(step_trace, browser, tmp_path):
    cut = tmp_path / "cut.jsonl"
    raw = step_trace.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])
    srv = start_server(load_trace(cut))
    try:
        _open(browser, srv.url)
        warning = browser.find_element(By.ID, "warnings")
        assert warning.is_displayed() and "is cut short" in warning.text
    finally:
        srv.close()


def test_100k_rewrites_and_5k_kernels_load_in_under_10_s(browser, tmp_path):
    path = tmp_path / "big.jsonl"
    write_big_trace(str(path))
    srv = start_server(load_trace(path))
    try:
        seconds = _open(browser, srv.url)
        print(f"100k-rewrite trace loaded in {seconds:.2f} s")
        assert seconds < 10
        assert "999 rewrite passes (100000 rewrites)" in browser.find_element(By.ID, "status").text
        _tab(browser, "rewrites")
        browser.execute_script("const l = document.querySelector('#list'); l.scrollTop = l.scrollHeight;")
        time.sleep(0.2)
        rows = browser.find_elements(By.CSS_SELECTOR, "#list .row")
        assert len(rows) < 100 and rows[-1].text.startswith("#998 ")  # virtualised: only visible rows exist
        rows[-1].click()
        browser.find_element(By.ID, "step-last").click()
        assert browser.find_element(By.ID, "step-label").text == "step 95 of 95"
        _filter(browser, "#0 ")[0].click()  # 5,000 rewrites of a 15,000-node graph: drawn around the rewritten node
        browser.find_element(By.ID, "step-next").click()
        assert browser.find_element(By.ID, "step-label").text == "step 1 of 5000"
        svg = browser.find_element(By.CSS_SELECTOR, "#graph svg")
        assert int(svg.get_attribute("data-nodes")) == 1500 and "nearest the rewritten node" in browser.page_source
        _tab(browser, "kernels")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#list .row")) < 100
        _filter(browser, "E_4999")[0].click()
        assert browser.find_element(By.ID, "kernel-name").text == "E_4999"
        _no_errors(browser)
    finally:
        srv.close()
