"""Trace replay: requests leave on the accelerated clock, every one gets a result."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from llmstack.demo import replay_client


class _Streamer(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[float, dict[str, object]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Streamer.seen.append((time.monotonic(), body))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(3):
            self.wfile.write(f'data: {{"choices": [{{"text": "t{i}"}}]}}\n\n'.encode())
            self.wfile.flush()
            time.sleep(0.01)
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def upstream() -> Iterator[str]:
    _Streamer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Streamer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_replay_sends_on_accelerated_clock(upstream: str) -> None:
    requests = [replay_client.TraceRequest(arrival_s=i * 1.0, prompt_tokens=5 + i, output_tokens=3) for i in range(6)]
    started = time.monotonic()
    results = asyncio.run(replay_client.replay(upstream, "m", requests, speed=10.0))
    elapsed = time.monotonic() - started
    assert len(results) == 6 and all(r.status == 200 and r.ttft_s is not None for r in results)
    assert 0.45 <= elapsed < 3.0  # 5 s of trace at 10x
    sent = sorted(t for t, _ in _Streamer.seen)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert all(g > 0.05 for g in gaps)
    bodies = sorted((b for _, b in _Streamer.seen), key=lambda b: len(str(b["prompt"])))
    assert [len(str(b["prompt"])) // 4 for b in bodies] == [5, 6, 7, 8, 9, 10]
    assert all(b["max_tokens"] == 3 and b["stream"] is True and b["model"] == "m" for b in bodies)


def test_replay_stops_early_when_asked(upstream: str) -> None:
    requests = [replay_client.TraceRequest(arrival_s=i * 1.0, prompt_tokens=5, output_tokens=2) for i in range(50)]
    deadline = time.monotonic() + 0.3
    results = asyncio.run(replay_client.replay(upstream, "m", requests, speed=10.0,
                                               stop=lambda: time.monotonic() > deadline))
    assert 1 <= len(results) < 10


def test_unreachable_router_gives_error_results() -> None:
    unreachable = [replay_client.TraceRequest(0.0, 5, 2)]
    results = asyncio.run(replay_client.replay("http://127.0.0.1:9", "m", unreachable, speed=1.0))
    assert results[0].status == 0 and results[0].error is not None
