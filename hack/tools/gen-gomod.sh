#!/usr/bin/env bash
# Regenerates the go.mod files of the tools modules from versions.env.
# k8s.io/kubernetes points its staging modules at ./staging; we replace each one with the
# published v0.X.Y of the same release, read from kubernetes' own go.mod.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
staging_version="v0.${KUBERNETES_VERSION#v1.}"
kube_mod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')

cd "$here/kubernetes"
{
  echo "module bulkhead.dev/hack/tools/kubernetes"
  echo
  echo "go $(go env GOVERSION | sed 's/^go//' | cut -d. -f1,2)"
  echo
  echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
  echo
  echo "replace ("
  sed -n '/^replace (/,/^)/p' "$kube_mod" | awk '/=>/{print $1}' | while read -r m; do
    # The sample modules are not published and nothing we build imports them.
    case "$m" in k8s.io/sample-cli-plugin|k8s.io/sample-controller) continue ;; esac
    echo "	$m => $m $staging_version"
  done
  echo ")"
} > go.mod
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go get -tool "k8s.io/kubernetes/cmd/$cmd@$KUBERNETES_VERSION"
done
go mod tidy

cd "$here/etcd"
printf 'module bulkhead.dev/hack/tools/etcd\n\ngo %s\n' "$(go env GOVERSION | sed 's/^go//' | cut -d. -f1,2)" > go.mod
go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
go mod tidy
