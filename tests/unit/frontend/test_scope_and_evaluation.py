"""AppTest: out-of-scope answers read "the model cannot judge this text" (never AI/Human), the
model tab shows the per-domain evaluation, and the batch tab counts and explains uncertain rows."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.frontend.fake_serving import SAMPLE_EVALUATION, FakeServing

OUT_OF_SCOPE = [
    ("SHORT: lol ok", "too short"),
    ("FOREIGN: Le chat est sur la table, et il dort depuis ce matin.", "not look like English"),
    ("ODD: Section 4(b)(ii): the Licensee shall pay the Fees (see 1.2).", "unlike the texts"),
    ("CLOSE: Additionally, the reviews were mixed at best.", "too close to its decision"),
]


def _classify(at: AppTest, text: str) -> AppTest:
    at.text_area(key="input_text").input(text)
    return at.button(key="classify").click().run()


def _classify_tab_text(at: AppTest) -> str:
    tab = at.tabs[0]
    parts = [m.value for m in tab.markdown] + [w.value for w in tab.warning]
    parts += [i.value for i in tab.info] + [c.value for c in tab.caption]
    return "\n".join(parts)


@pytest.mark.parametrize(("text", "reason_words"), OUT_OF_SCOPE)
def test_out_of_scope_text_is_not_given_an_ai_or_human_verdict(
    page: Callable[[], AppTest], text: str, reason_words: str
) -> None:
    at = _classify(page().run(), text)

    assert not at.exception
    shown = _classify_tab_text(at)
    assert "The model cannot judge this text" in shown
    assert reason_words in shown
    metrics = {metric.label: metric.value for metric in at.tabs[0].metric}
    assert metrics.get("Verdict") == "Cannot judge"
    assert "AI" not in metrics.values() and "Human" not in metrics.values()
    # No feedback button that would call the uncertain answer "right".
    labels = [button.label for button in at.tabs[0].button]
    assert not any(label.startswith(("Right,", "Wrong,")) for label in labels)


def test_a_score_too_close_to_call_shows_the_band(page: Callable[[], AppTest]) -> None:
    at = _classify(page().run(), OUT_OF_SCOPE[3][0])

    shown = _classify_tab_text(at)
    assert "human below 5.0%, AI from" in shown and "91.0%" in shown


def test_feedback_on_an_uncertain_answer_names_the_true_label(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    at = _classify(page().run(), OUT_OF_SCOPE[2][0])
    at = at.button(key="feedback_human").click().run()

    assert [label for _, label in fake.feedback] == ["human"]
    assert any("feedback was recorded" in s.value for s in at.tabs[0].success)


def test_in_scope_text_still_gets_its_verdict(page: Callable[[], AppTest]) -> None:
    at = _classify(page().run(), "Additionally, the countryside is more peaceful.")

    assert {m.label: m.value for m in at.tabs[0].metric}["Verdict"] == "AI"
    assert "cannot judge" not in _classify_tab_text(at)


def _model_tab_tables(at: AppTest) -> list[pd.DataFrame]:
    return [table.value for table in at.tabs[2].table]


def test_model_tab_shows_the_per_domain_evaluation(page: Callable[[], AppTest]) -> None:
    at = page().run()

    assert not at.exception
    by_domain = next(
        t for t in _model_tab_tables(at) if "domain" in t.columns and "F1" in t.columns
    )
    news = by_domain.set_index("domain").loc["news"]
    assert news["human texts"] == 120 and news["AI texts"] == 118
    assert news["F1"] == pytest.approx(0.97)
    assert news["humans called AI"] == "0.8%"
    assert news["humans called AI, at most (95 %)"] == "3.9%"
    essays = by_domain.set_index("domain").loc["student_essay"]
    assert essays["humans called AI, at most (95 %)"] == "n/a"  # a document without the bound
    assert news["AI detected"] == "93.0%"
    assert news["too close to call"] == "6.0%" and news["F1 of the answered"] == 0.99
    assert set(by_domain["domain"]) == set(SAMPLE_EVALUATION["domains"])
    unseen = next(t for t in _model_tab_tables(at) if "left-out domain" in t.columns).set_index(
        "left-out domain"
    )
    assert unseen.loc["wikipedia", "ROC-AUC"] == pytest.approx(0.86)
    text = "\n".join(m.value for m in at.tabs[2].markdown)
    assert "mean ROC-AUC 0.920" in text and "worst 0.860 (wikipedia)" in text
    assert "73.0%" in text  # the threshold the rates were measured at
    generators = next(t for t in _model_tab_tables(at) if "generator" in t.columns)
    assert generators["generator"].tolist() == ["gpt-4o"]
    kept = next(t for t in _model_tab_tables(at) if "wording kept" in t.columns)
    kept = kept.set_index("wording kept")
    assert kept.index.tolist() == ["under 10 %", "50 % or more"]
    assert kept.loc["50 % or more", "AI detected"] == "25.0%"
    assert kept.loc["50 % or more", "too close to call"] == "35.0%"


def test_model_tab_without_evaluation_says_so(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    fake.evaluation = None
    at = page().run()

    assert not at.exception
    assert any("no per-domain evaluation" in info.value for info in at.tabs[2].info)
    assert not [t for t in _model_tab_tables(at) if "domain" in t.columns]


def test_batch_counts_and_explains_uncertain_rows(page: Callable[[], AppTest]) -> None:
    texts = ["essay additionally", "SHORT: ok", "FOREIGN: Bonjour à tous", "essay dont"]
    content = pd.DataFrame({"text": texts}).to_csv(index=False).encode()
    at = page().run()
    at.file_uploader(key="batch_file").set_value(("mixed.csv", content, "text/csv"))
    at = at.run().button(key="batch_classify").click().run()

    assert not at.exception
    table = at.tabs[1].dataframe[0].value
    assert table["predicted_label"].tolist() == ["ai", "uncertain", "uncertain", "human"]
    assert table["scope_reason"].tolist() == ["", "too_short", "not_english", ""]
    summary = " ".join(s.value for s in at.tabs[1].success)
    assert "4 texts classified: 1 AI, 1 Human, 2 the model cannot judge" in summary
    notes = " ".join(i.value for i in at.tabs[1].info)
    assert "too short: 1" in notes and "not English: 1" in notes


def test_the_page_words_every_scope_reason_of_the_contract() -> None:
    from frontend.verdicts import SCOPE_REASONS, VERDICT_UNCERTAIN
    from model_registry.contract import VERDICT_UNCERTAIN as CONTRACT_UNCERTAIN
    from model_registry.contract import ScopeReason

    assert set(SCOPE_REASONS) == set(ScopeReason.ALL)
    assert VERDICT_UNCERTAIN == CONTRACT_UNCERTAIN


def test_model_tab_shows_each_genres_threshold_and_routing(
    page: Callable[[], AppTest], fake: FakeServing
) -> None:
    fake.evaluation = {
        **SAMPLE_EVALUATION,
        "operating_thresholds": {
            "format_version": 1,
            "global": {"threshold": 0.73},
            "domains": {
                "news": {
                    "threshold": 0.61,
                    "val_fpr_human": 0.01,
                    "val_tpr_ai": 0.9,
                    "n_human": 47,
                    "cross_fitted_n_human": 212,
                },
            },
        },
        "routing": {
            "news": {"n": 238, "accuracy": 0.25, "global_share": 0.4},
            "student_essay": {"n": 1780, "accuracy": 0.6, "global_share": 0.1},
        },
    }
    at = page().run()

    assert not at.exception
    by_domain = next(
        t for t in _model_tab_tables(at) if "domain" in t.columns and "F1" in t.columns
    ).set_index("domain")
    assert by_domain.loc["news", "own threshold"] == "61.0%"
    assert by_domain.loc["student_essay", "own threshold"] == "global"
    assert by_domain.loc["news", "threshold chosen on (humans)"] == "47 + 212 cross-fitted"
    assert by_domain.loc["student_essay", "threshold chosen on (humans)"] == "n/a"
    assert by_domain.loc["news", "routed to its genre"] == "25.0%"
    text = "\n".join(m.value for m in at.tabs[2].markdown)
    assert "genre the router placed it in" in text and "global threshold 73.0%" in text
