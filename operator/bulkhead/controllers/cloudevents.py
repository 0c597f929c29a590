"""The CloudEvents endpoint: `POST /events/<namespace>/<batchjob>/<trigger>`, one event per
request (the CloudEvents HTTP binding, structured or binary mode).

Each request, in order:
1. its bearer token is reviewed (TokenReview): none, or one the API server does not know, is
   answered 401;
2. its user may `trigger` that BatchJob (SubjectAccessReview, verb `trigger`, or `patch`),
   else 403. `trigger` is a verb of bulkhead's own, which no built-in role grants: a Role
   grants it with `verbs: [trigger]` on `batchjobs` (the chart's ClusterRole
   bulkhead-event-sender does). Both reviews are reused for ACCESS_TTL seconds (state/access.py);
3. its body, at most MAX_BODY bytes of it, is read as an event (policy/cloudevent.py): 400,
   413 or 415 when it is none;
4. the event goes to the intake (state/intake.py), which answers once the BatchJob's status
   holds it; its verdict is the answer (ANSWERS).

Every replica serves it; a standby answers 503 NotLeader, which a sender retries."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import StreamReader, web

from bulkhead.api.constants import Key
from bulkhead.api.triggers import RunEvent
from bulkhead.kube.client import TokenReviewed
from bulkhead.metrics import Metrics
from bulkhead.policy.cloudevent import MAX_BODY, Refusal, event_key, parse_event
from bulkhead.state.access import Access, AccessCache, access_key
from bulkhead.state.intake import Verdict

log = logging.getLogger(__name__)

PATH = "/events/{namespace}/{batchjob}/{trigger}"
VERBS = ("trigger", "patch")
# The HTTP status of each verdict of the intake.
ANSWERS: dict[Verdict, int] = {
    "Accepted": 202,
    "Coalesced": 202,
    "Duplicate": 200,
    "UnknownTrigger": 404,
    "Filtered": 422,
    "Suspended": 409,
    "NotLeader": 503,
    "Unavailable": 503,
}
# Every verdict the endpoint counts (bulkhead_events_total): the intake's, and its refusals.
VERDICTS = (
    *ANSWERS,
    "Unauthenticated",
    "Forbidden",
    "Malformed",
    "TooLarge",
    "UnsupportedMediaType",
    "MethodNotAllowed",
)
# Sent with 503: the leader, or the API server, is likely to answer a second from now.
RETRY_AFTER = "1"


class Reviews(Protocol):
    """The API server's reviews (kube/client.py Kube)."""

    async def token_review(self, token: str) -> TokenReviewed: ...

    async def subject_access_review(
        self, user: str, uid: str, groups: list[str], namespace: str, name: str, verb: str
    ) -> bool: ...


class Intake(Protocol):
    async def submit(self, key: Key, trigger: str, event: RunEvent) -> Verdict: ...


class CloudEventsEndpoint:
    def __init__(
        self,
        reviews: Reviews,
        intake: Intake,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Answers events with `reviews` (who may send them) and `intake` (what becomes of
        them), counted in `metrics`; `clock` (monotonic seconds) ages the reviews kept."""
        self._reviews = reviews
        self._intake = intake
        self._metrics = metrics
        self._access = AccessCache(clock)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        metrics.count_events(VERDICTS)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        # Every method, so a GET is counted and refused like any request that is no event.
        app.router.add_route("*", PATH, self._post)
        return app

    async def start(self, address: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        """Serves on `address`:`port`, HTTPS with `tls`."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, address, port, ssl_context=tls)
        await self._site.start()
        scheme = "https" if tls else "http"
        log.info("CloudEvents endpoint on %s://%s:%d", scheme, address, self.port())

    def port(self) -> int:
        """The port it serves on (the one the system chose, when started on port 0)."""
        assert self._site is not None and self._site._server is not None, "not started"
        port: int = self._site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["batchjob"]
        trigger = request.match_info["trigger"]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._answer(
                "Unauthenticated",
                401,
                "no bearer token: send a ServiceAccount token as Authorization: Bearer <token>",
                {"WWW-Authenticate": 'Bearer realm="bulkhead"'},
            )
        try:
            access = await self._reviewed(token.strip(), namespace, name)
        except Exception as error:  # the API server did not answer: the sender tries again
            log.warning("could not review a CloudEvent sender's access: %s", error)
            return self._answer(
                "Unavailable",
                503,
                "the sender's access could not be reviewed: send it again",
                {"Retry-After": RETRY_AFTER},
            )
        if access == "Unauthenticated":
            return self._answer(
                "Unauthenticated",
                401,
                "the API server does not know this token",
                {"WWW-Authenticate": 'Bearer realm="bulkhead", error="invalid_token"'},
            )
        if access == "Forbidden":
            return self._answer(
                "Forbidden",
                403,
                f"the sender may not trigger batchjobs.bulkhead.dev {name} in {namespace}",
            )
        if (request.content_length or 0) > MAX_BODY:
            return self._answer("TooLarge", 413, f"the request body is over {MAX_BODY} bytes")
        body = await _read_at_most(request.content, MAX_BODY + 1)
        parsed = parse_event(request.method, request.headers, body)
        if isinstance(parsed, Refusal):
            return self._answer(parsed.verdict, parsed.status, parsed.message)
        verdict = await self._intake.submit((namespace, name), trigger, parsed)
        return self._answer(
            verdict,
            ANSWERS[verdict],
            _message(verdict, namespace, name, trigger, parsed),
            {"Retry-After": RETRY_AFTER} if ANSWERS[verdict] == 503 else None,
        )

    async def _reviewed(self, token: str, namespace: str, name: str) -> Access:
        """What the reviews say of `token` on the BatchJob; a review made in the last
        ACCESS_TTL seconds, or under way, is reused."""
        key = access_key(token, namespace, name)
        review = self._access.get(key)
        if review is None:
            review = asyncio.ensure_future(self._review(token, namespace, name))
            self._access.put(key, review)
        return await asyncio.shield(review)

    async def _review(self, token: str, namespace: str, name: str) -> Access:
        reviewed = await self._reviews.token_review(token)
        if not reviewed.authenticated:
            return "Unauthenticated"
        for verb in VERBS:
            if await self._reviews.subject_access_review(
                reviewed.username, reviewed.uid, reviewed.groups, namespace, name, verb
            ):
                return "Allowed"
        return "Forbidden"

    def _answer(
        self, verdict: str, status: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        self._metrics.event_answered(verdict)
        return web.json_response(
            {"verdict": verdict, "message": message}, status=status, headers=headers
        )


async def _read_at_most(content: StreamReader, limit: int) -> bytes:
    """The body up to `limit` bytes: no more is read, however much the sender sends."""
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := await content.read(left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _message(verdict: Verdict, namespace: str, name: str, trigger: str, event: RunEvent) -> str:
    """What `verdict` means for `event`, for the sender."""
    named = f"event {event.source} {event.id} (key {event_key(event.source, event.id)})"
    return {
        "Accepted": f"{named}: a run of {namespace}/{name} waits for it",
        "Coalesced": f"{named}: joined to the newest waiting run of trigger {trigger} "
        "(eventRuns.maxPending waiting already)",
        "Duplicate": f"{named} was handled before: no second run",
        "UnknownTrigger": f"{namespace}/{name} has no cloudEvent trigger {trigger}",
        "Filtered": f"trigger {trigger} takes no event of type {event.type} from source "
        f"{event.source}: not among its types or sources",
        "Suspended": f"{namespace}/{name} is suspended: no run starts for {named}",
        "NotLeader": "this replica does not decide: send it again (the leader answers)",
        "Unavailable": f"{named} could not be recorded: send it again (a resend is harmless)",
    }[verdict]


def tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    """The endpoint's TLS: the certificate (chain) and key files, or None (plain HTTP) when
    not given."""
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
