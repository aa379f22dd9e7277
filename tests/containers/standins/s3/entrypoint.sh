#!/bin/sh
# Stand-in for `minio server /data ...` (test tier only): SeaweedFS's all-in-one server with its
# S3 gateway on MinIO's port 9000, data on /data. SeaweedFS knows one S3 identity, taken from
# S3_ACCESS_KEY/S3_SECRET_KEY (the service account minio-init creates on a real MinIO); the
# `mc` stand-in keeps MinIO's user and policy bookkeeping. The arguments (minio's) are ignored.
set -eu
: "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"
export AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
exec /usr/local/bin/weed mini -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -master.telemetry=false \
  -s3.port=9000 -filer.port=8888 -webdav=false -admin.ui=false
