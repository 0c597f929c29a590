#!/usr/bin/env bash
# Builds the local control plane's binaries into a cache shared by every checkout on this
# machine, keyed by versions.env, and prints that folder. Builds only what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
cache_root=${BULKHEAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead}
bin="$cache_root/bin/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
mkdir -p "$bin"

log() { echo "build.sh: $*" >&2; }

build_once() { # name, then the command that writes $bin/name.tmp
  local name=$1; shift
  [ -x "$bin/$name" ] && return 0
  log "building $name (cold builds take minutes)"
  local start=$SECONDS
  "$@"
  mv "$bin/$name.tmp" "$bin/$name"
  log "built $name in $((SECONDS - start))s"
}

kube_ldflags() {
  local v=${KUBERNETES_VERSION#v} major minor
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  local f=""
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    f+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build_once "$cmd" bash -c "cd '$here/kubernetes' && go build -trimpath -ldflags '$(kube_ldflags)' -o '$bin/$cmd.tmp' k8s.io/kubernetes/cmd/$cmd"
done
build_once etcd bash -c "cd '$here/etcd' && go build -trimpath -ldflags '-s -w' -o '$bin/etcd.tmp' go.etcd.io/etcd/server/v3"

# kwok and helm carry no replace lines, so they build from their own modules.
install_tool() { # name, package@version, ldflags
  local tmp; tmp=$(mktemp -d)
  GOBIN=$tmp go install -trimpath -ldflags "$3" "$2"
  mv "$tmp/$1" "$bin/$1.tmp"; rmdir "$tmp"
}
build_once kwok install_tool kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
build_once helm install_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"

# helm-unittest tests the chart and is no part of the cluster: it has a folder of its own, keyed
# by its version (a new one does not rebuild the control plane), linked into $bin. Its module
# (./helm-unittest) copies helm-unittest's replace line, which `go install pkg@version` refuses.
unittest_bin="$cache_root/bin/helm-unittest-$HELM_UNITTEST_VERSION"
mkdir -p "$unittest_bin"
bin=$unittest_bin build_once helm-unittest bash -c "cd '$here/helm-unittest' && go build -trimpath -ldflags '-s -w' -o '$unittest_bin/helm-unittest.tmp' github.com/helm-unittest/helm-unittest/cmd/helm-unittest"
ln -sfn "$unittest_bin/helm-unittest" "$bin/helm-unittest"

# Kueue, for the benchmark's comparison on the local cluster (hack/cluster/kueue.py): a folder of
# its own keyed by its version, linked into $bin. Its module (hack/kueue) is a copy of Kueue's
# cmd/kueue/main.go whose metrics certificate folder is a flag.
kueue_bin="$cache_root/bin/kueue-$KUEUE_VERSION"
mkdir -p "$kueue_bin"
bin=$kueue_bin build_once kueue bash -c "cd '$here/../kueue' && nice -n 10 go build -trimpath -ldflags '-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION' -o '$kueue_bin/kueue.tmp' ."
ln -sfn "$kueue_bin/kueue" "$bin/kueue"

# The Argo CD and Flux health runners (hack/argocd-lua, hack/flux-cel) are our own code on
# Argo CD's and Flux's libraries: each has a folder keyed by that library's version (read from
# its go.mod) and a hash of the module's files, so an edit rebuilds it; linked into $bin.
health_runner() { # name, the library's module path
  local src="$here/../$1" version key dir
  version=$(awk -v m="$2" '$1 == m {print $2}' "$src/go.mod")
  key=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-12)
  dir="$cache_root/bin/$1-$version-$key"
  mkdir -p "$dir"
  bin=$dir build_once "$1" bash -c "cd '$src' && nice -n 10 go build -trimpath -ldflags '-s -w' -o '$dir/$1.tmp' ."
  ln -sfn "$dir/$1" "$bin/$1"
}
health_runner argocd-lua github.com/argoproj/argo-cd/v3
health_runner flux-cel github.com/fluxcd/pkg/runtime

echo "$bin"
