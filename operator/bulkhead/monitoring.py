"""The I/O of reading signals (health, backlog): one GET of a Prometheus instant query or a JSON
document, with the signal's timeout, TLS trust and credentials (a bearer token or basic auth).
What the answer means (the one sample, the JSON path) is policy/signals.py's; this module only
fetches and decodes."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

USER_AGENT = "bulkhead-health"
# An answer larger than this is not a health signal; stop reading instead of holding it.
MAX_ANSWER = 4 * 1024 * 1024


@dataclass(frozen=True)
class Trust:
    """How a server is trusted and who we say we are: a PEM bundle of CAs (None: the system's),
    verification off (a test setup), and a bearer token or a (user name, password) for basic
    auth (at most one of the two)."""

    ca_pem: str | None = None
    insecure: bool = False
    token: str | None = None
    basic: tuple[str, str] | None = None


class Monitoring:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[tuple[str | None, bool], ssl.SSLContext] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _context(self, trust: Trust) -> ssl.SSLContext:
        """One TLS context per (CA bundle, verification), made once."""
        key = (trust.ca_pem, trust.insecure)
        if key not in self._contexts:
            context = ssl.create_default_context(cadata=trust.ca_pem)
            if trust.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._contexts[key] = context
        return self._contexts[key]

    async def get_json(
        self, url: str, params: dict[str, str], timeout: float, trust: Trust
    ) -> Any | str:
        """The decoded JSON answer of GET `url`?`params`, or why there is none (as text for
        status.signals[].error): unreachable, too slow, an HTTP error, not JSON."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        headers = {"Accept": "application/json"}
        if trust.token:
            headers["Authorization"] = f"Bearer {trust.token}"
        elif trust.basic:
            headers["Authorization"] = aiohttp.encode_basic_auth(*trust.basic)
        try:
            async with self._session.get(
                url,
                params=params,
                headers=headers,
                ssl=self._context(trust) if url.startswith("https:") else False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                body = await response.content.read(MAX_ANSWER)
                if response.status >= 400:
                    return f"HTTP {response.status}: {_error_text(body)}"
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except (aiohttp.ClientError, ssl.SSLError, OSError) as error:
            return f"unreachable: {error}"
        try:
            return json.loads(body)
        except ValueError:
            return "the answer is not JSON"


def _error_text(body: bytes) -> str:
    """What an error answer says: Prometheus' JSON `error`, else its first 200 characters."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error) if error else body[:200].decode(errors="replace")
