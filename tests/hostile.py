"""A hostile vendor on 127.0.0.1: a raw HTTP server that trickles, bombs, redirects, echoes and drops.

Every path answers the same way, so any vendor's connection can point at it: whatever the flow
sends first (a status poll, a token fetch, a WSDL fetch) meets the hostile answer. It records
every connection and request line it sees, so a test can count attempts.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import quote, quote_plus

BOMB_INFLATED_BYTES = 1024**3
"""What the bombs inflate to: 1 GiB."""


@cache
def gzip_bomb(layers: int) -> bytes:
    """1 GiB of zeros gzipped ``layers`` times (single: about 1 MiB; double: a few KiB)."""
    chunk = b"\0" * (1024 * 1024)
    compressor = gzip.compress
    data = _gzip_zeros(BOMB_INFLATED_BYTES, chunk)
    for _ in range(layers - 1):
        data = compressor(data, 9)
    return data


def _gzip_zeros(size: int, chunk: bytes) -> bytes:
    import io

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)
    return buffer.getvalue()


@dataclass
class Behaviour:
    """What the server does with the next requests."""

    kind: str = "echo"
    """``trickle_body``, ``trickle_headers``, ``gzip_bomb``, ``redirect``, ``echo``, ``drop``."""
    status: int = 200
    location: str = ""
    layers: int = 1
    interval: float = 1.0
    """Seconds between trickled bytes."""


@dataclass
class HostileServer:
    """Run with ``with HostileServer() as server:``; set ``server.behaviour`` per test."""

    behaviour: Behaviour = field(default_factory=Behaviour)
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                self.request.settimeout(30)
                with contextlib.suppress(OSError):
                    owner._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _read_request(self, sock: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _serve(self, sock: socket.socket) -> None:
        request = self._read_request(sock)
        if not request:
            return
        line = request.split(b"\r\n", 1)[0]
        self.requests.append(line)
        b = self.behaviour
        if b"/healthy" in line:  # a well-behaved job beside the hostile ones (pool starvation)
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            return
        if b.kind == "drop":
            sock.shutdown(socket.SHUT_RDWR)
            return
        if b.kind == "trickle_headers":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"x" * 300:
                sock.sendall(bytes([byte]))
                time.sleep(b.interval)
            return
        if b.kind == "trickle_body":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n")
            for byte in b"{" + b" " * 299:
                sock.sendall(bytes([byte]))
                time.sleep(b.interval)
            return
        if b.kind == "gzip_bomb":
            body = gzip_bomb(b.layers)
            encoding = ", ".join(["gzip"] * b.layers).encode()
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: "
                + encoding
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            return
        if b.kind == "redirect":
            sock.sendall(f"HTTP/1.1 {b.status} Moved\r\nLocation: {b.location}\r\nContent-Length: 0\r\n\r\n".encode())
            return
        # echo: the whole request back, raw and in the encodings a careless vendor would use
        text = request.decode("latin-1")
        echoed = f"{text}\n{quote(text)}\n{quote_plus(text)}\n{base64.b64encode(request).decode()}".encode()
        sock.sendall(
            f"HTTP/1.1 {b.status} Echo\r\nContent-Type: text/plain\r\nX-Echo: {quote(text[:500])}\r\n"
            f"Content-Length: {len(echoed)}\r\n\r\n".encode()
            + echoed
        )
