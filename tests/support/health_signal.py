"""A health signal the test controls (an HTTP JSON endpoint served on this host, where the
operator runs) and a Dependency health spec that reads it with a bearer token from the Secret
the e2e operator may read (tests/e2e/test_health.py, tests/e2e/test_dashboard.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The one Secret of the operator's namespace the e2e operator may read (the chart's
# health.secrets, set by the `operator_kubeconfig` fixture), and the token in it.
SIGNAL_SECRET = "signal-token"
SIGNAL_TOKEN = "s3cret-signal-token"  # under the key "token"


class Signal:
    """A JSON document {"p99": value} on 127.0.0.1 that answers only the bearer SIGNAL_TOKEN;
    `value` may be changed at any time, and `stop()` makes it unreachable."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.reads = 0
        signal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {SIGNAL_TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return
                signal.reads += 1
                body = json.dumps({"p99": signal.value}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def health(url: str, **extra: Any) -> dict[str, Any]:
    """A health spec on the p99 signal at `url`: degraded above 0.5, recovered below 0.3, open
    above 5; steps of 1 s so the test takes seconds."""
    return {
        "signals": [
            {
                "name": "p99",
                "http": {"url": url, "jsonPath": "$.p99", "timeout": "1s"},
                "bearerTokenSecretRef": {"name": SIGNAL_SECRET, "key": "token"},
            }
        ],
        "interval": "1s",
        "for": "0s",
        "degradedWhen": "signals.p99 > 0.5",
        "recoveredWhen": "signals.p99 < 0.3",
        "openWhen": "signals.p99 > 5.0",
        "adaptive": {
            "minCapacity": 1,
            "target": {"signal": "p99", "value": 0.5},
            "settleTime": "2s",
        },
        "breaker": {"baseWait": "3s", "maxWait": "10s", "observeFor": "3s", "jitter": 0},
        **extra,
    }
