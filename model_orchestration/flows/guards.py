"""Flow parameters that must not weaken the platform: checked before a flow does anything.

Anyone who may create a flow run (the Prefect API, its UI) can pass parameters. A run may make the
promotion gate stricter but never weaker than the configured ``REGISTRY_*`` values (a
``gate_margin=1.0`` would promote any challenger), and may only read or write inside the
configured areas (the ingest source, the quarantine, the dataset store, the folder of the seed
corpus), so a run parameter cannot make the worker read or move arbitrary files or buckets.
"""

from __future__ import annotations

import re
from pathlib import Path

from model_orchestration.settings import OrchestrationSettings
from model_registry.settings import RegistrySettings

DIGEST = re.compile(r"[0-9a-f]{64}")


class UnsafeParameter(ValueError):
    """A flow parameter that would weaken the gate or leave the configured areas."""


def gate_not_weaker(
    configured: RegistrySettings, f1_floor: float | None, gate_margin: float | None
) -> None:
    """A run may raise the floor or lower the margin, never the reverse."""
    if gate_margin is not None and gate_margin > configured.gate_margin:
        raise UnsafeParameter(
            f"gate_margin {gate_margin} is above the configured REGISTRY_GATE_MARGIN "
            f"{configured.gate_margin}: a run may not weaken the promotion gate"
        )
    if f1_floor is not None and f1_floor < configured.f1_floor:
        raise UnsafeParameter(
            f"f1_floor {f1_floor} is below the configured REGISTRY_F1_FLOOR "
            f"{configured.f1_floor}: a run may not weaken the promotion gate"
        )


def dataset_digest_shape(digest: str | None) -> None:
    """A dataset version is named by its SHA-256 (64 lower-case hex characters), nothing else."""
    if digest is not None and not DIGEST.fullmatch(digest):
        raise UnsafeParameter("dataset_digest must be a dataset version (64 hex characters)")


def inside(location: str | None, area: str, what: str) -> None:
    """``location`` is ``area`` or below it: the same bucket and key prefix for ``s3://``, the
    same folder (symbolic links and ``..`` resolved) for a path."""
    if location is None:
        return
    if area.startswith("s3://") or location.startswith("s3://"):
        wanted, given = area.rstrip("/") + "/", location.rstrip("/") + "/"
        if not given.startswith(wanted) or "/../" in given or "/./" in given:
            raise UnsafeParameter(f"{what} {location!r} is outside the configured {area!r}")
        return
    root = Path(area.removeprefix("file://")).resolve()
    target = Path(location.removeprefix("file://")).resolve()
    if not target.is_relative_to(root):
        raise UnsafeParameter(f"{what} {location!r} is outside the configured {area!r}")


def inside_any(location: str, areas: set[str], what: str) -> None:
    """``location`` is inside at least one of ``areas`` (see :func:`inside`)."""
    refusals = []
    for area in sorted(areas):
        try:
            inside(location, area, what)
        except UnsafeParameter as refused:
            refusals.append(refused)
        else:
            return
    raise refusals[0] if refusals else UnsafeParameter(f"{what} {location!r}: no area configured")


def check_train_parameters(
    dataset_digest: str | None,
    data_path: str | None,
    f1_floor: float | None,
    gate_margin: float | None,
) -> None:
    """``train``'s run parameters against the configured ``REGISTRY_*`` settings."""
    configured = RegistrySettings()
    gate_not_weaker(configured, f1_floor, gate_margin)
    dataset_digest_shape(dataset_digest)
    seed_folders = {str(path.parent) for path in configured.data_path}
    for part in (data_path or "").split(","):
        if part.strip():
            inside_any(part.strip(), seed_folders, "data_path")


def check_ingest_parameters(
    settings: OrchestrationSettings,
    source: str | None,
    quarantine: str | None,
    dataset_store: str | None,
    http_source_url: str | None,
) -> None:
    """``ingest``'s run parameters against the configured areas (and HTTP source)."""
    inside(source, settings.ingest_source, "source")
    inside(quarantine, settings.quarantine, "quarantine")
    inside(dataset_store, RegistrySettings().dataset_store, "dataset_store")
    if http_source_url is not None and http_source_url != settings.http_source_url:
        raise UnsafeParameter(
            "http_source_url may only repeat the configured ORCHESTRATION_HTTP_SOURCE_URL"
        )


#: A column name a ``score`` run may ask for: letters, digits, ``_``, ``-``, ``.``, at most 128.
COLUMN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


def check_score_parameters(
    settings: OrchestrationSettings,
    source: str,
    output: str,
    id_column: str,
    text_column: str,
    rows_per_partition: int | None,
) -> None:
    """``score``'s run parameters: input and output inside their configured areas, plain column
    names, a partition size within the configured bound."""
    inside(source, settings.score_input_area, "source")
    inside(output, settings.score_output_area, "output")
    for what, name in (("id_column", id_column), ("text_column", text_column)):
        if not COLUMN_NAME.fullmatch(name):
            raise UnsafeParameter(f"{what} must be 1-128 letters, digits, '_', '-' or '.'")
    if id_column == text_column:
        raise UnsafeParameter("id_column and text_column must differ")
    if rows_per_partition is not None and not 100 <= rows_per_partition <= 1_000_000:
        raise UnsafeParameter("rows_per_partition must be between 100 and 1,000,000")
