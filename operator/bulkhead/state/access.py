"""What the CloudEvents endpoint learned of its callers' access, for a short while: a burst of
10,000 events from one sender makes one TokenReview and one SubjectAccessReview, not 20,000.
No I/O: the endpoint (controllers/cloudevents.py) makes the reviews."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Literal

# What the reviews said of a token and a BatchJob.
Access = Literal["Allowed", "Unauthenticated", "Forbidden"]
# How long a review's answer is reused, either way: a RoleBinding created or removed takes
# effect within it. (The API server's own webhook authorizer keeps denials 30 s too.)
ACCESS_TTL = 30.0
# The most answers kept: a cache that callers with new tokens cannot grow without bound.
MAX_ACCESS = 10_000


def access_key(token: str, namespace: str, name: str) -> str:
    """Names a token's access to the BatchJob `namespace`/`name`, without keeping the token."""
    return hashlib.sha256(f"{token}\n{namespace}/{name}".encode()).hexdigest()


class AccessCache:
    def __init__(
        self, clock: Callable[[], float], ttl: float = ACCESS_TTL, size: int = MAX_ACCESS
    ) -> None:
        """Keeps each review `ttl` seconds of `clock` (monotonic), at most `size` of them (the
        oldest goes first)."""
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._reviews: dict[str, tuple[float, asyncio.Future[Access]]] = {}

    def get(self, key: str) -> asyncio.Future[Access] | None:
        """The review under `key` (it may still be under way: callers of one burst all await
        the first one's), None when there is none younger than the TTL."""
        found = self._reviews.get(key)
        if found is None:
            return None
        made, review = found
        if self._clock() - made >= self._ttl:
            del self._reviews[key]
            return None
        return review

    def put(self, key: str, review: asyncio.Future[Access]) -> None:
        """Keeps `review` under `key`; one that fails (the API server did not answer) is
        dropped, so the next caller asks again."""
        self._reviews.pop(key, None)
        while len(self._reviews) >= self._size:
            del self._reviews[next(iter(self._reviews))]
        self._reviews[key] = (self._clock(), review)
        review.add_done_callback(lambda done: self._failed(key, done))

    def _failed(self, key: str, review: asyncio.Future[Access]) -> None:
        found = self._reviews.get(key)
        if found is not None and found[1] is review and (review.cancelled() or review.exception()):
            del self._reviews[key]

    def __len__(self) -> int:
        return len(self._reviews)
