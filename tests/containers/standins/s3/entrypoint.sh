#!/bin/sh
# Stand-in for `minio server /data ...` (test tier only): SeaweedFS's all-in-one server with its
# S3 gateway on MinIO's port 9000, data on /data. SeaweedFS's identities are fixed at start
# (users made later through its filer are not picked up), so this entrypoint declares the ones
# minio-init creates on a real MinIO, with the same scopes as deploy/minio/init-buckets.sh's
# policies: the root user (everything), the MLflow user (bucket `mlflow` only) and the worker's
# user (buckets `datasets` and `scoring` only). The `mc` stand-in keeps MinIO's user and policy bookkeeping.
# The arguments (minio's) are ignored.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
: "${S3_MLFLOW_ACCESS_KEY:?}" "${S3_MLFLOW_SECRET_KEY:?}"
: "${S3_WORKER_ACCESS_KEY:?}" "${S3_WORKER_SECRET_KEY:?}"
python3 - >/tmp/s3-identities.json <<'EOPY'
import json, os

def identity(name, key, secret, actions):
    return {"name": name, "credentials": [{"accessKey": os.environ[key], "secretKey": os.environ[secret]}], "actions": actions}

def bucket(name):
    return [f"{action}:{name}" for action in ("Read", "Write", "List", "Tagging")]

print(json.dumps({"identities": [
    identity("root", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", ["Admin", "Read", "Write", "List", "Tagging"]),
    identity("mlflow", "S3_MLFLOW_ACCESS_KEY", "S3_MLFLOW_SECRET_KEY", bucket("mlflow")),
    identity("worker", "S3_WORKER_ACCESS_KEY", "S3_WORKER_SECRET_KEY", bucket("datasets") + bucket("scoring")),
]}))
EOPY
exec /usr/local/bin/weed mini -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -master.telemetry=false \
  -s3.port=9000 -filer.port=8888 -webdav=false -admin.ui=false -s3.config=/tmp/s3-identities.json
