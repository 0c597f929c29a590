"""`Kube`, the client the operator and the kubectl plugin hold: the requests for each object
bulkhead touches (Jobs, NetworkPolicies, Secrets, Leases, ServiceAccounts, pods, Events, the
BatchJob and Dependency statuses, the token and access reviews of the CloudEvents endpoint),
over rest.py's requests by path."""

from __future__ import annotations

import base64
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple

from bulkhead.api.constants import GROUP, VERSION
from bulkhead.api.times import format_time
from bulkhead.kube.errors import Conflict, NotFound
from bulkhead.kube.rest import RestClient

log = logging.getLogger(__name__)

REPORTING_COMPONENT = "bulkhead"
# The Job controller labels each pod with its Job's name.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


class TokenReviewed(NamedTuple):
    """Who a bearer token names, as a TokenReview says."""

    authenticated: bool
    username: str
    uid: str
    groups: list[str]


class Kube(RestClient):
    """The API requests of bulkhead, one method per object and verb it needs."""

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

    async def token_review(self, token: str) -> TokenReviewed:
        """Who `token` names (a TokenReview, for the API server's own audiences). Sent whether
        or not this replica leads: a review changes nothing."""
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        answer = await self._request(
            "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review, guarded=False
        )
        status = (answer or {}).get("status") or {}
        user = status.get("user") or {}
        return TokenReviewed(
            bool(status.get("authenticated")),
            user.get("username", ""),
            user.get("uid", ""),
            list(user.get("groups") or []),
        )

    async def subject_access_review(
        self, user: str, uid: str, groups: list[str], namespace: str, name: str, verb: str
    ) -> bool:
        """Whether `user` (with `uid` and `groups`) may `verb` the BatchJob `namespace`/`name`
        (a SubjectAccessReview; sent whether or not this replica leads)."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "uid": uid,
                "groups": groups,
                "resourceAttributes": {
                    "group": GROUP,
                    "resource": "batchjobs",
                    "namespace": namespace,
                    "name": name,
                    "verb": verb,
                },
            },
        }
        answer = await self._request(
            "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review, guarded=False
        )
        return bool(((answer or {}).get("status") or {}).get("allowed"))

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
