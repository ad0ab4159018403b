"""A real webhook receiver on loopback (http.server in a thread) that keeps what it receives
and answers as a test scripts it, and the signature check a partner writes (the guide's)."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify_signature(
    secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None
) -> bool:
    """The check from the partner guide: is `header` (Marketplace-Signature) a signature of
    `body` with `secret`, made at most `tolerance` seconds ago?"""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class Request:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[BaseHTTPRequestHandler], None]
"""How to answer one request: writes the whole answer itself."""


def status(code: int, body: bytes = b"", **headers: str) -> Handler:
    """Answer `code` with `body` and `headers` (names with _ for -)."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def slow(seconds: float) -> Handler:
    """Answer 200, but only after `seconds`."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        status(200)(handler)

    return answer


def drip(seconds: float, step: float = 0.2) -> Handler:
    """Answer one byte of headers every `step` seconds for `seconds` (each read is quick, the
    whole answer is not: only a deadline on the whole exchange stops it)."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            handler.wfile.write(b"X")
            handler.wfile.flush()
            time.sleep(step)
        handler.wfile.write(b": y\r\nContent-Length: 0\r\n\r\n")

    return answer


@dataclass
class Receiver:
    """What the server received, and the answers it is told to give (in order; then 200)."""

    port: int = 0
    scheme: str = "http"
    answers: list[Handler] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI seen
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def answer(self, *handlers: Handler) -> None:
        with self.lock:
            self.answers.extend(handlers)

    def next_answer(self) -> Handler:
        with self.lock:
            return self.answers.pop(0) if self.answers else status(200, b"ok")

    def got(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [request.json() for request in self.requests]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [body for body in self.bodies() if body["type"] == kind]


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.got(Request("POST", self.path, headers, body))
            with suppress(OSError):  # the client gave up first (a timeout test)
                receiver.next_answer()(self)
            self.close_connection = True

        do_GET = do_POST  # a GET would be a followed redirect: recorded too

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler


@contextmanager
def receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (HTTPS with `tls`), stopped afterwards."""
    found = Receiver(scheme="https" if tls else "http")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(found))
    server.daemon_threads = True
    if tls is not None:
        tls.sni_callback = lambda _socket, name, _context: found.server_names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
