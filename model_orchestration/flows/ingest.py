"""The ``ingest`` flow: new labelled CSV batches -> validated -> a new dataset version.

Sources: CSV files (``.csv`` / ``.csv.gz``) dropped in ``ORCHESTRATION_INGEST_SOURCE`` (a folder in
the embedded mode, ``s3://bucket/prefix`` in the full stack) and, when configured, one CSV fetched
from ``ORCHESTRATION_HTTP_SOURCE_URL``.

Batches may carry the optional columns ``domain``, ``generator``, ``group_id`` (validated; missing
ones get their defaults, ``model_registry.labelled_csv.with_defaults``). Per batch, with the
registry's validator: a batch breaking any row rule (or missing columns) is
quarantined whole, next to its report (``<name>.report.json`` / ``.report.txt``), and removed from
the source. Class balance is checked on the merged dataset, not per batch (a feedback batch may
well hold one class). Accepted rows are de-duplicated against the current dataset (normalised
text) and, when anything is new, ``old + new rows`` is stored under its digest and set as
``LATEST``; only then are the batch files moved to ``processed/``, so a crash before the commit
leaves them to be ingested again (de-duplication makes that harmless).

The run ends ``Completed`` when every batch was accepted, ``Failed`` with a message naming each
quarantined batch and why otherwise (accepted batches of the same run are still committed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from model_orchestration.flows.common import (
    P,
    R,
    orchestration_settings,
    registry_settings,
    store_as_latest,
    with_io_retries,
)
from model_orchestration.flows.dataset_slot import holds_dataset_slot
from model_orchestration.flows.guards import check_ingest_parameters
from model_orchestration.merging import MergeResult, merge_new_rows
from model_orchestration.storage import BlobArea, area_from_uri, is_batch_name, move
from model_registry.dataset_store import DatasetStore
from model_registry.errors import DataValidationError
from model_registry.labelled_csv import load_corpus, load_labelled_csv, with_defaults
from model_registry.settings import RegistrySettings
from model_registry.validation import ValidationReport, validate

logger = logging.getLogger(__name__)

PROCESSED_FOLDER = "processed"


@dataclass
class BatchVerdict:
    name: str
    accepted: bool
    summary: str
    rows: int = 0
    location: str = ""


@dataclass
class IngestSummary:
    previous_digest: str | None
    dataset_digest: str | None
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    conflicts: int = 0
    batches: list[BatchVerdict] = field(default_factory=list)

    @property
    def quarantined(self) -> list[BatchVerdict]:
        return [b for b in self.batches if not b.accepted]

    def message(self) -> str:
        accepted = len(self.batches) - len(self.quarantined)
        text = (
            f"{accepted} batch(es) accepted, +{self.added} rows "
            f"({self.duplicates} duplicates, {self.conflicts} label conflicts left out); "
            f"dataset {(self.dataset_digest or 'none')[:12]} ({self.rows} rows)"
        )
        for batch in self.quarantined:
            text += f"; QUARANTINED {batch.name}: {batch.summary} -> {batch.location}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- tasks -------------------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def list_batches(source_uri: str) -> list[str]:
    """Names of the CSV batches waiting in the source area."""
    return [name for name in area_from_uri(source_uri).names() if is_batch_name(name)]


@task(cache_policy=NO_CACHE)
def read_batch(source_uri: str, name: str) -> bytes:
    return area_from_uri(source_uri).read(name)


@task(cache_policy=NO_CACHE)
def fetch_http_batch(url: str, timeout_seconds: float) -> bytes:
    """GET a labelled CSV from the configured HTTP source (4xx/5xx raise, and are retried)."""
    response = httpx.get(url, timeout=timeout_seconds, follow_redirects=True)
    response.raise_for_status()
    return response.content


@task(cache_policy=NO_CACHE)
def validate_batch(name: str, content: bytes, min_chars: int, max_chars: int) -> ValidationReport:
    """Parse and validate one batch with the registry's loader and validator."""
    suffix = ".csv.gz" if name.lower().endswith(".gz") else ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"batch{suffix}"
        path.write_bytes(content)
        try:
            df = load_labelled_csv(path)
        except DataValidationError as exc:
            # Unparseable: report it the way the validator reports a dataset-level error.
            from model_registry.validation import Rejection

            empty = with_defaults(pd.DataFrame({"text": [], "generated": []}))
            error = Rejection(None, "required_columns", str(exc).replace(str(path), name))
            return ValidationReport(0, empty, dataset_errors=[error])
    return validate(df, min_chars=min_chars, max_chars=max_chars, min_class_share=0.0)


def batch_is_acceptable(report: ValidationReport) -> bool:
    """No rejected row and no dataset-level error other than class balance."""
    other_errors = [e for e in report.dataset_errors if e.rule != "class_balance"]
    return not report.rejections and not other_errors and len(report.accepted) > 0


@task(cache_policy=NO_CACHE)
def quarantine_batch(
    quarantine_uri: str, name: str, content: bytes, report: ValidationReport, source_uri: str | None
) -> str:
    """Write the batch and its report to quarantine, then remove it from the source."""
    area = area_from_uri(quarantine_uri)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stored = f"{stamp}-{name}"
    report_dict = {"batch": name, "source": source_uri, **report.to_dict()}
    location = area.write(stored, content)
    area.write(f"{stored}.report.json", json.dumps(report_dict, indent=2, default=str).encode())
    area.write(f"{stored}.report.txt", report.to_text().encode())
    if source_uri is not None:
        area_from_uri(source_uri).delete(name)
    return location


@task(cache_policy=NO_CACHE)
def load_current_dataset(store_uri: str, seed_paths: list[str]) -> tuple[str, pd.DataFrame]:
    """The ``LATEST`` dataset version; on an empty store, the seed corpus becomes version one."""
    store = DatasetStore.from_uri(store_uri)
    digest = store.latest()
    if digest is not None:
        return digest, store.get(digest)
    report = validate(load_corpus(seed_paths))
    if not report.usable:
        raise DataValidationError(f"seed corpus {seed_paths}: {report.summary_line()}", report)
    digest = store.put(report.accepted)
    store.set_latest(digest)
    logger.info("dataset store was empty: seeded it with %s as %s", seed_paths, digest[:12])
    return digest, report.accepted


def merge_checked(
    current: pd.DataFrame, accepted: pd.DataFrame, registry: RegistrySettings
) -> tuple[MergeResult, str | None]:
    """``current`` + the new ones of the ``accepted`` rows, and why the merged set may not be
    committed (None when it may: nothing new, or it passes the validator with class balance)."""
    result = merge_new_rows(current, accepted)
    if not result.added:
        return result, None
    merged_report = validate(
        result.merged,
        min_chars=registry.min_text_chars,
        max_chars=registry.max_text_chars,
        min_class_share=registry.min_class_share,
    )
    return result, None if merged_report.ok else merged_report.summary_line()


@task(cache_policy=NO_CACHE)
def mark_processed(source_uri: str, names: list[str]) -> None:
    source = area_from_uri(source_uri)
    target: BlobArea = source.child(PROCESSED_FOLDER)
    for name in names:
        move(source, name, target)


# --- flow --------------------------------------------------------------------------------------


@flow(name="ingest", validate_parameters=True)
@holds_dataset_slot
def ingest(
    source: str | None = None,
    quarantine: str | None = None,
    dataset_store: str | None = None,
    http_source_url: str | None = None,
) -> State:
    """Ingest new labelled batches; parameters default to ``ORCHESTRATION_*`` / ``REGISTRY_*``."""
    run_logger = get_run_logger()
    settings = orchestration_settings()
    check_ingest_parameters(settings, source, quarantine, dataset_store, http_source_url)
    registry = registry_settings(dataset_store=dataset_store)
    source = source or settings.ingest_source
    quarantine = quarantine or settings.quarantine
    http_source_url = http_source_url or settings.http_source_url

    def io(step: Task[P, R]) -> Task[P, R]:
        return with_io_retries(step, settings)

    previous, current = io(load_current_dataset)(
        registry.dataset_store, [str(p) for p in registry.data_path]
    )
    summary = IngestSummary(previous_digest=previous, dataset_digest=previous, rows=len(current))

    pending: list[tuple[str, bytes, str | None]] = [
        (name, io(read_batch)(source, name), source) for name in io(list_batches)(source)
    ]
    if http_source_url:
        content = io(fetch_http_batch)(http_source_url, settings.http_source_timeout_seconds)
        name = f"http-{hashlib.sha256(content).hexdigest()[:12]}.csv"
        pending.append((name, content, None))

    accepted_frames: list[pd.DataFrame] = []
    accepted_files: list[str] = []
    for name, content, origin in pending:
        report = validate_batch(name, content, registry.min_text_chars, registry.max_text_chars)
        if batch_is_acceptable(report):
            accepted_frames.append(report.accepted)
            if origin is not None:
                accepted_files.append(name)
            summary.batches.append(BatchVerdict(name, True, report.summary_line(), report.n_rows))
            continue
        location = io(quarantine_batch)(quarantine, name, content, report, origin)
        run_logger.warning("quarantined %s: %s (report next to it)", name, report.summary_line())
        summary.batches.append(
            BatchVerdict(name, False, report.summary_line(), report.n_rows, location)
        )

    if accepted_frames:
        result, refusal = merge_checked(
            current, pd.concat(accepted_frames, ignore_index=True), registry
        )
        summary.duplicates, summary.conflicts = result.duplicates, result.conflicts
        if refusal is not None:
            return Failed(
                message=f"merged dataset would be invalid, nothing committed, batches left "
                f"in place: {refusal}"
            )
        if result.added:
            summary.dataset_digest = io(store_as_latest)(
                registry.dataset_store, result.merged, previous
            )
            summary.added, summary.rows = result.added, len(result.merged)
        io(mark_processed)(source, accepted_files)

    message = summary.message()
    run_logger.info("ingest: %s", message)
    if summary.quarantined:
        return Failed(message=message)
    return Completed(message=message, data=summary)
