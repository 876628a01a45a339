"""The demo's load generator as a child process: ``python -m llmstack.demo.load_process PLAN RESULTS``.

The simulated replicas run in the demo's own process; the HTTP client that streams every
token back is about as busy as they are, so it runs in a process of its own (a second core,
no shared GIL) and is stopped with the other children. The plan (a JSON file: router URL,
speed, one request list per model) comes in; every finished request goes out as one JSON
line appended to RESULTS, which the demo tails while it runs. The first line is
``{"started": <wall epoch>}``, the moment trace time 0 was sent; the last is ``{"done": n}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from llmstack.demo import replay_client
from llmstack.demo.processes import ManagedProcess, ProcessGroup
from llmstack.demo.workload import Stream
from llmstack.fileio import atomic_write_text


@dataclass(frozen=True)
class Outcome:
    """One finished request as the demo sees it."""

    deployment: str
    arrival_s: float
    status: int
    ttft_s: float | None
    latency_s: float
    error: str | None


async def _run(plan: dict[str, Any], out: IO[str]) -> int:
    speed = float(plan["speed"])
    count = 0

    def write(line: dict[str, Any]) -> None:
        out.write(json.dumps(line) + "\n")
        out.flush()

    def recorder(deployment: str) -> Any:
        def on_result(result: replay_client.ClientResult) -> None:
            nonlocal count
            count += 1
            write({"deployment": deployment, "arrival_s": result.arrival_s, "status": result.status,
                   "ttft_s": result.ttft_s, "latency_s": result.latency_s, "error": result.error})
        return on_result

    write({"started": time.time()})
    runs = [replay_client.replay(plan["url"], s["model"],
                        [replay_client.TraceRequest(float(a), int(p), int(o)) for a, p, o in s["requests"]],
                        speed, on_result=recorder(s["deployment"]))
            for s in plan["streams"]]
    await asyncio.gather(*runs)
    write({"done": count})
    return count


def main(argv: Sequence[str]) -> int:
    plan_path, results_path = Path(argv[0]), Path(argv[1])
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    with results_path.open("a", encoding="utf-8") as out:
        asyncio.run(_run(plan, out))
    return 0


class Traffic:
    """Parent side: writes the plan, starts the child, reads its results as they come."""

    def __init__(self, workdir: Path, url: str, speed: float, streams: Sequence[Stream], group: ProcessGroup) -> None:
        self.plan_path = workdir / "load-plan.json"
        self.results_path = workdir / "load-results.jsonl"
        self.log_path = workdir / "logs" / "load.log"
        self.group = group
        self.started_wall: float | None = None
        self.done = False
        self._offset = 0
        self._partial = ""
        atomic_write_text(self.plan_path, json.dumps(
            {"url": url, "speed": speed, "streams": [s.to_json() for s in streams]}))
        self.results_path.unlink(missing_ok=True)
        self.process: ManagedProcess | None = None

    def start(self) -> ManagedProcess:
        self.process = self.group.start(ManagedProcess(
            "load", [sys.executable, "-m", "llmstack.demo.load_process", str(self.plan_path), str(self.results_path)],
            self.log_path))
        return self.process

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def poll(self) -> list[Outcome]:
        """Results appended since the last call."""
        try:
            with self.results_path.open(encoding="utf-8") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return []
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        out: list[Outcome] = []
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            if "started" in item:
                self.started_wall = float(item["started"])
            elif "done" in item:
                self.done = True
            else:
                out.append(Outcome(item["deployment"], float(item["arrival_s"]), int(item["status"]),
                                   None if item["ttft_s"] is None else float(item["ttft_s"]),
                                   float(item["latency_s"]), item.get("error")))
        return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
