"""A small HTTP/1.1 server connection for the simulated replicas (asyncio streams, no framework).

What it does, as uvicorn in front of vLLM does it: persistent connections (keep-alive, closed
after ``KEEP_ALIVE_S`` idle or on ``Connection: close``), request bodies by ``Content-Length``
or ``Transfer-Encoding: chunked``, ``Expect: 100-continue``, 413 for a body over the limit,
responses with ``Content-Length`` or as a chunked stream (server-sent events), and
:meth:`Connection.wait_disconnect` to notice a client that goes away mid-request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from http import HTTPStatus

KEEP_ALIVE_S = 5.0
"""uvicorn's default ``--timeout-keep-alive``."""
MAX_LINE_BYTES = 65536
MAX_HEADERS = 100
READ_SIZE = 65536


class HttpError(Exception):
    """A request the connection cannot serve; answered with ``status`` and then closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed the connection while its request was in progress."""


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-case header names."""
    body: bytes = b""
    keep_alive: bool = True

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class Connection:
    """One client connection: read requests one after another, write their responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, max_body_bytes: int) -> None:
        self.reader = reader
        self.writer = writer
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._eof = False
        self.idle = True
        """Waiting for a request that has not started to arrive (safe to close: nothing is lost)."""

    # ------------------------------------------------------------ reading

    async def _fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        if self._eof:
            return False
        data = await self.reader.read(READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    async def _readline(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                return line
            if len(self._buffer) > MAX_LINE_BYTES:
                raise HttpError(431, "header line too long")
            if not await self._fill():
                if self._buffer:
                    raise HttpError(400, "connection closed inside a request")
                return b""

    async def _readexactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not await self._fill():
                raise ClientGone
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def next_request(self) -> HttpRequest | None:
        """The next request on this connection; None when the client closed it or stayed idle too long."""
        self.idle = True
        try:
            if not self._buffer:
                await asyncio.wait_for(self._fill(), KEEP_ALIVE_S)
            self.idle = False
            line = await self._readline()
        except TimeoutError:
            return None
        while line in (b"\r\n", b"\n"):  # tolerated before a request line (RFC 9112 2.2)
            line = await self._readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "malformed request line")
        request = HttpRequest(parts[0], parts[1])
        request.headers = await self._read_headers()
        connection = request.headers.get("connection", "").lower()
        request.keep_alive = "close" not in connection and (parts[2] != "HTTP/1.0" or "keep-alive" in connection)
        request.body = await self._read_body(request.headers)
        return request

    async def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = await self._readline()
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not name.strip():
                raise HttpError(400, "malformed header line")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        raise HttpError(431, f"more than {MAX_HEADERS} headers")

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            raise HttpError(400, f"bad Content-Length {length!r}")
        if headers.get("expect", "").lower() == "100-continue" and (chunked or length not in (None, "0")):
            if length is not None and int(length) > self.max_body_bytes:
                raise HttpError(413, f"request body over {self.max_body_bytes} bytes")
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            return await self._read_chunked()
        size = int(length or 0)
        if size > self.max_body_bytes:
            raise HttpError(413, f"request body over {self.max_body_bytes} bytes")
        return await self._readexactly(size) if size else b""

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = (await self._readline()).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise HttpError(400, "malformed chunk size") from None
            if size == 0:
                break
            if len(body) + size > self.max_body_bytes:
                raise HttpError(413, f"request body over {self.max_body_bytes} bytes")
            body += await self._readexactly(size)
            await self._readexactly(2)  # the CRLF after each chunk
        while (await self._readline()) not in (b"\r\n", b"\n", b""):  # trailer fields
            pass
        return bytes(body)

    # ------------------------------------------------------------ disconnects

    async def wait_disconnect(self) -> None:
        """Return when the client closes its side; bytes it sends meanwhile stay buffered for the next request."""
        while await self._fill():
            pass

    # ------------------------------------------------------------ writing

    def _head(self, status: int, headers: dict[str, str], keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append("connection: keep-alive" if keep_alive else "connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def respond(self, status: int, payload: object | bytes, *, content_type: str | None = "application/json",
                      keep_alive: bool = True, headers: dict[str, str] | None = None, head_only: bool = False) -> None:
        """One whole response; ``head_only`` (a HEAD request) sends its headers without the body."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        fields = {"content-length": str(len(body)), **({"content-type": content_type} if content_type else {}),
                  **(headers or {})}
        head = self._head(status, fields, keep_alive)
        self.writer.write(head if head_only else head + body)
        await self.writer.drain()

    async def start_stream(self, status: int = 200, content_type: str = "text/event-stream; charset=utf-8",
                           keep_alive: bool = True) -> None:
        self.writer.write(self._head(status, {"content-type": content_type, "cache-control": "no-cache",
                                              "transfer-encoding": "chunked"}, keep_alive))
        await self.writer.drain()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def flush(self) -> None:
        if self.writer.is_closing():
            raise ClientGone
        await self.writer.drain()

    async def end_stream(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.flush()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
            await self.writer.wait_closed()
