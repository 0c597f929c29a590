"""The plugin's command line (cli/main and the commands it adds) without a cluster: usage errors,
an unusable kubeconfig, and shell completion."""

from __future__ import annotations

from pathlib import Path

from bulkhead.cli.main import cli
from bulkhead.cli.target import USAGE
from click.testing import CliRunner


def test_a_bad_timeout_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["wait", "nightly", "--timeout", "soon"])
    assert result.exit_code == USAGE
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for --timeout: not a duration: 'soon' (e.g. 30s, 5m, 1h)"
    )


def test_an_unknown_output_format_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["runs", "nightly", "-o", "table"])
    assert result.exit_code == USAGE
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for '-o' / '--output': 'table' is not one of 'json', 'yaml', 'wide'."
    )


def test_no_usable_kubeconfig_exits_with_usage(tmp_path: Path) -> None:
    missing = tmp_path / "kubeconfig"
    result = CliRunner().invoke(cli, ["why", "nightly", "--kubeconfig", str(missing)])
    assert result.exit_code == USAGE
    assert result.output.startswith("error: no usable kubeconfig: ")


def test_completion_scripts_call_back_into_the_plugin() -> None:
    for shell, marker in [
        ("bash", "_KUBECTL_BULKHEAD_COMPLETE=bash_complete"),
        ("zsh", "_KUBECTL_BULKHEAD_COMPLETE=zsh_complete"),
        ("fish", "_KUBECTL_BULKHEAD_COMPLETE=fish_complete"),
    ]:
        result = CliRunner().invoke(cli, ["completion", shell])
        assert (result.exit_code, marker in result.output) == (0, True), shell
