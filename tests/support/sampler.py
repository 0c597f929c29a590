"""The Jobs active at once in a namespace, sampled while a test runs: a budget test's witness
that a Dependency's capacity held, and of the order in which BatchJobs were admitted; and of
a Kueue ClusterQueue's quota (AdmittedSampler)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

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
            unfinished = [j for j in jobs if not _finished(j)]
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


class HeldSampler(threading.Thread):
    """Every 100 ms: the unfinished Jobs of bulkhead's runs in each of `namespaces`, read from
    the Jobs themselves (not from what the operator says), as a list of Counters."""

    def __init__(self, namespaces: list[str]) -> None:
        super().__init__(daemon=True)
        kubernetes.config.load_kube_config(os.environ["KUBECONFIG"])
        self.api = kubernetes.client.BatchV1Api()
        self.namespaces = set(namespaces)
        self.samples: list[Counter[str]] = []
        self.first_seen: list[tuple[str, str]] = []  # (namespace, Job), in order of appearance
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                jobs = self.api.list_job_for_all_namespaces(
                    label_selector="bulkhead.dev/batchjob", _request_timeout=5
                ).items
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
                time.sleep(0.1)
                continue
            mine = [j for j in jobs if j.metadata.namespace in self.namespaces]
            self.samples.append(Counter(j.metadata.namespace for j in mine if not _finished(j)))
            for job in sorted(mine, key=lambda j: j.metadata.creation_timestamp):
                key = (job.metadata.namespace, job.metadata.name)
                if key not in self.first_seen:
                    self.first_seen.append(key)
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join()


class AdmittedSampler(threading.Thread):
    """Every 100 ms: how many of the namespace's Jobs labelled kueue.x-k8s.io/queue-name run
    (unsuspended and unfinished), the peak of it: a Kueue ClusterQueue's quota held."""

    def __init__(self, namespace: str) -> None:
        super().__init__(daemon=True)
        kubernetes.config.load_kube_config(os.environ["KUBECONFIG"])
        self.api = kubernetes.client.BatchV1Api()
        self.namespace = namespace
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            jobs = self.api.list_namespaced_job(
                self.namespace, label_selector="kueue.x-k8s.io/queue-name", _request_timeout=5
            ).items
            running = [j for j in jobs if not j.spec.suspend and not _finished(j)]
            self.peak = max(self.peak, len(running))
            self.samples += 1
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _finished(job: Any) -> bool:
    return any(
        c.type in ("Complete", "Failed") and c.status == "True"
        for c in (job.status.conditions or [])
    )
