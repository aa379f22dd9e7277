"""Highlighting: n-grams found like TfidfVectorizer finds them, user text always escaped."""

from __future__ import annotations

from frontend.highlight import Highlight, find_spans, highlighted_html


def _covered(text: str, highlights: list[Highlight]) -> list[tuple[str, str]]:
    return [(text[start:end], h.direction) for start, end, h in find_spans(text, highlights)]


def test_word_ngrams_match_tokens_case_insensitively_not_substrings() -> None:
    text = "In conclusion, IN CONCLUSION it is; inconclusion no."
    spans = _covered(text, [Highlight("in conclusion", "ai", 1.0)])
    assert spans == [("In conclusion", "ai"), ("IN CONCLUSION", "ai")]


def test_bigram_spans_across_punctuation_like_the_vectorizer() -> None:
    # The vectorizer drops punctuation: "tired, but" is the bigram "tired but".
    spans = _covered("I was tired, but happy", [Highlight("tired but", "human", 0.3)])
    assert spans == [("tired, but", "human")]


def test_stronger_ngram_wins_an_overlap() -> None:
    text = "it is important to note"
    spans = _covered(
        text, [Highlight("important", "human", 0.2), Highlight("important to note", "ai", 0.9)]
    )
    assert spans == [("important to note", "ai")]


def test_character_ngrams_match_as_substrings() -> None:
    assert _covered("Running, jumping", [Highlight("ing", "ai", 1.0)]) == [
        ("ing", "ai"),
        ("ing", "ai"),
    ]


def test_html_escapes_text_and_ngram_titles() -> None:
    text = '<b>bold</b> & "quotes" additionally'
    out = highlighted_html(
        text, [Highlight("additionally", "ai", 1.0), Highlight('"q', "human", 1)]
    )
    assert "<b>" not in out
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in out
    assert 'title="&quot;q: towards Human"' in out
    assert '">additionally</span>' in out


def test_no_highlights_is_just_the_escaped_text() -> None:
    out = highlighted_html("a < b\n\nnew paragraph", [])
    assert "a &lt; b\n\nnew paragraph" in out
    assert "<span" not in out
    assert "white-space: pre-wrap" in out
