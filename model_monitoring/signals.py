"""Cheap per-text signals that drift monitoring watches: length, out-of-vocabulary rate and the
share of non-letter characters. Shared by the training-time reference profile and the live
window in serving, so both sides compute exactly the same numbers."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

SIGNAL_NAMES = ("length_chars", "oov_rate", "non_letter_share")


def words(text: str) -> list[str]:
    """Lower-cased alphabetic word tokens (apostrophes inside a word kept)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True, slots=True)
class TextSignals:
    length_chars: int
    oov_rate: float
    non_letter_share: float

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in SIGNAL_NAMES}


def text_signals(text: str, vocabulary: Collection[str]) -> TextSignals:
    """Compute the signals of one text against a vocabulary (a set for O(1) look-ups)."""
    tokens = words(text)
    oov = sum(1 for token in tokens if token not in vocabulary) / len(tokens) if tokens else 1.0
    visible = [ch for ch in text if not ch.isspace()]
    non_letter = sum(1 for ch in visible if not ch.isalpha()) / len(visible) if visible else 0.0
    return TextSignals(length_chars=len(text), oov_rate=oov, non_letter_share=non_letter)
