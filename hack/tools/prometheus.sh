#!/usr/bin/env bash
# Installs Debian's prometheus package (Prometheus and promtool, 2.42 on bookworm) only when
# promtool is missing: promtool checks and tests the chart's alerting rules (make chart-test),
# and tests/e2e/test_dashboard.py scrapes the operator with a real Prometheus. Cold: about 15 s
# after `apt-get update`. The package's own service is not used (nothing starts it here).
set -euo pipefail
command -v promtool >/dev/null && command -v prometheus >/dev/null && exit 0
echo "prometheus.sh: installing Debian's prometheus package" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
