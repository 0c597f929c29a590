"""tests/support/cloudevents.py's sender, which the e2e tier and the benchmark's events phase
send with, against a small HTTP/1.1 server on loopback: answers as the endpoint gives them, a
503 sent again after its Retry-After, a kept-alive connection used for many events, and one
the server closed while idle opened again."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.cloudevents import event, send

PATH = "/events/billing/invoices/orders"


class Endpoint(ThreadingHTTPServer):
    """Answers each POST with the next of `answers` ((status, verdict)), then 202 Accepted;
    records each request's path, Authorization and event id, and counts connections. With
    `drop_idle`, closes every connection after its answer without saying so, as a server's
    idle timeout does."""

    daemon_threads = True

    def __init__(self, answers: list[tuple[int, str]], drop_idle: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers, self.drop_idle = answers, drop_idle
        self.requests: list[tuple[str, str, str]] = []
        self.connections = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless a side closes
    disable_nagle_algorithm = True  # its header and body writes would wait on a delayed ACK
    server: Endpoint

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers.get("Authorization", ""), body["id"]))
        status, verdict = self.server.answers.pop(0) if self.server.answers else (202, "Accepted")
        answer = json.dumps({"verdict": verdict, "message": ""}).encode()
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.close_connection = self.server.drop_idle

    def log_message(self, format: str, *args: object) -> None:
        pass


def serving(endpoint: Endpoint) -> Iterator[Endpoint]:
    thread = threading.Thread(target=endpoint.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield endpoint
    endpoint.shutdown()
    endpoint.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serving(Endpoint([(503, "Unavailable"), (503, "NotLeader"), (200, "Duplicate")]))


@pytest.fixture
def dropping() -> Iterator[Endpoint]:
    yield from serving(Endpoint([], drop_idle=True))


def test_a_503_is_sent_again_until_an_answer_on_a_connection_of_its_own(endpoint):
    port = endpoint.server_address[1]
    answer = send(port, PATH, event("e-1"), "shop-token")
    assert answer == (200, {"verdict": "Duplicate", "message": ""})
    assert endpoint.requests == [(PATH, "Bearer shop-token", "e-1")] * 3
    assert endpoint.connections == 1  # kept alive across its own retries


def test_a_kept_alive_connection_carries_every_event(endpoint):
    endpoint.answers.clear()
    port = endpoint.server_address[1]
    connection = HTTPConnection("127.0.0.1", port, timeout=5)
    answers = [send(port, PATH, event(f"e-{i}"), None, connection=connection) for i in range(5)]
    connection.close()
    assert answers == [(202, {"verdict": "Accepted", "message": ""})] * 5
    assert endpoint.requests == [(PATH, "", f"e-{i}") for i in range(5)]
    assert endpoint.connections == 1


def test_a_connection_the_server_closed_is_opened_again(dropping):
    port = dropping.server_address[1]
    connection = HTTPConnection("127.0.0.1", port, timeout=5)
    answers = [send(port, PATH, event(f"e-{i}"), None, connection=connection) for i in range(3)]
    connection.close()
    assert answers == [(202, {"verdict": "Accepted", "message": ""})] * 3
    # each event once: the closed connection's failure came before the server read anything
    assert dropping.requests == [(PATH, "", f"e-{i}") for i in range(3)]
    assert dropping.connections == 3
