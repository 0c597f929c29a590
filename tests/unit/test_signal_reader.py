"""SignalReader (controllers/signals.py): a source read through a real local HTTP server
(aiohttp's), its credentials from the operator's Secrets (FakeKube), and each way it fails
told in words."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from aiohttp import web
from bulkhead.api.health import SignalSource
from bulkhead.controllers.signals import SignalReader
from bulkhead.kube.errors import ApiError
from bulkhead.monitoring import Monitoring

from tests.support.fakes import FakeKube

NAMESPACE = "bulkhead-system"
BASIC = "Basic " + base64.b64encode("watcher:pässword ".encode()).decode()


async def answer(request: web.Request) -> web.StreamResponse:
    """A queue's depth for the basic-auth user, a Prometheus sample for the bearer token."""
    auth = request.headers.get("Authorization")
    if request.path == "/api/v1/query" and auth == "Bearer t0k":
        sample = {"metric": {}, "value": [0, request.query["query"].count("x")]}
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": [sample]}}
        )
    if request.path.startswith("/api/queues/") and auth == BASIC:
        return web.json_response({"name": "orders", "messages": 500, "backing": {"len": [7]}})
    return web.Response(status=401, text="Not_Authorized")


def read(
    sources: list[dict[str, Any]], secrets: dict[str, dict[str, str]]
) -> tuple[list[float | str], list[str]]:
    """Each source read in turn by one reader against a server started for it (`$URL` in a
    source is its address), the Secrets of the operator's namespace being `secrets`: the
    values, and the Secret keys the fake API server was asked for."""

    async def scenario() -> list[float | str]:
        app = web.Application()
        app.router.add_get("/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        monitoring = Monitoring()
        reader = SignalReader(kube, monitoring, NAMESPACE)  # type: ignore[arg-type]
        try:
            return [
                await reader.read(SignalSource.model_validate_json(text))
                for text in (
                    json.dumps(s).replace("$URL", f"http://127.0.0.1:{port}") for s in sources
                )
            ]
        finally:
            await monitoring.close()
            await runner.cleanup()

    kube = FakeKube()
    kube.secrets = {(NAMESPACE, name): keys for name, keys in secrets.items()}
    return asyncio.run(scenario()), kube.secret_reads


QUEUE = {"url": "$URL/api/queues/%2F/orders", "jsonPath": "$.messages"}
RABBIT = {"rabbit": {"user": "watcher", "pass": "pässword "}}
RABBIT_AUTH = {"secretName": "rabbit", "usernameKey": "user", "passwordKey": "pass"}


def test_basic_auth_from_one_secret_reads_the_json_path() -> None:
    source = {"http": QUEUE, "basicAuth": RABBIT_AUTH}
    assert read([source], RABBIT) == (
        [500.0],
        [f"{NAMESPACE}/rabbit user", f"{NAMESPACE}/rabbit pass"],
    )


def test_a_json_path_into_a_list() -> None:
    source = {"http": {**QUEUE, "jsonPath": "$.backing.len[0]"}, "basicAuth": RABBIT_AUTH}
    assert read([source], RABBIT)[0] == [7.0]


def test_the_default_keys_are_username_and_password() -> None:
    source = {"http": QUEUE, "basicAuth": {"secretName": "rabbit"}}
    secrets = {"rabbit": {"username": "watcher", "password": "pässword "}}
    assert read([source], secrets)[0] == [500.0]


def test_a_refused_password_is_the_http_error() -> None:
    source = {"http": QUEUE, "basicAuth": RABBIT_AUTH}
    wrong = {"rabbit": {"user": "watcher", "pass": "guess"}}
    assert read([source], wrong)[0] == ["HTTP 401: Not_Authorized"]


def test_no_credentials_is_refused_too() -> None:
    assert read([{"http": QUEUE}], {}) == (["HTTP 401: Not_Authorized"], [])


@pytest.mark.parametrize(
    ("secrets", "error"),
    [
        ({}, f"Secret {NAMESPACE}/rabbit has no key user"),
        ({"rabbit": {"user": "watcher"}}, f"Secret {NAMESPACE}/rabbit has no key pass"),
    ],
)
def test_a_missing_secret_key_says_which(secrets: dict[str, dict[str, str]], error: str) -> None:
    assert read([{"http": QUEUE, "basicAuth": RABBIT_AUTH}], secrets)[0] == [error]


def test_a_prometheus_query_with_a_bearer_token_stripped_of_its_newline() -> None:
    source = {
        "prometheus": {"address": "$URL", "query": "sum(xxx)"},
        "bearerTokenSecretRef": {"name": "prom", "key": "token"},
    }
    assert read([source], {"prom": {"token": "t0k\n"}}) == ([3.0], [f"{NAMESPACE}/prom token"])


def test_secrets_are_read_once_per_ttl_for_every_source() -> None:
    source = {"http": QUEUE, "basicAuth": RABBIT_AUTH}
    values, reads = read([source, source, source], RABBIT)
    assert (values, reads) == (
        [500.0, 500.0, 500.0],
        [f"{NAMESPACE}/rabbit user", f"{NAMESPACE}/rabbit pass"],
    )


def test_a_secret_it_may_not_read_says_so() -> None:
    class Forbidden(FakeKube):
        async def get_secret_value(self, namespace: str, name: str, key: str) -> str | None:
            raise ApiError(f'secrets "{name}" is forbidden')

    async def scenario() -> float | str:
        monitoring = Monitoring()
        reader = SignalReader(Forbidden(), monitoring, NAMESPACE)  # type: ignore[arg-type]
        try:
            source = {"http": {**QUEUE, "url": "http://127.0.0.1:9/q"}, "basicAuth": RABBIT_AUTH}
            return await reader.read(SignalSource.model_validate(source))
        finally:
            await monitoring.close()

    assert asyncio.run(scenario()) == 'cannot read its Secret: secrets "rabbit" is forbidden'
