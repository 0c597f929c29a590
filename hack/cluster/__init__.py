"""A real Kubernetes control plane on loopback, without containers, for tests and demos.

    eval "$(python3 hack/cluster up [--name NAME])"    # starts it, or reuses a healthy one
    python3 hack/cluster down [--name NAME] [--purge]  # stops it (--purge: delete its state)
    python3 hack/cluster status [--name NAME]
    python3 hack/cluster restart COMPONENT [--down-for S] [--term] [--name NAME]
    python3 hack/cluster compact [--name NAME]   # etcd: watches from older revisions get 410

Runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes whose
pods run for `pod-complete.stage.kwok.x-k8s.io/delay`, default 1s, and exit with the code in
`local.bulkhead.dev/exit-code`, default 0; see hack/kwok/stages.yaml) as daemons on free
ports of 127.0.0.1, so several clusters can run side by side. Binaries come from
hack/tools/build.sh. Everything (certificates, kubeconfigs, etcd data, logs, pids) lives in
the state directory: $XDG_CACHE_HOME/bulkhead/clusters/NAME (~/.cache/... by default).
`down` stops the processes by their recorded pids and keeps the state (a later `up` starts
the cluster again on its old data); `down --purge` also deletes the state directory.

The parts: certificates (the CAs and identities), components (command lines and
configuration), processes (daemons, pids, ports), client (HTTP to the components), nodes
(kwok's fake nodes), control_plane (Cluster, which puts them together), kueue (Kueue as a
process against a running cluster, for the benchmark), __main__ (the CLI).

Python API (stdlib only, Python 3.11), with hack/ on sys.path:
    from cluster import Cluster
    c = Cluster("e2e-123").up()   # or Cluster("/some/state/dir")
    c.kubeconfig, c.bin_dir, c.env()  # env(): os.environ plus KUBECONFIG and PATH
    c.restart("kube-apiserver", down_for=3)   # one component in place: same ports, certs, data
    c.stop_component("etcd"); c.start_component("etcd")   # the same, in two steps
    c.compact()                                # etcd compaction up to its current revision
    k = c.kueue()    # Kueue against it (hack/cluster/kueue.py): k.pid, k.stop(), k.kill()
    c.down(purge=True)
"""

from .components import COMPONENTS, bin_dir_from_build
from .control_plane import Cluster, clusters_root
from .errors import ClusterError
from .kueue import Kueue, start_kueue

__all__ = [
    "COMPONENTS",
    "Cluster",
    "ClusterError",
    "Kueue",
    "bin_dir_from_build",
    "clusters_root",
    "start_kueue",
]
