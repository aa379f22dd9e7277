"""The champion serving answers with, and links to the platform's other UIs."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import streamlit as st

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
