"""What the parts of the closed loop share: a context manager that starts a service on enter
and stops it on exit, and stopping a process without waiting forever."""

from __future__ import annotations

import signal
import subprocess
from types import TracebackType
from typing import Any, Self


def stop_process(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM) -> None:
    """Signals proc and waits for it; SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Service:
    """start() on enter; on exit stop(), then close() (what start() left behind)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Deletes what outlives stop(); nothing by default."""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.close()
