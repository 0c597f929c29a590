"""Requests, paged lists and watches for any API path, through one aiohttp session: the
bearer token read at most every AUTH_TTL seconds, bounded timeouts, writes refused before they
are sent when this replica does not lead. client.py names the paths of the objects."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from bulkhead.kube.connection import AUTH_TTL, Connection
from bulkhead.kube.errors import ApiError, Conflict, Gone, Invalid, NotFound, NotLeader, api_message

LIST_PAGE = 500
# Seconds to connect, and to wait for each read. The API server ends a request after 60 s itself;
# without a bound a connection to a server that died without closing it (a partition) would hold
# a worker forever.
CONNECT_TIMEOUT, READ_TIMEOUT = 10, 70
REQUEST_TIMEOUT = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)


def replacing(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch that turns `old` into `new`: keys `new` lacks are set to null."""
    return {**new, **{k: None for k in old if k not in new}}


class RestClient:
    """One API server's requests by path, as plain dicts in and parsed JSON out."""

    def __init__(self, connection: Connection, user_agent: str) -> None:
        """`user_agent`: who sends the requests, as the API server's audit log shows it (the
        operator, with its replica's identity, or the kubectl plugin)."""
        self._connection = connection
        self._user_agent = user_agent
        self._host = connection.server.rstrip("/")
        self._auth: dict[str, str] = {}
        self._auth_read = -AUTH_TTL  # monotonic time of the last read of the token
        # Asked right before every write is sent (leader election replaces it).
        self.may_write: Callable[[], bool] = lambda: True
        self._session: aiohttp.ClientSession | None = None
        # Told the method of every request sent (the metrics count them).
        self.sent: Callable[[str], None] = lambda method: None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _connections(self) -> aiohttp.ClientSession:
        """The session every request and watch goes through (made on first use, on the
        running event loop), with the connection's TLS settings."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._connection.ssl_context()),
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
            )
        return self._session

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        """The token header, read at most every AUTH_TTL seconds (a rotated ServiceAccount
        token; measured with the official client asked on every request: 4.7 of 23
        CPU-seconds at 1,000 BatchJobs)."""
        if time.monotonic() - self._auth_read >= AUTH_TTL:
            token = self._connection.current_token()
            self._auth = {"Authorization": f"Bearer {token}"} if token else {}
            self._auth_read = time.monotonic()
        return {**self._auth, "Content-Type": content_type} if content_type else self._auth

    def _url(self, path: str, query: list[tuple[str, str]] | None) -> str:
        return f"{self._host}{path}" + (f"?{urlencode(query)}" if query else "")

    async def watch(
        self,
        path: str,
        label_selector: str,
        version: str,
        timeout: float,
        client_timeout: float,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The events of one watch of `path` from resourceVersion `version`: (type, object),
        with type ADDED, MODIFIED, DELETED or BOOKMARK (an object that carries only the
        version). The API server ends it after `timeout` seconds; the operator gives up on it
        after `client_timeout` (a connection that died without closing). Raises Gone when
        `version` is too old, ApiError on any other refusal."""
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", version),
            ("timeoutSeconds", str(int(timeout))),
        ]
        query += [("labelSelector", label_selector)] if label_selector else []
        limit = aiohttp.ClientTimeout(total=client_timeout, sock_connect=CONNECT_TIMEOUT)
        async with self._connections().get(
            self._url(path, query), headers=self._headers(), timeout=limit
        ) as response:
            if response.status == 410:
                raise Gone(path)
            if response.status >= 400:
                message = api_message(await response.read())
                raise ApiError(f"watch {path}: {response.status} {message}")
            pending = b""
            async for chunk in response.content.iter_any():
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if line:
                        yield _watch_event(path, line)

    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        answer: bool = True,
        guarded: bool = True,
    ) -> Any:
        """One request; the parsed JSON answer (with `answer` False, True and no parsing: a
        status patch's answer is the whole object, which nobody reads). Raises NotFound,
        Conflict, Invalid (naming the field) or ApiError, and NotLeader for a write this
        replica may not send (`guarded` False: the election's own Lease writes, sent whether
        or not this replica leads)."""
        if guarded and method != "GET" and not self.may_write():
            raise NotLeader(f"{method} {path}: not the leader")
        self.sent(method)
        async with self._connections().request(
            method,
            self._url(path, query),
            data=None if body is None else orjson.dumps(body),
            headers=self._headers(content_type if body is not None else None),
            timeout=REQUEST_TIMEOUT,
        ) as response:
            data = await response.read()
        if response.status == 404:
            raise NotFound(path)
        if response.status == 409:
            raise Conflict(path)
        if response.status == 422:
            raise Invalid(api_message(data))
        if response.status >= 400:
            raise ApiError(f"{method} {path}: {response.status} {api_message(data)}")
        if not answer:
            return True
        return orjson.loads(data) if data else None

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._request("GET", path)
        except NotFound:
            return None
        return result

    async def list_items(
        self, path: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        """Every item, a page of LIST_PAGE at a time (a big list is not one huge response)."""
        items: list[dict[str, Any]] = []
        async for page, _ in self.list_pages(path, label_selector, field_selector):
            items.extend(page)
        return items

    async def list_pages(
        self, path: str, label_selector: str = "", field_selector: str = ""
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        """The items a page of LIST_PAGE at a time, each with the listing's resourceVersion (a
        watch from it misses nothing): the pages of one listing are one snapshot, at its first
        page's version. Page by page, so a listing of 10,000 objects never holds them all as
        parsed JSON at once."""
        token, version = "", ""
        while True:
            query = [("limit", str(LIST_PAGE))]
            query += [("labelSelector", label_selector)] if label_selector else []
            query += [("fieldSelector", field_selector)] if field_selector else []
            query += [("continue", token)] if token else []
            result = await self._request("GET", path, query=query)
            metadata = result.get("metadata") or {}
            version = version or metadata.get("resourceVersion", "")
            token = metadata.get("continue") or ""
            yield result.get("items") or [], version
            if not token:
                return

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("POST", path, body)
        return result

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._request(
                "PATCH", path, patch, content_type="application/merge-patch+json"
            )
        except NotFound:  # deleted meanwhile: nothing left to report on
            return None
        return result


def _watch_event(path: str, line: bytes) -> tuple[str, dict[str, Any]]:
    """One line of a watch stream as (type, object); an ERROR event raises (Gone for 410)."""
    event = orjson.loads(line)
    kind, obj = event.get("type"), event.get("object") or {}
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise Gone(path)
        raise ApiError(f"watch {path}: {obj.get('code')} {obj.get('message')}")
    return kind, obj
