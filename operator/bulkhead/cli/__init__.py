"""The kubectl plugin `kubectl bulkhead` (console script kubectl-bulkhead): main.py is the
command group, explain.py and control.py its commands, target.py reads and writes through
kube.client.Kube, render.py decides what to show."""
