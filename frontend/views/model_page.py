"""The champion serving answers with, and links to the platform's other UIs."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import streamlit as st

from frontend.serving_client import DomainScores, DomainThresholdInfo, Evaluation
from frontend.settings import FrontendSettings
from frontend.views.status import ServingStatus

METRIC_ORDER = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")


def render_model(status: ServingStatus, settings: FrontendSettings) -> None:
    """Version, metrics, threshold, data digest, loaded-at; then the links."""
    st.subheader("The model serving answers with")
    model = status.model
    if model is None:
        st.info(
            "No model information right now: "
            + (
                "serving has no model loaded yet."
                if status.state == "no_model"
                else "serving is not reachable."
            )
        )
    else:
        version_col, alias_col, threshold_col = st.columns(3)
        version_col.metric("Version", model.version)
        alias_col.metric("Alias", model.alias or "none")
        # A percentage, as on the Classify tab (the probability is compared with it).
        threshold_col.metric("Decision threshold", f"{model.threshold:.1%}")
        loaded_at = (
            model.loaded_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if model.loaded_at else None
        )
        details = {
            "Registered model": model.name,
            "Training data digest": model.dataset_digest or "unknown",
            "Loaded at": loaded_at or "unknown",
            "Training run": model.run_id or "unknown",
            "Explanations": model.explain_method or "unknown",
            "Scoring": model.scoring or "unknown",
        }
        st.table(pd.DataFrame({"detail": list(details), "value": list(details.values())}))
        st.markdown("**Test metrics**")
        if model.metrics:
            st.table(_metrics_frame(model.metrics))
        else:
            st.caption("Serving reports no test metrics for this version.")
        _render_evaluation(model.evaluation)
    st.markdown("**The rest of the platform**")
    mlflow_link = settings.mlflow_url.rstrip("/")
    if model is not None:
        mlflow_link += f"/#/models/{quote(model.name)}/versions/{quote(model.version)}"
    link_cols = st.columns(3)
    link_cols[0].link_button("MLflow: runs and registry", mlflow_link, width="stretch")
    link_cols[1].link_button("Grafana: live dashboards", settings.grafana_url, width="stretch")
    link_cols[2].link_button("Prefect: training flows", settings.prefect_url, width="stretch")


def _metrics_frame(metrics: dict[str, float]) -> pd.DataFrame:
    def order(name: str) -> tuple[int, str]:
        short = name.removeprefix("test_")
        return (METRIC_ORDER.index(short) if short in METRIC_ORDER else len(METRIC_ORDER), short)

    names = sorted(metrics, key=order)
    return pd.DataFrame(
        {
            "metric": [name.removeprefix("test_") for name in names],
            "value": [round(metrics[n], 4) for n in names],
        }
    )


def _render_evaluation(evaluation: Evaluation | None) -> None:
    """Where the model holds up and where it does not: per domain, per generator, unseen genres."""
    st.markdown("**Per-domain evaluation**")
    if evaluation is None or not evaluation.domains:
        st.info(
            "This model version has no per-domain evaluation (it was registered before "
            "evaluation per genre existed, or without it): nothing says how it does outside "
            "student essays. Retrain to get one."
        )
        return
    at = (
        f"at the served threshold {evaluation.threshold:.1%}"
        if evaluation.threshold is not None
        else "at the served threshold"
    )
    if evaluation.operating_thresholds is not None:
        fallback = (
            f" (global threshold {evaluation.threshold:.1%})"
            if evaluation.threshold is not None
            else ""
        )
        at = (
            "each text at the threshold of the genre the router placed it in, or the global, "
            f"strictest one when it has none{fallback}"
        )
    target = (
        f" (chosen to keep the share of humans called AI at or below {evaluation.fpr_target:.1%})"
        if evaluation.fpr_target is not None
        else ""
    )
    st.markdown(f"Frozen test split, {at}{target}:")
    st.table(_domain_frame(evaluation.domains, evaluation))
    lodo = evaluation.leave_one_domain_out
    if lodo is not None and lodo.domains:
        summary = []
        if lodo.mean_roc_auc is not None:
            summary.append(f"mean ROC-AUC {lodo.mean_roc_auc:.3f}")
        if lodo.worst_roc_auc is not None:
            worst = f" ({lodo.worst_domain})" if lodo.worst_domain else ""
            summary.append(f"worst {lodo.worst_roc_auc:.3f}{worst}")
        st.markdown(
            "**Unseen-genre estimate** (each domain scored by a model trained without it)"
            + (": " + ", ".join(summary) if summary else "")
        )
        st.table(
            pd.DataFrame(
                {
                    "left-out domain": list(lodo.domains),
                    "ROC-AUC": [_round(s.roc_auc) for s in lodo.domains.values()],
                    "F1": [_round(s.f1) for s in lodo.domains.values()],
                    "humans called AI": [_percent(s.fpr_human) for s in lodo.domains.values()],
                }
            )
        )
    if evaluation.generators:
        st.markdown("**AI texts per generator**")
        st.table(
            pd.DataFrame(
                {
                    "generator": list(evaluation.generators),
                    "AI texts": [s.n_ai for s in evaluation.generators.values()],
                    "AI detected": [_percent(s.tpr_ai) for s in evaluation.generators.values()],
                    "F1": [_round(s.f1) for s in evaluation.generators.values()],
                    "ROC-AUC": [_round(s.roc_auc) for s in evaluation.generators.values()],
                }
            )
        )
    if evaluation.kept_wording:
        _render_kept_wording(evaluation.kept_wording)


#: The ``kept_wording`` bands of the evaluation, as the page names them.
KEPT_WORDING_BANDS = {
    "under_10pct": "under 10 %",
    "10_to_30pct": "10-30 %",
    "30_to_50pct": "30-50 %",
    "50pct_or_more": "50 % or more",
    "no_original": "not a rewrite",
}


def _render_kept_wording(bands: dict[str, DomainScores]) -> None:
    st.markdown(
        "**AI rewrites of a person's text, by how much of its wording they keep** (share of "
        "the rewrite's word pairs found in the original). A rewrite that keeps much of a "
        "person's wording reads like that person: the model calls it AI less often, and more "
        "often cannot tell:"
    )
    st.table(
        pd.DataFrame(
            {
                "wording kept": [KEPT_WORDING_BANDS.get(b, b) for b in bands],
                "AI texts": [s.n_ai for s in bands.values()],
                "AI detected": [_percent(s.tpr_ai) for s in bands.values()],
                "too close to call": [_percent(s.uncertain_share) for s in bands.values()],
            }
        )
    )


def _domain_frame(domains: dict[str, DomainScores], evaluation: Evaluation) -> pd.DataFrame:
    scores = list(domains.values())
    own = evaluation.operating_thresholds.domains if evaluation.operating_thresholds else {}
    routed: dict[str, list[str | float | None]] = {}
    if evaluation.operating_thresholds is not None:
        routed = {
            "own threshold": [
                _percent(own[d].threshold) if d in own else "global" for d in domains
            ],
            "threshold chosen on (humans)": [
                _chosen_on(own[d]) if d in own else "n/a" for d in domains
            ],
            "routed to its genre": [
                _percent(evaluation.routing[d].accuracy) if d in evaluation.routing else "n/a"
                for d in domains
            ],
        }
    band: dict[str, list[str | float | None]] = {}
    if any(s.uncertain_share is not None for s in scores):
        band = {
            "too close to call": [_percent(s.uncertain_share) for s in scores],
            "F1 of the answered": [_round(s.answered_f1) for s in scores],
        }
    return pd.DataFrame(
        {
            "domain": list(domains),
            "human texts": [s.n_human for s in scores],
            "AI texts": [s.n_ai for s in scores],
            "F1": [_round(s.f1) for s in scores],
            "ROC-AUC": [_round(s.roc_auc) for s in scores],
            "humans called AI": [_percent(s.fpr_human) for s in scores],
            "humans called AI, at most (95 %)": [_percent(s.fpr_human_upper95) for s in scores],
            "AI detected": [_percent(s.tpr_ai) for s in scores],
            "Brier": [_round(s.brier) for s in scores],
            **band,
            **routed,
        }
    )


def _chosen_on(threshold: DomainThresholdInfo) -> str:
    """How many human texts a threshold was chosen on: "47 + 212 cross-fitted"."""
    validation = "n/a" if threshold.n_human is None else str(threshold.n_human)
    if threshold.cross_fitted_n_human is None:
        return validation
    return f"{validation} + {threshold.cross_fitted_n_human} cross-fitted"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
