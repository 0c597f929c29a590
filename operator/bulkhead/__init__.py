"""bulkhead: isolated, budgeted Kubernetes batch runs."""

__version__ = "0.1.0"
