"""`python -m bulkhead`: run the operator against the current KUBECONFIG (or in-cluster)."""

from __future__ import annotations

from bulkhead.operator import run

if __name__ == "__main__":
    run()
