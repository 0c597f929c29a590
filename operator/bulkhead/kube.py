"""The only module that talks to the Kubernetes API.

Requests go through the official synchronous client in a small thread pool, so the event loop
keeps serving watches; watches stream through its asyncio twin (kubernetes.aio), one line per
event. Bodies go out as plain dicts and come back as parsed JSON, skipping the clients' model
classes, which cost more CPU than the request itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kubernetes
import kubernetes.aio.client
import kubernetes.aio.config

from bulkhead import __version__
from bulkhead.api.constants import GROUP, VERSION
from bulkhead.api.times import format_time
from bulkhead.settings import IDENTITY, WORKERS

log = logging.getLogger(__name__)

# The identity tells replicas apart in the API server's audit log.
USER_AGENT = f"bulkhead/{__version__} ({IDENTITY})"
REPORTING_COMPONENT = "bulkhead"
# One thread per reconcile in flight.
POOL_SIZE = WORKERS
LIST_PAGE = 500
# (connect, read) seconds. The API server ends a request after 60 s itself; without a bound a
# connection to a server that died without closing it (a partition) would hold a worker forever.
REQUEST_TIMEOUT = (10, 70)
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


def load_config() -> kubernetes.client.Configuration:
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    config = kubernetes.client.Configuration.get_default_copy()
    config.connection_pool_maxsize = POOL_SIZE
    return config


class Kube:
    def __init__(self, config: kubernetes.client.Configuration | None = None) -> None:
        self._client = kubernetes.client.ApiClient(config or load_config())
        self._client.user_agent = USER_AGENT
        self._pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="kube")
        # Asked right before every write is sent (leader election replaces it).
        self.may_write: Callable[[], bool] = lambda: True
        self._watch_client: kubernetes.aio.client.ApiClient | None = None
        # Told the method of every request sent (the metrics count them; called in a thread).
        self.sent: Callable[[str], None] = lambda method: None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    async def aclose(self) -> None:
        """close(), and the watches' client too."""
        self.close()
        if self._watch_client is not None:
            await self._watch_client.close()

    async def _watches(self) -> kubernetes.aio.client.ApiClient:
        """The asyncio client the watches stream through, configured as the operator is
        (in-cluster, else KUBECONFIG; a rotated ServiceAccount token is read again)."""
        if self._watch_client is None:
            config = kubernetes.aio.client.Configuration()
            try:
                kubernetes.aio.config.load_incluster_config(client_configuration=config)
            except kubernetes.aio.config.ConfigException:
                await kubernetes.aio.config.load_kube_config(client_configuration=config)
            self._watch_client = kubernetes.aio.client.ApiClient(config)
            self._watch_client.user_agent = USER_AGENT
        return self._watch_client

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
        client = await self._watches()
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", version),
            ("timeoutSeconds", str(int(timeout))),
        ]
        query += [("labelSelector", label_selector)] if label_selector else []
        method, url, headers, *_ = await client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        limit = aiohttp.ClientTimeout(total=client_timeout, sock_connect=REQUEST_TIMEOUT[0])
        response = (await client.call_api(method, url, headers, _request_timeout=limit)).response
        async with response:
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

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        request = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        if method != "GET" and not self.may_write():
            raise NotLeader(f"{method} {path}: not the leader")
        self.sent(method)
        response = self._client.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
        data = response.read()
        if response.status == 404:
            raise NotFound(path)
        if response.status == 409:
            raise Conflict(path)
        if response.status == 422:
            raise Invalid(_api_message(data))
        if response.status >= 400:
            raise ApiError(f"{method} {path}: {response.status} {_api_message(data)}")
        return json.loads(data) if data else None

    async def _run(self, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: self._call(*args, **kwargs))

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._run("GET", path)
        except NotFound:
            return None
        return result

    async def list_items(
        self, path: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        """Every item, a page of LIST_PAGE at a time (a big list is not one huge response)."""
        items, _ = await self.list_versioned(path, label_selector, field_selector)
        return items

    async def list_versioned(
        self, path: str, label_selector: str = "", field_selector: str = ""
    ) -> tuple[list[dict[str, Any]], str]:
        """Every item, and the resourceVersion of the listing (a watch from it misses
        nothing): the pages of one listing are one snapshot, at its first page's version."""
        items: list[dict[str, Any]] = []
        token, version = "", ""
        while True:
            query = [("limit", str(LIST_PAGE))]
            query += [("labelSelector", label_selector)] if label_selector else []
            query += [("fieldSelector", field_selector)] if field_selector else []
            query += [("continue", token)] if token else []
            result = await self._run("GET", path, query=query)
            items.extend(result.get("items") or [])
            metadata = result.get("metadata") or {}
            version = version or metadata.get("resourceVersion", "")
            token = metadata.get("continue") or ""
            if not token:
                return items, version

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._run("POST", path, body)
        return result

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._run(
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
            await self._run("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", body)

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
        result: dict[str, Any] = await self._run(
            "PUT", self._network_policy_path(meta["namespace"], meta["name"]), policy
        )
        return result

    async def delete_network_policy(self, namespace: str, name: str, uid: str) -> None:
        """Delete only the NetworkPolicy with `uid`; gone already counts as done."""
        body = {"preconditions": {"uid": uid}}
        with contextlib.suppress(NotFound, Conflict):
            await self._run("DELETE", self._network_policy_path(namespace, name), body)

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

    async def patch_batchjob_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/batchjobs/{name}/status"
        return await self.merge_patch(path, {"status": patch})

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
        return str(json.loads(data or b"{}").get("message") or data.decode(errors="replace"))
    except ValueError:
        return data.decode(errors="replace")


def _watch_event(path: str, line: bytes) -> tuple[str, dict[str, Any]]:
    """One line of a watch stream as (type, object); an ERROR event raises (Gone for 410)."""
    event = json.loads(line)
    kind, obj = event.get("type"), event.get("object") or {}
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise Gone(path)
        raise ApiError(f"watch {path}: {obj.get('code')} {obj.get('message')}")
    return kind, obj
