"""How the page words serving's verdicts, including "the model cannot judge this text".

Serving answers ``label: "uncertain"`` with ``in_scope: false`` and a ``scope_reason`` code when a
text is outside what the model can judge, or its score is too close to the threshold to call
(docs/CONTRACTS.md, "Scope and per-domain evaluation").
The page never turns such an answer into "AI" or "Human": it says plainly that the model cannot
judge the text, and why, in words. The codes are the contract's (``model_registry.contract.
ScopeReason``; a unit test keeps this table complete); the frontend image ships only this package,
so it keeps its own copy of the words.
"""

from __future__ import annotations

VERDICT_UNCERTAIN = "uncertain"
VERDICT_NAMES: dict[str, str] = {"ai": "AI", "human": "Human", VERDICT_UNCERTAIN: "Cannot judge"}

#: Why the model cannot judge a text: a short phrase (tables, counts) and a sentence (the page).
SCOPE_REASONS: dict[str, tuple[str, str]] = {
    "too_short": (
        "too short",
        "The text is too short: with only a few sentences the model's verdicts are unreliable "
        "(it is wrong about people far more often). Paste a longer passage.",
    ),
    "not_english": (
        "not English",
        "The text does not look like English; the model was trained on English text only.",
    ),
    "unlike_training_data": (
        "unlike the training texts",
        "The text is unlike the texts the model was trained on (essays, news, stories, "
        "reviews, scientific abstracts, encyclopedia paragraphs), so any verdict would be a "
        "guess.",
    ),
    "low_confidence": (
        "too close to call",
        "The model's score for this text is too close to its decision threshold: on texts of "
        "this kind scoring here, its verdicts were wrong too often, in both directions. It "
        "neither calls the text AI nor clears it as human.",
    ),
}


def reason_phrase(reason: str | None) -> str:
    """A few words for ``reason`` (the code itself when the page does not know it)."""
    if reason is None:
        return "no reason given"
    return SCOPE_REASONS.get(reason, (reason.replace("_", " "), ""))[0]


def reason_sentence(reason: str | None) -> str:
    """A sentence a person understands for ``reason``."""
    if reason in SCOPE_REASONS:
        return SCOPE_REASONS[reason][1]
    code = f" ({reason})" if reason else ""
    return f"Serving marked the text as outside what the model can judge{code}."
