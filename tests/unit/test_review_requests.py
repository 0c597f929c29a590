"""The CloudEvents endpoint's reviews through Kube against a local HTTP server: the TokenReview
and SubjectAccessReview each sends, what it makes of the answer, and that a standby (which may
not write) still sends them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from bulkhead.kube.client import Kube, TokenReviewed
from bulkhead.kube.connection import Connection


def reviewed(
    answers: dict[str, dict[str, Any]], scenario: Callable[[Kube], Awaitable[Any]]
) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """What `scenario` returns with a Kube that may not write, of a server that answers a
    POST to each path with the status in `answers`; and the (path, body) posted."""
    posted: list[tuple[str, dict[str, Any]]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        posted.append((request.path, body))
        return web.json_response({**body, "status": answers[request.path]}, status=201)

    async def run() -> Any:
        app = web.Application()
        app.router.add_post("/{path:.*}", handle)
        async with TestServer(app, host="127.0.0.1") as server:
            kube = Kube(Connection(f"http://127.0.0.1:{server.port}"), "bulkhead-test")
            kube.may_write = lambda: False  # a standby
            try:
                return await scenario(kube)
            finally:
                await kube.close()

    return asyncio.run(run()), posted


TOKENS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def test_a_token_review_names_the_user_it_authenticates() -> None:
    user = {"username": "system:serviceaccount:shop:sender", "uid": "u-1", "groups": ["g"]}
    got, posted = reviewed(
        {TOKENS: {"authenticated": True, "user": user}}, lambda kube: kube.token_review("t0k")
    )
    assert got == TokenReviewed(True, "system:serviceaccount:shop:sender", "u-1", ["g"])
    assert posted == [
        (
            TOKENS,
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": "t0k"},
            },
        )
    ]


def test_an_unknown_token_is_not_authenticated() -> None:
    got, _ = reviewed(
        {TOKENS: {"authenticated": False, "error": "invalid bearer token"}},
        lambda kube: kube.token_review("stale"),
    )
    assert got == TokenReviewed(False, "", "", [])


def test_an_access_review_asks_for_the_verb_on_the_batchjob() -> None:
    got, posted = reviewed(
        {ACCESS: {"allowed": True}},
        lambda kube: kube.subject_access_review("u", "u-1", ["g"], "shop", "orders", "trigger"),
    )
    assert got is True
    assert posted == [
        (
            ACCESS,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": "u",
                    "uid": "u-1",
                    "groups": ["g"],
                    "resourceAttributes": {
                        "group": "bulkhead.dev",
                        "resource": "batchjobs",
                        "namespace": "shop",
                        "name": "orders",
                        "verb": "trigger",
                    },
                },
            },
        )
    ]


def test_a_denied_access_review_is_false() -> None:
    got, _ = reviewed(
        {ACCESS: {"allowed": False, "reason": "no RBAC policy matched"}},
        lambda kube: kube.subject_access_review("u", "", [], "shop", "orders", "trigger"),
    )
    assert got is False
