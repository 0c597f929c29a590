"""Whether each watch still tells the changes, for the liveness check (`/healthz`): kopf alone
would go on with a watch that tells nothing, and so would a reflector (a watch can hang with
its connection open). The resync listings are the witness: what they find that no event told
is a watch's miss."""

from __future__ import annotations

from collections import Counter


class WatchLiveness:
    def __init__(self) -> None:
        self._heard: set[str] = set()  # kinds with a watch event since their last resync
        self._silent_drift: Counter[str] = Counter()  # resyncs in a row: see `stuck`

    def heard(self, kind: str) -> None:
        """The watch of `kind` told an event."""
        self._heard.add(kind)

    def period_ends(self, kind: str) -> bool:
        """A resync of `kind` begins: returns whether its watch told anything since the last
        one; what it tells from now on counts for the next."""
        heard = kind in self._heard
        self._heard.discard(kind)
        return heard

    def resynced(self, kind: str, drift: int, heard: bool) -> None:
        """A resync listing of `kind` found `drift` changes no event had told; `heard`: what
        `period_ends` returned when it began."""
        self._silent_drift[kind] = self._silent_drift[kind] + 1 if drift and not heard else 0

    def stuck(self) -> list[str]:
        """The kinds whose watch looks stuck: two resyncs in a row found changes it had not
        told, and it told nothing at all in between. (A watch that lags under load still
        tells something; one change listed a moment before its event arrives happens once.)"""
        return sorted(kind for kind, count in self._silent_drift.items() if count >= 2)
