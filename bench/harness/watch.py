"""When each Job or BatchJob of a namespace was first seen, and when it finished, through a
watch of its own (the bench's observations, in monotonic seconds)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import kubernetes

from bench.harness import log
from bench.harness.settings import PROGRESS_EVERY


@dataclass
class Watcher:
    """Watches Jobs or BatchJobs in a namespace (or, `prefix`, in every namespace whose name
    starts with `namespace`); records when each first did something: a Job `added`,
    `started` (first seen not suspended: when Kueue admits a Job it made wait, when bulkhead
    creates one) and `done`. A Job is known by its BatchJob (or a raw Job by its label
    bulkhead.dev/batchjob, else its name), or by its annotation `job_key` when given: a
    triggered run's bulkhead.dev/trigger-run tells apart the runs of one BatchJob."""

    namespace: str
    kind: str  # "jobs" | "batchjobs"
    prefix: bool = False
    job_key: str | None = None
    added: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _stream(self, version: str | None) -> Any:
        """The watch's events as plain JSON: the client's model classes would cost this
        process (on the same 2 cores as the cluster) about a millisecond per Job event."""
        options = {
            "watch": True,
            "_preload_content": False,
            "timeout_seconds": 300,
            "resource_version": version,
        }
        if self.kind == "jobs" and self.prefix:
            response = kubernetes.client.BatchV1Api().list_job_for_all_namespaces(**options)
        elif self.kind == "jobs":
            api = kubernetes.client.BatchV1Api()
            response = api.list_namespaced_job(self.namespace, **options)
        elif self.prefix:
            response = kubernetes.client.CustomObjectsApi().list_cluster_custom_object(
                "bulkhead.dev", "v1alpha1", "batchjobs", **options
            )
        else:
            response = kubernetes.client.CustomObjectsApi().list_namespaced_custom_object(
                "bulkhead.dev", "v1alpha1", self.namespace, "batchjobs", **options
            )
        try:
            for line in kubernetes.watch.watch.iter_resp_lines(response):
                yield json.loads(line)
        finally:
            response.close()
            response.release_conn()

    def _run(self) -> None:
        """Follows the watch; when the server ends it, resumes from the last version seen
        (after 410 Gone, from now: a watch without a version tells what exists first)."""
        version: str | None = None
        while not self._stop.is_set():
            try:
                for event in self._stream(version):
                    if self._stop.is_set():
                        return
                    if event["type"] == "ERROR":
                        version = None if event["object"].get("code") == 410 else version
                        break
                    version = event["object"]["metadata"]["resourceVersion"]
                    self._record(event)
            except Exception as error:  # the cluster going away ends the bench anyway
                if not self._stop.is_set():
                    log(f"watch on {self.kind} interrupted, resuming: {error}")
                    time.sleep(0.2)

    def _record(self, event: dict[str, Any]) -> None:
        if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
            return
        now = time.monotonic()
        obj = event["object"]
        if self.prefix and not obj["metadata"]["namespace"].startswith(self.namespace):
            return
        if self.kind == "jobs":
            meta = obj["metadata"]
            if self.job_key:
                owner = (meta.get("annotations") or {}).get(self.job_key) or meta["name"]
            else:
                owner = (meta.get("labels") or {}).get("bulkhead.dev/batchjob") or meta["name"]
            self.added.setdefault(owner, now)
            if not obj["spec"].get("suspend"):
                self.started.setdefault(owner, now)
            for c in (obj.get("status") or {}).get("conditions") or []:
                if c["status"] == "True" and c["type"] in ("Complete", "Failed"):
                    self.done.setdefault(owner, now)
                    if c["type"] == "Failed":
                        self.failed.add(owner)
        else:
            name = obj["metadata"]["name"]
            status = obj.get("status") or {}
            # a one-shot BatchJob's phase, or the result of a scheduled one's run
            result = status.get("lastRunResult") or status.get("phase")
            if result in ("Succeeded", "Failed"):
                self.done.setdefault(name, now)
                if result == "Failed":
                    self.failed.add(name)

    def wait(self, count: int, timeout: float) -> float:
        """Waits until `count` are done, printing progress every PROGRESS_EVERY seconds;
        returns when the last one was."""
        start = time.monotonic()
        deadline, shown = start + timeout, start
        while len(self.done) < count:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{self.kind}: {len(self.done)} of {count} done")
            if now - shown >= PROGRESS_EVERY:
                log(f"  {self.namespace}: {len(self.done)}/{count} done, {now - start:.0f} s")
                shown = now
            time.sleep(0.05)
        return max(self.done.values())

    def stop(self) -> None:
        self._stop.set()
