"""The Jobs active at once in a namespace, sampled while a test runs: a budget test's witness
that a Dependency's capacity held, and of the order in which BatchJobs were admitted."""

from __future__ import annotations

import os
import threading
import time

import kubernetes
import urllib3


class ActiveSampler(threading.Thread):
    """Every 100 ms: how many of the namespace's Jobs are unfinished, and in which order
    Jobs first appeared."""

    def __init__(self, namespace: str) -> None:
        super().__init__(daemon=True)
        kubernetes.config.load_kube_config(os.environ["KUBECONFIG"])
        self.api = kubernetes.client.BatchV1Api()
        self.namespace = namespace
        self.peak = 0
        self.samples = 0
        self.first_seen: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                jobs = self.api.list_namespaced_job(self.namespace, _request_timeout=5).items
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
                # the API server is down (a fault test): no sample, and no Job created either
                time.sleep(0.1)
                continue
            unfinished = [
                j
                for j in jobs
                if not any(
                    c.type in ("Complete", "Failed") and c.status == "True"
                    for c in (j.status.conditions or [])
                )
            ]
            self.peak = max(self.peak, len(unfinished))
            self.samples += 1
            for job in sorted(jobs, key=lambda j: j.metadata.creation_timestamp):
                owner = job.metadata.labels["bulkhead.dev/batchjob"]
                if owner not in self.first_seen:
                    self.first_seen.append(owner)
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join()
