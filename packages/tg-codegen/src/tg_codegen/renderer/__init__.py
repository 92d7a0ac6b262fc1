"""Renderers: a loop program (list of UOps) in, source text for one device language out."""

from __future__ import annotations

from tg_uop.uop import UOp


class Renderer:
    """Base class. `language` matches the `Capabilities.language` of the devices it serves."""

    language: str = ""

    def render(self, name: str, uops: list[UOp]) -> str:
        raise NotImplementedError
