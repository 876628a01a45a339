"""Keep a CPU vLLM engine's EngineCore off its API server's cores (Linux ``/proc`` and affinity).

The CPU build binds its model worker (``VLLM::Worker``, OpenMP) to some cores and leaves the rest
(``reserved_cpus``) to the API server and the EngineCore process. The EngineCore waits for each
step's result by spinning (vLLM's shared-memory queue polls with ``sched_yield`` for 1 s after
every read), so when the kernel puts it on the API server's core, the API server gets no CPU
while a request runs. Measured on the 2-core host (tiny model, C=1, 12 requests per placement):
EngineCore and API server on one core, every request's 24 tokens reached the client in one burst
at the end (client TTFT = E2E, about 50-140 ms) and concurrent requests ran one at a time (C=2:
361 engine steps for 384 tokens, 290 tok/s); EngineCore on the worker's core, TTFT 9-48 ms,
tokens at the engine's step cadence, C=8 batches of 8 (1,400-1,600 tok/s). Left to the scheduler
the placement flips between the two within seconds, so one sweep mixed both (C=8: 496 and 1,326
tok/s in two rounds). :func:`separate_engine_core` therefore pins the EngineCore (every thread)
to the worker's cores and the group's other processes (the API server) to the remaining ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

WORKER_TITLE = "VLLM::Worker"
ENGINE_CORE_TITLE = "VLLM::EngineCore"


@dataclass(frozen=True)
class Placement:
    """Which cores the engine's processes were pinned to."""

    engine_core: frozenset[int]
    api_server: frozenset[int]


def process_title(pid: int) -> str:
    """The process's title (vLLM renames its processes, e.g. ``VLLM::EngineCore``); '' if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def pin_process(pid: int, cores: frozenset[int]) -> None:
    """Set the affinity of every thread of ``pid`` (threads started later inherit it)."""
    try:
        threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return
    for tid in threads:
        try:
            os.sched_setaffinity(tid, cores)
        except OSError:  # the thread ended meanwhile
            continue


def separate_engine_core(members: Sequence[int]) -> Placement | None:
    """Pin the EngineCore among ``members`` (one engine's processes) to the worker's cores, the rest elsewhere.

    None (nothing changed) when there is no worker or EngineCore among them, or when the worker
    may run on every core (no core is left for the API server).
    """
    titles = {pid: process_title(pid) for pid in members}
    workers = [pid for pid, title in titles.items() if title.startswith(WORKER_TITLE)]
    cores_of_engine = [pid for pid, title in titles.items() if title.startswith(ENGINE_CORE_TITLE)]
    if not workers or not cores_of_engine:
        return None
    try:
        worker_cores = frozenset().union(*(os.sched_getaffinity(pid) for pid in workers))
        every_core = frozenset(os.sched_getaffinity(0)) | worker_cores
    except OSError:
        return None
    rest = every_core - worker_cores
    if not rest:
        return None
    for pid in titles:
        if pid not in workers:
            pin_process(pid, worker_cores if pid in cores_of_engine else rest)
    return Placement(worker_cores, rest)
