"""The viewer of tg's trace (VIZ): a local web page served by the standard library's HTTP server.

`VIZ=1 python script.py` serves the trace live while the script runs (and after it ends, until Ctrl-C);
`python -m tg_uop.viz trace.jsonl` serves a trace saved with `VIZ_OUT=trace.jsonl`.
"""

from tg_uop.viz.server import TraceStore, VizServer, load_trace, serve_live, start_server

__all__ = ["TraceStore", "VizServer", "load_trace", "serve_live", "start_server"]
