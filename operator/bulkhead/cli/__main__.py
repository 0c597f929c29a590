"""`python -m bulkhead.cli`: the same as the console script kubectl-bulkhead."""

from __future__ import annotations

from bulkhead.cli.main import main

if __name__ == "__main__":
    main()
