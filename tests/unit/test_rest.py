"""kube/rest against a local HTTP server: a listing paged by continue tokens at its first
page's version, a watch stream cut anywhere between chunks, and each refusal as the exception
that names it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from bulkhead.kube.connection import Connection
from bulkhead.kube.errors import ApiError, Conflict, Gone, Invalid
from bulkhead.kube.rest import LIST_PAGE, RestClient

JOBS = "/apis/batch/v1/namespaces/ns/jobs"


def against(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    scenario: Callable[[RestClient], Awaitable[Any]],
) -> Any:
    """What `scenario` returns, run with a client of a server that answers every request
    with `handler`."""

    async def run() -> Any:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", handler)
        async with TestServer(app, host="127.0.0.1") as server:
            client = RestClient(Connection(f"http://127.0.0.1:{server.port}"), "bulkhead-test")
            try:
                return await scenario(client)
            finally:
                await client.close()

    return asyncio.run(run())


def test_a_listing_follows_continue_tokens_at_its_first_pages_version() -> None:
    queries: list[dict[str, str]] = []
    pages = {
        "": {"metadata": {"resourceVersion": "7", "continue": "p2"}, "items": [{"n": 1}]},
        "p2": {"metadata": {"resourceVersion": "9", "continue": "p3"}, "items": [{"n": 2}]},
        "p3": {"metadata": {"resourceVersion": "9"}, "items": []},
    }

    async def answer(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        return web.json_response(pages[request.query.get("continue", "")])

    async def listing(client: RestClient) -> list[tuple[list[dict[str, Any]], str]]:
        return [page async for page in client.list_pages(JOBS, "app=x", "status.ok=1")]

    assert against(answer, listing) == [([{"n": 1}], "7"), ([{"n": 2}], "7"), ([], "7")]
    selectors = {"limit": str(LIST_PAGE), "labelSelector": "app=x", "fieldSelector": "status.ok=1"}
    assert queries == [selectors, {**selectors, "continue": "p2"}, {**selectors, "continue": "p3"}]


def test_a_watch_yields_whole_lines_however_the_stream_is_cut() -> None:
    events = [
        {"type": "ADDED", "object": {"metadata": {"name": "a"}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
        {"type": "DELETED", "object": {"metadata": {"name": "a"}}},
    ]
    stream = b"".join(orjson.dumps(e) + b"\n" for e in events)

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(stream), 7):  # chunks that end mid-line
            await response.write(stream[start : start + 7])
        await response.write_eof()
        return response

    async def watching(client: RestClient) -> list[tuple[str, dict[str, Any]]]:
        return [event async for event in client.watch(JOBS, "", "10", 60, 70)]

    assert against(answer, watching) == [(e["type"], e["object"]) for e in events]


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (409, {"message": "exists"}, Conflict(JOBS)),
        (422, {"message": "spec.image: Required value"}, Invalid("spec.image: Required value")),
        (403, {"message": "forbidden"}, ApiError(f"POST {JOBS}: 403 forbidden")),
        (500, "not JSON", ApiError(f"POST {JOBS}: 500 not JSON")),
    ],
    ids=["conflict", "invalid", "forbidden", "unparsed"],
)
def test_a_refused_create_raises_what_names_the_refusal(
    status: int, body: Any, raised: ApiError
) -> None:
    async def answer(request: web.Request) -> web.Response:
        text = body if isinstance(body, str) else orjson.dumps(body).decode()
        return web.Response(status=status, text=text)

    async def creating(client: RestClient) -> ApiError:
        with pytest.raises(ApiError) as refused:
            await client.create(JOBS, {"metadata": {"name": "a"}})
        return refused.value

    error = against(answer, creating)
    assert (type(error), str(error)) == (type(raised), str(raised))


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (410, None),
        (200, {"type": "ERROR", "object": {"code": 410, "message": "too old"}}),
    ],
    ids=["answer", "event"],
)
def test_a_watch_from_a_version_too_old_raises_gone(status: int, event: Any) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, body=orjson.dumps(event) + b"\n" if event else b"")

    async def watching(client: RestClient) -> list[tuple[str, dict[str, Any]]]:
        return [e async for e in client.watch(JOBS, "", "1", 60, 70)]

    with pytest.raises(Gone, match=JOBS):
        against(answer, watching)


def test_get_of_what_is_not_there_is_none() -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"message": "not found"}, status=404)

    async def getting(client: RestClient) -> dict[str, Any] | None:
        return await client.get(f"{JOBS}/a")

    assert against(answer, getting) is None
