"""The viewer's server: endpoints, saved and damaged traces, ports in use, the CLI, and VIZ=1 serving live."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tg_uop.viz import server as viz_server
from tg_uop.viz.server import TraceStore, load_trace, start_server


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, dict(r.headers), r.read()


@pytest.fixture
def served():
    store = TraceStore()
    for i in range(5):
        store.append(json.dumps({"k": "note", "i": i}))
    srv = start_server(store, 0)
    yield store, srv
    srv.close()


def test_trace_endpoint_pages_from_a_record_number(served):
    store, srv = served
    status, headers, body = get(srv.url + "api/trace?from=0")
    assert status == 200 and headers["X-Trace-Next"] == "5"
    assert [json.loads(x)["i"] for x in body.decode().split("\n")] == [0, 1, 2, 3, 4]
    store.append(json.dumps({"k": "note", "i": 5}))  # live: later records come with the next request
    _, headers, body = get(srv.url + "api/trace?from=5")
    assert headers["X-Trace-Next"] == "6" and json.loads(body)["i"] == 5
    _, headers, body = get(srv.url + "api/trace?from=6")
    assert headers["X-Trace-Next"] == "6" and body == b""


def test_status_endpoint(served):
    store, srv = served
    store.warnings.append("something was cut")
    _, headers, body = get(srv.url + "api/status")
    st = json.loads(body)
    assert headers["Content-Type"] == "application/json"
    assert st == {"records": 5, "warnings": ["something was cut"], "live": False, "version": 1}


def test_page_and_assets_are_served_from_the_package(served):
    _, srv = served
    _, headers, page = get(srv.url)
    assert headers["Content-Type"] == "text/html" and b'src="/static/viz.js"' in page and b"http" not in page
    for name, ctype in (("viz.js", "text/javascript"), ("viz.css", "text/css")):
        status, headers, body = get(srv.url + "static/" + name)
        assert status == 200 and headers["Content-Type"] == ctype and len(body) > 1000
        assert b"https://" not in body and b"cdn" not in body.lower()  # offline: nothing fetched from elsewhere


@pytest.mark.parametrize("path", ["static/../server.py", "static/nope.js", "api/nothing", "favicon.ico"])
def test_unknown_paths_are_404(served, path):
    _, srv = served
    with pytest.raises(urllib.error.HTTPError) as e:
        get(srv.url + path)
    assert e.value.code == 404


def test_bad_from_is_400(served):
    _, srv = served
    with pytest.raises(urllib.error.HTTPError) as e:
        get(srv.url + "api/trace?from=abc")
    assert e.value.code == 400


def _write(tmp_path, text):
    path = tmp_path / "trace.jsonl"
    path.write_bytes(text.encode())
    return path


def test_a_saved_trace_loads_whole(tmp_path):
    store = load_trace(_write(tmp_path, '{"k":"meta","v":1}\n{"k":"note"}\n'))
    assert len(store.lines) == 2 and store.warnings == [] and not store.live


def test_a_cut_trace_loads_up_to_the_cut_with_a_warning(tmp_path):
    store = load_trace(_write(tmp_path, '{"k":"meta","v":1}\n{"k":"note"}\n{"k":"pass","st'))
    assert len(store.lines) == 2
    (w,) = store.warnings
    assert "line 3 is cut short" in w and "loaded the 2 records before it" in w


def test_a_damaged_line_stops_loading_there_with_a_warning(tmp_path):
    store = load_trace(_write(tmp_path, '{"k":"meta","v":1}\n\x00garbage\n{"k":"note"}\n'))
    assert len(store.lines) == 1
    (w,) = store.warnings
    assert "line 2 is damaged" in w


def test_a_line_that_is_json_but_no_record_is_damage(tmp_path):
    store = load_trace(_write(tmp_path, '{"k":"meta","v":1}\n[1, 2]\n'))
    assert len(store.lines) == 1 and "not a trace record" in store.warnings[0]


def test_a_newer_format_is_warned_about(tmp_path):
    store = load_trace(_write(tmp_path, '{"k":"meta","v":99}\n'))
    assert len(store.lines) == 1 and "v99 is newer" in store.warnings[0]


def test_a_missing_trace_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_trace(tmp_path / "absent.jsonl")


def _busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def test_a_port_in_use_moves_to_the_next_free_one(capsys):
    sock, port = _busy_port()
    try:
        srv = start_server(TraceStore(), port)
        try:
            assert srv.port != port and port < srv.port < port + viz_server.PORT_TRIES
            assert f"port {port} is in use, serving on {srv.port}" in capsys.readouterr().err
        finally:
            srv.close()
    finally:
        sock.close()


def test_no_free_port_is_a_clear_error(monkeypatch):
    sock, port = _busy_port()
    monkeypatch.setattr(viz_server, "PORT_TRIES", 1)
    try:
        with pytest.raises(OSError, match=f"ports {port}-{port} are all in use; choose another with VIZ_PORT"):
            start_server(TraceStore(), port)
    finally:
        sock.close()


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("VIZ", "VIZ_OUT", "VIZ_PORT", "BROWSER")}
    return {**env, **extra}


def _read_url(proc):
    line = proc.stderr.readline()
    assert "viz: serving" in line, line
    return line.split(" at ")[1].split()[0]


def test_the_cli_serves_a_saved_trace_until_ctrl_c(tmp_path):
    path = _write(tmp_path, '{"k":"meta","v":1}\n{"k":"note"}\n{"k":"cut')
    proc = subprocess.Popen(
        [sys.executable, "-m", "tg_uop.viz", str(path)], stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        warning = proc.stderr.readline()
        assert "viz: warning:" in warning and "line 3 is cut short" in warning
        url = _read_url(proc)
        st = json.loads(get(url + "api/status")[2])
        assert st["records"] == 2 and st["live"] is False and len(st["warnings"]) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()


def test_the_cli_names_an_unreadable_trace(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "tg_uop.viz", str(tmp_path / "nope.jsonl")], capture_output=True, text=True, env=_env()
    )
    assert run.returncode == 2 and "viz: cannot read" in run.stderr and "nope.jsonl" in run.stderr


LIVE_SCRIPT = """
import os, time
from tg_uop import UOp
x = UOp.variable("x", 0, 9)
(x * 1 + 0).simplify()
while not os.path.exists({marker!r}):
    time.sleep(0.05)
((x + 0) * 1 + 0 * x).simplify()
"""


def test_viz_1_serves_live_and_stays_up_after_the_program_ends(tmp_path):
    marker = tmp_path / "go"
    script = LIVE_SCRIPT.format(marker=str(marker))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=_env(VIZ="1"))
    try:
        url = _read_url(proc)
        deadline = time.time() + 30
        while True:  # the first simplification shows up while the program still runs
            st = json.loads(get(url + "api/status")[2])
            first = get(url + "api/trace?from=0")[2].decode().split("\n")
            if any(json.loads(line)["k"] == "pass" for line in first if line) or time.time() > deadline:
                break
            time.sleep(0.1)
        assert st["live"] is True and any(json.loads(line)["k"] == "pass" for line in first if line)
        marker.write_text("go")
        assert "the program has ended" in proc.stderr.readline()
        st = json.loads(get(url + "api/status")[2])
        later = get(url + f"api/trace?from={len(first)}")[2].decode().split("\n")
        assert st["live"] is False and any(json.loads(line)["k"] == "pass" for line in later if line)
        assert proc.poll() is None  # still serving after the script's end
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()


def test_viz_port_chooses_the_port():
    sock, port = _busy_port()
    sock.close()  # free again: VIZ_PORT asks for it
    proc = subprocess.Popen(
        [sys.executable, "-c", "import tg_uop"],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(VIZ="1", VIZ_PORT=str(port)),
    )
    try:
        assert _read_url(proc) == f"http://127.0.0.1:{port}/"
        assert "the program has ended" in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
