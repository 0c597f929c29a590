"""monitoring: a signal's GET against a real local HTTP(S) server (aiohttp's), with the token,
TLS trust, and every way a read fails told in words."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bulkhead.monitoring import Monitoring, Trust


async def answer(request: web.Request) -> web.StreamResponse:
    if request.path == "/slow":
        await asyncio.sleep(3)
    if request.path == "/broken":
        return web.Response(status=503, text="upstream down")
    if request.path == "/bad-query":
        body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}
        return web.json_response(body, status=400)
    if request.path == "/text":
        return web.Response(text="p99=0.3")
    return web.json_response(
        {"auth": request.headers.get("Authorization"), "query": dict(request.query)}
    )


async def serve(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if ssl_context else "http"
    return runner, f"{scheme}://127.0.0.1:{port}"


def fetch(
    path: str,
    trust: Trust | None = None,
    params: dict[str, str] | None = None,
    certificate: tuple[Path, Path] | None = None,
) -> Any:
    """Monitoring.get_json of `path` on a server started for it (HTTPS with `certificate`)."""

    async def scenario() -> Any:
        context = None
        if certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*certificate)
        runner, url = await serve(context)
        monitoring = Monitoring()
        try:
            return await monitoring.get_json(f"{url}{path}", params or {}, 1.0, trust or Trust())
        finally:
            await monitoring.close()
            await runner.cleanup()

    return asyncio.run(scenario())


def test_sends_the_query_and_the_bearer_token() -> None:
    got = fetch("/api/v1/query", Trust(token="t0k"), {"query": "up == 1"})
    assert got == {"auth": "Bearer t0k", "query": {"query": "up == 1"}}
    assert fetch("/doc") == {"auth": None, "query": {}}


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/broken", "HTTP 503: upstream down"),
        ("/bad-query", "HTTP 400: parse error at char 3"),
        ("/text", "the answer is not JSON"),
        ("/slow", "no answer within 1s"),
    ],
)
def test_a_failed_read_says_why(path: str, error: str) -> None:
    assert fetch(path) == error


def test_an_unreachable_server_says_so() -> None:
    async def scenario() -> Any:
        monitoring = Monitoring()
        try:
            return await monitoring.get_json("http://127.0.0.1:9/health", {}, 1.0, Trust())
        finally:
            await monitoring.close()

    got = asyncio.run(scenario())
    assert isinstance(got, str) and got.startswith("unreachable: ")


def test_https_trusts_the_given_ca_and_refuses_an_unknown_one(
    certificate: tuple[Path, Path],
) -> None:
    ca = certificate[0].read_text()
    trusted = fetch("/doc", Trust(ca_pem=ca, token="x"), certificate=certificate)
    assert trusted == {"auth": "Bearer x", "query": {}}
    refused = fetch("/doc", certificate=certificate)
    assert isinstance(refused, str) and "CERTIFICATE_VERIFY_FAILED" in refused
    insecure = fetch("/doc", Trust(insecure=True), certificate=certificate)
    assert insecure == {"auth": None, "query": {}}
