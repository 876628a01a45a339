"""Small stand-ins for vLLM engines and a runner for the real HAProxy, for the router tests.

An :class:`Upstream` is a threaded ``http.server`` on 127.0.0.1 that answers like vLLM's
OpenAI server: ``POST /v1/chat/completions`` and ``/v1/completions`` (JSON, or server-sent
events with ``"stream": true``), ``GET /health``, ``GET /metrics`` and ``GET /v1/models``.
Each records the requests it served; ``x-test-delay`` (seconds) holds a request open.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.servers import free_port as free_port  # re-exported for the artifacts tests

HAPROXY = "/usr/sbin/haproxy"


@dataclass
class Seen:
    path: str
    model: str | None
    headers: dict[str, str]


@dataclass
class Upstream:
    """A fake vLLM engine named ``name`` on 127.0.0.1:``port``."""

    name: str
    port: int = field(default_factory=free_port)
    stream_chunks: int = 5
    stream_gap_s: float = 0.2
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Upstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # answer at once: no Nagle wait between the header and body writes
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:
                return

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.send_header("x-upstream", upstream.name)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send(200, b"")
                elif self.path == "/metrics":
                    self._send(200, b'vllm:num_requests_running{model_name="m",engine="0"} 0.0\n', "text/plain")
                elif self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": upstream.name}]}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with upstream._lock:
                    upstream.seen.append(Seen(self.path, body.get("model"), dict(self.headers.items())))
                    upstream.in_flight += 1
                try:
                    time.sleep(float(self.headers.get("x-test-delay", "0")))
                    if body.get("stream"):
                        self._stream(body)
                    else:
                        reply = {"id": f"cmpl-{upstream.name}", "object": "chat.completion", "model": body.get("model"),
                                 "upstream": upstream.name, "path": self.path,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
                        self._send(200, json.dumps(reply).encode())
                finally:
                    with upstream._lock:
                        upstream.in_flight -= 1

            def _stream(self, body: dict[str, object]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.send_header("x-upstream", upstream.name)
                self.end_headers()
                for index in range(upstream.stream_chunks + 1):
                    if index:
                        time.sleep(upstream.stream_gap_s)
                    delta = {"choices": [{"index": 0, "delta": {"content": f"t{index}"}}], "sent": time.monotonic()}
                    event = b"data: [DONE]\n\n" if index == upstream.stream_chunks else (
                        b"data: " + json.dumps(delta).encode() + b"\n\n")
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=f"upstream-{self.name}", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_upstreams(*names: str) -> Iterator[dict[str, Upstream]]:
    upstreams = {name: Upstream(name).start() for name in names}
    try:
        yield upstreams
    finally:
        for upstream in upstreams.values():
            upstream.stop()


@contextlib.contextmanager
def running_haproxy(config: str, folder: Path, port: int) -> Iterator[str]:
    """Start ``haproxy -db`` with ``config``; yield its base URL once it answers /healthz."""
    path = folder / "haproxy.cfg"
    path.write_text(config)
    process = subprocess.Popen([HAPROXY, "-db", "-f", str(path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 5
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start within 5 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
