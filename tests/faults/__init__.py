"""The fault tier: faults injected into a local cluster mid-run (make faults)."""
