#!/usr/bin/env bash
# buildah on the project's own image store: vfs storage in the cache folder shared by every
# checkout on this machine (like the control-plane binaries), chroot isolation.
set -euo pipefail
cache_root=${BULKHEAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead}
exec buildah --storage-driver vfs --root "$cache_root/image/storage" \
  --runroot "$cache_root/image/run" "$@"
