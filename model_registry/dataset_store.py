"""Content digests of datasets and the store that keeps every dataset under its digest.

The digest depends only on the set of rows, not on their order, so the same data always gets the
same name. A row is ``(text, generated)`` plus its ``domain, generator, group_id`` when any of them
differs from its default (``labelled_csv.with_defaults``): a dataset of plain ``text,generated``
rows keeps the digest it had before those columns existed, so earlier frozen test splits stay valid.

The store is a local folder (default ``.local/datasets``) or an S3 prefix (``s3://bucket/prefix``;
endpoint from ``MLFLOW_S3_ENDPOINT_URL``, credentials from ``AWS_*``). Each dataset is one
deterministic gzip CSV, ``<digest>.csv.gz``; ``LATEST`` names the most recently validated dataset.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pandas as pd

from model_registry.contract import DEFAULT_DOMAIN
from model_registry.errors import DataValidationError, RegistryUnavailable
from model_registry.labelled_csv import (
    DATASET_COLUMNS,
    DOMAIN_COLUMN,
    GENERATOR_COLUMN,
    GROUP_COLUMN,
    LABEL_COLUMN,
    TEXT_COLUMN,
    default_generator,
    default_group,
    with_defaults,
)

log = logging.getLogger(__name__)

LATEST_NAME = "LATEST"


def _row_text(text: str, label: int, domain: str, generator: str, group: str) -> str:
    row = f"{int(label)}\x1f{text}"
    if (domain, generator, group) != (
        DEFAULT_DOMAIN,
        default_generator(label),
        default_group(text),
    ):
        row += f"\x1e{domain}\x1f{generator}\x1f{group}"
    return row


def dataset_digest(df: pd.DataFrame) -> str:
    """SHA-256 over the sorted row hashes (see the module docstring): order-independent."""
    full = with_defaults(df) if any(c not in df.columns for c in DATASET_COLUMNS) else df
    rows = zip(
        full[TEXT_COLUMN],
        full[LABEL_COLUMN],
        full[DOMAIN_COLUMN],
        full[GENERATOR_COLUMN],
        full[GROUP_COLUMN],
        strict=True,
    )
    row_hashes = sorted(hashlib.sha256(_row_text(*row).encode()).hexdigest() for row in rows)
    return hashlib.sha256("\n".join(row_hashes).encode()).hexdigest()


def to_bytes(df: pd.DataFrame) -> bytes:
    """Deterministic gzip CSV of the five dataset columns (gzip mtime fixed at 0)."""
    full = with_defaults(df) if any(c not in df.columns for c in DATASET_COLUMNS) else df
    csv_text = full[list(DATASET_COLUMNS)].to_csv(index=False)
    return gzip.compress(csv_text.encode("utf-8"), compresslevel=6, mtime=0)


def from_bytes(data: bytes) -> pd.DataFrame:
    """A stored dataset; one stored before the optional columns existed gets their defaults."""
    df = pd.read_csv(io.BytesIO(data), compression="gzip", dtype=object, keep_default_na=False)
    df[TEXT_COLUMN] = df[TEXT_COLUMN].astype(object)
    df[LABEL_COLUMN] = df[LABEL_COLUMN].astype(int)
    return with_defaults(df)


class DatasetNotFound(DataValidationError):
    """No dataset with that digest in the store."""


class DatasetStore(ABC):
    """Datasets by digest, plus a ``LATEST`` pointer."""

    uri: str

    @staticmethod
    def from_uri(uri: str) -> DatasetStore:
        """``s3://bucket/prefix`` or a local folder path (``file://`` accepted)."""
        if uri.startswith("s3://"):
            bucket, _, prefix = uri[len("s3://") :].partition("/")
            if not bucket:
                raise ValueError(f"no bucket in dataset store URI {uri!r}")
            return S3DatasetStore(bucket, prefix.strip("/"))
        return LocalDatasetStore(Path(uri.removeprefix("file://")))

    def put(self, df: pd.DataFrame) -> str:
        """Store ``df`` under its digest (idempotent) and return the digest."""
        digest = dataset_digest(df)
        if not self.exists(digest):
            self._write(f"{digest}.csv.gz", to_bytes(df))
            log.info("stored dataset %s (%d rows) in %s", digest[:12], len(df), self.uri)
        return digest

    def get(self, digest: str) -> pd.DataFrame:
        """The dataset stored under ``digest`` (its digest re-checked)."""
        data = self._read(f"{digest}.csv.gz")
        if data is None:
            raise DatasetNotFound(f"no dataset {digest} in {self.uri}")
        df = from_bytes(data)
        if dataset_digest(df) != digest:
            raise DataValidationError(f"dataset {digest} in {self.uri} is corrupted")
        return df

    def exists(self, digest: str) -> bool:
        return self._exists(f"{digest}.csv.gz")

    def latest(self) -> str | None:
        data = self._read(LATEST_NAME)
        return data.decode().strip() or None if data is not None else None

    def set_latest(self, digest: str) -> None:
        if not self.exists(digest):
            raise DatasetNotFound(f"no dataset {digest} in {self.uri}")
        self._write(LATEST_NAME, digest.encode())

    def location(self, digest: str) -> str:
        """Where the dataset lives (recorded as the MLflow dataset source)."""
        return f"{self.uri.rstrip('/')}/{digest}.csv.gz"

    @abstractmethod
    def _write(self, name: str, data: bytes) -> None: ...

    @abstractmethod
    def _read(self, name: str) -> bytes | None: ...

    @abstractmethod
    def _exists(self, name: str) -> bool: ...


class LocalDatasetStore(DatasetStore):
    """A folder; writes are atomic (temporary file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    def _write(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.root / name)

    def _read(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def _exists(self, name: str) -> bool:
        return (self.root / name).is_file()


class S3DatasetStore(DatasetStore):
    """An S3 prefix (SeaweedFS in tests, MinIO in compose)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None,
                config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}),
            )
        return self._client

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise RegistryUnavailable(f"dataset store {self.uri}: {what} failed: {code}") from exc
        except BotoCoreError as exc:
            raise RegistryUnavailable(f"dataset store {self.uri} unreachable: {exc}") from exc

    def _write(self, name: str, data: bytes) -> None:
        self._call("put", self.client.put_object, Key=self._key(name), Body=data)

    def _read(self, name: str) -> bytes | None:
        response = self._call("get", self.client.get_object, Key=self._key(name))
        return None if response is None else response["Body"].read()

    def _exists(self, name: str) -> bool:
        return self._call("head", self.client.head_object, Key=self._key(name)) is not None
