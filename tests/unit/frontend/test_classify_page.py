"""AppTest: classify a text, see the verdict and why, give feedback."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Element

from frontend.example_texts import EXAMPLES
from tests.unit.frontend.fake_serving import AI_MARKER, FakeServing

AI_TEXT = "Additionally, the countryside is more peaceful. Additionally, it is cheaper."
HUMAN_TEXT = "i dont think you shud change the average"


def _classify(at: AppTest, text: str) -> AppTest:
    at.text_area(key="input_text").input(text)
    return at.button(key="classify").click().run()


def _metrics(at: AppTest) -> dict[str, str]:
    """The metrics of the Classify tab (the Model tab has its own)."""
    return {metric.label: metric.value for metric in at.tabs[0].metric}


def _assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not [e for e in at.error if "Something went wrong" in e.value]


def test_classify_shows_verdict_probability_threshold_and_version(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _classify(page().run(), AI_TEXT)

    _assert_no_exception(at)
    metrics = _metrics(at)
    assert metrics["Verdict"] == "AI"
    assert metrics["Probability AI"] == "91.0%"
    assert metrics["Threshold"] == "50.0%"
    assert metrics["Model version"] == "7"
    progress = at.get("progress")[0]
    assert isinstance(progress, Element) and progress.value == 91
    assert fake.calls("POST", "/v1/predict") == [{"text": AI_TEXT, "explain": True}]


def test_human_text_gets_human_verdict(page: Callable[[], AppTest]) -> None:
    at = _classify(page().run(), HUMAN_TEXT)

    assert _metrics(at)["Verdict"] == "Human"
    assert _metrics(at)["Probability AI"] == "12.0%"


def test_example_buttons_fill_the_text_area(page: Callable[[], AppTest]) -> None:
    at = page().run()
    kinds = {example.kind for example in EXAMPLES}
    assert kinds == {"ai", "human"}

    for index, example in enumerate(EXAMPLES):
        at.button(key=f"example_{index}").click().run()
        assert at.text_area(key="input_text").value == example.text


def test_empty_text_asks_for_text_without_calling_serving(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _classify(page().run(), "   \n ")

    assert any("Type or paste some text first" in w.value for w in at.warning)
    assert fake.calls("POST", "/v1/predict") == []
    assert not _metrics(at)


def test_explanation_highlights_ngrams_both_ways_and_lists_them(
    page: Callable[[], AppTest],
) -> None:
    at = _classify(page().run(), "Additionally I dont know.")

    highlighted = "".join(element.proto.body for element in at.html)
    assert 'class="ngram-ai"' in highlighted
    assert ">Additionally</span>" in highlighted
    assert 'class="ngram-human"' in highlighted
    assert ">dont</span>" in highlighted
    tables = [frame.value for frame in at.dataframe]
    assert tables[0]["n-gram"].tolist() == [AI_MARKER]
    assert tables[1]["n-gram"].tolist() == ["dont"]


def test_user_text_is_escaped_not_rendered_as_html(page: Callable[[], AppTest]) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)> additionally'
    at = _classify(page().run(), attack)

    highlighted = "".join(element.proto.body for element in at.html)
    assert "<script>" not in highlighted
    assert "<img" not in highlighted
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in highlighted


def test_right_feedback_is_sent_and_confirmed(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _classify(page().run(), AI_TEXT)
    prediction_id = next(iter(fake.predictions))

    at.button(key="feedback_right").click().run()

    assert fake.feedback == [(prediction_id, "ai")]
    assert any("feedback was recorded" in s.value for s in at.success)
    assert not [b for b in at.button if b.key in {"feedback_right", "feedback_wrong"}]
    _assert_no_exception(at)


def test_wrong_feedback_sends_the_other_label(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _classify(page().run(), HUMAN_TEXT)

    at.button(key="feedback_wrong").click().run()

    assert [label for _, label in fake.feedback] == ["ai"]
    assert any("this text is AI-written" in s.value for s in at.success)


def test_feedback_for_an_unknown_prediction_says_so(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _classify(page().run(), AI_TEXT)
    fake.predictions.clear()  # serving forgot it (e.g. a different database)

    at.button(key="feedback_right").click().run()

    assert fake.feedback == []
    assert any("not recorded" in e.value and "unknown prediction_id" in e.value for e in at.error)
    assert at.button(key="feedback_right")  # the person can try again


def test_input_serving_rejects_shows_the_servers_message(page: Callable[[], AppTest]) -> None:
    at = _classify(page().run(), "REJECT-ME please")

    assert any(
        "serving rejected the input: text has 100001 characters; the limit is 100000" in e.value
        for e in at.error
    )
    assert not _metrics(at)
    _assert_no_exception(at)
