"""`python -m bulkhead`: run the operator against the current KUBECONFIG (or in-cluster)."""

from __future__ import annotations

import kopf

from bulkhead import handlers


def main() -> None:
    handlers.configure_logging()
    kopf.run(clusterwide=True, standalone=True, liveness_endpoint="http://0.0.0.0:8081/healthz")


if __name__ == "__main__":
    main()
