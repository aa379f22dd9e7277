"""Behavioural tests of a trained model (Made-With-ML style), run on every candidate.

* Invariance: appending trailing whitespace, or changing the name in a signed text, must not
  change the predicted label (a small flip rate is tolerated, ``MAX_FLIP_RATE``). The texts are
  a seeded random sample of the test split (``behaviour_sample``: every genre in proportion,
  not the split's first rows, which hold no essays), each judged at the threshold serving routes
  it to when those are given: a flip there is a verdict a person would see change.
* Minimum functionality: hand-written examples of each class must be classified correctly
  (at least ``MIN_MFT_ACCURACY`` per class, at the global threshold).

Any failure blocks promotion: the gate refuses a challenger whose behaviour tests failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_FLIP_RATE = 0.02
#: Texts the invariance tests sign and pad: at 100 one flip moved the rate by a whole point, so
#: a pass depended on the last digits of the model; at 1,000 the rate's standard error near the
#: 2 % limit is about 0.4 points.
SAMPLE_SIZE = 1000
MIN_MFT_ACCURACY = 0.75
NAMES = (("John", "Maria"), ("Ahmed", "Emily"), ("Wei", "Carlos"))

#: Hand-written in the style of the corpus: student essays vs. generated essays.
MFT_HUMAN = (
    "i think that schools should not make kids do summer projects because in the summer we "
    "want to relax. my friend had to do a project last year and she didnt even get to go to "
    "the beach with her family. also teachers dont even grade them right, they just look at "
    "it for like a minute. so i dont think its fair and they should stop doing it.",
    "Cars are bad for the enviroment and I think we should use them less. In my town alot of "
    "people drive even when the store is really close and they could just walk. My dad says "
    "gas is to expensive now anyways. If people rode bikes more their would be less pollution "
    "and people would be healthier to. Thats why I think limiting car usage is a good idea.",
    "Some people say the electoral college is good but i dont agree with them. The president "
    "should be who ever gets the most votes, thats how it works in are school elections to. "
    "In 2000 the person with more votes lost and that dosent make sense to me. My teacher said "
    "it was made a long time ago so maybe it needs to be changed now.",
    "I believe students should be aloud to use there phones in school during lunch. Alot of "
    "us need to text our parents about rides and stuff. when they take your phone it is "
    "really annoying and you cant even call home. The principal says its a distraction but "
    "honestly kids are gonna be distracted anyway with or without phones.",
)
MFT_AI = (
    "In today's rapidly evolving world, the question of whether students should participate "
    "in extracurricular activities has become increasingly important. Extracurricular "
    "activities offer numerous benefits, including the development of leadership skills, "
    "improved time management, and enhanced social connections. Furthermore, they provide "
    "students with opportunities to explore their interests beyond the classroom. In "
    "conclusion, schools should encourage every student to engage in at least one activity.",
    "Limiting car usage offers several significant advantages for both individuals and "
    "communities. Firstly, reducing the number of vehicles on the road can substantially "
    "decrease greenhouse gas emissions, contributing to a healthier environment. Secondly, "
    "it promotes alternative modes of transportation, such as walking and cycling, which "
    "foster physical well-being. Ultimately, embracing a car-free lifestyle can lead to more "
    "sustainable and vibrant cities.",
    "Dear Senator, I am writing to express my support for retaining the Electoral College. "
    "While some argue that it undermines the principle of majority rule, the Electoral "
    "College ensures that smaller states have a meaningful voice in presidential elections. "
    "Moreover, it encourages candidates to campaign across a diverse range of regions. "
    "Therefore, I respectfully urge you to consider the enduring value of this system.",
    "Online learning has emerged as a valuable alternative to traditional classroom "
    "instruction. It provides students with flexibility, allowing them to learn at their own "
    "pace and from the comfort of their homes. However, it is important to acknowledge that "
    "online learning also presents certain challenges, such as limited social interaction. "
    "Overall, a balanced approach that combines both methods may yield the best outcomes.",
)


@dataclass
class BehaviourResult:
    """Outcome of every behavioural test (``details`` is logged as JSON)."""

    passed: bool
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failed_tests(self) -> list[str]:
        return [name for name, d in self.details.items() if not d["passed"]]


def behaviour_sample(n_rows: int, size: int = SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """Positions of ``size`` rows (all of them when there are fewer) drawn at random, seeded,
    from ``n_rows``: the invariance tests' texts, in proportion to every genre of the split."""
    if n_rows < 0 or size < 0:
        raise ValueError(f"n_rows and size must be >= 0, got {n_rows} and {size}")
    chosen = np.random.default_rng(seed).choice(n_rows, size=min(size, n_rows), replace=False)
    return np.sort(chosen)


def _labels(
    predict_proba: Callable[[list[str]], Sequence[float]],
    texts: list[str],
    t: float | Sequence[float],
) -> list[int]:
    scores = np.asarray(predict_proba(texts), dtype=float)
    return [int(flag) for flag in scores >= np.asarray(t, dtype=float)]


def run_behaviour_tests(
    predict_proba: Callable[[list[str]], Sequence[float]],
    threshold: float,
    sample_texts: Sequence[str],
    *,
    sample_thresholds: Sequence[float] | None = None,
    max_flip_rate: float = MAX_FLIP_RATE,
    min_mft_accuracy: float = MIN_MFT_ACCURACY,
) -> BehaviourResult:
    """Run all behavioural tests; ``predict_proba`` maps a list of texts to P(AI) per text.

    ``sample_thresholds``: the threshold of each sample text (serving's routed one; every variant
    of a text is judged at its text's), else ``threshold`` for all; the hand-written examples are
    judged at ``threshold``."""
    texts = list(sample_texts)
    judged_at: float | Sequence[float] = threshold
    if sample_thresholds is not None:
        if len(sample_thresholds) != len(texts):
            raise ValueError(
                f"{len(sample_thresholds)} sample thresholds for {len(texts)} sample texts"
            )
        judged_at = sample_thresholds
    base = _labels(predict_proba, texts, judged_at)
    details: dict[str, dict[str, Any]] = {}

    padded = _labels(predict_proba, [t + "   \n" for t in texts], judged_at)
    details["invariance_trailing_whitespace"] = _flip_result(base, padded, max_flip_rate)

    first = [f"{t}\n\nSincerely, {NAMES[i % len(NAMES)][0]}" for i, t in enumerate(texts)]
    second = [f"{t}\n\nSincerely, {NAMES[i % len(NAMES)][1]}" for i, t in enumerate(texts)]
    details["invariance_changed_name"] = _flip_result(
        _labels(predict_proba, first, judged_at),
        _labels(predict_proba, second, judged_at),
        max_flip_rate,
    )
    for name in ("invariance_trailing_whitespace", "invariance_changed_name"):
        details[name]["judged_at"] = "global" if sample_thresholds is None else "routed"

    for name, examples, expected in (
        ("mft_human_examples", MFT_HUMAN, 0),
        ("mft_ai_examples", MFT_AI, 1),
    ):
        predicted = _labels(predict_proba, list(examples), threshold)
        accuracy = sum(p == expected for p in predicted) / len(predicted)
        details[name] = {
            "passed": accuracy >= min_mft_accuracy,
            "accuracy": accuracy,
            "min_accuracy": min_mft_accuracy,
            "predicted": predicted,
        }
    return BehaviourResult(passed=all(d["passed"] for d in details.values()), details=details)


def _flip_result(before: list[int], after: list[int], max_rate: float) -> dict[str, Any]:
    flips = sum(a != b for a, b in zip(before, after, strict=True))
    rate = flips / max(len(before), 1)
    return {"passed": rate <= max_rate, "flip_rate": rate, "flips": flips, "n": len(before)}
