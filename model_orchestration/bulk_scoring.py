"""Bulk scoring: plan a dataset of texts into partitions, score one partition, write it atomically.

What the ``score`` flow (``flows/score.py``) hands to Dask workers, kept free of Prefect so that a
worker process needs only this package, the registry and the object store:

- :func:`plan_partitions` cuts every input file (Parquet or CSV, in a folder or under an
  ``s3://`` prefix) into row ranges of at most ``rows_per_partition`` rows. The plan is written
  once to the output as ``_manifest.json`` together with the model version resolved from the
  alias; a resumed run reads it back, so the partition numbers never shift (new input files do
  not join a run that has started) and every partition is scored by the same version.
- :func:`score_partition` runs on a worker: it reads its row range, scores it with the model that
  worker loaded once (:func:`worker_model`, a process-wide cache keyed by version), asks the scope
  checks, and writes ``part-NNNNNN.parquet`` atomically (a temporary name then a rename in a
  folder; one ``PUT`` on S3, which is never visible half-written). Running a partition twice
  (a worker died after writing, the flow died before hearing back) writes the same rows again:
  prediction ids are derived from the run and the row, not drawn at random.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from model_orchestration.storage import BlobArea, area_from_uri
from model_registry import contract
from model_registry.operating_thresholds import served_verdict

logger = logging.getLogger(__name__)

MANIFEST_NAME = "_manifest.json"
SUMMARY_NAME = "_SUCCESS.json"
PARTITION_PREFIX = "part-"
INPUT_SUFFIXES = (".parquet", ".csv", ".csv.gz")
#: Namespace of the deterministic prediction ids (uuid5 of run, file and row).
PREDICTION_ID_NAMESPACE = uuid.UUID("6f1f2a53-5d0e-4f5b-9a59-0d6d2b1e7c31")
OUTPUT_COLUMNS = (
    "prediction_id",
    "probability_ai",
    "label",
    "model_version",
    "in_scope",
    "scope_reason",
    "threshold",
    "human_below",
    "threshold_domain",
)
MANIFEST_FORMAT = 1


class ScoringPlanMismatch(ValueError):
    """The output already holds a run with other parameters: resuming it would mix two runs."""


@dataclass(frozen=True)
class Partition:
    """Rows ``[start, stop)`` of one input file; written as ``part-<index>.parquet``."""

    index: int
    source_name: str
    start: int
    stop: int

    @property
    def output_name(self) -> str:
        return f"{PARTITION_PREFIX}{self.index:06d}.parquet"

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ScoringJob:
    """What every partition of one run shares (sent to the workers with each partition)."""

    source: str
    output: str
    id_column: str
    text_column: str
    model_name: str
    model_version: str
    tracking_uri: str
    max_text_chars: int
    rows_per_partition: int


@dataclass(frozen=True)
class Manifest:
    job: ScoringJob
    partitions: tuple[Partition, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "job": asdict(self.job),
                "partitions": [asdict(p) for p in self.partitions],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        if raw.get("format") != MANIFEST_FORMAT:
            raise ScoringPlanMismatch(f"unknown manifest format {raw.get('format')!r}")
        return cls(
            job=ScoringJob(**raw["job"]),
            partitions=tuple(Partition(**p) for p in raw["partitions"]),
        )

    @property
    def total_rows(self) -> int:
        return sum(p.rows for p in self.partitions)


@dataclass(frozen=True)
class PartitionResult:
    index: int
    rows: int
    seconds: float
    #: CPU time of the thread that scored it (wall time under a shared machine's load is not).
    cpu_seconds: float
    worker: str


def is_input_name(name: str) -> bool:
    return name.lower().endswith(INPUT_SUFFIXES) and not name.startswith((".", "_"))


def input_names(area: BlobArea, max_files: int) -> list[str]:
    """The Parquet/CSV files directly in ``area``, sorted; more than ``max_files`` is refused."""
    names = [n for n in area.names() if is_input_name(n)]
    if not names:
        raise ValueError(f"no .parquet, .csv or .csv.gz file in {area.uri}")
    if len(names) > max_files:
        raise ValueError(f"{len(names)} input files in {area.uri}, above the limit of {max_files}")
    return names


def read_frame(area: BlobArea, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of one input file (texts as strings, an empty cell as an empty text)."""
    content = io.BytesIO(area.read(name))
    if name.lower().endswith(".parquet"):
        frame = pd.read_parquet(content, columns=list(columns))
    else:
        compression = "gzip" if name.lower().endswith(".gz") else None
        frame = pd.read_csv(
            content,
            usecols=list(columns),
            compression=compression,
            keep_default_na=False,
            dtype={columns[-1]: str},
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{name} has no column {missing}")
    return frame


def read_rows(
    area: BlobArea, name: str, columns: Sequence[str], start: int, stop: int
) -> pd.DataFrame:
    """Rows ``[start, stop)`` of ``columns`` of one input file, index from 0.

    Parquet: only the row groups that hold those rows are decoded (a file of millions of rows cut
    into many partitions is not decoded once per partition); CSV has no such index and is parsed
    whole.
    """
    if not name.lower().endswith(".parquet"):
        return read_frame(area, name, columns).iloc[start:stop].reset_index(drop=True)
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(io.BytesIO(area.read(name)))
    missing = [c for c in columns if c not in set(parquet.schema_arrow.names)]
    if missing:
        raise KeyError(f"{name} has no column {missing}")
    groups: list[int] = []
    first_row = offset = 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if offset < stop and offset + rows > start:
            if not groups:
                first_row = offset
            groups.append(group)
        offset += rows
    frame = parquet.read_row_groups(groups, columns=list(columns)).to_pandas()
    return frame.iloc[start - first_row : stop - first_row].reset_index(drop=True)


def count_rows(area: BlobArea, name: str, id_column: str, text_column: str) -> int:
    """Rows of one input file (Parquet from its footer; CSV by reading its two columns, which
    also checks both exist)."""
    if name.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(io.BytesIO(area.read(name)))
        names = set(parquet.schema_arrow.names)
        missing = [c for c in (id_column, text_column) if c not in names]
        if missing:
            raise KeyError(f"{name} has no column {missing}")
        return int(parquet.metadata.num_rows)
    return len(read_frame(area, name, (id_column, text_column)))


def plan_partitions(
    row_counts: Sequence[tuple[str, int]], rows_per_partition: int
) -> tuple[Partition, ...]:
    """Consecutive row ranges of at most ``rows_per_partition`` rows over the files, in order."""
    partitions: list[Partition] = []
    for name, rows in row_counts:
        for start in range(0, rows, rows_per_partition):
            stop = min(start + rows_per_partition, rows)
            partitions.append(Partition(len(partitions), name, start, stop))
    return tuple(partitions)


def read_manifest(output: BlobArea) -> Manifest | None:
    if MANIFEST_NAME not in output.names():
        return None
    return Manifest.from_json(output.read(MANIFEST_NAME).decode("utf-8"))


def check_resumable(existing: Manifest, wanted: ScoringJob) -> None:
    """A run may resume another only with the same input, columns and partition size."""
    for name in ("source", "id_column", "text_column", "rows_per_partition", "max_text_chars"):
        if getattr(existing.job, name) != getattr(wanted, name):
            raise ScoringPlanMismatch(
                f"{wanted.output} holds a run with {name}={getattr(existing.job, name)!r}, "
                f"not {getattr(wanted, name)!r}: use another output or the same parameters"
            )


def written_partitions(output: BlobArea) -> set[str]:
    """Names of the partitions already written (complete by construction: atomic writes)."""
    return {n for n in output.names() if n.startswith(PARTITION_PREFIX) and n.endswith(".parquet")}


def remove_leftover_partials(output: BlobArea) -> int:
    """Delete the temporary files of writers that were killed mid-write (folders only: an S3
    ``PUT`` leaves nothing behind); return how many there were."""
    leftovers = [
        n for n in output.names() if n.startswith(f".{PARTITION_PREFIX}") and n.endswith(".partial")
    ]
    for name in leftovers:
        output.delete(name)
    return len(leftovers)


# --- on the worker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerModel:
    """A checked model version and the scope checks of its training data."""

    loaded: Any  # model_serving.model_version.LoadedModel
    scope: Any  # model_monitoring.scope.ScopeChecker


_MODELS: dict[tuple[str, str, str], WorkerModel] = {}
_MODELS_LOCK = threading.Lock()
#: How many times this process loaded a model (a Dask worker should load each version once).
model_loads = 0


def worker_model(tracking_uri: str, name: str, version: str) -> WorkerModel:
    """The model version ``name/version``, loaded once per process (Dask worker) and kept.

    The registry is asked by version, not by alias: the flow resolved ``@champion`` once at the
    start of the run, so an alias move mid-run cannot give one dataset two models.
    """
    global model_loads
    key = (tracking_uri, name, version)
    with _MODELS_LOCK:
        cached = _MODELS.get(key)
        if cached is not None:
            return cached
        cached = _load_worker_model(tracking_uri, name, version)
        _MODELS.clear()  # one version per run: an older one is not needed any more
        _MODELS[key] = cached
        model_loads += 1
        return cached


def _load_worker_model(tracking_uri: str, name: str, version: str) -> WorkerModel:
    from model_serving.mlflow_source import MlflowModelSource
    from model_serving.model_checks import build_loaded_model
    from model_serving.model_version import VersionInfo

    started = time.perf_counter()
    source = MlflowModelSource(tracking_uri)
    registered = source.client.get_model_version(name, version)
    info = VersionInfo(
        name=name,
        alias=contract.CHAMPION_ALIAS,
        version=str(registered.version),
        run_id=str(registered.run_id or ""),
        tags=dict(registered.tags or {}),
    )
    loaded = build_loaded_model(info, source.load(info))
    logger.info(
        "loaded %s version %s (%s scoring, threshold %.4f) in %.1fs",
        name,
        version,
        loaded.scoring,
        loaded.threshold,
        time.perf_counter() - started,
    )
    # Serving's loader also reads the version's scope reference (none: length + language only).
    return WorkerModel(loaded=loaded, scope=loaded.scope)


def prediction_ids(job: ScoringJob, partition: Partition) -> list[str]:
    """Deterministic ids: the same run, file and row always get the same id."""
    base = f"{job.output}|{job.model_version}|{partition.source_name}|"
    return [
        str(uuid.uuid5(PREDICTION_ID_NAMESPACE, f"{base}{row}"))
        for row in range(partition.start, partition.stop)
    ]


def score_frame(model: WorkerModel, texts: list[str]) -> pd.DataFrame:
    """Probability, label and scope of each text, each judged as serving would judge it
    (``LoadedModel.route`` and ``served_verdict``: the same functions): "uncertain" out of scope
    or too close to the routed threshold to call."""
    probabilities = (
        np.asarray(model.loaded.predict_proba(texts), dtype=float) if texts else np.zeros(0)
    )
    verdicts = model.scope.assess(texts)
    routes = model.loaded.route(verdicts)
    served = [
        served_verdict(float(p), v, r)
        for p, v, r in zip(probabilities, verdicts, routes, strict=True)
    ]
    return pd.DataFrame(
        {
            "probability_ai": probabilities,
            "label": [s.label for s in served],
            "in_scope": [s.in_scope for s in served],
            "scope_reason": [s.reason for s in served],
            "threshold": [r.threshold for r in routes],
            "human_below": [r.human_below for r in routes],
            "threshold_domain": [r.domain for r in routes],
        }
    )


def score_partition(job: ScoringJob, partition: Partition) -> PartitionResult:
    """Score one partition and write it atomically; safe to run again (same rows, same ids)."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    model = worker_model(job.tracking_uri, job.model_name, job.model_version)
    frame = read_rows(
        area_from_uri(job.source),
        partition.source_name,
        (job.id_column, job.text_column),
        partition.start,
        partition.stop,
    )
    if len(frame) != partition.rows:
        raise ValueError(
            f"{partition.source_name} has fewer rows than planned ({len(frame)} of "
            f"{partition.rows} in [{partition.start}, {partition.stop})): the input changed "
            f"during the run"
        )
    texts = [t[: job.max_text_chars] for t in frame[job.text_column].astype(str).tolist()]
    scored = score_frame(model, texts).assign(
        prediction_id=prediction_ids(job, partition), model_version=job.model_version
    )
    result = scored[list(OUTPUT_COLUMNS)]
    result.insert(0, job.id_column, frame[job.id_column].to_numpy())
    buffer = io.BytesIO()
    result.to_parquet(buffer, index=False)
    area_from_uri(job.output).write(partition.output_name, buffer.getvalue())
    return PartitionResult(
        index=partition.index,
        rows=partition.rows,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.thread_time() - cpu_started,
        worker=_worker_name(),
    )


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "in-process"


def read_scored(output: str) -> pd.DataFrame:
    """Every written partition of ``output``, in partition order (for checks and small runs)."""
    area = area_from_uri(output)
    frames = [
        pd.read_parquet(io.BytesIO(area.read(name))) for name in sorted(written_partitions(area))
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
