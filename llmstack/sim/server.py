"""Live mode: simulated vLLM replicas as HTTP servers on 127.0.0.1.

Each replica runs the engine model (:mod:`llmstack.sim.engine`) in real time, one step at a
time, optionally sped up by ``time_factor`` (simulated seconds per real second), and answers
the OpenAI API as vLLM's server does (:mod:`llmstack.sim.openai_protocol` has the shapes,
checks and token counting; tests/contract/ runs the same client assertions against it and a
real engine):

- ``POST /v1/completions`` and ``POST /v1/chat/completions``, streamed (server-sent events, one
  chunk per engine step that produced tokens; steps whose outputs queued up while the stream was
  still writing are merged into one chunk, as vLLM's output collector does) or whole; ``n``
  choices run as ``n`` engine
  requests; a client that disconnects aborts its requests at once (they free their KV blocks
  and count neither as a success nor in the latency histograms);
- ``GET /health``, ``GET /v1/models``, ``GET /version``, ``POST /tokenize``;
- ``GET /metrics``: vLLM 0.33's metrics plus DCGM GPU gauges (:mod:`llmstack.sim.exposition`),
  with ``enable_prefix_caching`` as the deployment configures it.

The HTTP side (:mod:`llmstack.sim.http`) keeps connections alive and reads chunked request
bodies. :class:`LiveFleet` runs the replicas on an asyncio loop in a background thread so a
caller (``llmstack sim serve``, the demo) can add and remove replicas while they serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from llmstack.capacity import throughput
from llmstack.errors import LlmstackError
from llmstack.sim import openai_protocol as api
from llmstack.sim.engine import PREFIX_BLOCK_TOKENS, Engine, SimRequest
from llmstack.sim.exposition import ReplicaMetrics
from llmstack.sim.http import ClientGone, Connection, HttpError, HttpRequest
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve

MAX_BODY_BYTES = 16 * 1024 * 1024
DONE = -1
"""Queue marker: the choice's engine request finished."""


def served_model_name(stack: StackSpec, deployment: str) -> str:
    """The first router ``model`` that routes to ``deployment``, else the stack's model name."""
    for router in stack.routers:
        for route in router.routes:
            if deployment in route.backends:
                return route.model
    return stack.deployment(deployment).model


def estimate_tokens(text: str) -> int:
    """Tokens of plain text as the simulator counts them (4 characters per token)."""
    return api.count_tokens(text) if text else 0


@dataclass
class _Pending:
    """One choice of one HTTP request, in the engine."""

    request: SimRequest
    choice: api.Choice
    max_tokens: int
    queue: asyncio.Queue[tuple[int, int]]
    last_token_s: float | None = None


@dataclass
class _Call:
    """One generation request: its choices in the engine and the events they produce."""

    generation: api.Generation
    reply: api.Reply
    pendings: list[_Pending] = field(default_factory=list)
    queue: asyncio.Queue[tuple[int, int]] = field(default_factory=asyncio.Queue)


class LiveReplica:
    """One simulated engine behind an HTTP server."""

    def __init__(self, stack: StackSpec, deployment: str, *, time_factor: float = 1.0, replica_id: str = "0") -> None:
        resolved = resolve(stack, stack.deployment(deployment))
        self.profile = throughput.profile(resolved)
        self.model_name = served_model_name(stack, deployment)
        self.time_factor = time_factor
        self.prefix_caching = resolved.deployment.engine.enable_prefix_caching
        self.engine = Engine(self.profile, prefix_caching=self.prefix_caching, on_tokens=self._on_tokens)
        self.engine.iteration_tokens = []
        accel = resolved.accelerator
        self.metrics = ReplicaMetrics(
            self.model_name, self.engine, max_model_len=self.profile.max_model_len,
            gpus=resolved.deployment.gpus_per_replica, gpu_model=accel.display_name or accel.name,
            gpu_memory_mib=accel.memory_mib,
            gpu_memory_utilization=resolved.deployment.engine.gpu_memory_utilization, replica_id=replica_id)
        self.pending: dict[int, _Pending] = {}
        self._aborting: list[SimRequest] = []
        self._ids = 0
        self._wake = asyncio.Event()
        self._t0 = time.monotonic()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._stepper: asyncio.Task[None] | None = None
        self._handlers: dict[asyncio.Task[Any], Connection] = {}
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
        pending.queue.put_nowait((pending.choice.index, count))

    async def _step_loop(self) -> None:
        while True:
            self._apply_aborts()
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
                    self.metrics.finished(request, pending.max_tokens, pending.choice.finish_reason)
                    pending.queue.put_nowait((pending.choice.index, DONE))
            self.metrics.sync()

    def _apply_aborts(self) -> None:
        while self._aborting:
            self.engine.abort(self._aborting.pop())
        self.metrics.sync()

    def abort(self, call: _Call) -> None:
        """Stop generating for ``call`` (its client went away)."""
        for pending in call.pendings:
            if self.pending.pop(pending.request.id, None) is not None:
                self._aborting.append(pending.request)
        if self.engine.plan is None:
            self._apply_aborts()
        self._wake.set()

    def submit(self, generation: api.Generation) -> _Call:
        """Put ``generation``'s choices into the engine."""
        prefix = "chatcmpl" if generation.chat else "cmpl"
        call = _Call(generation, api.Reply(f"{prefix}-{uuid.uuid4().hex[:16]}", self.model_name, int(time.time()),
                                           generation.chat))
        hashes = api.prefix_hashes(generation.prompt, PREFIX_BLOCK_TOKENS) if self.prefix_caching else None
        for index in range(generation.n):
            choice = api.plan_choice(generation, index, self.profile.max_model_len)
            self._ids += 1
            request = SimRequest(self._ids, self.now(), generation.prompt_tokens, choice.tokens, hash_ids=hashes)
            max_tokens = generation.max_tokens or choice.tokens
            pending = _Pending(request, choice, max_tokens, call.queue)
            call.pendings.append(pending)
            self.pending[request.id] = pending
            self.engine.submit(request)
        self._wake.set()
        self.metrics.sync()
        return call

    # ------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        self._stepper = asyncio.create_task(self._step_loop())
        return self.port

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``drain_s``), close every connection."""
        self.accepting = False
        if self.server is not None:
            self.server.close()
        for task, conn in list(self._handlers.items()):
            if conn.idle:  # as uvicorn does at shutdown: idle keep-alive connections close at once
                task.cancel()
        deadline = time.monotonic() + drain_s
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2.0)
        if self._stepper is not None:
            self._stepper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stepper
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)

    # ------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = Connection(reader, writer, max_body_bytes=MAX_BODY_BYTES)
        self._handlers[task] = conn
        try:
            await self._serve(conn)
        except (ConnectionError, ClientGone, asyncio.CancelledError):
            pass
        finally:
            self._handlers.pop(task, None)
            await conn.close()

    async def _serve(self, conn: Connection) -> None:
        """Requests one after another on one connection, until either side closes it."""
        while True:
            try:
                request = await conn.next_request()
            except HttpError as exc:
                message = api.error_body(exc.status, exc.message, "BadRequestError")
                await conn.respond(exc.status, message, keep_alive=False)
                return
            if request is None:
                return
            request.keep_alive = request.keep_alive and self.accepting
            await self._route(conn, request)
            if not (request.keep_alive and self.accepting) or conn.writer.is_closing():
                return

    async def _route(self, conn: Connection, request: HttpRequest) -> None:
        path, keep = request.path, request.keep_alive
        getters: dict[str, Callable[[], tuple[int, object | bytes, str | None]]] = {
            "/health": lambda: (200 if self.accepting else 503, b"", None),
            "/metrics": lambda: (200, self.metrics.exposition(self.now(), self.engine.busy_s),
                                 "text/plain; version=0.0.4; charset=utf-8"),
            "/v1/models": lambda: (200, self._models(), "application/json"),
            "/version": lambda: (200, {"version": api.VLLM_VERSION}, "application/json"),
        }
        posts = {"/v1/completions", "/v1/chat/completions", "/tokenize"}
        if path in getters and request.method in ("GET", "HEAD"):
            status, payload, content_type = getters[path]()
            await conn.respond(status, payload, content_type=content_type, keep_alive=keep,
                               head_only=request.method == "HEAD")
        elif path in posts and request.method == "POST":
            await self._post(conn, request)
        elif path in getters or path in posts:
            allow = "POST" if path in posts else "GET"
            await conn.respond(405, {"detail": "Method Not Allowed"}, keep_alive=keep, headers={"allow": allow})
        else:
            await conn.respond(404, {"detail": "Not Found"}, keep_alive=keep)

    def _models(self) -> dict[str, object]:
        now = int(time.time())
        return {"object": "list", "data": [{
            "id": self.model_name, "object": "model", "created": now, "owned_by": "vllm", "root": self.model_name,
            "parent": None, "max_model_len": self.profile.max_model_len, "permission": [{
                "id": f"modelperm-{uuid.uuid4().hex[:16]}", "object": "model_permission", "created": now,
                "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                "organization": "*", "group": None, "is_blocking": False}]}]}

    async def _post(self, conn: Connection, request: HttpRequest) -> None:
        try:
            try:
                payload = json.loads(request.body or b"{}")
            except ValueError:
                raise api.ApiError(400, "1 validation error:\n  {'type': 'json_invalid', 'loc': 'body', "
                                        "'msg': 'JSON decode error'}", "Bad Request", "body") from None
            if request.path == "/tokenize":
                await conn.respond(200, self._tokenize(payload), keep_alive=request.keep_alive)
                return
            generation = self._admit(request.path.endswith("chat/completions"), payload)
        except api.ApiError as exc:
            await conn.respond(exc.status, exc.body(), keep_alive=request.keep_alive)
            return
        await self._generate(conn, request, generation)

    def _admit(self, chat: bool, payload: object) -> api.Generation:
        """The checked request, or the :class:`~llmstack.sim.openai_protocol.ApiError` vLLM answers."""
        generation = api.parse_generation(chat, payload)
        if generation.model is not None and generation.model != self.model_name:
            raise api.unknown_model(generation.model, self.model_name)
        api.check_context(generation, self.profile.max_model_len)
        if not self.accepting:
            raise api.ApiError(503, "The replica is draining and takes no new requests.", "ServiceUnavailableError")
        return generation

    def _tokenize(self, payload: object) -> dict[str, object]:
        if not isinstance(payload, dict):
            raise api.ApiError(400, "body must be a JSON object")
        chat = "messages" in payload
        model = payload.get("model")
        if model is not None and model != self.model_name:
            raise api.unknown_model(str(model), self.model_name)
        _, count = api._prompt(chat, payload)
        seed = zlib.crc32(json.dumps(payload, sort_keys=True).encode())
        return {"count": count, "max_model_len": self.profile.max_model_len,
                "tokens": [(seed + i * 7919) % 128000 for i in range(count)], "token_strs": None}

    async def _generate(self, conn: Connection, request: HttpRequest, generation: api.Generation) -> None:
        """Run ``generation``; abort it when the client disconnects first."""
        call = self.submit(generation)
        work = asyncio.create_task(self._stream(conn, call, request.keep_alive) if generation.stream
                                   else self._whole(conn, call, request.keep_alive))
        watch = asyncio.create_task(conn.wait_disconnect())
        served = False
        try:
            await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
            served = work.done() and not work.cancelled() and work.exception() is None
        finally:
            watch.cancel()
            if not work.done():
                work.cancel()
            if not served:
                self.abort(call)
                request.keep_alive = False

    async def _whole(self, conn: Connection, call: _Call, keep_alive: bool) -> None:
        done = 0
        while done < len(call.pendings):
            if (await call.queue.get())[1] == DONE:
                done += 1
        choices = [p.choice for p in call.pendings]
        await conn.respond(200, call.reply.response(choices, call.generation.prompt_tokens), keep_alive=keep_alive)

    async def _stream(self, conn: Connection, call: _Call, keep_alive: bool) -> None:
        await conn.start_stream(keep_alive=keep_alive)
        sent = [0] * len(call.pendings)
        done = 0
        while done < len(call.pendings):
            new, finished = await self._next_outputs(call.queue)
            done += finished
            if not new:
                continue
            if call.generation.chat and not any(sent):
                for i in range(len(call.pendings)):  # vLLM sends every choice's role chunk with the first output
                    self._event(conn, call.reply.role_chunk(i))
            for index, count in new.items():
                choice = call.pendings[index].choice
                text = "".join(choice.pieces[sent[index]:sent[index] + count])
                sent[index] = min(choice.tokens, sent[index] + count)
                self._event(conn, call.reply.content_chunk(index, text,
                                                           choice if sent[index] >= choice.tokens else None))
            await conn.flush()
        if call.generation.include_usage:
            completion = sum(p.choice.tokens for p in call.pendings)
            self._event(conn, call.reply.usage_chunk(call.generation.prompt_tokens, completion))
        conn.write_chunk(b"data: [DONE]\n\n")
        await conn.end_stream()

    @staticmethod
    async def _next_outputs(queue: asyncio.Queue[tuple[int, int]]) -> tuple[dict[int, int], int]:
        """New tokens per choice and finished choices: the next event and every one queued behind it.

        As vLLM's output collector does, outputs that arrive while the stream is still writing the previous
        ones are merged into one delta per choice, so a stream that falls behind (many requests on one busy
        event loop) catches up with one chunk instead of one per engine step.
        """
        events = [await queue.get()]
        while not queue.empty():
            events.append(queue.get_nowait())
        new: dict[int, int] = {}
        finished = 0
        for index, count in events:
            if count == DONE:
                finished += 1
            else:
                new[index] = new.get(index, 0) + count
        return new, finished

    @staticmethod
    def _event(conn: Connection, chunk: dict[str, object]) -> None:
        conn.write_chunk(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")


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
