"""controllers/cloudevents: the endpoint over HTTP, with the CloudEvents SDK as the sender, a
fake API server's reviews and a fake intake: each answer's status, body and headers, what
reached the intake, what was counted, and how few reviews a burst makes."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from bulkhead.api.constants import Key
from bulkhead.api.triggers import RunEvent
from bulkhead.controllers.cloudevents import VERDICTS, CloudEventsEndpoint, tls_context
from bulkhead.kube.client import TokenReviewed
from bulkhead.metrics import Metrics
from bulkhead.policy.cloudevent import MAX_BODY
from bulkhead.state.access import ACCESS_TTL
from bulkhead.state.intake import Verdict
from cloudevents.core.bindings import http
from cloudevents.core.v1.event import CloudEvent

PATH = "/events/billing/invoices/orders"
SENDER = "system:serviceaccount:billing:shop"
TOKENS = {
    "shop-token": TokenReviewed(True, SENDER, "u-1", ["system:serviceaccounts"]),
    "expired": TokenReviewed(False, "", "", []),
}


class FakeReviews:
    """The API server's reviews: the tokens it knows, and the verbs each user has on which
    BatchJob; counts the reviews asked."""

    def __init__(self, grants: set[tuple[str, str, str, str]]) -> None:
        self.grants = grants  # (user, namespace, name, verb)
        self.token_reviews = 0
        self.access_reviews: list[str] = []
        self.down = False

    async def token_review(self, token: str) -> TokenReviewed:
        self.token_reviews += 1
        await asyncio.sleep(0.01)  # a burst arrives while the first review is under way
        if self.down:
            raise aiohttp.ClientConnectionError("connection refused")
        return TOKENS.get(token, TokenReviewed(False, "", "", []))

    async def subject_access_review(
        self, user: str, uid: str, groups: list[str], namespace: str, name: str, verb: str
    ) -> bool:
        self.access_reviews.append(verb)
        return (user, namespace, name, verb) in self.grants


class FakeIntake:
    """Records each event; says Duplicate for a (source, id) it had, else `verdict`."""

    def __init__(self, verdict: Verdict = "Accepted") -> None:
        self.verdict: Verdict = verdict
        self.submitted: list[tuple[Key, str, RunEvent]] = []

    async def submit(self, key: Key, trigger: str, event: RunEvent) -> Verdict:
        seen = any((e.source, e.id) == (event.source, event.id) for _, _, e in self.submitted)
        self.submitted.append((key, trigger, event))
        return "Duplicate" if seen else self.verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


GRANTED = {(SENDER, "billing", "invoices", "trigger")}
AUTH = {"Authorization": "Bearer shop-token"}


def event(id: str = "e-1", data: Any = None) -> CloudEvent:
    return CloudEvent({"id": id, "source": "/shop", "type": "order.created"}, data)


Scenario = Callable[[TestClient[Any, Any]], Awaitable[Any]]


def served(scenario: Scenario, reviews: FakeReviews, intake: FakeIntake, clock: Clock) -> Any:
    """What `scenario` returns, run with a client of an endpoint over `reviews` and `intake`."""
    metrics = Metrics()

    async def run() -> Any:
        endpoint = CloudEventsEndpoint(reviews, intake, metrics, clock)
        async with TestClient(TestServer(endpoint.app(), host="127.0.0.1")) as client:
            return await scenario(client)

    return asyncio.run(run()), metrics


async def answer(response: aiohttp.ClientResponse) -> tuple[int, str, dict[str, str]]:
    """The status, the verdict and the headers of interest of an answer."""
    body = await response.json()
    shown = {
        h: response.headers[h] for h in ("Retry-After", "WWW-Authenticate") if h in response.headers
    }
    assert set(body) == {"verdict", "message"}
    return response.status, body["verdict"], shown


def counted(metrics: Metrics) -> dict[str, float]:
    """The non-zero bulkhead_events_total series, by verdict."""
    values = {
        v: metrics.registry.get_sample_value("bulkhead_events_total", {"verdict": v})
        for v in VERDICTS
    }
    assert None not in values.values()  # every series from 0
    return {v: n for v, n in values.items() if n}


def test_structured_and_binary_events_from_the_sdk_are_accepted_and_a_resend_is_a_duplicate() -> (
    None
):
    intake, reviews = FakeIntake(), FakeReviews(GRANTED)

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        answers = []
        for message in (
            http.to_structured_event(event("e-1", {"order": 7})),
            http.to_binary_event(event("e-2", "plain")),
            http.to_binary_event(event("e-1", {"order": 7})),
        ):
            async with client.post(
                PATH, data=message.body, headers={**message.headers, **AUTH}
            ) as response:
                answers.append(await answer(response))
        return answers

    answers, metrics = served(scenario, reviews, intake, Clock())
    assert answers == [(202, "Accepted", {}), (202, "Accepted", {}), (200, "Duplicate", {})]
    base = RunEvent(id="e-1", source="/shop", type="order.created")
    assert intake.submitted == [
        (("billing", "invoices"), "orders", base.model_copy(update={"data": '{"order":7}'})),
        (("billing", "invoices"), "orders", base.model_copy(update={"id": "e-2", "data": "plain"})),
        (("billing", "invoices"), "orders", base.model_copy(update={"data": '{"order": 7}'})),
    ]
    assert counted(metrics) == {"Accepted": 2, "Duplicate": 1}
    assert (reviews.token_reviews, reviews.access_reviews) == (1, ["trigger"])


def structured(**fields: Any) -> bytes:
    return http.to_structured_event(event(**fields)).body


CE_JSON = {"Content-Type": "application/cloudevents+json"}
REFUSALS = [
    (
        "no token",
        {},
        CE_JSON,
        structured(),
        (401, "Unauthenticated", {"WWW-Authenticate": 'Bearer realm="bulkhead"'}),
    ),
    (
        "unknown token",
        {"Authorization": "Bearer expired"},
        CE_JSON,
        structured(),
        (
            401,
            "Unauthenticated",
            {"WWW-Authenticate": 'Bearer realm="bulkhead", error="invalid_token"'},
        ),
    ),
    ("denied", {"Authorization": "Bearer shop-token"}, CE_JSON, structured(), None),
    ("data over 4096 bytes", AUTH, CE_JSON, structured(data="x" * 4097), (413, "TooLarge", {})),
    ("body over the cap", AUTH, CE_JSON, b" " * (MAX_BODY + 1), (413, "TooLarge", {})),
    ("not JSON", AUTH, CE_JSON, b"{", (400, "Malformed", {})),
    (
        "batched",
        AUTH,
        {"Content-Type": "application/cloudevents-batch+json"},
        b"[]",
        (415, "UnsupportedMediaType", {}),
    ),
]


@pytest.mark.parametrize(
    ("auth", "headers", "body", "expected"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_a_request_that_brings_no_event_it_may_send_is_refused_and_counted(
    auth: dict[str, str], headers: dict[str, str], body: bytes, expected: Any
) -> None:
    # "denied": the sender's token is known, but it holds no verb on this BatchJob
    grants = set() if expected is None else GRANTED
    expected = expected or (403, "Forbidden", {})
    intake = FakeIntake()

    async def scenario(client: TestClient[Any, Any]) -> Any:
        async with client.post(PATH, data=body, headers={**headers, **auth}) as response:
            return await answer(response)

    got, metrics = served(scenario, FakeReviews(grants), intake, Clock())
    assert (got, intake.submitted, counted(metrics)) == (expected, [], {expected[1]: 1})


def test_a_body_sent_in_chunks_is_read_no_further_than_the_cap() -> None:
    sent = 0

    async def chunks() -> Any:
        nonlocal sent
        for _ in range(1000):  # 64 MiB, if it were all read
            sent += 1
            yield b" " * 65536

    async def scenario(client: TestClient[Any, Any]) -> Any:
        async with client.post(PATH, data=chunks(), headers={**CE_JSON, **AUTH}) as response:
            return await answer(response)

    got, _ = served(scenario, FakeReviews(GRANTED), FakeIntake(), Clock())
    assert got == (413, "TooLarge", {})
    assert sent < 100


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ("Coalesced", (202, "Coalesced", {})),
        ("UnknownTrigger", (404, "UnknownTrigger", {})),
        ("Filtered", (422, "Filtered", {})),
        ("NotLeader", (503, "NotLeader", {"Retry-After": "1"})),
        ("Unavailable", (503, "Unavailable", {"Retry-After": "1"})),
    ],
)
def test_each_verdict_of_the_intake_has_its_answer(verdict: Verdict, expected: Any) -> None:
    async def scenario(client: TestClient[Any, Any]) -> Any:
        async with client.post(PATH, data=structured(), headers={**CE_JSON, **AUTH}) as response:
            return await answer(response), (await response.json())["message"]

    (got, message), _ = served(scenario, FakeReviews(GRANTED), FakeIntake(verdict), Clock())
    assert got == expected
    if verdict == "Filtered":
        assert message == (
            "trigger orders takes no event of type order.created from source /shop: not among "
            "its types or sources"
        )


def test_a_burst_from_one_sender_makes_one_review_of_each_kind_until_the_ttl_ends() -> None:
    reviews, clock = FakeReviews({(SENDER, "billing", "invoices", "patch")}), Clock()

    async def send(client: TestClient[Any, Any], id: str) -> int:
        async with client.post(
            PATH, data=structured(id=id), headers={**CE_JSON, **AUTH}
        ) as response:
            return response.status

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        burst = await asyncio.gather(*(send(client, f"e-{n}") for n in range(200)))
        first = (reviews.token_reviews, list(reviews.access_reviews))
        clock.now += ACCESS_TTL
        again = await send(client, "late")
        return [set(burst), first, again, (reviews.token_reviews, reviews.access_reviews)]

    got, _ = served(scenario, reviews, FakeIntake(), clock)
    # patch grants it too: trigger is asked first, then patch
    assert got == [
        {202},
        (1, ["trigger", "patch"]),
        202,
        (2, ["trigger", "patch", "trigger", "patch"]),
    ]


def test_reviews_the_api_server_did_not_answer_are_asked_again() -> None:
    reviews = FakeReviews(GRANTED)
    reviews.down = True

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        answers = []
        for down in (True, False):
            reviews.down = down
            async with client.post(
                PATH, data=structured(), headers={**CE_JSON, **AUTH}
            ) as response:
                answers.append(await answer(response))
        return answers

    got, metrics = served(scenario, reviews, FakeIntake(), Clock())
    assert got == [(503, "Unavailable", {"Retry-After": "1"}), (202, "Accepted", {})]
    assert reviews.token_reviews == 2
    assert counted(metrics) == {"Unavailable": 1, "Accepted": 1}


def test_a_get_is_refused_once_authorized() -> None:
    async def scenario(client: TestClient[Any, Any]) -> Any:
        async with client.get(PATH, headers=AUTH) as response:
            return await answer(response)

    got, _ = served(scenario, FakeReviews(GRANTED), FakeIntake(), Clock())
    assert got == (405, "MethodNotAllowed", {})


def test_with_a_certificate_the_endpoint_serves_https_only(certificate: tuple[Path, Path]) -> None:
    intake = FakeIntake()

    async def run() -> tuple[int, str]:
        endpoint = CloudEventsEndpoint(FakeReviews(GRANTED), intake, Metrics())
        await endpoint.start("127.0.0.1", 0, tls_context(str(certificate[0]), str(certificate[1])))
        port = endpoint.port()
        trust = ssl.create_default_context(cafile=str(certificate[0]))
        message = http.to_binary_event(event())
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"https://127.0.0.1:{port}{PATH}",
                    data=message.body,
                    headers={**message.headers, **AUTH},
                    ssl=trust,
                ) as response:
                    verdict = (response.status, (await response.json())["verdict"])
                with pytest.raises(aiohttp.ClientError):  # no plain HTTP on that port
                    async with session.post(f"http://127.0.0.1:{port}{PATH}", headers=AUTH):
                        pass
        finally:
            await endpoint.stop()
        return verdict

    assert asyncio.run(run()) == (202, "Accepted")
    assert [key for key, _, _ in intake.submitted] == [("billing", "invoices")]
