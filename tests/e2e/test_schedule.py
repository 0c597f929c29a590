"""Scheduled BatchJobs on the local cluster: runs on time, concurrency policies, deadlines with
a Dependency wait, suspend/resume, run-now, history limits, a shared budget under ten schedules
firing at once, and SIGKILLs around the instants."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from itertools import pairwise

from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import (
    batchjob,
    condition,
    dependency,
    events_of,
    jobs_of,
    results,
    runs_of,
    scheduled,
    status_of,
    unique,
    wait_runs,
)
from tests.support.sampler import ActiveSampler

SCHEDULED = "bulkhead.dev/scheduled-time"


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_runs_happen_on_time_and_old_jobs_are_deleted(operator, namespace):
    create(scheduled("every10", successfulRunsHistoryLimit=2), namespace)
    runs = wait_runs(
        "every10", namespace, "3 succeeded", lambda r: len(results(r, "Succeeded")) >= 3
    )
    jobs = wait_for(
        lambda: (js := jobs_of("every10", namespace)) and len(js) <= 3 and js,
        timeout=30,
        what="history limit applied",
    )
    # each run started within a few seconds of its instant (skew is measured by make bench)
    for run in results(runs, "Succeeded"):
        skew = (parse(run["startTime"]) - parse(run["scheduledTime"])).total_seconds()
        assert 0 <= skew <= 5, run
    for job in jobs:
        assert job["metadata"]["annotations"][SCHEDULED] in {r["scheduledTime"] for r in runs}
        assert job["spec"]["template"]["metadata"]["annotations"][SCHEDULED]
    # never more Jobs than the limit plus the one running
    assert len(jobs) <= 3
    wait_for(
        lambda: (
            len(jobs_of("every10", namespace)) <= 2
            or any(not j.get("status", {}).get("conditions") for j in jobs_of("every10", namespace))
        ),
        timeout=30,
        what="succeeded Jobs beyond the limit deleted",
    )
    status = status_of("every10", namespace)
    assert status["phase"] in ("Scheduled", "Running")
    assert status["nextScheduleTime"] > status["lastScheduleTime"]
    assert status["lastSuccessfulTime"]
    assert status["lastRunResult"] == "Succeeded"
    assert condition(status, "Ready")["status"] == "True"
    assert condition(status, "Reconciling")["status"] == "False"
    assert condition(status, "Stalled")["status"] == "False"
    reasons = events_of("every10", namespace)
    assert reasons == [], "a run that starts and succeeds posts no Event (it is in runs)"


def test_forbid_records_the_miss_while_a_run_is_active(operator, namespace):
    create(scheduled("forbid", delay="25s", concurrencyPolicy="Forbid"), namespace)
    runs = wait_runs("forbid", namespace, "a miss", lambda r: results(r, "Missed"), timeout=60)
    [miss, *_] = results(runs, "Missed")
    assert miss["reason"] == "ConcurrencyForbid"
    assert "was still running" in miss["message"]
    assert len(jobs_of("forbid", namespace)) == 1
    assert "RunMissed" in events_of("forbid", namespace)


def test_replace_deletes_the_active_run_and_starts_the_new_one(operator, namespace):
    create(scheduled("replace", delay="60s", concurrencyPolicy="Replace"), namespace)
    runs = wait_runs(
        "replace",
        namespace,
        "a replaced run and a new one running",
        lambda r: results(r, "Replaced") and results(r, "Running"),
        timeout=60,
    )
    [replaced] = results(runs, "Replaced")[:1]
    wait_for(
        lambda: get("job", replaced["jobName"], namespace) is None,
        timeout=60,
        what="the replaced Job deleted",
    )
    [running] = results(runs, "Running")
    assert running["scheduledTime"] > replaced["scheduledTime"]


def test_queue_keeps_one_run_waiting_for_the_active_one(operator, namespace):
    create(scheduled("queue", delay="15s", concurrencyPolicy="Queue"), namespace)
    waiting = wait_runs(
        "queue",
        namespace,
        "a run waiting for the active one",
        lambda r: [x for x in results(r, "Deferred") if x["reason"] == "WaitingForActiveRun"],
        timeout=60,
    )
    queued = next(r for r in waiting if r["result"] == "Deferred")
    runs = wait_runs(
        "queue",
        namespace,
        "the queued run started",
        lambda r: any(
            x["scheduledTime"] == queued["scheduledTime"] and x.get("jobName") for x in r
        ),
        timeout=60,
    )
    assert all(r["reason"] == "QueueFull" for r in results(runs, "Missed"))


def test_starting_deadline_bounds_a_wait_for_a_dependency(operator, namespace):
    dep = unique("db", namespace)
    create(dependency(dep, 0))
    try:
        create(
            scheduled(
                "deadline", startingDeadlineSeconds=4, uses=[{"dependency": dep, "units": 1}]
            ),
            namespace,
        )
        runs = wait_runs("deadline", namespace, "a missed run", lambda r: results(r, "Missed"))
        [miss, *_] = results(runs, "Missed")
        assert miss["reason"] == "StartingDeadlineExceeded"
        assert miss["message"].startswith(
            f"not started within startingDeadlineSeconds (4s); it was waiting for needs 1 units "
            f"of {dep}"
        )
        assert jobs_of("deadline", namespace) == []
        kubectl("patch", "dependency", dep, "--type=merge", "-p", '{"spec":{"capacity":1}}')
        wait_runs("deadline", namespace, "a run", lambda r: results(r, "Succeeded"), timeout=60)
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")


def test_suspend_then_resume_catches_up_the_latest_only(operator, namespace):
    create(scheduled("suspend", suspend=True), namespace)
    wait_for(
        lambda: status_of("suspend", namespace).get("phase") == "Suspended",
        timeout=30,
        what="Suspended",
    )
    status = status_of("suspend", namespace)
    assert condition(status, "Suspended")["status"] == "True"
    assert "nextScheduleTime" not in status
    time.sleep(25)  # two or three instants pass while suspended
    assert jobs_of("suspend", namespace) == []
    kubectl(
        "patch",
        "bj",
        "suspend",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"suspend":false}}',
    )
    runs = wait_runs(
        "suspend",
        namespace,
        "caught up",
        lambda r: results(r, "Missed") and (results(r, "Running") or results(r, "Succeeded")),
        timeout=30,
    )
    assert {r["reason"] for r in results(runs, "Missed")} <= {"Suspended", "NotCaughtUp"}
    assert "Suspended" in {r["reason"] for r in results(runs, "Missed")}
    started = [r for r in runs if r.get("jobName")]
    assert len(started) == 1  # catchUp Latest: one run for everything that was missed


def test_run_now_starts_one_run_and_is_echoed(operator, namespace):
    create(scheduled("manual", schedule="0 0 1 1 *"), namespace)
    wait_for(
        lambda: status_of("manual", namespace).get("phase") == "Scheduled",
        timeout=30,
        what="Scheduled",
    )
    kubectl("annotate", "bj", "manual", "-n", namespace, "bulkhead.dev/run-now=first")
    wait_for(
        lambda: status_of("manual", namespace).get("runNow") == "first",
        timeout=30,
        what="run-now handled",
    )
    runs = wait_runs("manual", namespace, "succeeded", lambda r: results(r, "Succeeded"))
    [run] = runs
    assert run["runNow"] == "first"
    status = status_of("manual", namespace)
    assert status["lastSuccessfulTime"] == run["completionTime"]
    assert len(jobs_of("manual", namespace)) == 1
    # the same value again starts nothing
    kubectl(
        "annotate", "bj", "manual", "-n", namespace, "--overwrite", "bulkhead.dev/run-now=first"
    )
    time.sleep(3)
    assert len(jobs_of("manual", namespace)) == 1


def test_ten_schedules_at_one_instant_never_exceed_the_budget(operator, namespace):
    """Ten BatchJobs fire at the same minute against one Dependency: never more than its
    capacity at once, and never more than maxStartsPerMinute starts in any minute."""
    dep = unique("db", namespace)
    create(dependency(dep, 2, maxStartsPerMinute=6))
    if datetime.now(UTC).second > 55:  # all ten must be created before the same instant
        time.sleep(6)
    sampler = ActiveSampler(namespace)
    sampler.start()
    try:
        create(
            [
                scheduled(
                    f"night-{i}",
                    schedule="* * * * *",
                    delay="3s",
                    uses=[{"dependency": dep, "units": 1}],
                )
                for i in range(10)
            ],
            namespace,
        )
        wait_for(
            lambda: all(results(runs_of(f"night-{i}", namespace), "Succeeded") for i in range(10)),
            timeout=200,
            what="each of the ten ran once",
        )
    finally:
        sampler.stop()
        kubectl("delete", "dependency", dep, "--wait=false")
    assert sampler.peak <= 2
    first = {runs_of(f"night-{i}", namespace)[0]["scheduledTime"] for i in range(10)}
    assert len(first) == 1  # they all fired at the same instant, and took turns
    starts = sorted(
        parse(j["metadata"]["creationTimestamp"]) for j in get("jobs", namespace=namespace)
    )
    assert len(starts) >= 10
    assert all((b - a).total_seconds() >= 60 for a, b in zip(starts, starts[6:], strict=False))


def test_sigkills_around_instants_neither_duplicate_nor_lose_runs(operator, namespace):
    create(scheduled("killed", delay="2s", concurrencyPolicy="Allow"), namespace)
    for _ in range(2):
        wait_runs(
            "killed", namespace, "a run", lambda r: results(r, "Running") or results(r, "Succeeded")
        )
        time.sleep(7)
        operator.kill()
        time.sleep(4)  # an instant passes while the operator is down
        operator.start()
    runs = wait_runs("killed", namespace, "5 runs accounted", lambda r: len(r) >= 5, timeout=60)
    created = parse(get("bj", "killed", namespace)["metadata"]["creationTimestamp"])
    times = sorted(parse(r["scheduledTime"]) for r in runs if not r.get("runNow"))
    # one entry per instant, none skipped between the first and the last
    assert len(times) == len(set(times))
    steps = {int((b - a).total_seconds()) for a, b in pairwise(times)}
    assert steps == {10}, json.dumps(runs, indent=1)
    assert int((times[0] - created).total_seconds()) in (10, 20, 30, 40, 50, 60)
    jobs = jobs_of("killed", namespace)
    assert len({j["metadata"]["annotations"][SCHEDULED] for j in jobs}) == len(jobs)


def test_a_bad_schedule_is_refused_or_stalled_with_the_reason(operator, namespace):
    refused = create(scheduled("tz", schedule="CRON_TZ=UTC 0 * * * *"), namespace, check=False)
    assert refused.returncode != 0 and "spec.schedule" in refused.stderr
    refused = create(scheduled("sixf", schedule="0 0 * * * *"), namespace, check=False)
    assert refused.returncode != 0 and "spec.schedule" in refused.stderr
    create(scheduled("badmin", schedule="61 * * * *"), namespace)
    status = wait_for(
        lambda: (s := status_of("badmin", namespace)).get("reason") == "InvalidSpec" and s,
        timeout=30,
        what="InvalidSpec",
    )
    assert "spec.schedule" in status["message"]
    assert condition(status, "Stalled")["status"] == "True"
    assert jobs_of("badmin", namespace) == []


def test_run_now_reruns_a_finished_one_shot_batchjob(operator, namespace):
    create(batchjob("once"), namespace)
    kubectl("wait", "-n", namespace, "--for=condition=Succeeded", "bj/once", "--timeout=60s")
    first = status_of("once", namespace)["jobName"]
    kubectl("annotate", "bj", "once", "-n", namespace, "bulkhead.dev/run-now=again")
    status = wait_for(
        lambda: (
            (s := status_of("once", namespace)).get("runNow") == "again"
            and s.get("phase") == "Succeeded"
            and s
        ),
        timeout=60,
        what="re-run succeeded",
    )
    assert status["jobName"] != first
    assert {j["metadata"]["name"] for j in jobs_of("once", namespace)} == {first, status["jobName"]}


def test_an_outage_is_caught_up_exactly_as_catch_up_says(operator, namespace):
    create(
        scheduled("outage", catchUp="All", maxCatchUpRuns=2, concurrencyPolicy="Allow"),
        namespace,
    )
    wait_runs("outage", namespace, "a first run", lambda r: results(r, "Succeeded"))
    operator.kill()
    down_at = datetime.now(UTC)
    time.sleep(45)  # four or five instants pass with nobody looking
    operator.start()
    back_at = datetime.now(UTC)
    runs = wait_runs(
        "outage",
        namespace,
        "the outage decided",
        lambda r: any(parse(x["scheduledTime"]) > back_at for x in r),
        timeout=30,
    )
    during = [r for r in runs if down_at < parse(r["scheduledTime"]) <= back_at]
    assert len(during) >= 4
    started = [r for r in during if r.get("jobName")]
    missed = [r for r in during if r["result"] == "Missed"]
    # All with maxCatchUpRuns 2: the newest two instants of the outage run, the older are missed
    assert [r["scheduledTime"] for r in started] == [r["scheduledTime"] for r in during[-2:]]
    assert [r["reason"] for r in missed] == ["NotCaughtUp"] * (len(during) - 2)
    times = sorted(parse(r["scheduledTime"]) for r in runs)
    assert {int((b - a).total_seconds()) for a, b in pairwise(times)} == {10}


def test_a_failed_last_run_shows_as_stalled_until_a_run_succeeds(operator, namespace):
    """kstatus reads Stalled=True as Failed (Argo CD, Flux: degraded); Ready alone it ignores."""
    create(scheduled("fails", exit_code=2, nonRetryableExitCodes=[2]), namespace)
    runs = wait_runs("fails", namespace, "a failed run", lambda r: results(r, "Failed"))
    [failed, *_] = results(runs, "Failed")
    assert failed["reason"] == "NonRetryableExitCode"
    assert "exited with code 2" in failed["message"]
    status = wait_for(
        lambda: (s := status_of("fails", namespace)).get("lastFailureTime") and s,
        timeout=30,
        what="lastFailureTime",
    )
    assert condition(status, "Stalled")["status"] == "True"
    assert condition(status, "Stalled")["reason"] == "LastRunFailed"
    assert condition(status, "Ready")["status"] == "False"
    assert condition(status, "Reconciling")["status"] == "False"
    assert status["lastRunResult"] == "Failed"
    assert "RunFailed" in events_of("fails", namespace)


def test_a_run_out_of_retries_names_its_exit_code(operator, namespace):
    create(scheduled("retries", exit_code=3, backoffLimit=1), namespace)
    runs = wait_runs("retries", namespace, "a failed run", lambda r: results(r, "Failed"))
    [failed, *_] = results(runs, "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"].startswith("container main exited with code 3; 2 pods failed")


def test_a_run_with_a_missing_service_account_makes_no_job(operator, namespace):
    create(scheduled("nosa", serviceAccountName="missing"), namespace)
    runs = wait_runs("nosa", namespace, "a failed run", lambda r: results(r, "Failed"))
    [failed, *_] = results(runs, "Failed")
    assert failed["reason"] == "InvalidSpec"
    assert "serviceAccountName missing does not exist" in failed["message"]
    assert jobs_of("nosa", namespace) == []
