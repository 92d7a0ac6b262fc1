"""The PYTHON device's source: the loop program serialized by tg-runtime's PYTHON backend."""

from __future__ import annotations

from tg_codegen.renderer import Renderer
from tg_runtime.backends.python import serialize_program
from tg_uop.uop import UOp


class PythonRenderer(Renderer):
    language = "PYTHON"

    def render(self, name: str, uops: list[UOp]) -> str:
        return serialize_program(uops)
