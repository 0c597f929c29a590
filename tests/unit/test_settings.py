"""`python -m bulkhead --help` and the settings table of docs/operating.md both list exactly
settings.SETTINGS."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bulkhead import __version__
from bulkhead.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def bulkhead(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulkhead", *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_setting_with_its_default() -> None:
    result = bulkhead("--help")
    assert result.returncode == 0
    listed = re.findall(r"^  (BULKHEAD_\w+) +\[([^\]]*)\] (.+)$", result.stdout, re.MULTILINE)
    assert listed == [(s.env, s.default, s.help) for s in SETTINGS]


def test_docs_settings_table_is_the_settings() -> None:
    page = (ROOT / "docs/operating.md").read_text()
    rows = re.findall(r"^\| `(BULKHEAD_\w+)` \| ([^|]*) \| (.+) \|$", page, re.MULTILINE)
    assert rows == [(s.env, s.default, s.help) for s in SETTINGS]


def test_version_names_bulkhead_kopf_and_python() -> None:
    result = bulkhead("--version")
    assert result.returncode == 0
    assert re.fullmatch(
        rf"bulkhead {re.escape(__version__)} \(kopf [\w.]+, Python 3\.\d+\.\d+\)\n", result.stdout
    )


def test_an_unknown_argument_is_refused() -> None:
    result = bulkhead("--workers=4")
    assert (result.returncode, result.stdout) == (2, "")
    assert "unrecognized arguments: --workers=4" in result.stderr
