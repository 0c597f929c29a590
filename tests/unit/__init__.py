"""The unit tier: no cluster, no network (make unit)."""
