"""Classify every text of an uploaded CSV and download the results."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from frontend.batch import (
    CsvProblem,
    ParsedCsv,
    classify_texts,
    read_csv,
    result_table,
    results_csv,
)
from frontend.serving_client import ServingClient, ServingError
from frontend.settings import FrontendSettings
from frontend.verdicts import VERDICT_UNCERTAIN, reason_phrase
from frontend.views.status import show_serving_error

RESULTS_KEY = "batch_results"


def render_batch(client: ServingClient, settings: FrontendSettings) -> None:
    """Upload, check, classify in chunks with a progress bar, show and offer the results."""
    st.subheader("Classify a CSV file")
    st.caption(
        "Upload a UTF-8 CSV with a header and a `text` column; every other column is kept. "
        f"Up to {settings.max_upload_mb} MB and {settings.max_batch_rows:,} rows, sent to "
        f"serving {settings.batch_chunk_size} at a time."
    )
    upload = st.file_uploader(
        "CSV file", type=["csv"], key="batch_file", max_upload_size=settings.max_upload_mb
    )
    if upload is None:
        return
    data = upload.getvalue()
    if len(data) > settings.max_upload_mb * 1024 * 1024:
        st.error(
            f"Cannot use {upload.name}: it is larger than {settings.max_upload_mb} MB; "
            "split it into smaller files."
        )
        return
    try:
        parsed = read_csv(data, max_rows=settings.max_batch_rows)
    except CsvProblem as exc:
        st.error(f"Cannot use {upload.name}: {exc}")
        return
    problems = parsed.problems
    classifiable = parsed.classifiable
    summary = f"{upload.name}: {len(parsed.rows):,} rows, {len(classifiable):,} to classify."
    st.write(summary)
    if problems:
        shown = ", ".join(f"line {row.line} ({row.error})" for row in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        st.warning(
            f"{len(problems)} row(s) cannot be classified and are listed with an error in the "
            f"results: {shown}{more}."
        )
    digest = hashlib.sha256(data).hexdigest()
    if st.button("Classify file", type="primary", key="batch_classify", disabled=not classifiable):
        _classify_file(client, settings, parsed, digest)

    stored = st.session_state.get(RESULTS_KEY)
    if stored is not None and stored[0] == digest:
        _render_results(stored[1], upload.name)


def _classify_file(
    client: ServingClient, settings: FrontendSettings, parsed: ParsedCsv, digest: str
) -> None:
    texts = [row.values[parsed.text_column] for row in parsed.classifiable]
    progress = st.progress(0.0, text=f"Classifying 0 of {len(texts):,} texts…")

    def on_progress(done: int, total: int) -> None:
        progress.progress(done / total, text=f"Classifying {done:,} of {total:,} texts…")

    try:
        answers = classify_texts(
            client, texts, chunk_size=settings.batch_chunk_size, on_progress=on_progress
        )
    except ServingError as exc:
        progress.empty()
        show_serving_error(exc, action="classify the file")
        return
    progress.progress(1.0, text=f"Classified {len(texts):,} texts.")
    st.session_state[RESULTS_KEY] = (digest, result_table(parsed, answers))


def _render_results(table: pd.DataFrame, file_name: str) -> None:
    classified = table[table["error"] == ""]
    ai_count = int((classified["predicted_label"] == "ai").sum())
    human_count = int((classified["predicted_label"] == "human").sum())
    uncertain = classified[classified["predicted_label"] == VERDICT_UNCERTAIN]
    st.success(
        f"{len(classified):,} texts classified: {ai_count:,} AI, {human_count:,} Human, "
        f"{len(uncertain):,} the model cannot judge; "
        f"{len(table) - len(classified):,} not classified."
    )
    if len(uncertain):
        counts = uncertain["scope_reason"].value_counts()
        reasons = ", ".join(f"{reason_phrase(code)}: {n:,}" for code, n in counts.items())
        st.info(
            f"The model cannot judge {len(uncertain):,} of the texts ({reasons}). Their verdict "
            "is 'uncertain', neither AI nor Human; their probability is no verdict.",
            icon=":material/help:",
        )
    # On screen the verdict and any error come first (long texts would push them out of view);
    # the downloaded CSV keeps the file's columns first, then the results.
    results = ["predicted_label", "probability_ai", "scope_reason", "error"]
    first = ["line", *results]
    rest = [column for column in table.columns if column not in first]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_order=[*first, *rest],
        column_config={
            "predicted_label": st.column_config.TextColumn("verdict"),
            "probability_ai": st.column_config.NumberColumn("probability AI", format="percent"),
            "scope_reason": st.column_config.TextColumn("why it cannot be judged"),
            "error": st.column_config.TextColumn("error", width="medium"),
        },
    )
    stem = file_name.rsplit(".", 1)[0]
    st.download_button(
        "Download results (CSV)",
        data=results_csv(table),
        file_name=f"{stem}-classified.csv",
        mime="text/csv",
        key="batch_download",
        on_click="ignore",
    )
