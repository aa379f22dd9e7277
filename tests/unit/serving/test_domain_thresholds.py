"""Serving judges each text at the threshold of the domain it is routed to.

The routing itself is ``model_registry.operating_thresholds`` (tested there); here: that
``/v1/predict``, ``/invocations`` and bulk scoring use it with the version's own scope reference
and ``operating_thresholds`` tag, say which threshold applied, keep probabilities unchanged, and
that versions without the tag (or with a broken one) behave as before (or are refused).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from model_monitoring.scope import ScopeChecker, build_scope_reference
from model_registry import contract
from model_registry.operating_thresholds import DomainThreshold, OperatingThresholds, model_label
from model_serving.errors import ModelRejected
from model_serving.model_checks import build_loaded_model
from model_serving.model_version import LoadedArtifacts, LoadedModel, VersionInfo

SHORT = "Too short to judge, says the scope check."
#: The global threshold is so strict that nothing is AI at it; essays have a lax one of their own.
GLOBAL, ESSAY = 0.999999, 0.000001


def thresholds(domains: dict[str, float]) -> str:
    return OperatingThresholds(
        global_threshold=DomainThreshold(GLOBAL, 100, 0.0, 0.5),
        domains={name: DomainThreshold(t, 100, 0.01, 0.9) for name, t in domains.items()},
        fpr_target=0.01,
        min_human=100,
    ).to_json()


def publish(essays: list[str], domains: dict[str, float]) -> dict[str, Any]:
    return {
        "threshold": f"{GLOBAL}",
        "scope_reference": build_scope_reference(essays, ["student_essay"] * len(essays)),
        "tags": {contract.VersionTag.OPERATING_THRESHOLDS: thresholds(domains)},
    }


def test_the_drift_monitor_measures_near_threshold_at_each_texts_routed_threshold(
    serve: Any, essays: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_monitoring.live_drift import LiveDriftMonitor
    from tests.support.servers import wait_until

    seen: list[float | None] = []
    monkeypatch.setattr(
        LiveDriftMonitor,
        "observe",
        lambda self, text, probability, threshold=None: seen.append(threshold),
    )
    texts = [*essays[:6], SHORT]
    with serve(publish=publish(essays, {"student_essay": ESSAY}), drift_enabled=True) as client:
        got = client.post("/v1/predict", json={"texts": texts}).json()["predictions"]
        wait_until(lambda: len(seen) == len(texts), timeout=10, what="drift observations")
    assert sorted(seen, key=str) == sorted((p["threshold"] for p in got), key=str)
    assert GLOBAL in seen and ESSAY in seen


def test_a_routed_text_gets_its_domains_threshold_and_the_answer_says_so(
    serve: Any, pipeline: Any, essays: list[str]
) -> None:
    texts = [*essays[:6], SHORT]
    with serve(publish=publish(essays, {"student_essay": ESSAY})) as client:
        got = client.post("/v1/predict", json={"texts": texts}).json()["predictions"]
        in_scope = [p for p in got if p["in_scope"]]
        assert len(in_scope) >= 4, got
        for p in in_scope:
            assert (p["threshold"], p["threshold_domain"], p["label"]) == (
                ESSAY,
                "student_essay",
                "ai",
            )
        short = got[-1]
        assert (short["threshold"], short["threshold_domain"]) == (GLOBAL, None)
        np.testing.assert_allclose(
            [p["probability_ai"] for p in got], pipeline.predict_proba(texts)[:, 1], atol=1e-9
        )

        # /invocations: labels at the same per-text thresholds, probabilities unchanged.
        labels = client.post("/invocations", json={"inputs": texts}).json()["predictions"]
        assert labels == [int(p["probability_ai"] >= p["threshold"]) for p in got]
        rows = client.post(
            "/invocations", json={"inputs": texts, "params": {"predict_fn": "predict_proba"}}
        ).json()["predictions"]
        np.testing.assert_allclose([r[1] for r in rows], [p["probability_ai"] for p in got])

        info = client.get("/v1/model").json()
        assert info["threshold"] == GLOBAL
        assert info["operating_thresholds"]["domains"]["student_essay"]["threshold"] == ESSAY


def test_a_domain_without_its_own_threshold_gets_the_global_one(
    serve: Any, essays: list[str]
) -> None:
    with serve(publish=publish(essays, {"news": ESSAY})) as client:
        got = client.post("/v1/predict", json={"texts": essays[:4]}).json()["predictions"]
        assert all((p["threshold"], p["threshold_domain"]) == (GLOBAL, None) for p in got)
        assert all(p["label"] in ("human", "uncertain") for p in got)


def test_a_version_without_per_domain_thresholds_applies_its_one_threshold(
    serve: Any, essays: list[str]
) -> None:
    reference = build_scope_reference(essays, ["student_essay"] * len(essays))
    with serve(publish={"threshold": "0.42", "scope_reference": reference}) as client:
        got = client.post("/v1/predict", json={"texts": essays[:4]}).json()["predictions"]
        assert all((p["threshold"], p["threshold_domain"]) == (0.42, None) for p in got)
        info = client.get("/v1/model").json()["operating_thresholds"]
        assert info["global"]["threshold"] == 0.42 and info["domains"] == {}


@pytest.mark.parametrize("tag", ['{"format_version": 1}', "not json", '{"format_version": 9}'])
def test_a_broken_thresholds_tag_refuses_the_version(pipeline: Any, tag: str) -> None:
    info = VersionInfo(
        "m", "champion", "3", "run", {"threshold": "0.5", "operating_thresholds": tag}
    )
    with pytest.raises(ModelRejected, match="operating_thresholds tag is unusable"):
        build_loaded_model(info, LoadedArtifacts(pipeline=pipeline), compile_scorer=False)


def essay_version(pipeline: Any, essays: list[str], operating_thresholds: str) -> LoadedModel:
    """The pipeline loaded as a version with an essay scope reference and these thresholds."""
    reference = build_scope_reference(essays, ["student_essay"] * len(essays))
    info = VersionInfo(
        "m",
        "champion",
        "3",
        "run",
        {"threshold": f"{GLOBAL}", "operating_thresholds": operating_thresholds},
    )
    loaded = build_loaded_model(
        info, LoadedArtifacts(pipeline=pipeline, scope_reference=reference), compile_scorer=False
    )
    assert isinstance(loaded.scope, ScopeChecker)
    return loaded


def test_bulk_scoring_routes_like_serving(pipeline: Any, essays: list[str]) -> None:
    from model_orchestration.bulk_scoring import WorkerModel, score_frame

    loaded = essay_version(pipeline, essays, thresholds({"student_essay": ESSAY}))
    texts = [*essays[:6], SHORT]
    scored = score_frame(WorkerModel(loaded=loaded, scope=loaded.scope), texts)
    verdicts = loaded.scope.assess(texts)
    expected = [
        model_label(p, r.threshold) if v.in_scope else contract.VERDICT_UNCERTAIN
        for p, v, r in zip(
            loaded.predict_proba(texts), verdicts, loaded.route(verdicts), strict=True
        )
    ]
    assert scored["label"].tolist() == expected
    assert scored.loc[scored["in_scope"], "label"].eq("ai").all()
    assert scored["in_scope"].sum() >= 4


def banded(human_below: float) -> str:
    """Essays get the strict threshold with a "too close to call" band down to ``human_below``."""
    return OperatingThresholds(
        global_threshold=DomainThreshold(GLOBAL, 100, 0.0, 0.5),
        domains={"student_essay": DomainThreshold(GLOBAL, 100, 0.01, 0.9, human_below)},
        fpr_target=0.01,
        min_human=100,
        ai_miss_target=0.02,
    ).to_json()


def test_a_score_inside_the_band_is_answered_uncertain_low_confidence(
    serve: Any, pipeline: Any, essays: list[str]
) -> None:
    publication = publish(essays, {})
    publication["tags"] = {contract.VersionTag.OPERATING_THRESHOLDS: banded(ESSAY)}
    texts = [*essays[:6], SHORT]
    with serve(publish=publication) as client:
        got = client.post("/v1/predict", json={"texts": texts}).json()["predictions"]
        routed = [p for p in got if p["threshold_domain"] == "student_essay"]
        assert len(routed) >= 4, got
        for p in routed:  # every essay scores between 1e-6 and the strict threshold
            assert (p["label"], p["in_scope"], p["scope_reason"]) == (
                "uncertain",
                False,
                contract.ScopeReason.LOW_CONFIDENCE,
            )
            assert (p["human_below"], p["threshold"]) == (ESSAY, GLOBAL)
        assert (got[-1]["scope_reason"], got[-1]["human_below"]) == ("too_short", None)
        np.testing.assert_allclose(
            [p["probability_ai"] for p in got], pipeline.predict_proba(texts)[:, 1], atol=1e-9
        )
        metrics = client.get("/metrics").text
        assert (
            f'detector_out_of_scope_total{{reason="low_confidence"}} {float(len(routed))}'
            in metrics
        )
        # The model's own label is still counted (feedback and live accuracy judge the model).
        assert 'detector_predictions_total{label="human",model_version="1"}' in metrics
        assert 'detector_predictions_total{label="uncertain"' not in metrics


def test_below_the_band_a_text_is_called_human(serve: Any, essays: list[str]) -> None:
    publication = publish(essays, {})
    publication["tags"] = {contract.VersionTag.OPERATING_THRESHOLDS: banded(GLOBAL)}
    with serve(publish=publication) as client:
        got = client.post("/v1/predict", json={"texts": essays[:4]}).json()["predictions"]
        routed = [p for p in got if p["threshold_domain"] == "student_essay"]
        assert routed and all(
            (p["label"], p["in_scope"], p["scope_reason"]) == ("human", True, None) for p in routed
        )


def test_bulk_scoring_answers_the_band_like_serving(pipeline: Any, essays: list[str]) -> None:
    from model_orchestration.bulk_scoring import WorkerModel, score_frame

    loaded = essay_version(pipeline, essays, banded(ESSAY))
    scored = score_frame(WorkerModel(loaded=loaded, scope=loaded.scope), [*essays[:6], SHORT])
    routed = scored[scored["threshold_domain"] == "student_essay"]
    assert len(routed) >= 4
    assert routed["label"].eq("uncertain").all()
    assert routed["scope_reason"].eq(contract.ScopeReason.LOW_CONFIDENCE).all()
    assert routed["human_below"].eq(ESSAY).all()
    assert scored["scope_reason"].iloc[-1] == "too_short"
