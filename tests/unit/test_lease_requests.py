"""The leader's Lease requests through Kube (get, create, replace) against a local HTTP server
that keeps coordination.k8s.io Leases: sent while not leading, refused on a race; and every
other write refused before it is sent while not the leader."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from bulkhead.kube.client import Kube
from bulkhead.kube.connection import Connection
from bulkhead.kube.errors import NotLeader
from bulkhead.runtime.leader import LeaderElector, Timings

WALL = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TIMINGS = Timings(12, 8, 2)


class LeaseServer:
    """The coordination.k8s.io Lease endpoints of an API server, for one namespace: GET, POST
    (409 when it exists) and PUT (409 when the resourceVersion sent is not the stored one)."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.method)
        name = request.match_info.get("name", "")
        if request.method == "GET":
            if name not in self.leases:
                return web.json_response({"message": "not found"}, status=404)
            return web.json_response(self.leases[name])
        lease = await request.json()
        name = lease["metadata"]["name"]
        stored = self.leases.get(name)
        if request.method == "POST" and stored is not None:
            return web.json_response({"message": "already exists"}, status=409)
        if request.method == "PUT" and (
            stored is None
            or lease["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]
        ):
            return web.json_response({"message": "the object has been modified"}, status=409)
        version = str(
            int((stored or {"metadata": {"resourceVersion": "0"}})["metadata"]["resourceVersion"])
            + 1
        )
        self.leases[name] = {**lease, "metadata": {**lease["metadata"], "resourceVersion": version}}
        return web.json_response(self.leases[name], status=201 if request.method == "POST" else 200)


async def serving(server: LeaseServer) -> tuple[web.AppRunner, Kube]:
    """The server on a free local port, and a Kube on it that may not write (not leading)."""
    app = web.Application()
    path = "/apis/coordination.k8s.io/v1/namespaces/bulkhead-system/leases"
    app.router.add_route("*", path, server.handle)
    app.router.add_route("*", path + "/{name}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    kube = Kube(Connection(server=f"http://127.0.0.1:{port}"), "bulkhead-test")
    kube.may_write = lambda: False
    return runner, kube


def test_the_lease_requests_are_sent_while_not_leading_and_refused_on_a_race():
    async def scenario() -> tuple[list[Any], LeaseServer]:
        server = LeaseServer()
        runner, kube = await serving(server)
        try:
            a, b = (
                LeaderElector(kube, "bulkhead-system", "bulkhead", who, TIMINGS, wall=lambda: WALL)
                for who in "ab"
            )
            acquired = await a._attempt(8)
            lease = await kube.get_lease("bulkhead-system", "bulkhead")
            assert lease is not None
            stale = {**lease, "metadata": {**lease["metadata"], "resourceVersion": "0"}}
            results = [
                acquired,
                await kube.create_lease(lease),  # b's create, after a's: someone else's
                await kube.replace_lease(stale),  # b's replace of an older read: lost the race
                await b._attempt(8),  # b sees a's fresh record: waits
                await a._attempt(8),  # a renews
            ]
            return results, server
        finally:
            await kube.close()
            await runner.cleanup()

    results, server = asyncio.run(scenario())
    assert results == [True, False, False, False, True]
    assert server.requests == ["GET", "POST", "GET", "POST", "PUT", "GET", "GET", "PUT"]
    stamp = "2026-11-23T12:00:00.000000Z"
    assert server.leases == {
        "bulkhead": {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "bulkhead",
                "namespace": "bulkhead-system",
                "resourceVersion": "2",
            },
            "spec": {
                "holderIdentity": "a",
                "leaseDurationSeconds": 12,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
    }


def test_kube_refuses_a_write_before_sending_it_when_not_the_leader():
    kube = Kube(Connection(server="http://127.0.0.1:9"), "bulkhead-test")  # nothing listens
    kube.may_write = lambda: False

    async def scenario() -> None:
        try:
            with pytest.raises(NotLeader, match="POST /api/v1/namespaces/ns/events: not the"):
                await kube.create("/api/v1/namespaces/ns/events", {})
            # a read is still sent (and here finds nothing listening)
            with pytest.raises(aiohttp.ClientConnectionError):
                await kube.get("/api/v1/namespaces")
        finally:
            await kube.close()

    asyncio.run(scenario())
