"""The batch load the database feels: one pgbench process per Running pod of a BatchJob that
uses the Dependency (kwok pods run no code)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any

import kubernetes
import urllib3

from tests.e2e.closed_loop.postgresql import PG_BIN, PG_DATABASE, PostgreSQL
from tests.e2e.closed_loop.service import Service, stop_process

# Each pgbench client (one per unit of a running BatchJob) asks this many transactions a
# second, as a batch job paced by its own work would: below the knee the database keeps up and
# the latency stays low, past it the queue grows (docs/dependencies.md, "The closed loop").
CLIENT_RATE = 24


class LoadDriver(Service):
    """Makes the database feel the batch load: for every Running pod of a BatchJob of
    `namespace` that uses `dependency`, one pgbench process with a client per unit (each asking
    CLIENT_RATE transactions a second), stopped when the pod ends. Pods are watched; every
    second the processes are matched to the pods again, so a pgbench that died (the database
    went down) is started again while its pod runs.

    `clients` is the number of pgbench clients now; `history` holds (Unix time, clients) at
    every change."""

    def __init__(self, database: PostgreSQL, namespace: str, dependency: str) -> None:
        self.database = database
        self.namespace = namespace
        self.dependency = dependency
        self.history: list[tuple[float, int]] = [(time.time(), 0)]
        self._api = kubernetes.config.new_client_from_config(os.environ["KUBECONFIG"])
        self._running: dict[str, int] = {}  # Running pod -> its units, from the watch
        self._units: dict[str, int] = {}  # BatchJob -> its units of the Dependency
        self._load: dict[str, subprocess.Popen[bytes]] = {}  # pod -> its pgbench
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def clients(self) -> int:
        return self.history[-1][1]

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._watch, name="load-watch", daemon=True),
            threading.Thread(target=self._drive, name="load-drive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        for thread in self._threads:
            thread.join(40)
        for pod in list(self._load):
            stop_process(self._load.pop(pod))
        self._api.close()

    def peak(self, since: float = 0.0) -> int:
        """The most pgbench clients at once since `since` (Unix time)."""
        before = [c for t, c in self.history if t <= since][-1:]
        return max(before + [c for t, c in self.history if t > since])

    def _watch(self) -> None:
        core = kubernetes.client.CoreV1Api(self._api)
        while not self._stop.is_set():
            try:
                listed = core.list_namespaced_pod(self.namespace, _request_timeout=10)
                with self._lock:
                    self._running = {}
                    for pod in listed.items:
                        self._see(pod, deleted=False)
                self._changed.set()
                stream = kubernetes.watch.Watch().stream(
                    core.list_namespaced_pod, self.namespace,
                    resource_version=listed.metadata.resource_version, timeout_seconds=5,
                )  # fmt: skip
                for event in stream:
                    with self._lock:
                        self._see(event["object"], deleted=event["type"] == "DELETED")
                    self._changed.set()
                    if self._stop.is_set():
                        break
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
                self._stop.wait(0.5)  # listed again from scratch

    def _see(self, pod: Any, deleted: bool) -> None:
        """Records whether pod runs, and with how many units (caller holds the lock)."""
        name = pod.metadata.name
        owner = (pod.metadata.labels or {}).get("bulkhead.dev/batchjob")
        running = (
            not deleted
            and owner is not None
            and pod.metadata.deletion_timestamp is None
            and pod.status.phase == "Running"
        )
        units = self._units_of(owner) if running else 0
        if units:
            self._running[name] = units
        else:
            self._running.pop(name, None)

    def _units_of(self, batchjob: str) -> int:
        """The units of the Dependency that BatchJob uses (its spec cannot change once a Job
        exists, so it is read once)."""
        if batchjob not in self._units:
            custom = kubernetes.client.CustomObjectsApi(self._api)
            body = custom.get_namespaced_custom_object(
                "bulkhead.dev", "v1alpha1", self.namespace, "batchjobs", batchjob
            )
            self._units[batchjob] = sum(
                use.get("units", 1)
                for use in body["spec"].get("uses") or []
                if use["dependency"] == self.dependency
            )
        return self._units[batchjob]

    def _drive(self) -> None:
        while not self._stop.is_set():
            self._changed.wait(1)
            self._changed.clear()
            with self._lock:
                running = dict(self._running)
            for pod in [
                p for p, proc in self._load.items() if p not in running or proc.poll() is not None
            ]:
                stop_process(self._load.pop(pod))
            for pod, units in running.items():
                if pod not in self._load and not self._stop.is_set():
                    self._load[pod] = subprocess.Popen(
                        [str(PG_BIN / "pgbench"), *self.database.client_args(), "-n",
                         "-c", str(units), "-j", "1", "-T", "86400",
                         "-R", str(CLIENT_RATE * units), "-f", str(self.database.batch_script),
                         PG_DATABASE],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
            clients = sum(running[p] for p in self._load)
            if clients != self.clients:
                self.history.append((time.time(), clients))
