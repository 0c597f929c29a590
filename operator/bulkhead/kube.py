"""The only module that talks to the Kubernetes API.

Requests and watches go through one aiohttp session on the event loop, configured by a
`Connection` (server, certificates and token, a token file read again as it rotates): no
thread pool, no model classes, and no import of the official client (10 MiB of RSS; the
operator builds its Connection in-cluster or with kopf's kubeconfig reader, the kubectl plugin
from the official client's loaders). Bodies go out as plain dicts and come
back as parsed JSON (orjson: a Job's watch event decodes in a third of the json module's
time); watches stream one line per event. (The synchronous client in a thread
pool, measured before at N=1,000: 10.9 ms of operator CPU per BatchJob.)
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from bulkhead.api.constants import GROUP, VERSION
from bulkhead.api.times import format_time

log = logging.getLogger(__name__)

REPORTING_COMPONENT = "bulkhead"
LIST_PAGE = 500
# Seconds to connect, and to wait for each read. The API server ends a request after 60 s itself;
# without a bound a connection to a server that died without closing it (a partition) would hold
# a worker forever.
CONNECT_TIMEOUT, READ_TIMEOUT = 10, 70
# Seconds a token file's token is used before the file is read again: a ServiceAccount token is
# rotated by the kubelet well before it expires (at 80% of its hour), so a minute is plenty.
AUTH_TTL = 60.0
# Where the kubelet mounts a pod's ServiceAccount (its token is rotated in place).
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REQUEST_TIMEOUT = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
# The Job controller labels each pod with its Job's name.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


class ApiError(Exception):
    """The API server answered with an error status."""


class NotFound(ApiError):
    """No such object."""


class Conflict(ApiError):
    """The object exists already (a repeated create of a deterministic name)."""


class Invalid(ApiError):
    """The API server refused the object; the message names the field."""


class Gone(ApiError):
    """A watch asked for a resourceVersion the API server no longer has (410): list again."""


class NotLeader(ApiError):
    """A write refused before it was sent: this replica does not hold the lease."""


def replacing(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch that turns `old` into `new`: keys `new` lacks are set to null."""
    return {**new, **{k: None for k in old if k not in new}}


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach and authenticate to one API server. Certificate data is PEM, or base64 of
    PEM as a kubeconfig holds it; a `*_file` and its `*_data` are never both set."""

    server: str  # e.g. https://10.96.0.1:443
    ca_file: str | None = None
    ca_data: str | None = None
    insecure: bool = False  # no verification of the server's certificate
    token: str | None = None
    # Asked for the token instead, again every AUTH_TTL seconds: a ServiceAccount token file
    # the kubelet rotates, or (the kubectl plugin) the official client's refreshed token.
    token_source: Callable[[], str | None] | None = None
    cert_file: str | None = None
    cert_data: str | None = None
    key_file: str | None = None
    key_data: str | None = None

    def current_token(self) -> str | None:
        """The bearer token: what `token_source` answers now, else `token`."""
        return self.token_source() if self.token_source else self.token

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings: the CA to trust, the client certificate to present."""
        context = ssl.create_default_context(
            cafile=self.ca_file, cadata=_pem(self.ca_data) if self.ca_data else None
        )
        with contextlib.ExitStack() as files:
            # ssl loads a certificate chain from files only: data goes through a temporary file
            # (deleted on leaving the block: it may hold a private key).
            def path(file: str | None, data: str | None) -> str | None:
                if file or not data:
                    return file
                temporary = files.enter_context(tempfile.NamedTemporaryFile("w", suffix=".pem"))
                temporary.write(_pem(data))
                temporary.flush()
                return temporary.name

            cert, key = path(self.cert_file, self.cert_data), path(self.key_file, self.key_data)
            if cert:
                context.load_cert_chain(cert, key)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _pem(data: str) -> str:
    return data if data.lstrip().startswith("-----BEGIN") else base64.b64decode(data).decode()


def in_cluster(root: Path = SERVICE_ACCOUNT) -> Connection | None:
    """The pod's own ServiceAccount as client-go's rest.InClusterConfig reads it: the API
    server at KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT, the mounted CA, and the mounted
    token file (read again as it rotates). None outside a pod (no such variables or token)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (root / "token").exists():
        return None
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return Connection(
        server=f"https://{host}:{port}",
        ca_file=str(root / "ca.crt"),
        token_source=partial(_file_text, root / "token"),
    )


def _file_text(path: Path) -> str | None:
    return path.read_text().strip() or None


class Kube:
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
                message = _api_message(await response.read())
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
            raise Invalid(_api_message(data))
        if response.status >= 400:
            raise ApiError(f"{method} {path}: {response.status} {_api_message(data)}")
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

    # --- the objects bulkhead touches ------------------------------------------------------

    async def create_job(self, job: dict[str, Any]) -> dict[str, Any]:
        return await self.create(
            f"/apis/batch/v1/namespaces/{job['metadata']['namespace']}/jobs", job
        )

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")

    async def delete_job(self, namespace: str, name: str, uid: str) -> None:
        """Delete a Job and its pods (in the background); only the Job with `uid` (a Job
        re-created under that name meanwhile is left alone). Gone already counts as done."""
        body = {"propagationPolicy": "Background", "preconditions": {"uid": uid}}
        with contextlib.suppress(NotFound, Conflict):
            await self._request(
                "DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", body
            )

    def _network_policy_path(self, namespace: str, name: str = "") -> str:
        path = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
        return f"{path}/{name}" if name else path

    async def create_network_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        return await self.create(self._network_policy_path(policy["metadata"]["namespace"]), policy)

    async def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(self._network_policy_path(namespace, name))

    async def replace_network_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        """PUT `policy` whole; its metadata.resourceVersion makes a concurrent change a
        Conflict instead of a lost update."""
        meta = policy["metadata"]
        result: dict[str, Any] = await self._request(
            "PUT", self._network_policy_path(meta["namespace"], meta["name"]), policy
        )
        return result

    async def delete_network_policy(self, namespace: str, name: str, uid: str) -> None:
        """Delete only the NetworkPolicy with `uid`; gone already counts as done."""
        body = {"preconditions": {"uid": uid}}
        with contextlib.suppress(NotFound, Conflict):
            await self._request("DELETE", self._network_policy_path(namespace, name), body)

    async def get_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """The text under `key` of the Secret `namespace`/`name`; None when the Secret or the
        key does not exist. Raises ApiError when it may not be read (RBAC: the chart grants
        get on the named Secrets only)."""
        secret = await self.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        data = (secret or {}).get("data") or {}
        return base64.b64decode(data[key]).decode() if key in data else None

    def _lease_path(self, namespace: str, name: str = "") -> str:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        return f"{path}/{name}" if name else path

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(self._lease_path(namespace, name))

    async def create_lease(self, lease: dict[str, Any]) -> bool:
        """Creates a Lease, leading or not; False when another replica created it first."""
        try:
            await self._request(
                "POST", self._lease_path(lease["metadata"]["namespace"]), lease, guarded=False
            )
        except Conflict:
            return False
        return True

    async def replace_lease(self, lease: dict[str, Any]) -> bool:
        """Replaces a Lease, leading or not, if it is still at the metadata.resourceVersion
        `lease` carries; False when another replica wrote it meanwhile."""
        metadata = lease["metadata"]
        try:
            await self._request(
                "PUT",
                self._lease_path(metadata["namespace"], metadata["name"]),
                lease,
                guarded=False,
            )
        except Conflict:
            return False
        return True

    async def get_service_account(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return await self.list_items(f"/api/v1/namespaces/{namespace}/pods", label_selector)

    async def list_failed_creates(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        """The FailedCreate Events the Job controller posted on the Job with `uid`."""
        return await self.list_items(
            f"/api/v1/namespaces/{namespace}/events",
            field_selector=f"involvedObject.uid={uid},reason=FailedCreate",
        )

    async def last_exit_code(self, namespace: str, label_selector: str) -> int | None:
        """The exit code of the pod that failed last among those selected (None: none did)."""
        finished = []
        for pod in await self.list_pods(namespace, label_selector):
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (container.get("state") or {}).get("terminated")
                if terminated and terminated.get("exitCode"):
                    finished.append((terminated.get("finishedAt") or "", terminated["exitCode"]))
        return max(finished)[1] if finished else None

    async def patch_batchjob_status(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Merge-patches a BatchJob's status; False when the BatchJob is gone."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/batchjobs/{name}/status"
        try:
            return bool(
                await self._request(
                    "PATCH",
                    path,
                    {"status": patch},
                    content_type="application/merge-patch+json",
                    answer=False,
                )
            )
        except NotFound:  # deleted meanwhile: nothing left to report on
            return False

    async def patch_dependency_status(
        self, name: str, patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        return await self.merge_patch(
            f"/apis/{GROUP}/{VERSION}/dependencies/{name}/status", {"status": patch}
        )

    async def post_event(
        self, involved: dict[str, Any], kind: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event on `involved`; losing one must never fail a reconcile."""
        namespace = involved.get("namespace") or "default"
        stamp = format_time(datetime.now(UTC))
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{involved['name']}.", "namespace": namespace},
            "involvedObject": involved,
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "source": {"component": REPORTING_COMPONENT},
            "reportingComponent": REPORTING_COMPONENT,
            "reportingInstance": REPORTING_COMPONENT,
        }
        try:
            await self.create(f"/api/v1/namespaces/{namespace}/events", event)
        except Exception as error:
            log.warning("could not post event %s on %s: %s", reason, involved.get("name"), error)


def _api_message(data: bytes) -> str:
    try:
        return str(orjson.loads(data or b"{}").get("message") or data.decode(errors="replace"))
    except ValueError:
        return data.decode(errors="replace")


def _watch_event(path: str, line: bytes) -> tuple[str, dict[str, Any]]:
    """One line of a watch stream as (type, object); an ERROR event raises (Gone for 410)."""
    event = orjson.loads(line)
    kind, obj = event.get("type"), event.get("object") or {}
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise Gone(path)
        raise ApiError(f"watch {path}: {obj.get('code')} {obj.get('message')}")
    return kind, obj
