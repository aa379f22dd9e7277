"""The ``score`` flow: score a dataset of texts with the champion, on a Dask cluster if set.

Input: Parquet or CSV files (any number) in a folder or under an ``s3://`` prefix, inside
``ORCHESTRATION_SCORE_INPUT_AREA``. Output: one ``part-NNNNNN.parquet`` per partition inside
``ORCHESTRATION_SCORE_OUTPUT_AREA`` with the input's id column beside ``prediction_id,
probability_ai, label, model_version, in_scope, scope_reason``, plus ``_manifest.json`` (the plan
and the model version) and, at the end, ``_SUCCESS.json``.

- The champion is resolved once per run (``models:/ai-text-detector@champion``, never latest);
  workers load that *version* once each (``bulk_scoring.worker_model``).
- With ``ORCHESTRATION_DASK_SCHEDULER_ADDRESS`` set, partitions are Dask tasks on that cluster
  (a worker that dies takes its running tasks with it and the scheduler runs them again on
  another worker); unset, the flow scores them one after the other in its own process.
- A run that stops (flow killed, cluster gone) is resumed by running it again with the same
  parameters: the manifest gives the same partitions and version, and only partitions without
  their output file are scored. Partition files are written atomically, so a file that exists is
  complete: no gap, no duplicate.
- Progress is a Prefect progress artifact (``score-progress``) updated as partitions finish,
  plus a log line per partition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from model_orchestration import bulk_scoring
from model_orchestration.bulk_scoring import Manifest, Partition, PartitionResult, ScoringJob
from model_orchestration.flows.common import (
    orchestration_settings,
    synchronous,
    with_io_retries,
)
from model_orchestration.flows.guards import check_score_parameters
from model_orchestration.settings import SCORE_FLOW, OrchestrationSettings
from model_orchestration.storage import area_from_uri
from model_registry import contract
from platform_processes.logging_config import configure_logging

#: Progress artifact updates at most this often (each is an API call).
PROGRESS_INTERVAL_SECONDS = 2.0


@task(cache_policy=NO_CACHE)
def resolve_champion(tracking_uri: str, model_name: str) -> str:
    """The version ``@champion`` names now (the registry by alias, never ``latest``)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return str(client.get_model_version_by_alias(model_name, contract.CHAMPION_ALIAS).version)


@task(cache_policy=NO_CACHE)
def plan_or_resume(job: ScoringJob, max_files: int) -> Manifest:
    """The run's manifest: the one already in the output (a resume), or a new plan written there.

    A resume keeps the recorded model version even when ``@champion`` moved since: one dataset,
    one model.
    """
    output = area_from_uri(job.output)
    existing = bulk_scoring.read_manifest(output)
    if existing is not None:
        bulk_scoring.check_resumable(existing, job)
        return existing
    source = area_from_uri(job.source)
    counts = [
        (name, bulk_scoring.count_rows(source, name, job.id_column, job.text_column))
        for name in bulk_scoring.input_names(source, max_files)
    ]
    manifest = Manifest(job, bulk_scoring.plan_partitions(counts, job.rows_per_partition))
    output.write(bulk_scoring.MANIFEST_NAME, manifest.to_json().encode("utf-8"))
    return manifest


def run_partitions(
    settings: OrchestrationSettings,
    job: ScoringJob,
    todo: list[Partition],
    on_done: Callable[[PartitionResult], None],
) -> None:
    """Score ``todo`` on the configured Dask cluster, or here one by one without one."""
    if settings.dask_scheduler_address is None:
        for partition in todo:
            on_done(bulk_scoring.score_partition(job, partition))
        return
    from distributed import Client, as_completed

    with Client(settings.dask_scheduler_address, timeout=30) as client:
        futures = client.map(
            bulk_scoring.score_partition,
            [job] * len(todo),
            todo,
            key=[f"score-{job.model_version}-{p.index}-{time.time_ns()}" for p in todo],
            retries=settings.io_retries,
        )
        for future in as_completed(futures):
            on_done(future.result())
            future.release()


class Progress:
    """Done/total partitions as a Prefect progress artifact and log lines."""

    def __init__(self, total: int, done: int, rows_total: int, logger: Any) -> None:
        self.total, self.done, self.rows_total = total, done, rows_total
        self.logger = logger
        self.started = time.perf_counter()
        self.rows_now = 0
        self.last_update = 0.0
        self.artifact = synchronous(
            create_progress_artifact(
                progress=self.percent, key="score-progress", description=self.description
            )
        )

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    @property
    def description(self) -> str:
        return f"{self.done}/{self.total} partitions scored ({self.rows_total:,} rows in the run)"

    def __call__(self, result: PartitionResult) -> None:
        self.done += 1
        self.rows_now += result.rows
        self.logger.info(
            "partition %d: %d rows in %.1fs on %s (%d/%d)",
            result.index,
            result.rows,
            result.seconds,
            result.worker,
            self.done,
            self.total,
        )
        now = time.perf_counter()
        if now - self.last_update >= PROGRESS_INTERVAL_SECONDS or self.done == self.total:
            self.last_update = now
            update_progress_artifact(self.artifact, self.percent, self.description)

    def rows_per_second(self) -> float:
        return self.rows_now / max(time.perf_counter() - self.started, 1e-9)


def missing_partitions(manifest: Manifest, written: Iterable[str]) -> list[Partition]:
    have = set(written)
    return [p for p in manifest.partitions if p.output_name not in have]


@flow(name=SCORE_FLOW, log_prints=False)
def score(
    source: str,
    output: str,
    id_column: str = "id",
    text_column: str = "text",
    rows_per_partition: int | None = None,
) -> dict[str, Any]:
    """Score every text of ``source`` into ``output`` with the champion; resume a stopped run."""
    logger = get_run_logger()
    settings = orchestration_settings()
    check_score_parameters(settings, source, output, id_column, text_column, rows_per_partition)
    tracking_uri = contract.tracking_uri()
    version = with_io_retries(resolve_champion, settings)(tracking_uri, contract.MODEL_NAME)
    job = ScoringJob(
        source=area_from_uri(source).uri,
        output=area_from_uri(output).uri,
        id_column=id_column,
        text_column=text_column,
        model_name=contract.MODEL_NAME,
        model_version=version,
        tracking_uri=tracking_uri,
        max_text_chars=settings.score_max_text_chars,
        rows_per_partition=rows_per_partition or settings.score_rows_per_partition,
    )
    manifest = with_io_retries(plan_or_resume, settings)(job, settings.score_max_files)
    job = manifest.job
    output_area = area_from_uri(job.output)
    todo = missing_partitions(manifest, bulk_scoring.written_partitions(output_area))
    total = len(manifest.partitions)
    logger.info(
        "scoring %d rows of %s with %s version %s: %d partitions, %d to do, on %s",
        manifest.total_rows,
        job.source,
        job.model_name,
        job.model_version,
        total,
        len(todo),
        settings.dask_scheduler_address or "this process",
    )
    progress = Progress(total, total - len(todo), manifest.total_rows, logger)
    run_partitions(settings, job, todo, progress)
    left = missing_partitions(manifest, bulk_scoring.written_partitions(output_area))
    if left:
        raise RuntimeError(f"{len(left)} partitions were not written (first: {left[0]})")
    # Every partition exists, so no writer of this run is still at work: what a killed writer
    # left half-written under a temporary name can go.
    bulk_scoring.remove_leftover_partials(output_area)
    summary = {
        "rows": manifest.total_rows,
        "partitions": total,
        "scored_now": len(todo),
        "model_version": job.model_version,
        "output": job.output,
        "rows_per_second_this_run": round(progress.rows_per_second(), 1),
    }
    output_area.write(bulk_scoring.SUMMARY_NAME, json.dumps(summary).encode("utf-8"))
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m model_orchestration.flows.score SOURCE OUTPUT``: one run in this process (it
    reports to ``PREFECT_API_URL`` when set), for operators and for tests that kill a run."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(description=score.description)
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--rows-per-partition", type=int, default=None)
    args = parser.parse_args(argv)
    configure_logging()
    summary = score(
        source=args.source,
        output=args.output,
        id_column=args.id_column,
        text_column=args.text_column,
        rows_per_partition=args.rows_per_partition,
    )
    logging.getLogger(__name__).info("done: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
