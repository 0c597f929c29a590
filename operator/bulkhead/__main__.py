"""`python -m bulkhead`: run the operator against the current KUBECONFIG (or in-cluster)."""

from __future__ import annotations

import os

import kopf

from bulkhead import handlers


def main() -> None:
    handlers.configure_logging()
    port = os.environ.get("BULKHEAD_HEALTH_PORT", "8081")
    kopf.run(clusterwide=True, standalone=True, liveness_endpoint=f"http://0.0.0.0:{port}/healthz")


if __name__ == "__main__":
    main()
