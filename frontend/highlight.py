"""Render a text as safe HTML with the n-grams that drove a verdict highlighted.

Every piece of user text is HTML-escaped before it is wrapped in a ``<span>``: whatever a person
pastes is shown as text, never interpreted as markup. Word n-grams are matched the way
scikit-learn's ``TfidfVectorizer`` builds them (lower-cased ``\\w\\w+`` tokens joined by one
space); anything else (character n-grams, or words not found as tokens) is matched as a
case-insensitive substring.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["ai", "human"]

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
_WORD_NGRAM = re.compile(r"^\w\w+( \w\w+)*$")

#: Colours (RGB) for each direction; the alpha channel encodes the strength.
COLOURS: dict[Direction, tuple[int, int, int]] = {"ai": (255, 99, 71), "human": (30, 136, 229)}


@dataclass(frozen=True)
class Highlight:
    """One n-gram to highlight, which way it pushed and how strongly (absolute weight)."""

    ngram: str
    direction: Direction
    strength: float


def find_spans(text: str, highlights: Sequence[Highlight]) -> list[tuple[int, int, Highlight]]:
    """Non-overlapping character spans of ``text`` covered by ``highlights``, in order.

    Where two n-grams overlap, the stronger one wins the shared characters.
    """
    tokens = [(m.start(), m.end(), m.group().lower()) for m in TOKEN_PATTERN.finditer(text)]
    owner: list[Highlight | None] = [None] * len(text)
    for item in sorted(highlights, key=lambda h: h.strength):
        for start, end in _occurrences(text, tokens, item.ngram):
            for index in range(start, end):
                owner[index] = item
    spans: list[tuple[int, int, Highlight]] = []
    index = 0
    while index < len(text):
        current = owner[index]
        if current is None:
            index += 1
            continue
        start = index
        while index < len(text) and owner[index] is current:
            index += 1
        spans.append((start, index, current))
    return spans


def _occurrences(
    text: str, tokens: list[tuple[int, int, str]], ngram: str
) -> list[tuple[int, int]]:
    needle = ngram.strip().lower()
    if not needle:
        return []
    if _WORD_NGRAM.match(needle):
        words = needle.split(" ")
        size = len(words)
        as_tokens = [
            (tokens[i][0], tokens[i + size - 1][1])
            for i in range(len(tokens) - size + 1)
            if [token[2] for token in tokens[i : i + size]] == words
        ]
        if as_tokens:
            return as_tokens
        # Not a word n-gram of this text: a character n-gram that happens to look like words.
    lowered = text.lower()
    found: list[tuple[int, int]] = []
    start = lowered.find(needle)
    while start != -1:
        found.append((start, start + len(needle)))
        start = lowered.find(needle, start + len(needle))
    return found


def highlighted_html(text: str, highlights: Sequence[Highlight]) -> str:
    """``text`` as an HTML fragment, escaped, with each highlighted n-gram in a coloured span."""
    strongest = max((h.strength for h in highlights), default=0.0) or 1.0
    parts: list[str] = []
    cursor = 0
    for start, end, item in find_spans(text, highlights):
        parts.append(html.escape(text[cursor:start]))
        red, green, blue = COLOURS[item.direction]
        alpha = 0.25 + 0.6 * min(item.strength / strongest, 1.0)
        title = f"{item.ngram}: towards {'AI' if item.direction == 'ai' else 'Human'}"
        parts.append(
            f'<span class="ngram-{item.direction}" title="{html.escape(title, quote=True)}" '
            f'style="background-color: rgba({red}, {green}, {blue}, {alpha:.2f}); '
            f'border-radius: 3px; padding: 0 2px;">{html.escape(text[start:end])}</span>'
        )
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return (
        '<div class="highlighted-text" style="white-space: pre-wrap; line-height: 1.7; '
        'font-size: 0.95rem;">' + "".join(parts) + "</div>"
    )


def legend_html() -> str:
    """A one-line legend for the two highlight colours."""
    chips = []
    entries: tuple[tuple[Direction, str], ...] = (
        ("ai", "pushes towards AI"),
        ("human", "pushes towards Human"),
    )
    for direction, label in entries:
        red, green, blue = COLOURS[direction]
        chips.append(
            f'<span style="background-color: rgba({red}, {green}, {blue}, 0.6); '
            f'border-radius: 3px; padding: 0 6px; margin-right: 12px;">{label}</span>'
        )
    return '<div style="font-size: 0.85rem;">' + "".join(chips) + "</div>"
