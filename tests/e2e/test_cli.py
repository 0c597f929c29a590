"""`kubectl bulkhead` (python -m bulkhead.cli, what the console script runs) against the local
cluster with the operator running: what each command prints and the exit codes it ends with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import (
    batchjob,
    dependency,
    results,
    scheduled,
    status_of,
    unique,
    wait_phase,
    wait_reason,
    wait_runs,
)


def bulkhead(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs the plugin with ARGS against $KUBECONFIG (set by the cluster fixture)."""
    return subprocess.run(
        [sys.executable, "-m", "bulkhead.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_why_and_queue_name_the_holder_and_the_waiters_in_order(operator, namespace):
    dep = unique("db", namespace)
    create(dependency(dep, 1))
    try:
        create(batchjob("holder", delay="120s", uses=[{"dependency": dep}]), namespace)
        wait_phase("holder", namespace, "Running")
        for name, priority in (("second", 0), ("third", 0), ("urgent", 5)):
            create(batchjob(name, uses=[{"dependency": dep}], priority=priority), namespace)
            wait_reason(name, namespace, "WaitingForDependency")
        # urgent, created last with a higher priority, goes ahead of second: the head of the
        # line on the Dependency's status, and `why` from every waiter
        line = wait_for(
            lambda: (
                len(q := get("dependency", dep).get("status", {}).get("queue") or []) == 3 and q
            ),
            timeout=30,
            what="three in line",
        )
        assert [(e["position"], e["name"]) for e in line] == [
            (1, "urgent"),
            (2, "second"),
            (3, "third"),
        ]
        status = status_of("second", namespace)
        assert status["queue"] == {"dependency": dep}

        why = bulkhead("why", "second", "-n", namespace)
        assert (why.returncode, why.stderr) == (0, "")
        assert why.stdout.splitlines() == [
            f"BatchJob:  {namespace}/second",
            "Phase:     Queued",
            "Reason:    WaitingForDependency",
            f"Message:   {status['message']}",
            f"Queue:     position 2 of 3 waiting for {dep}",
            f"Uses:      {dep}: needs 1, 1/1 in use, held by {namespace}/holder (1)",
        ]

        listed = bulkhead("why", "-n", namespace)
        assert [row[:3] for row in rows(listed.stdout)[1:]] == [
            [name, "Queued", "WaitingForDependency"] for name in ("second", "third", "urgent")
        ]

        report = json.loads(bulkhead("queue", dep, "-o", "json").stdout)
        assert (report["capacity"], report["inUse"], report["holders"]) == (
            1,
            1,
            [{"namespace": namespace, "name": "holder", "units": 1}],
        )
        queue = bulkhead("queue", dep)
        assert queue.returncode == 0
        lines = queue.stdout.splitlines()
        assert lines[:2] == [f"Dependency: {dep}", f"Capacity:   [{'█' * 20}] 1/1 units in use"]
        assert rows(queue.stdout)[-3:] == [
            ["1", namespace, "urgent", "1", "WaitingForDependency"],
            ["2", namespace, "second", "1", "WaitingForDependency"],
            ["3", namespace, "third", "1", "WaitingForDependency"],
        ]

        # --watch redraws when the queue changes: urgent leaves it
        watch = subprocess.Popen(
            [sys.executable, "-m", "bulkhead.cli", "queue", dep, "--watch"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            drawn: list[str] = []
            reader = threading.Thread(target=lambda: drawn.extend(watch.stdout), daemon=True)
            reader.start()
            first = ["3", namespace, "third"]
            wait_for(lambda: any(line.split()[:3] == first for line in drawn), 30, what="drawn")
            kubectl("delete", "batchjob", "urgent", "-n", namespace)
            wait_for(
                lambda: (
                    rows("".join(drawn))[-2:]
                    == [
                        ["1", namespace, "second", "1", "WaitingForDependency"],
                        ["2", namespace, "third", "1", "WaitingForDependency"],
                    ]
                ),
                timeout=30,
                what="the queue redrawn without urgent",
            )
        finally:
            watch.terminate()
            watch.wait(timeout=10)

        # a queued BatchJob neither succeeds nor fails within the timeout
        waited = bulkhead("wait", "third", "-n", namespace, "--timeout", "2s")
        assert (waited.returncode, waited.stderr) == (4, "error: timed out waiting for third\n")
        missing = bulkhead("queue", "no-such-dependency")
        assert missing.returncode == 3
        assert missing.stderr == (
            'Error from server (NotFound): dependencies.bulkhead.dev "no-such-dependency" '
            "not found\n"
        )
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")


def test_run_now_wait_runs_suspend_and_resume(operator, namespace):
    create(scheduled("manual", schedule="0 0 1 1 *"), namespace)
    wait_phase("manual", namespace, "Scheduled", timeout=30)

    ran = bulkhead("run-now", "manual", "-n", namespace, "--wait", "--timeout", "60s")
    assert ran.returncode == 0, ran.stderr
    requested, handled = ran.stdout.splitlines()
    token = requested.removeprefix("batchjob.bulkhead.dev/manual run-now requested: ")
    assert handled == f"batchjob.bulkhead.dev/manual run-now handled: {token}"
    assert status_of("manual", namespace)["runNow"] == token
    assert get("batchjob", "manual", namespace)["metadata"]["annotations"] == {
        "bulkhead.dev/run-now": token
    }

    history = wait_runs("manual", namespace, "succeeded", lambda r: results(r, "Succeeded"))
    assert json.loads(bulkhead("runs", "manual", "-n", namespace, "-o", "json").stdout) == (history)
    [run] = history
    table = rows(bulkhead("runs", "manual", "-n", namespace).stdout)
    assert table == [
        ["SCHEDULED", "RESULT", "JOB", "STARTED", "FINISHED", "REASON"],
        [
            run["scheduledTime"],
            "Succeeded",
            run["jobName"],
            run["startTime"],
            run["completionTime"],
            run["reason"],
        ],
    ]

    suspended = bulkhead("suspend", "manual", "-n", namespace)
    assert suspended.stdout == "batchjob.bulkhead.dev/manual suspended\n"
    wait_phase("manual", namespace, "Suspended", timeout=30)
    resumed = bulkhead("resume", "manual", "-n", namespace)
    assert resumed.stdout == "batchjob.bulkhead.dev/manual resumed\n"
    wait_phase("manual", namespace, "Scheduled", timeout=30)
    assert get("batchjob", "manual", namespace)["spec"]["suspend"] is False


def test_wait_exits_zero_on_succeeded_and_one_on_failed(operator, namespace):
    create(
        [batchjob("fine"), batchjob("broken", exit_code=3, backoffLimit=0)],
        namespace,
    )
    fine = bulkhead("wait", "fine", "-n", namespace, "--timeout", "60s")
    assert (fine.returncode, fine.stdout) == (
        0,
        f"batchjob.bulkhead.dev/fine Succeeded: {status_of('fine', namespace)['reason']} "
        f"{status_of('fine', namespace)['message']}\n",
    )
    broken = bulkhead("wait", "broken", "-n", namespace, "--timeout", "60s")
    status = status_of("broken", namespace)
    assert (broken.returncode, broken.stdout) == (
        1,
        f"batchjob.bulkhead.dev/broken Failed: {status['reason']} {status['message']}\n",
    )
    assert status["reason"] == "BackoffLimitExceeded"
    gone = bulkhead("wait", "no-such-batchjob", "-n", namespace)
    assert gone.returncode == 3


def test_logs_finds_the_pods_of_the_latest_run_and_calls_kubectl_logs(
    operator, namespace, tmp_path: Path
):
    """kwok pods have no logs: a stand-in kubectl records how it was called."""
    create(batchjob("talker", delay="120s"), namespace)
    wait_phase("talker", namespace, "Running")
    job = status_of("talker", namespace)["jobName"]
    pods = get("pods", namespace=namespace, selector=f"batch.kubernetes.io/job-name={job}")
    recorded = tmp_path / "args.json"
    fake = tmp_path / "kubectl"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(recorded)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    fake.chmod(0o755)
    context = kubectl("config", "current-context").stdout.strip()
    env = {**os.environ, "KUBECTL": str(fake)}
    logs = bulkhead("logs", "talker", "-n", namespace, "--context", context, env=env)
    assert logs.returncode == 0, logs.stderr
    assert logs.stderr == f"job {job}: pods {pods[0]['metadata']['name']}\n"
    assert json.loads(recorded.read_text()) == [
        "logs",
        "-n",
        namespace,
        "-l",
        f"batch.kubernetes.io/job-name={job}",
        "--all-containers",
        "--prefix",
        "--tail=-1",
        "--max-log-requests=5",
        f"--context={context}",
    ]
