"""Prometheus for the closed loop and the dashboard test: Debian's, scraping its targets
every second, queried through its HTTP API."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import yaml

from tests.e2e.closed_loop.service import Service, stop_process
from tests.support.ports import free_port


class Prometheus(Service):
    """Debian's Prometheus on 127.0.0.1:port scraping `targets` (host:port) every second as
    scrape job `job`, evaluating `rule_files` every second. stop() and a later start() keep
    its data and port."""

    def __init__(
        self,
        home: Path,
        targets: list[str],
        job: str = "probe",
        rule_files: tuple[Path, ...] = (),
        honor_labels: bool = False,
    ) -> None:
        self.home = home
        self.job = job
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        scrape = {"job_name": job, "static_configs": [{"targets": targets}]}
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{**scrape, "honor_labels": honor_labels}],
        }
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))

    def start(self) -> None:
        self.starts += 1
        with open(self.home / f"prometheus-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={self.home / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.home / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._scraped():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus did not scrape its targets; see {self.home}")
            time.sleep(0.2)

    def stop(self) -> None:
        stop_process(self.proc)

    def vector(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result vector (each {"metric": labels, "value": [t, "v"]}),
        evaluated now or `at` (Unix time)."""
        params = {"query": expr, **({"time": str(at)} if at is not None else {})}
        with urlopen(f"{self.url}/api/v1/query?{urlencode(params)}", timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query(self, expr: str, at: float | None = None) -> float | None:
        """The value of an instant query that returns one sample (None: no sample, or NaN),
        evaluated now or `at` (Unix time)."""
        result = self.vector(expr, at)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def _scraped(self) -> bool:
        try:
            return self.query(f'min(up{{job="{self.job}"}})') == 1
        except OSError:
            return False
