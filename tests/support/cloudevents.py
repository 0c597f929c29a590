"""CloudEvents sent to the operator's endpoint (POST /events/<namespace>/<batchjob>/<trigger>)
as a sender does, for the e2e tier and the benchmark: ServiceAccount tokens allowed to send
(`senders`), an event (`event`), and a POST that sends a 503 again after its Retry-After
(`post`, `send`), on a connection of its own or on a kept-alive one the caller holds."""

from __future__ import annotations

import json
import time
from http.client import HTTPConnection, HTTPException
from typing import Any

from cloudevents.core.bindings import http as binding
from cloudevents.core.v1.event import CloudEvent

from tests.support.kube import create, kubectl


def senders(namespace: str) -> tuple[str, str]:
    """Tokens of two ServiceAccounts of `namespace`: `sender`, which may trigger its BatchJobs
    (verb trigger), and `stranger`, which may not."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "event-sender"},
        "rules": [
            {"apiGroups": ["bulkhead.dev"], "resources": ["batchjobs"], "verbs": ["trigger"]}
        ],
    }
    role_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "event-sender"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "event-sender",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "sender", "namespace": namespace}],
    }
    for account in ("sender", "stranger"):
        kubectl("create", "serviceaccount", account, "-n", namespace)
    create([role, role_binding], namespace)
    sender, stranger = (
        kubectl("create", "token", account, "-n", namespace).stdout.strip()
        for account in ("sender", "stranger")
    )
    return sender, stranger


def post(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    token: str | None,
    retries: int = 20,
    connection: HTTPConnection | None = None,
) -> tuple[int, dict[str, Any]]:
    """POSTs to the operator's endpoint: the status and the JSON answer; a 503 is sent again
    after its Retry-After, as a CloudEvents sender does. On `connection` (kept alive, to
    127.0.0.1:port) when given, else on one of its own."""
    if token:
        headers = {**headers, "Authorization": f"Bearer {token}"}
    own = connection is None
    conn = connection or HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(retries):
            try:
                status, retry_after, answer = _exchange(conn, path, body, headers)
            except (HTTPException, ConnectionError):
                # A kept-alive connection the server closed while idle: sending the event
                # again is safe, the endpoint knows it by its source and id.
                conn.close()
                status, retry_after, answer = _exchange(conn, path, body, headers)
            if status != 503:
                return status, answer
            time.sleep(float(retry_after or 1))
    finally:
        if own:
            conn.close()
    raise AssertionError(f"{path}: 503 {retries} times")


def _exchange(
    conn: HTTPConnection, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str | None, dict[str, Any]]:
    """One POST on `conn`: the status, the Retry-After header and the JSON answer."""
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.getheader("Retry-After"), json.loads(response.read() or b"{}")


def event(event_id: str, data: Any = None, type_: str = "order.exported") -> CloudEvent:
    """An event of source /orders, type `type_`."""
    return CloudEvent({"id": event_id, "source": "/orders", "type": type_}, data)


def send(
    port: int,
    path: str,
    ce: CloudEvent,
    token: str | None,
    binary: bool = False,
    connection: HTTPConnection | None = None,
    retries: int = 20,
) -> tuple[int, dict[str, Any]]:
    """POSTs `ce` (structured mode, or `binary`): the status and the JSON answer (its
    verdict); a 503 is sent again up to `retries` times in all."""
    message = binding.to_binary_event(ce) if binary else binding.to_structured_event(ce)
    return post(
        port, path, message.body, dict(message.headers), token, retries, connection=connection
    )
