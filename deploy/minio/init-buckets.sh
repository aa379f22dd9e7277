#!/bin/sh
# One-shot MinIO initialisation (compose service `minio-init`, image minio/mc). Idempotent:
#   - the buckets the platform uses: `mlflow` (MLflow artifacts), `datasets` (versioned
#     datasets, incoming labelled batches, quarantine) and `scoring` (bulk scoring: texts in
#     `input/`, scored partitions out in `output/`, read and written by the worker and the Dask
#     workers of the `dask` profile);
#   - one user per service, each with a policy scoped to its own bucket, so that no service but
#     this one ever holds the MinIO root credentials and none can touch another's bucket:
#       S3_MLFLOW_ACCESS_KEY  policy `mlflow-bucket`    the MLflow server (model artifacts)
#       S3_WORKER_ACCESS_KEY  policy `worker-buckets`   the orchestration worker and the Dask
#                                                       workers (datasets, scoring)
#     A second run updates the policies and the users' secret keys to the current values.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
: "${S3_MLFLOW_ACCESS_KEY:?}" "${S3_MLFLOW_SECRET_KEY:?}"
: "${S3_WORKER_ACCESS_KEY:?}" "${S3_WORKER_SECRET_KEY:?}"

mc alias set platform http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing platform/mlflow platform/datasets
mc mb --ignore-existing platform/scoring

# bucket_policy NAME BUCKET...: list those buckets, read/write/delete their objects; nothing else.
bucket_policy() {
  name="$1"
  shift
  buckets="" objects=""
  for bucket in "$@"; do
    buckets="$buckets${buckets:+, }\"arn:aws:s3:::$bucket\""
    objects="$objects${objects:+, }\"arn:aws:s3:::$bucket/*\""
  done
  file="/tmp/$name.json"
  cat >"$file" <<EOP
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": [$buckets]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                 "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": [$objects]
    }
  ]
}
EOP
  mc admin policy create platform "$name" "$file"
}

# scoped_user ACCESS_KEY SECRET_KEY POLICY: the user with exactly that policy attached.
scoped_user() {
  mc admin user add platform "$1" "$2"
  # The mc image (ubi-micro) has no grep or sed: match with the shell's own `case`. Attaching a
  # policy that is already attached fails ("already in effect"), so a second `up` must skip it.
  entities="$(mc admin policy entities platform --user "$1")"
  case "$entities" in
    *"$3"*) ;;
    *) mc admin policy attach platform "$3" --user "$1" ;;
  esac
}

bucket_policy mlflow-bucket mlflow
bucket_policy worker-buckets datasets scoring
scoped_user "$S3_MLFLOW_ACCESS_KEY" "$S3_MLFLOW_SECRET_KEY" mlflow-bucket
scoped_user "$S3_WORKER_ACCESS_KEY" "$S3_WORKER_SECRET_KEY" worker-buckets
echo "minio-init: buckets mlflow, datasets, scoring; users ${S3_MLFLOW_ACCESS_KEY} (mlflow), ${S3_WORKER_ACCESS_KEY} (datasets, scoring) ready"
