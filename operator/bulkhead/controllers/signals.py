"""One read of a signal source (spec.health.signals[], spec.triggers[].backlog.signal): its
Secrets (CA bundle, bearer token, basic auth) from the operator's namespace, one GET
(monitoring.py), and the number in the answer (policy/signals.py). Dependency health and
backlog triggers share it, and so its Secret cache."""

from __future__ import annotations

import time

from bulkhead.api.health import SignalSource
from bulkhead.api.times import duration
from bulkhead.kube.client import Kube
from bulkhead.kube.errors import ApiError
from bulkhead.monitoring import Monitoring, Trust
from bulkhead.policy import signals

# A Secret (CA bundle, token, password) is read again at most this often: a rotation lands
# within it.
SECRET_TTL = 60.0


class MissingKey(Exception):
    """A Secret the source names, or its key, does not exist (the text says which)."""


class SignalReader:
    def __init__(self, kube: Kube, monitoring: Monitoring, namespace: str) -> None:
        """`namespace`: the operator's, where the sources' Secrets are read."""
        self._kube = kube
        self._monitoring = monitoring
        self._namespace = namespace
        self._secrets: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def read(self, source: SignalSource) -> float | str:
        """The source's value now, or why it could not be read (as text for a status)."""
        try:
            trust = await self._trust(source)
        except ApiError as error:
            return f"cannot read its Secret: {error}"
        except MissingKey as missing:
            return str(missing)
        if source.prometheus is not None:
            query = source.prometheus
            answer = await self._monitoring.get_json(
                signals.prometheus_query_url(query.address),
                {"query": query.query},
                duration(query.timeout).total_seconds(),
                trust,
            )
            return answer if isinstance(answer, str) else signals.prometheus_value(answer)
        assert source.http is not None
        page = source.http
        answer = await self._monitoring.get_json(
            page.url, {}, duration(page.timeout).total_seconds(), trust
        )
        return (
            answer if isinstance(answer, str) else signals.json_path_value(answer, page.json_path)
        )

    async def _trust(self, source: SignalSource) -> Trust:
        """The source's TLS trust and credentials from its Secrets. Raises MissingKey."""
        tls = source.tls
        ca = tls.ca_secret_ref if tls else None
        token = source.bearer_token_secret_ref
        basic = source.basic_auth
        return Trust(
            ca_pem=await self._key(ca.name, ca.key) if ca else None,
            insecure=bool(tls and tls.insecure_skip_verify),
            token=(await self._key(token.name, token.key)).strip() if token else None,
            # Both as written: a password may end in a space (a token never does).
            basic=(
                await self._key(basic.secret_name, basic.username_key),
                await self._key(basic.secret_name, basic.password_key),
            )
            if basic
            else None,
        )

    async def _key(self, name: str, key: str) -> str:
        """A key of a Secret in the operator's namespace. Raises MissingKey."""
        value = await self._secret(name, key)
        if value is None:
            raise MissingKey(f"Secret {self._namespace}/{name} has no key {key}")
        return value

    async def _secret(self, name: str, key: str) -> str | None:
        """A key of a Secret in the operator's namespace, read again after SECRET_TTL."""
        read_at, value = self._secrets.get((name, key), (-SECRET_TTL, None))
        if time.monotonic() - read_at < SECRET_TTL:
            return value
        value = await self._kube.get_secret_value(self._namespace, name, key)
        self._secrets[name, key] = (time.monotonic(), value)
        return value
