"""Behavioural tests of a trained model (Made-With-ML style), run on every candidate.

* Invariance: appending trailing whitespace, or changing the name in a signed text, must not
  change the predicted label (a small flip rate is tolerated, ``MAX_FLIP_RATE``).
* Minimum functionality: hand-written examples of each class must be classified correctly
  (at least ``MIN_MFT_ACCURACY`` per class).

Any failure blocks promotion: the gate refuses a challenger whose behaviour tests failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_FLIP_RATE = 0.02
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


def _labels(
    predict_proba: Callable[[list[str]], Sequence[float]], texts: list[str], t: float
) -> list[int]:
    return [int(p >= t) for p in predict_proba(texts)]


def run_behaviour_tests(
    predict_proba: Callable[[list[str]], Sequence[float]],
    threshold: float,
    sample_texts: Sequence[str],
    *,
    max_flip_rate: float = MAX_FLIP_RATE,
    min_mft_accuracy: float = MIN_MFT_ACCURACY,
) -> BehaviourResult:
    """Run all behavioural tests; ``predict_proba`` maps a list of texts to P(AI) per text."""
    texts = list(sample_texts)
    base = _labels(predict_proba, texts, threshold)
    details: dict[str, dict[str, Any]] = {}

    padded = _labels(predict_proba, [t + "   \n" for t in texts], threshold)
    details["invariance_trailing_whitespace"] = _flip_result(base, padded, max_flip_rate)

    first = [f"{t}\n\nSincerely, {NAMES[i % len(NAMES)][0]}" for i, t in enumerate(texts)]
    second = [f"{t}\n\nSincerely, {NAMES[i % len(NAMES)][1]}" for i, t in enumerate(texts)]
    details["invariance_changed_name"] = _flip_result(
        _labels(predict_proba, first, threshold),
        _labels(predict_proba, second, threshold),
        max_flip_rate,
    )

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
