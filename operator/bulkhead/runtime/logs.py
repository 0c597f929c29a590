"""Logging what is wrong with an object once, not on every event about it."""

from __future__ import annotations

import logging
from collections.abc import Hashable

# Bounded: a flood of distinct bad objects must not grow memory without end.
REMEMBERED = 10_000


class OnceLogger:
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._told: set[Hashable] = set()

    def warning(self, key: Hashable, message: str, *args: object) -> None:
        """Log `message` at WARNING the first time `key` is seen."""
        if key in self._told:
            return
        if len(self._told) >= REMEMBERED:
            self._told.clear()
        self._told.add(key)
        self._logger.warning(message, *args)
