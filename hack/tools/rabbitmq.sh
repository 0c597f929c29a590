#!/usr/bin/env bash
# Installs Debian's RabbitMQ server (rabbitmq-server 3.10 on bookworm and the Erlang it needs; the
# scripts the tests run as their caller are in /usr/lib/rabbitmq/bin, those on PATH switch to the
# rabbitmq user) only when missing: tests/e2e/test_backlog_rabbitmq.py reads a real queue's depth
# through the management API. Cold: 34 MB fetched, about 13 s in all with `apt-get update`.
# The package's own node is not used (each test module starts its own on loopback,
# tests/support/rabbitmq.py): a policy-rc.d keeps the install from starting it, or epmd, and
# holding port 5672.
set -euo pipefail
bin=/usr/lib/rabbitmq/bin
[[ -x $bin/rabbitmq-server && -x $bin/rabbitmq-plugins ]] && exit 0
echo "rabbitmq.sh: installing Debian's rabbitmq-server package" >&2
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  # 101: "action forbidden", so invoke-rc.d and deb-systemd-invoke start no service.
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
