#!/bin/sh
# One-shot MinIO initialisation (compose service `minio-init`, image minio/mc). Idempotent:
#   - the buckets the platform uses: `mlflow` (MLflow artifacts), `datasets` (versioned
#     datasets, incoming labelled batches, quarantine) and `scoring` (bulk scoring: texts in
#     `input/`, scored partitions out in `output/`, read and written by the worker and the Dask
#     workers of the `dask` profile);
#   - a service account (S3_ACCESS_KEY / S3_SECRET_KEY) with read-write access, so that no
#     service but this one ever holds the MinIO root credentials.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"

mc alias set platform http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing platform/mlflow platform/datasets
mc mb --ignore-existing platform/scoring
mc admin user add platform "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
# The mc image (ubi-micro) has no grep or sed: match with the shell's own `case`. Attaching a
# policy that is already attached fails ("already in effect"), so a second `up` must skip it.
entities="$(mc admin policy entities platform --user "$S3_ACCESS_KEY")"
case "$entities" in
  *readwrite*) ;;
  *) mc admin policy attach platform readwrite --user "$S3_ACCESS_KEY" ;;
esac
echo "minio-init: buckets mlflow, datasets, scoring and service account ${S3_ACCESS_KEY} ready"
