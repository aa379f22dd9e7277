"""Cheap per-text signals that drift monitoring watches: length, out-of-vocabulary rate and the
share of non-letter characters. Shared by the training-time reference profile and the live
window in serving, so both sides compute exactly the same numbers.

``text_signals`` runs on every served request, so it avoids per-character Python loops: ASCII
text (almost every text) is tokenised and counted with ``bytes.translate`` at C speed, and the
rest falls back to the defining regular expression and ``str`` predicates. Unit tests check that
the fast paths give exactly the results of the straightforward definitions.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from dataclasses import dataclass

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")

SIGNAL_NAMES = ("length_chars", "oov_rate", "non_letter_share")

_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz'")
#: Maps every byte that cannot be part of a word to a space, so ``split()`` yields word chunks.
_TO_WORD_CHUNKS = bytes(c if c in _WORD_BYTES else ord(" ") for c in range(256))
#: ASCII characters for which ``str.isspace()`` is true (includes \x1c-\x1f).
_ASCII_SPACE = bytes(c for c in range(128) if chr(c).isspace())
_ASCII_LETTERS = string.ascii_letters.encode("ascii")


def words(text: str) -> list[str]:
    """Lower-cased alphabetic word tokens (apostrophes inside a word kept)."""
    lowered = text.lower()
    if not lowered.isascii():
        return _WORD.findall(lowered)
    tokens: list[str] = []
    chunks = lowered.encode("ascii").translate(_TO_WORD_CHUNKS).decode("ascii").split()
    for chunk in chunks:
        # A chunk is a maximal run of letters and apostrophes; only apostrophes need the regex.
        if "'" in chunk:
            tokens.extend(_WORD.findall(chunk))
        else:
            tokens.append(chunk)
    return tokens


def _space_and_letter_counts(text: str) -> tuple[int, int]:
    """How many characters of ``text`` are whitespace and how many are letters (str semantics)."""
    ascii_part = text.encode("ascii", "ignore")
    spaces = len(ascii_part) - len(ascii_part.translate(None, _ASCII_SPACE))
    letters = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
    if len(ascii_part) != len(text):
        for ch in _NON_ASCII.findall(text):
            spaces += ch.isspace()
            letters += ch.isalpha()
    return spaces, letters


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
    if tokens:
        known = sum(map(vocabulary.__contains__, tokens))
        oov = (len(tokens) - known) / len(tokens)
    else:
        oov = 1.0
    spaces, letters = _space_and_letter_counts(text)
    visible = len(text) - spaces
    non_letter = (visible - letters) / visible if visible else 0.0
    return TextSignals(length_chars=len(text), oov_rate=oov, non_letter_share=non_letter)
