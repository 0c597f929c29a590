"""Fixtures for the chart's tier: the e2e tier's cluster and namespace (imported from
tests/e2e, not copied), and nothing installed on it. The tests here install, upgrade and
uninstall the chart with helm, CRDs included, so they run in a session (and a cluster) of
their own: `make chart-e2e`, never together with tests/e2e, whose operator watches the CRDs.

Every test in this folder is marked `helm`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))  # kube_helpers, test_batchjob, test_dependency


from kube_helpers import load_module  # noqa: E402  (after the path insert)

_e2e = load_module("bulkhead_e2e_conftest", E2E / "conftest.py")
cluster = _e2e.cluster
namespace = _e2e.namespace


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.helm)
