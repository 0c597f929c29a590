#!/usr/bin/env bash
# Builds the operator image from the project's Dockerfile without a registry or a daemon, and
# prints its name. The base is not the official Python image (no registry here) but Debian's
# own Python: mmdebstrap makes a minimal bookworm root filesystem with python3, buildah turns
# it into a local image (cached, keyed by this script's package list), then builds the
# Dockerfile on it with `--build-arg BASE=`. Storage is buildah's vfs driver under the cache
# folder, isolation chroot: no daemon, no overlay mounts, no user namespaces needed.
#
# Callers pass the same storage flags to buildah (hack/image/buildah.sh wraps them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/hack/tools/image-tools.sh"
buildah() { "$here/buildah.sh" "$@"; }
log() { echo "image/build.sh: $*" >&2; }

suite=bookworm
packages=python3,python3-venv,python-is-python3,ca-certificates
key=$(printf '%s %s\n' "$suite" "$packages" | sha256sum | cut -c1-12)
base=localhost/bulkhead-base:$suite-$key
image=${BULKHEAD_IMAGE:-localhost/bulkhead:dev}

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  log "making the base $base (cold: a few minutes)"
  start=$SECONDS
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$suite" "$tmp/rootfs.tar" \
    "deb http://deb.debian.org/debian $suite main" \
    "deb http://deb.debian.org/debian $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main"
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$tmp/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd python "$ctr"
  buildah commit --quiet --rm "$ctr" "$base" >/dev/null
  log "made $base in $((SECONDS - start))s"
fi

# An image already built from the same inputs (the Dockerfile, the base and the files
# .dockerignore lets in) is reused as it is.
inputs=$(cd "$root" && {
  echo "$base"; cat Dockerfile .dockerignore
  # shellcheck disable=SC2046
  find $(sed -n 's/^!//p' .dockerignore) -type f | grep -v -e __pycache__ -e '\.egg-info' |
    LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -c1-12)
if buildah inspect --type image "localhost/bulkhead:src-$inputs" >/dev/null 2>&1; then
  buildah tag "localhost/bulkhead:src-$inputs" "$image"
  log "$image is up to date (localhost/bulkhead:src-$inputs)"
  echo "$image"
  exit 0
fi

# A machine that reaches PyPI through a proxy of its own trusts it by its pip configuration and
# CA bundle: lent to the build's RUN steps, read-only, never copied into a layer.
lent=()
for f in /etc/pip.conf /etc/ssl/certs/ca-certificates.crt; do
  [ -f "$f" ] && lent+=(--volume "$f:$f:ro")
done
start=$SECONDS
# No --layers: vfs stores every layer as a whole copy of the filesystem (about 400 MB each),
# so the build adds one layer to the base, and the image of older inputs is removed.
buildah build --quiet --isolation chroot "${lent[@]}" --build-arg "BASE=$base" \
  -t "$image" -t "localhost/bulkhead:src-$inputs" -f "$root/Dockerfile" "$root" >/dev/null
log "built $image in $((SECONDS - start))s"
buildah images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/bulkhead:src-' |
  { grep -v ":src-$inputs\$" || true; } | xargs -r "$here/buildah.sh" rmi >/dev/null
echo "$image"
