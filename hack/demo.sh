#!/usr/bin/env bash
# make demo: the local cluster, bulkhead's CRDs, the operator, and the examples in jobs/,
# shown as `kubectl get bj` while they run. The cluster stays up afterwards (make cluster-down).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(python3 hack/cluster up)"
ns=bulkhead-demo
log=$(mktemp -t bulkhead-demo-operator.XXXX.log)

# The chart's CRDs and RBAC; the operator runs as the chart's ServiceAccount, not as admin.
operator_kubeconfig=$(.venv/bin/python hack/install.py "$(mktemp -t bulkhead-demo-kubeconfig.XXXX)")
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl delete dependency orders-db warehouse-db reports-db shared-db --ignore-not-found >/dev/null
kubectl delete namespace demo-billing demo-analytics --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null

KUBECONFIG=$operator_kubeconfig BULKHEAD_METRICS_PORT=0 BULKHEAD_HEALTH_PORT=0 .venv/bin/python -m bulkhead >"$log" 2>&1 &
operator=$!
# The health part's signal: a JSON file served over HTTP on this host, rewritten as the demo goes.
signal_dir=$(mktemp -d -t bulkhead-demo-signal.XXXX)
echo '{"p99": 0.1}' >"$signal_dir/health.json"
signal_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$signal_dir" "$signal_port" >/dev/null 2>&1 &
signal=$!
trap 'kill $operator $signal 2>/dev/null; wait $operator $signal 2>/dev/null || true' EXIT
echo "operator running (pid $operator, log $log); namespace $ns enforces Pod Security 'restricted'"
echo

kubectl apply -n "$ns" -f jobs/
echo
for _ in $(seq 1 90); do
  echo "--- $(date +%T) kubectl get bj -n $ns"
  kubectl get bj -n "$ns"
  kubectl get dep orders-db --no-headers 2>/dev/null | sed 's/^/    dependency: /'
  # done when every one-shot BatchJob finished and the rollup schedule has run three times
  left=$(kubectl get bj -n "$ns" -o jsonpath='{range .items[*]}{.spec.schedule}|{.status.phase}{"\n"}{end}' \
    | grep -E '^\|' | grep -cvE '^\|(Succeeded|Failed)$' || true)
  rollups=$(kubectl get bj orders-rollup -n "$ns" -o jsonpath='{.status.runs[*].result}' \
    | tr ' ' '\n' | grep -c '^Succeeded$' || true)
  [ "$left" = 0 ] && [ "$rollups" -ge 3 ] && break
  sleep 3
done
echo
echo "--- why did the failed one fail? (kubectl get bj -o wide shows the message)"
kubectl get bj -n "$ns" -o wide
echo
echo "--- events on invoices-bad-month"
kubectl get events -n "$ns" --field-selector involvedObject.name=invoices-bad-month \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message
echo
echo "--- the schedules: orders-rollup's runs (status.runs), newest last"
kubectl get bj orders-rollup -n "$ns" -o jsonpath='{range .status.runs[*]}{.scheduledTime}{"  "}{.result}{"  "}{.reason}{"  "}{.jobName}{"\n"}{end}'
echo
echo "--- nightly-invoices waits for 02:00 Madrid time; run it now (it still waits for warehouse-db's window):"
kubectl annotate bj nightly-invoices -n "$ns" --overwrite bulkhead.dev/run-now="demo-$(date +%s)" >/dev/null
sleep 3
kubectl get bj nightly-invoices -n "$ns" -o jsonpath='next run: {.status.nextScheduleTime}{"\n"}run-now handled: {.status.runNow}{"\n"}{.status.message}{"\n"}'
echo
echo "--- Dependency health: reports-db's budget follows its p99 signal (jobs/health/)"
sed "s|SIGNAL_URL|http://127.0.0.1:$signal_port/health.json|" jobs/health/reports-db.yaml \
  | kubectl apply -n "$ns" -f - >/dev/null
show_health() {
  for _ in $(seq 1 "$1"); do
    echo "--- $(date +%T) p99 $(cat "$signal_dir/health.json")"
    kubectl get dep reports-db
    kubectl get bj report-7 -n "$ns" --no-headers -o custom-columns=BJ:.metadata.name,PHASE:.status.phase,WHY:.status.message
    sleep 2
  done
}
show_health 2
echo '{"p99": 1.2}' >"$signal_dir/health.json"
echo ">>> the database slows down: p99 1.2 s, above the 0.5 s target"
show_health 6
echo '{"p99": 0.1}' >"$signal_dir/health.json"
echo ">>> it recovers: p99 0.1 s; the budget grows back a step per settleTime while it is all in use"
show_health 8
echo
echo "--- events on reports-db (kubectl describe dep reports-db shows them too)"
kubectl get events -A --field-selector involvedObject.name=reports-db --sort-by=.lastTimestamp \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message
echo
echo "--- Fair sharing: billing (weight 2) and analytics (weight 1) flood shared-db (capacity 6)."
echo "    billing's runs are applied first and take the free units (nothing running is stopped);"
echo "    as runs end, the units go to whoever is furthest below its weight: 4 billing, 2 analytics."
kubectl apply -f jobs/fair-share/ >/dev/null
for _ in $(seq 1 8); do
  sleep 3
  echo "--- $(date +%T) kubectl bulkhead queue shared-db"
  .venv/bin/kubectl-bulkhead queue shared-db | sed -n '/^Shares/,/^$/p'
done
echo
echo "--- Runs started by events: load runs once after each successful run of extract"
echo "    (jobs/triggers/); extract is asked to run now"
kubectl create namespace demo-triggers --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n demo-triggers -f jobs/triggers/ >/dev/null
.venv/bin/kubectl-bulkhead run-now extract -n demo-triggers >/dev/null
for _ in $(seq 1 30); do
  done_runs=$(kubectl get bj load -n demo-triggers \
    -o jsonpath='{.status.runs[?(@.result=="Succeeded")].jobName}' 2>/dev/null | wc -w)
  [ "$done_runs" -ge 1 ] && break
  sleep 1
done
.venv/bin/kubectl-bulkhead runs load -n demo-triggers
echo
echo "The cluster is still running: eval \"\$(make -s cluster-up)\" to use it, make cluster-down to stop it."
