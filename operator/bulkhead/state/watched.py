"""One watched kind of the store as its reflector fills it (runtime/reflector.py's `Cache`):
watch events and listing pages in, typed changes out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from bulkhead.api.views import Malformed, parse_body
from bulkhead.runtime.reflector import Change, Relisted
from bulkhead.state.store import Store, fill, once, put_view

K = TypeVar("K")
V = TypeVar("V")


class WatchedKind(Generic[K, V]):
    def __init__(
        self,
        store: Store,
        kind: str,
        before: Callable[[K, V], V | None] = lambda key, view: None,
    ) -> None:
        """`kind`: "batchjobs", "jobs", "dependencies" or "namespaces", keys and views as
        api/views.py's parse_body makes them; `before(key, view)`: the store's view of an
        object a watch event tells of, before the event (where the controllers ask it)."""
        self._store = store
        self._kind = kind
        self._before = before
        self._listed: set[Any] = set()

    def put(self, body: dict[str, Any], deleted: bool) -> Change[K, V] | None:
        """A watch event's object into the store (out of it, `deleted`), and the change it made;
        None (logged once) for one that is malformed."""
        try:
            key, view = parse_body(self._kind, body)
        except Malformed as error:
            meta = body.get("metadata") if isinstance(body, Mapping) else None
            name = meta.get("uid") or meta.get("name") if isinstance(meta, Mapping) else None
            once.warning((self._kind, name), "%s", error)
            return None
        before = self._before(key, view)
        put_view(self._store, self._kind, key, view, deleted=deleted)
        return Change(key, view, deleted, before)

    def begin_listing(self) -> None:
        self._store.begin_listing(self._kind)
        self._listed = set()

    def fill(self, items: list[dict[str, Any]]) -> None:
        self._listed |= fill(self._store, self._kind, items)

    def end_listing(self) -> Relisted[K, V]:
        return self._store.end_listing(self._kind, self._listed)
