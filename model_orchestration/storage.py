"""Where ingestion reads batches and puts quarantined ones: a local folder or ``s3://bucket/prefix``.

One small interface, :class:`BlobArea`, with a folder and an S3 implementation, so the ``ingest``
flow is the same in the embedded mode (folders) and in the full stack (object store). The S3
endpoint and credentials come from the standard variables (``MLFLOW_S3_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

#: A boto3 S3 client: boto3 ships no type information, so its clients are untyped.
S3Client = Any

BATCH_SUFFIXES = (".csv", ".csv.gz")


class BlobArea(Protocol):
    """A flat set of named blobs (file names, or keys directly under an S3 prefix)."""

    uri: str

    def names(self) -> list[str]:
        """Blob names directly in this area, sorted (sub-folders are not listed)."""

    def read(self, name: str) -> bytes: ...

    def write(self, name: str, content: bytes) -> str:
        """Write ``content`` as ``name``; return its full location."""

    def delete(self, name: str) -> None: ...

    def child(self, name: str) -> BlobArea:
        """The area one level below (``processed/``, ``quarantine/``...)."""


def is_batch_name(name: str) -> bool:
    return name.lower().endswith(BATCH_SUFFIXES) and not name.startswith(".")


class FolderArea:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.uri = str(self.path)

    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.is_file())

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def write(self, name: str, content: bytes) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / name
        # A name per writer: two writers of one blob (a re-run task) never share a partial file.
        partial = target.with_name(f".{name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(content)
        partial.replace(target)
        return str(target)

    def delete(self, name: str) -> None:
        (self.path / name).unlink(missing_ok=True)

    def child(self, name: str) -> FolderArea:
        return FolderArea(self.path / name)

    def move_to(self, name: str, other: FolderArea) -> str:
        other.path.mkdir(parents=True, exist_ok=True)
        return str(shutil.move(self.path / name, other.path / name))


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b/``); the prefix ends with ``/`` unless empty."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def s3_client() -> S3Client:
    """A boto3 S3 client configured from the standard environment variables."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )


class S3Area:
    def __init__(self, uri: str, client: S3Client | None = None) -> None:
        self.bucket, self.prefix = split_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}"
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def names(self) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        names: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
            names += [obj["Key"][len(self.prefix) :] for obj in page.get("Contents", [])]
        return sorted(n for n in names if n)

    def read(self, name: str) -> bytes:
        answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        body: bytes = answer["Body"].read()
        return body

    def write(self, name: str, content: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=content)
        return f"s3://{self.bucket}/{self.prefix}{name}"

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def child(self, name: str) -> S3Area:
        return S3Area(f"{self.uri}{name.strip('/')}/", client=self._client)


def area_from_uri(uri: str) -> FolderArea | S3Area:
    """A folder path or an ``s3://bucket/prefix`` URI."""
    return S3Area(uri) if uri.startswith("s3://") else FolderArea(uri)


def move(source: BlobArea, name: str, target: BlobArea) -> str:
    """Move one blob between areas (copy then delete: a crash leaves a copy, never a loss)."""
    if isinstance(source, FolderArea) and isinstance(target, FolderArea):
        return source.move_to(name, target)
    location = target.write(name, source.read(name))
    source.delete(name)
    return location
