"""The probes' numpy sentence encoder: its file reader, its tokenizer and its forward pass, on a
tiny random model written in the real model's file layout."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from bench.sentence_encoder import HIDDEN, SentenceEncoder, WordPiece, read_safetensors

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "un", "##able", ",", "!", "cafe"]


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, tensor in tensors.items():
        raw = np.ascontiguousarray(tensor, dtype=np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """One layer, 12 heads, the real hidden size, a 12-word vocabulary, random weights."""
    rng = np.random.default_rng(0)
    inner, positions = 16, 32
    shapes = {
        "embeddings.word_embeddings.weight": (len(VOCAB), HIDDEN),
        "embeddings.position_embeddings.weight": (positions, HIDDEN),
        "embeddings.token_type_embeddings.weight": (2, HIDDEN),
        "encoder.layer.0.attention.self.query.weight": (HIDDEN, HIDDEN),
        "encoder.layer.0.attention.self.key.weight": (HIDDEN, HIDDEN),
        "encoder.layer.0.attention.self.value.weight": (HIDDEN, HIDDEN),
        "encoder.layer.0.attention.output.dense.weight": (HIDDEN, HIDDEN),
        "encoder.layer.0.intermediate.dense.weight": (inner, HIDDEN),
        "encoder.layer.0.output.dense.weight": (HIDDEN, inner),
    }
    tensors = {name: rng.normal(0, 0.2, shape) for name, shape in shapes.items()}
    for name, shape in list(shapes.items())[3:]:
        tensors[name.replace(".weight", ".bias")] = rng.normal(0, 0.1, shape[0])
    for norm in ("embeddings", "encoder.layer.0.attention.output", "encoder.layer.0.output"):
        tensors[f"{norm}.LayerNorm.weight"] = np.ones(HIDDEN)
        tensors[f"{norm}.LayerNorm.bias"] = np.zeros(HIDDEN)
    write_safetensors(tmp_path / "model.safetensors", tensors)
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = {
        "hidden_size": HIDDEN,
        "num_attention_heads": 12,
        "num_hidden_layers": 1,
        "max_position_embeddings": positions,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_read_safetensors_gives_back_every_tensor(tmp_path: Path) -> None:
    tensors = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([1.5])}
    write_safetensors(tmp_path / "t.safetensors", tensors)
    read = read_safetensors(tmp_path / "t.safetensors")
    assert set(read) == {"a", "b"}
    np.testing.assert_array_equal(read["a"], tensors["a"])
    np.testing.assert_array_equal(read["b"], tensors["b"])


def test_wordpiece_lowercases_strips_accents_splits_punctuation_and_pieces(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tokenizer = WordPiece(tmp_path / "vocab.txt")
    ids = tokenizer.encode("The  CAT, unable!\tCafé dog", max_tokens=64)
    words = [VOCAB[i] for i in ids]
    assert words == ["[CLS]", "the", "cat", ",", "un", "##able", "!", "cafe", "[UNK]", "[SEP]"]


def test_wordpiece_truncates_to_max_tokens_with_both_markers(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    ids = WordPiece(tmp_path / "vocab.txt").encode("the cat sat " * 10, max_tokens=5)
    assert [VOCAB[i] for i in ids] == ["[CLS]", "the", "cat", "sat", "[SEP]"]


def test_a_text_embeds_the_same_alone_as_beside_a_longer_one(model_dir: Path) -> None:
    """Padding must be masked out of attention and pooling, or batching changes the answer."""
    encoder = SentenceEncoder(model_dir, max_tokens=32)
    alone = encoder.encode(["the cat"])
    batched = encoder.encode(["the cat sat , the cat sat , unable !", "the cat"])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-5)
    assert not np.allclose(batched[0], batched[1])


def test_the_sentence_embedding_is_unit_length_and_the_spread_non_negative(
    model_dir: Path,
) -> None:
    embedded = SentenceEncoder(model_dir).encode(["the cat sat", "unable !"])
    assert embedded.shape == (2, 2 * HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(embedded[:, :HIDDEN], axis=1), 1.0, rtol=1e-5)
    assert (embedded[:, HIDDEN:] >= 0).all()


def test_a_model_of_another_width_is_refused(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "hidden_size": 768}))
    with pytest.raises(ValueError, match="hidden size 768"):
        SentenceEncoder(model_dir)
