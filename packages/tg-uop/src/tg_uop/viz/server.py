"""The viewer's HTTP server: the page and its assets (shipped in the package, no network needed) and the trace.

Endpoints: `/` the page, `/static/<file>` its script and style, `/api/trace?from=N` the records from the N-th
on (JSON lines; the header `X-Trace-Next` is the number to ask from next), `/api/status` the record count,
load warnings and whether the trace is live.

>>> store = TraceStore()
>>> store.append('{"k": "meta", "v": 1}')
>>> server = start_server(store, port=0)
>>> import urllib.request, json
>>> json.loads(urllib.request.urlopen(server.url + "api/status").read())["records"]
1
>>> server.close()
"""

from __future__ import annotations

import atexit
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse
import webbrowser
from pathlib import Path
from typing import Any

from tg_uop.trace import VERSION, add_sink

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
PORT_TRIES = 20  # a port in use moves on to the next ones, this many


class TraceStore:
    """The trace's lines in order, appended by the tracer (live) or a loader, read by the server's threads."""

    def __init__(self, live: bool = False) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []
        self.live = live
        self.lock = threading.Lock()

    def append(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def since(self, start: int) -> tuple[list[str], int]:
        with self.lock:
            return self.lines[start:], len(self.lines)


def load_trace(path: str | os.PathLike[str]) -> TraceStore:
    """A saved trace. A damaged file (cut short, or a line that is not a record) loads up to the damage and
    says so in `warnings`; a missing file raises FileNotFoundError."""
    store = TraceStore()
    raw = Path(path).read_bytes()
    lines = raw.split(b"\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("k"), str):
                raise ValueError("not a trace record")
        except ValueError as e:
            cut = i == len(lines) and not raw.endswith(b"\n")
            what = "is cut short (the program may have stopped while writing)" if cut else f"is damaged ({e})"
            store.warnings.append(f"{path}: line {i} {what}; loaded the {len(store.lines)} records before it")
            break
        if rec["k"] == "meta" and isinstance(rec.get("v"), int) and rec["v"] > VERSION:
            store.warnings.append(f"{path}: trace format v{rec['v']} is newer than this viewer's v{VERSION}")
        store.lines.append(line.decode("utf-8", errors="replace"))
    return store


class _Handler(http.server.BaseHTTPRequestHandler):
    store: TraceStore

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        url = urllib.parse.urlparse(self.path)
        if url.path in ("/", "/index.html"):
            self._file(STATIC / "index.html")
        elif url.path.startswith("/static/"):
            name = url.path.removeprefix("/static/")
            path = STATIC / name
            known = {p.name for p in STATIC.iterdir()}
            self._file(path) if name in known else self._send(404, b"no such file", "text/plain")
        elif url.path == "/api/trace":
            query = urllib.parse.parse_qs(url.query)
            try:
                start = max(0, int(query.get("from", ["0"])[0]))
            except ValueError:
                self._send(400, b"from must be an integer", "text/plain")
                return
            lines, end = self.store.since(start)
            self._send(200, "\n".join(lines).encode(), "text/plain; charset=utf-8", {"X-Trace-Next": str(end)})
        elif url.path == "/api/status":
            s = self.store
            body = {"records": len(s.lines), "warnings": s.warnings, "live": s.live, "version": VERSION}
            self._send(200, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, b"not found", "text/plain")

    def _file(self, path: Path) -> None:
        self._send(200, path.read_bytes(), TYPES.get(path.suffix, "application/octet-stream"))

    def _send(self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # requests are not worth a line on stderr
        pass


class VizServer:
    """A running server on 127.0.0.1 (its own thread); `url` is the page's address."""

    def __init__(self, httpd: http.server.ThreadingHTTPServer) -> None:
        self.httpd = httpd
        self.port: int = httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=httpd.serve_forever, name="tg-viz", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_server(store: TraceStore, port: int = 0) -> VizServer:
    """Serve `store` on 127.0.0.1. Port 0 takes a free one; a port in use moves on to the next free one (up to
    PORT_TRIES), and when none is free raises OSError naming the ports tried."""
    handler = type("Handler", (_Handler,), {"store": store})
    tried = [port] if port == 0 else list(range(port, min(port + PORT_TRIES, 65536)))
    for p in tried:
        try:
            httpd = http.server.ThreadingHTTPServer(("127.0.0.1", p), handler)
        except OSError:
            continue
        httpd.daemon_threads = True
        if port and p != port:
            print(f"viz: port {port} is in use, serving on {p}", file=sys.stderr)
        return VizServer(httpd)
    raise OSError(f"viz: ports {tried[0]}-{tried[-1]} are all in use; choose another with VIZ_PORT")


def serve_live() -> VizServer:
    """What `VIZ=1` does: trace into memory, serve it at once, and keep serving after the program ends until
    Ctrl-C. VIZ_PORT chooses the port, BROWSER=1 opens the page."""
    store = TraceStore(live=True)
    add_sink(store.append)
    server = start_server(store, int(os.environ.get("VIZ_PORT", "0") or 0))
    print(f"viz: serving the trace at {server.url} (live)", file=sys.stderr, flush=True)
    if os.environ.get("BROWSER", "") not in ("", "0"):
        webbrowser.open(server.url)
    atexit.register(_stay_up, server, store)
    return server


def _stay_up(server: VizServer, store: TraceStore) -> None:
    store.live = False
    print(f"viz: the program has ended; still serving {server.url} until Ctrl-C", file=sys.stderr, flush=True)
    wait_for_ctrl_c(server)


def wait_for_ctrl_c(server: VizServer) -> None:
    """Block until Ctrl-C (SIGINT), then stop the server."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
