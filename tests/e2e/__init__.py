"""The e2e tier: the operator as a process on a local cluster (make e2e)."""
