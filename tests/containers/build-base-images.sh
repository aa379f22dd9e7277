#!/usr/bin/env bash
# Local stand-ins for the base images the project's Dockerfiles start FROM, built from Debian and
# PyPI packages, because no container registry is reachable from the test machines:
#   python:<tag>                  debootstrap'ed Debian 12 rootfs with Debian's Python 3.11 linked
#                                 at /usr/local/bin/python3 (where the official image has it);
#   ghcr.io/astral-sh/uv:<ver>    a FROM-scratch image holding /uv and /uvx from PyPI's uv wheel;
#   platform-test/debian:bookworm the plain rootfs the third-party stand-ins build on.
# The machine's CA bundle goes into the rootfs with SSL_CERT_FILE/PIP_CERT set: builds here pass
# a TLS-inspecting proxy. That is test infrastructure: the Dockerfiles do not know about it.
# Idempotent: an image that exists is kept (delete it to rebuild). Usage: build-base-images.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The tags the project's Dockerfiles name (read, not repeated: a bump there rebuilds here).
python_tag="$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$repo/model_serving/Dockerfile")"
uv_image="$(sed -n 's/^FROM \(ghcr.io\/astral-sh\/uv:[^ ]*\) AS uv$/\1/p' "$repo/model_serving/Dockerfile")"
uv_version="${uv_image##*:}"

exists() { podman image exists "$1"; }

if ! exists platform-test/debian:bookworm; then
  echo "base: debootstrap Debian 12 (minbase)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" \
    http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  cp "$ca_bundle" "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . | podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' - platform-test/debian:bookworm >/dev/null
fi

if ! exists "$python_tag"; then
  echo "base: $python_tag from Debian's python3"
  cat >"$work/Containerfile.python" <<'EOD'
FROM platform-test/debian:bookworm
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null \
    && ln -s /usr/bin/python3 /usr/local/bin/python3 \
    && ln -s /usr/bin/python3 /usr/local/bin/python \
    && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
EOD
  podman build --pull=never --format docker -q -t "$python_tag" -f "$work/Containerfile.python" "$work" >/dev/null
fi

if ! exists "$uv_image"; then
  echo "base: $uv_image from PyPI's uv $uv_version wheel"
  uv pip install --quiet --no-deps --target "$work/uv" "uv==$uv_version"
  mkdir -p "$work/uv/root"
  cp "$work/uv/bin/uv" "$work/uv/bin/uvx" "$work/uv/root/"
  chmod 0755 "$work/uv/root/uv" "$work/uv/root/uvx"
  tar -C "$work/uv/root" -c . | podman import --quiet --change 'CMD ["/uv"]' - "$uv_image" >/dev/null
fi
echo "base images ready: platform-test/debian:bookworm $python_tag $uv_image"
