#!/usr/bin/env bash
# promtool on the chart's alerting rules, as Prometheus would load them: `check rules` on the
# PrometheusRule the chart renders (the monitoring API declared served, default thresholds),
# then `test rules` with tests/alerts/*_test.yaml, which load it as rules.yaml beside them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
helm=$("$root/hack/tools/build.sh")/helm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$helm" template bulkhead "$root/charts/bulkhead" -s templates/metrics.yaml \
	--api-versions monitoring.coreos.com/v1/PrometheusRule --set metrics.prometheusRule.enable=true \
	| sed -n '/^spec:$/,$p' | sed '1d; s/^  //' >"$tmp/rules.yaml"
promtool check rules "$tmp/rules.yaml"
cp "$root"/tests/alerts/*_test.yaml "$tmp/"
promtool test rules "$tmp"/*_test.yaml
