"""`ByteTokenizer`: text to token ids and back, one token per UTF-8 byte (a vocabulary of 256).

>>> tok = ByteTokenizer()
>>> tok.encode("hé")
[104, 195, 169]
>>> tok.decode([104, 195, 169])
'hé'

Why bytes: the fortunes corpus is English text, almost all ASCII (94 bytes of 2.5 MB are not), so a byte
vocabulary is hardly larger than a character one, needs no vocabulary file stored next to the weights, encodes
any prompt (no unknown token) and decodes any generated sequence (an invalid UTF-8 sequence shows as U+FFFD).
A vocabulary of 256 keeps tg's `Embedding` (a compare with every vocabulary entry) and the output layer cheap.
"""

from __future__ import annotations

from collections.abc import Iterable


class ByteTokenizer:
    """UTF-8 bytes as tokens: `encode(text) -> list[int]`, `decode(ids) -> str`; `vocab_size` is 256."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of `text`, each an id in [0, 256)."""
        if not isinstance(text, str):
            raise TypeError(f"ByteTokenizer.encode: expected a str, got {type(text).__name__}")
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        """The text of the byte ids `ids` (invalid UTF-8 becomes U+FFFD)."""
        ids = [int(i) for i in ids]
        if bad := [i for i in ids if not 0 <= i < 256]:
            raise ValueError(f"ByteTokenizer.decode: ids must be in [0, 256), got {bad[:5]}")
        return bytes(ids).decode("utf-8", errors="replace")
