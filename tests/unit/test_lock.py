"""The lock files agree with pyproject.toml: `make lock` was run after its dependencies
changed. requirements.lock (runtime, what the image installs) and requirements-dev.lock
(runtime and dev, what `make venv` installs) are `uv pip compile` output with hashes."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")
DIRECT = "bulkhead (pyproject.toml)"


@dataclass
class Pin:
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    """Every pinned package of a `uv pip compile` file: version, hash count, its `via` lines."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = pins[canonicalize_name(match[1])] = Pin(match[2])
        elif current is not None and line.lstrip().startswith("--hash="):
            current.hashes += 1
        elif current is not None and line.lstrip().startswith("#"):
            current.via.append(line.lstrip("# ").removeprefix("via").strip())
    return pins


def declared(*extras: str) -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = project["dependencies"] + [
        r for e in extras for r in project["optional-dependencies"][e]
    ]
    return {canonicalize_name(r.name): r for r in map(Requirement, texts)}


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))]
)
def test_lock_pins_exactly_what_pyproject_declares(lock: str, extras: tuple[str, ...]) -> None:
    pins = read_lock(ROOT / lock)
    wanted = declared(*extras)
    direct = {name for name, pin in pins.items() if DIRECT in pin.via}
    assert direct == set(wanted), f"{lock} is stale: run `make lock`"
    outside = {
        name: pins[name].version
        for name, requirement in wanted.items()
        if not requirement.specifier.contains(pins[name].version, prereleases=True)
    }
    assert outside == {}, f"{lock} pins versions pyproject.toml refuses: run `make lock`"
    assert [name for name, pin in pins.items() if pin.hashes == 0] == []


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    runtime = read_lock(ROOT / "requirements.lock")
    dev = read_lock(ROOT / "requirements-dev.lock")
    assert {name: pin.version for name, pin in runtime.items()} == {
        name: dev[name].version if name in dev else "absent" for name in runtime
    }
