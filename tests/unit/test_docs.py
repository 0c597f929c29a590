"""The README and the pages under docs/: every block that shows a command's output is one the
code produces or the committed CRDs say, the excerpts they quote are the files', and the
README's links reach files that exist. (`make docs` checks the links between the pages.)"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from bulkhead.api.dependency import DependencySpec
from bulkhead.api.fair_sharing import ShareStatus
from bulkhead.cli import render
from bulkhead.policy.fair_share import Compartments, usage_from_status

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCED = re.compile(r"^```(\S*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# The README says what bulkhead is and links the rest (issue 22): it stays one short read.
README_MAX_LINES = 250


def fenced_blocks(path: Path) -> list[tuple[str, str]]:
    """Returns (language, text) of every fenced code block of a Markdown file, in order."""
    return [(match[1], match[2]) for match in FENCED.finditer(path.read_text())]


def shown_outputs() -> dict[str, str]:
    """Returns what the README and the pages show each command print, given their `console`
    blocks: `$ command` lines, each followed by its output up to the next one."""
    shown: dict[str, str] = {}
    for path in PAGES:
        for language, text in fenced_blocks(path):
            if language != "console":
                continue
            for part in re.split(r"^\$ ", text, flags=re.MULTILINE)[1:]:
                command, _, output = part.partition("\n")
                assert command not in shown, f"{command!r} is shown twice"
                shown[command] = output.rstrip("\n")
    return shown


def crd_version(kind_plural: str) -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / f"crds/bulkhead.dev_{kind_plural}.yaml").read_text())
    version: dict[str, Any] = crd["spec"]["versions"][0]
    return version


# --- kubectl bulkhead: the plugin's own rendering of one scene --------------------------------

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # a Wednesday, 20 hours before cache's window
SCENE = yaml.safe_load(
    """
dependencies:
  orders-db:
    metadata: {name: orders-db}
    spec: {capacity: 2}
    status: {inUse: 2, holders: [{namespace: billing, name: nightly, units: 2}]}
  cache:
    metadata: {name: cache}
    spec: {capacity: 4, windows: [{start: "22:00", end: "23:00"}]}
    status: {inUse: 0, holders: []}
batchjobs:
  - metadata: {name: nightly, namespace: billing, creationTimestamp: "2026-11-18T00:00:00Z",
               generation: 1}
    spec: {image: registry.example/app:1, uses: [{dependency: orders-db, units: 2}]}
    status: {observedGeneration: 1, phase: Running, reason: Running}
  - metadata: {name: invoices, namespace: billing, creationTimestamp: "2026-11-18T01:00:00Z",
               generation: 1}
    spec:
      image: registry.example/app:1
      uses: [{dependency: orders-db, units: 1}, {dependency: cache, units: 1}]
    status:
      observedGeneration: 1
      phase: Queued
      reason: WaitingForDependency
      message: >-
        waiting for orders-db: all 2 units are held or promised to BatchJobs ahead in line
      queue: {dependency: orders-db}
  - metadata: {name: urgent, namespace: shop, creationTimestamp: "2026-11-18T01:45:00Z",
               generation: 1}
    spec: {image: registry.example/app:1, priority: 10, uses: [{dependency: orders-db, units: 2}]}
    status:
      observedGeneration: 1
      phase: Queued
      reason: WaitingForDependency
      queue: {dependency: orders-db}
"""
)


def bulkhead_why_invoices() -> str:
    invoices = next(b for b in SCENE["batchjobs"] if b["metadata"]["name"] == "invoices")
    report = render.why_report(invoices, SCENE["dependencies"], NOW, SCENE["batchjobs"])
    return render.why_text(report)


def bulkhead_queue_orders_db() -> str:
    report = render.queue_report(SCENE["dependencies"]["orders-db"], SCENE["batchjobs"], NOW)
    return render.queue_text(report, NOW)


# --- fair sharing: docs/dependencies.md's Dependency and status, and these BatchJobs ---------

DEPENDENCIES_PAGE = ROOT / "docs/dependencies.md"
FAIR_BATCHJOBS = yaml.safe_load(
    """
- [billing, nightly-invoices, 3, Running, "2026-11-18T00:00:00Z"]
- [analytics, crunch-1, 6, Running, "2026-11-18T00:10:00Z"]
- [ml-lab, train, 1, Running, "2026-11-18T00:30:00Z"]
- [analytics, crunch-2, 1, Queued, "2026-11-18T01:10:00Z"]
- [analytics, crunch-3, 1, Queued, "2026-11-18T01:20:00Z"]
- [billing, invoices-retry, 2, Queued, "2026-11-18T01:30:00Z"]
"""
)
# namespace -> labels; ml-lab has no team: no share selects it
TEAMS = {"billing": {"team": "billing"}, "analytics": {"team": "analytics"}, "ml-lab": {}}
FAIR_WAIT = (
    "waiting for warehouse-db: share analytics may hold at most 6 units (its guarantee plus "
    "borrowingLimit)"
)


def fair_shown() -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns the fair-shared Dependency and the status excerpt docs/dependencies.md shows."""
    blocks = [yaml.safe_load(t) for lang, t in fenced_blocks(DEPENDENCIES_PAGE) if lang == "yaml"]
    (dependency,) = [b for b in blocks if b.get("metadata") == {"name": "warehouse-db"}]
    (status,) = [b["status"] for b in blocks if "status" in b]
    return dependency, status


def fair_scene() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Returns the Dependency of the page, with its status and the holders of FAIR_BATCHJOBS
    (and the units they hold), and those BatchJobs as read from the API."""
    dependency, status = fair_shown()
    batchjobs = []
    for namespace, name, units, phase, created in FAIR_BATCHJOBS:
        queued = {"reason": "WaitingForDependency", "queue": {"dependency": "warehouse-db"}}
        if namespace == "analytics":
            queued["message"] = FAIR_WAIT
        batchjobs.append(
            {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "creationTimestamp": created,
                    "generation": 1,
                },
                "spec": {"image": "x", "uses": [{"dependency": "warehouse-db", "units": units}]},
                "status": {"observedGeneration": 1, "phase": phase}
                | (queued if phase == "Queued" else {"reason": "Running"}),
            }
        )
    holders = [
        {"namespace": namespace, "name": name, "units": units}
        for namespace, name, units, phase, _ in FAIR_BATCHJOBS
        if phase == "Running"
    ]
    in_use = sum(h["units"] for h in holders)
    return {**dependency, "status": {**status, "inUse": in_use, "holders": holders}}, batchjobs


def test_the_shares_shown_are_what_admission_makes_of_the_dependency_and_its_batchjobs() -> None:
    dependency, status = fair_shown()
    spec = DependencySpec.model_validate(dependency["spec"])
    assert spec.fair_sharing is not None
    past = usage_from_status(ShareStatus.model_validate(row) for row in status["shares"])
    # built as state/admission.py builds it, the waiters counted as FairOrder counts them
    shares = Compartments(spec.fair_sharing, spec.capacity, spec.capacity, TEAMS.__getitem__)
    for namespace, _, units, phase, _ in FAIR_BATCHJOBS:
        if phase == "Running":
            shares.hold(namespace, units)
        else:
            shares.standing(shares.tenant_of(namespace)).waiting += 1
    shares.with_usage(past)
    assert status["shares"] == [row.wire() for row in shares.shown()]


def bulkhead_queue_warehouse_db() -> str:
    dependency, batchjobs = fair_scene()
    return render.queue_text(render.queue_report(dependency, batchjobs, NOW), NOW)


def bulkhead_why_crunch_2() -> str:
    dependency, batchjobs = fair_scene()
    crunch = next(b for b in batchjobs if b["metadata"]["name"] == "crunch-2")
    report = render.why_report(crunch, {"warehouse-db": dependency}, NOW, batchjobs)
    return render.why_text(report)


# --- kubectl explain: the CRD's descriptions, as kubectl lays them out ------------------------


def _wrapped(text: str, indent: str) -> str:
    return textwrap.fill(text, width=80, initial_indent=indent, subsequent_indent=indent)


def _kubectl_type(node: dict[str, Any]) -> str:
    if node["type"] == "array":
        return "[]" + _kubectl_type(node["items"])
    return "Object" if node["type"] == "object" else str(node["type"])


def explain_batchjob_spec_uses() -> str:
    """What `kubectl explain` prints for a list of objects, given the committed CRD: its
    description, its items', then each field of an item with its type and description."""
    uses = crd_version("batchjobs")["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["uses"]
    item = uses["items"]
    lines = [f"FIELD: uses <{_kubectl_type(uses)}>", "", "DESCRIPTION:"]
    lines += [_wrapped(uses["description"], "    "), _wrapped(item["description"], "    ")]
    lines += ["", "FIELDS:"]
    for name, field in sorted(item["properties"].items()):
        required = " -required-" if name in item.get("required", []) else ""
        lines += [f"  {name}\t<{_kubectl_type(field)}>{required}"]
        lines += [_wrapped(field["description"], "    "), ""]
    return "\n".join(lines).rstrip("\n")


PRODUCED: dict[str, Callable[[], str]] = {
    "kubectl bulkhead why invoices -n billing": bulkhead_why_invoices,
    "kubectl bulkhead queue orders-db": bulkhead_queue_orders_db,
    "kubectl bulkhead queue warehouse-db": bulkhead_queue_warehouse_db,
    "kubectl bulkhead why crunch-2 -n analytics": bulkhead_why_crunch_2,
    "kubectl explain batchjob.spec.uses": explain_batchjob_spec_uses,
}
# Rows of a live cluster no unit test can make: checked column by column below.
CHECKED_BY_COLUMN = {"kubectl get bj"}


def test_every_shown_output_is_produced_or_checked() -> None:
    assert set(shown_outputs()) == set(PRODUCED) | CHECKED_BY_COLUMN


@pytest.mark.parametrize("command", sorted(PRODUCED))
def test_a_shown_output_is_what_the_code_produces(command: str) -> None:
    assert shown_outputs()[command] == PRODUCED[command]()


def test_commands_with_output_are_in_console_blocks_only() -> None:
    elsewhere = [
        (path.name, line)
        for path in PAGES
        for language, text in fenced_blocks(path)
        if language != "console"
        for line in text.splitlines()
        if line.startswith("$ ")
    ]
    assert elsewhere == []


def _operator_writes(reason: str) -> bool:
    """Whether a reason is a string the operator's code spells out (wherever it is defined)."""
    return any(
        f'"{reason}"' in path.read_text() for path in (ROOT / "operator/bulkhead").rglob("*.py")
    )


def test_kubectl_get_bj_shows_the_printer_columns_and_values_they_can_hold() -> None:
    version = crd_version("batchjobs")
    columns = [c for c in version["additionalPrinterColumns"] if c.get("priority", 0) == 0]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    header, *rows = shown_outputs()["kubectl get bj"].splitlines()
    names = ["NAME", *(c["name"].upper() for c in columns)]
    assert header.split() == names
    starts = [header.index(f"{name} ") if name != "AGE" else header.index(name) for name in names]
    assert rows
    for row in rows:
        cells = dict(
            zip(
                names,
                (row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)),
                strict=True,
            )
        )
        assert cells["PHASE"] in status["phase"]["enum"], row
        assert cells["JOB"] == "" or cells["JOB"].startswith(cells["NAME"] + "-"), row
        assert all(re.fullmatch(r"\d*", cells[c]) for c in ("ACTIVE", "SUCCEEDED", "FAILED")), row
        assert cells["LAST-RUN"] in ["", *status["lastRunResult"]["enum"]], row
        assert re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)?", cells["NEXT-RUN"]), row
        assert bool(cells["SCHEDULE"]) == (cells["PHASE"] == "Scheduled"), row
        assert bool(cells["WAITING-FOR"]) == (cells["PHASE"] == "Queued"), row
        assert _operator_writes(cells["REASON"]), row
        assert re.fullmatch(r"\d+[smhd]", cells["AGE"]), row


def test_the_flux_rules_shown_are_the_kustomizations() -> None:
    gitops = ROOT / "docs/gitops.md"
    (shown,) = [yaml.safe_load(text) for lang, text in fenced_blocks(gitops) if lang == "yaml"]
    spec = yaml.safe_load((ROOT / "integrations/flux/kustomization.yaml").read_text())["spec"]
    assert shown == {"wait": spec["wait"], "healthCheckExprs": spec["healthCheckExprs"]}


def _anchors(path: Path) -> set[str]:
    """The anchors of a page's headings, as MyST and the code hosts make them."""
    headings = re.findall(r"^#{1,6} (.+)$", path.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_readme_links_reach_files_and_headings_that_exist() -> None:
    links = re.findall(r"\]\(([^)]+)\)", README.read_text())
    assert links
    broken = []
    for link in links:
        if re.match(r"https?://", link):
            continue
        target, _, anchor = link.partition("#")
        path = ROOT / target
        if not path.exists() or (anchor and anchor not in _anchors(path)):
            broken.append(link)
    assert broken == []


def test_the_readme_stays_short() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES
