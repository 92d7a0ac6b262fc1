"""Renderers: a loop program (list of UOps) in, source text for one device language out."""

from __future__ import annotations

from tg_uop.ops import Ops
from tg_uop.uop import UOp


class Renderer:
    """Base class. `language` matches the `Capabilities.language` of the devices it serves."""

    language: str = ""
    supports_vectors: bool = False  # whether a "vector" axis may become SIMD types in this language
    supports_masks: bool = False  # whether vector comparisons, where and max are rendered with lane masks
    vector_math: frozenset[Ops] = frozenset()  # float32 math functions rendered on whole vectors (not per lane)

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def render(self, name: str, uops: list[UOp]) -> str:
        raise NotImplementedError
