"""The chart tier: helm install, upgrade, uninstall on a cluster of its own (make chart-e2e)."""
