"""`python -m bulkhead --help` and the settings table of docs/operating.md both list exactly
settings.SETTINGS, and Settings.from_env reads them: each at its default unless the
environment sets it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bulkhead import __version__
from bulkhead.settings import SETTINGS, Settings

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


DEFAULTS = Settings(
    workers=16,
    metrics_port=8080,
    health_port=8081,
    events_port=8090,
    events_address="0.0.0.0",
    events_tls_cert="",
    events_tls_key="",
    log_level="INFO",
    watch_server_timeout=600,
    watch_client_timeout=660,
    resync_period=300.0,
    leader_election=False,
    namespace="bulkhead-system",
    lease_name="bulkhead",
    lease_namespace="bulkhead-system",
    identity="bulkhead-7c9f-x2k4q",
    lease_duration=12.0,
    renew_deadline=8.0,
    retry_period=2.0,
)


def test_settings_are_their_defaults_unless_the_environment_sets_them() -> None:
    assert Settings.from_env({"POD_NAME": "bulkhead-7c9f-x2k4q"}) == DEFAULTS
    environ = {
        "BULKHEAD_WORKERS": "4",
        "BULKHEAD_LOG_LEVEL": "debug",
        "BULKHEAD_RESYNC_PERIOD": "30",
        "BULKHEAD_LEADER_ELECTION": "True",
        "BULKHEAD_IDENTITY": "replica-a",
        "POD_NAME": "bulkhead-7c9f-x2k4q",
    }
    assert Settings.from_env(environ) == replace(
        DEFAULTS,
        workers=4,
        log_level="DEBUG",
        resync_period=30.0,
        leader_election=True,
        identity="replica-a",
    )


def test_without_a_pod_name_the_identity_is_the_host_and_a_random_suffix() -> None:
    first, second = Settings.from_env({}).identity, Settings.from_env({}).identity
    assert first != second
    assert first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0] == socket.gethostname()
