"""`python -m tg_uop.viz trace.jsonl [--port N] [--browser]`: serve a saved trace until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import webbrowser

from tg_uop.viz.server import load_trace, start_server, wait_for_ctrl_c


def main(argv: list[str] | None = None) -> int:
    """Serve the trace file named on the command line; 2 when it cannot be read."""
    parser = argparse.ArgumentParser(prog="python -m tg_uop.viz", description="Serve a saved tg trace (VIZ_OUT).")
    parser.add_argument("trace", help="a trace file written with VIZ_OUT=file")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--browser", action="store_true", help="open the page in a browser")
    args = parser.parse_args(argv)
    try:
        store = load_trace(args.trace)
    except OSError as e:
        print(f"viz: cannot read {args.trace}: {e.strerror or e}", file=sys.stderr)
        return 2
    for w in store.warnings:
        print(f"viz: warning: {w}", file=sys.stderr)
    server = start_server(store, args.port)
    print(f"viz: serving {args.trace} ({len(store.lines)} records) at {server.url} (Ctrl-C to stop)", file=sys.stderr)
    sys.stderr.flush()
    if args.browser:
        webbrowser.open(server.url)
    wait_for_ctrl_c(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
