"""Imports go one way (DESIGN.md, Layout): api <- policy <- state <- controllers <- operator;
runtime, kube and metrics import only api (kube is handed what it needs of the settings);
settings and monitoring (the reads of health signals) import nothing of ours; cli (the kubectl
plugin) imports api, kube and the pure policy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "bulkhead"

# layer -> the layers of ours it may import (itself always allowed)
ALLOWED = {
    "settings": set(),
    "api": set(),
    "runtime": {"api"},
    "kube": {"api"},
    "metrics": {"api"},
    "monitoring": set(),
    "policy": {"api"},
    "state": {"api", "policy", "runtime"},
    "controllers": {
        "api",
        "policy",
        "state",
        "runtime",
        "kube",
        "metrics",
        "monitoring",
        "settings",
    },
    # the composition root: it builds everything, the store included
    "operator": {
        "api",
        "policy",
        "state",
        "controllers",
        "kube",
        "metrics",
        "monitoring",
        "runtime",
        "settings",
    },
    # the kubectl plugin: the API types, the one client, and the pure window and queue order
    # rules, so it shows exactly what the operator decides
    "cli": {"api", "kube", "policy"},
    "__main__": {"operator", "settings"},
    "__init__": set(),
}


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bulkhead"):
            if node.module == "bulkhead":
                # `from bulkhead import x`: a submodule, or a name of the package itself
                found.update(
                    f"bulkhead.{a.name}"
                    for a in node.names
                    if (PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir()
                )
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bulkhead."))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    wrong = {
        module
        for module in imports_of(path)
        if module != "bulkhead"
        and layer(module) not in ALLOWED[own] | {own}
        and layer(module) != "__init__"
    }
    assert wrong == set(), f"{own} may import only {sorted(ALLOWED[own])}"


def test_every_layer_is_known() -> None:
    assert {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES} <= set(ALLOWED)
