"""Live mode: simulated vLLM replicas as HTTP servers on 127.0.0.1.

Each replica runs the engine model (:mod:`llmstack.sim.engine`) in real time, one step at a
time, optionally sped up by ``time_factor`` (simulated seconds per real second), and answers:

- ``POST /v1/completions`` and ``POST /v1/chat/completions`` (OpenAI style; ``stream: true``
  gives server-sent events, one chunk per token as the engine produces it); the prompt's
  token count is estimated as one token per 4 characters; the output length is ``max_tokens``
  (default 16 for completions, 128 for chat, as if the model never stopped early);
- ``GET /health``, ``GET /v1/models``;
- ``GET /metrics``: vLLM 0.33's metrics plus DCGM GPU gauges (:mod:`llmstack.sim.exposition`).

:class:`LiveFleet` runs the replicas on an asyncio loop in a background thread so a caller
(``llmstack sim serve``, the demo) can add and remove replicas while they serve. The HTTP
server is a minimal HTTP/1.1 implementation (one request per connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from llmstack.capacity import throughput
from llmstack.errors import LlmstackError
from llmstack.sim.engine import Engine, SimRequest
from llmstack.sim.exposition import ReplicaMetrics
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve

COMPLETION_DEFAULT_MAX_TOKENS = 16
CHAT_DEFAULT_MAX_TOKENS = 128
MAX_BODY_BYTES = 16 * 1024 * 1024


def served_model_name(stack: StackSpec, deployment: str) -> str:
    """The first router ``model`` that routes to ``deployment``, else the stack's model name."""
    for router in stack.routers:
        for route in router.routes:
            if deployment in route.backends:
                return route.model
    return stack.deployment(deployment).model


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


@dataclass
class _Pending:
    request: SimRequest
    max_tokens: int
    queue: asyncio.Queue[int]
    last_token_s: float | None = None


class LiveReplica:
    """One simulated engine behind an HTTP server."""

    def __init__(self, stack: StackSpec, deployment: str, *, time_factor: float = 1.0, replica_id: str = "0") -> None:
        resolved = resolve(stack, stack.deployment(deployment))
        self.profile = throughput.profile(resolved)
        self.model_name = served_model_name(stack, deployment)
        self.time_factor = time_factor
        self.engine = Engine(self.profile, prefix_caching=False, on_tokens=self._on_tokens)
        self.engine.iteration_tokens = []
        accel = resolved.accelerator
        self.metrics = ReplicaMetrics(
            self.model_name, self.engine, max_model_len=self.profile.max_model_len,
            gpus=resolved.deployment.gpus_per_replica, gpu_model=accel.display_name or accel.name,
            gpu_memory_mib=accel.memory_mib,
            gpu_memory_utilization=resolved.deployment.engine.gpu_memory_utilization, replica_id=replica_id)
        self.pending: dict[int, _Pending] = {}
        self._ids = 0
        self._wake = asyncio.Event()
        self._t0 = time.monotonic()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._stepper: asyncio.Task[None] | None = None
        self.accepting = True

    def now(self) -> float:
        """Simulated seconds since the replica started."""
        return (time.monotonic() - self._t0) * self.time_factor

    # ------------------------------------------------------------ engine

    def _on_tokens(self, request: SimRequest, count: int, at: float) -> None:
        pending = self.pending.get(request.id)
        if pending is None:
            return
        if pending.last_token_s is not None:
            self.metrics.token_gap((at - pending.last_token_s) / count, count)
        else:
            self.metrics.first_token(request)
        pending.last_token_s = at
        pending.queue.put_nowait(count)

    async def _step_loop(self) -> None:
        while True:
            if not self.engine.has_work:
                self._wake.clear()
                await self._wake.wait()
                continue
            start = self.now()
            end = self.engine.start(start, max_steps=1)
            if end is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(max(0.0, (end - self.now()) / self.time_factor))
            for request in self.engine.complete():
                pending = self.pending.pop(request.id, None)
                if pending is not None:
                    self.metrics.finished(request, pending.max_tokens)
                    pending.queue.put_nowait(-1)
            self.metrics.sync()

    # ------------------------------------------------------------ HTTP

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        self._stepper = asyncio.create_task(self._step_loop())
        return self.port

    async def stop(self, drain_s: float = 0.0) -> None:
        self.accepting = False
        if self.server is not None:
            self.server.close()
        deadline = time.monotonic() + drain_s
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._stepper is not None:
            self._stepper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stepper
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            parts = line.decode("latin-1").split()
            if len(parts) < 2:
                return
            method, target = parts[0], parts[1].split("?", 1)[0]
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            if length > MAX_BODY_BYTES:
                await self._respond(writer, 413, {"error": {"message": "body too large"}})
                return
            body = await reader.readexactly(length) if length else b""
            await self._route(method, target, body, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    async def _respond(self, writer: asyncio.StreamWriter, status: int, payload: object | bytes,
                       content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  413: "Payload Too Large", 503: "Service Unavailable"}.get(status, "OK")
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()

    async def _route(self, method: str, target: str, body: bytes, writer: asyncio.StreamWriter) -> None:
        if target == "/health":
            await self._respond(writer, 200 if self.accepting else 503, b"", "text/plain")
        elif target == "/metrics":
            text = self.metrics.exposition(self.now(), self.engine.busy_s)
            await self._respond(writer, 200, text, "text/plain; version=0.0.4; charset=utf-8")
        elif target == "/v1/models":
            await self._respond(writer, 200, {"object": "list", "data": [{
                "id": self.model_name, "object": "model", "created": 0, "owned_by": "llmstack-sim",
                "max_model_len": self.profile.max_model_len}]})
        elif target in ("/v1/completions", "/v1/chat/completions"):
            if method != "POST":
                await self._respond(writer, 405, {"error": {"message": "use POST"}})
                return
            await self._generate(target.endswith("chat/completions"), body, writer)
        else:
            await self._respond(writer, 404, {"error": {"message": f"no route {target}"}})

    async def _generate(self, chat: bool, body: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("body must be a JSON object")
            if chat:
                messages = payload.get("messages")
                if not isinstance(messages, list) or not messages:
                    raise ValueError("messages must be a non-empty list")
                prompt_text = "".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            else:
                prompt = payload.get("prompt", "")
                prompt_text = "".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)
            default = CHAT_DEFAULT_MAX_TOKENS if chat else COMPLETION_DEFAULT_MAX_TOKENS
            max_tokens = int(payload.get("max_tokens") or payload.get("max_completion_tokens") or default)
            if max_tokens < 1:
                raise ValueError("max_tokens must be >= 1")
        except (ValueError, TypeError) as exc:
            await self._respond(writer, 400, {"error": {"message": str(exc), "type": "BadRequestError"}})
            return
        prompt_tokens = estimate_tokens(prompt_text)
        if prompt_tokens + max_tokens > self.profile.max_model_len:
            await self._respond(writer, 400, {"error": {
                "message": f"This model's maximum context length is {self.profile.max_model_len} tokens; "
                           f"the request has {prompt_tokens} prompt tokens and max_tokens {max_tokens}",
                "type": "BadRequestError"}})
            return
        if not self.accepting:
            await self._respond(writer, 503, {"error": {"message": "replica is draining"}})
            return
        self._ids += 1
        request = SimRequest(self._ids, self.now(), prompt_tokens, max_tokens)
        pending = _Pending(request, max_tokens, asyncio.Queue())
        self.pending[request.id] = pending
        self.engine.submit(request)
        self._wake.set()
        self.metrics.sync()
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:16]}"
        obj = "chat.completion" if chat else "text_completion"
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens,
                 "total_tokens": prompt_tokens + max_tokens}
        if payload.get("stream"):
            await self._stream(writer, pending, chat, rid, obj, usage)
            return
        while await pending.queue.get() != -1:
            pass
        text = " tok" * max_tokens
        choice: dict[str, object] = ({"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "length"} if chat else
                                     {"index": 0, "text": text, "finish_reason": "length"})
        await self._respond(writer, 200, {"id": rid, "object": obj, "created": int(time.time()),
                                          "model": self.model_name, "choices": [choice], "usage": usage})

    async def _stream(self, writer: asyncio.StreamWriter, pending: _Pending, chat: bool, rid: str, obj: str,
                      usage: dict[str, int]) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Connection: close\r\n\r\n")
        await writer.drain()
        chunk_obj = "chat.completion.chunk" if chat else obj
        while True:
            count = await pending.queue.get()
            if count == -1:
                break
            for _ in range(count):
                delta: dict[str, object] = ({"index": 0, "delta": {"content": " tok"}, "finish_reason": None}
                                            if chat else {"index": 0, "text": " tok", "finish_reason": None})
                event = {"id": rid, "object": chunk_obj, "created": int(time.time()), "model": self.model_name,
                         "choices": [delta]}
                writer.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            await writer.drain()
        final: dict[str, object] = ({"index": 0, "delta": {}, "finish_reason": "length"} if chat
                                    else {"index": 0, "text": "", "finish_reason": "length"})
        done = {"id": rid, "object": chunk_obj, "created": int(time.time()), "model": self.model_name,
                "choices": [final], "usage": usage}
        writer.write(b"data: " + json.dumps(done).encode() + b"\n\ndata: [DONE]\n\n")
        await writer.drain()


class LiveFleet:
    """Simulated replicas served from a background thread's asyncio loop; add and remove them at run time.

    ``port_base`` 0 picks free ports; otherwise replica ``i`` listens on ``port_base + i`` (the next
    unused port at or above ``port_base`` for replicas added later).
    """

    def __init__(self, stack: StackSpec, deployment: str, *, replicas: int = 1, port_base: int = 0,
                 time_factor: float = 1.0) -> None:
        stack.deployment(deployment)
        if time_factor <= 0:
            raise LlmstackError(f"time factor must be > 0, got {time_factor}", path="--time-factor")
        self.stack = stack
        self.deployment = deployment
        self.initial = replicas
        self.port_base = port_base
        self.time_factor = time_factor
        self.replicas: dict[int, LiveReplica] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    @property
    def ports(self) -> list[int]:
        return sorted(self.replicas)

    def _call(self, factory: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 30.0) -> Any:
        assert self._loop is not None, "LiveFleet is not started"
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result(timeout)

    def start(self) -> list[int]:
        """Start the loop thread and the initial replicas; returns their ports."""
        if self._loop is not None:
            return self.ports
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="llmstack-sim-live", daemon=True)
        self._thread.start()
        try:
            for _ in range(self.initial):
                self.add_replica()
        except BaseException:
            self.stop()
            raise
        return self.ports

    def add_replica(self) -> int:
        """Start one more replica; returns its port."""
        replica_id = str(self._counter)
        self._counter += 1

        async def make() -> int:
            replica = LiveReplica(self.stack, self.deployment, time_factor=self.time_factor, replica_id=replica_id)
            port = 0
            if self.port_base:
                port = self.port_base
                while port in self.replicas:
                    port += 1
            try:
                bound = await replica.start(port)
            except OSError as exc:
                raise LlmstackError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", path="--port-base",
                                    hint="choose a free port range") from None
            self.replicas[bound] = replica
            return bound

        port = self._call(make)
        assert isinstance(port, int)
        return port

    def remove_replica(self, port: int, drain_s: float = 30.0) -> None:
        """Stop accepting requests on ``port``, let in-flight ones finish (up to ``drain_s``), stop it."""
        replica = self.replicas.pop(port, None)
        if replica is None:
            raise LlmstackError(f"no simulated replica on port {port}", hint=f"ports are {self.ports}")

        async def stop() -> None:
            await replica.stop(drain_s)

        self._call(stop, timeout=drain_s + 30)

    def stop(self) -> None:
        """Stop every replica and the loop thread."""
        if self._loop is None:
            return
        for port in list(self.replicas):
            with contextlib.suppress(Exception):
                self.remove_replica(port, drain_s=0.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> LiveFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
