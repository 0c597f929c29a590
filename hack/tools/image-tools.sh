#!/usr/bin/env bash
# Installs what the image tier needs (tests/e2e/test_image.py, hack/image/build.sh) as Debian
# packages, only when missing: mmdebstrap makes the base root filesystem, buildah builds and
# runs the image without a daemon or a registry.
set -euo pipefail
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v buildah >/dev/null || missing+=(buildah)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "image-tools.sh: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
