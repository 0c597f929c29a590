"""The kubectl plugin `kubectl bulkhead` (console script kubectl-bulkhead): main.py reads and
writes through kube.Kube, render.py decides what to show."""
