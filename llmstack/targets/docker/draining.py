"""Graceful drain of a Docker replica: the router stops sending, then vLLM finishes what it has.

Docker has no preStop hook, a stopping container keeps its DNS name until it exits, and vLLM
keeps answering ``/health`` with 200 while it drains (it refuses new requests, but HAProxy's
health check cannot see that). So a health check alone would keep sending new requests to a
draining replica, and vLLM would refuse them. The router has to be told instead; HAProxy's
own way is an *agent check* (``agent-check``: a TCP port on the server whose one-line answer
``drain`` puts the server in DRAIN, no new requests while in-flight ones run on).

The engine container therefore runs vLLM under a small ``/bin/sh`` supervisor
(:func:`entrypoint`), with the ``vllm serve`` command as its arguments:

1. it starts the drain agent (:data:`AGENT_PROGRAM`, Python's standard library, which every vLLM
   image has) on :data:`AGENT_PORT`, answering ``ready`` and, once the drain flag file exists,
   ``drain``;
2. it starts vLLM and waits;
3. on SIGTERM (``docker stop``, a Pulumi delete with ``destroy_grace_seconds``, compose down) it
   writes the flag, waits :data:`DEREGISTER_S` (four agent intervals and a second: HAProxy has
   asked the agent and drained the server), then sends vLLM SIGTERM; vLLM drains for its
   ``--shutdown-timeout`` and exits, and the supervisor exits with vLLM's status.

``stop_grace_period`` / ``stop_timeout`` is :data:`DEREGISTER_S` + drain + teardown
(:mod:`llmstack.artifacts.drain`). An agent that does not answer (another image, a port in use)
changes nothing: HAProxy's health check still decides up and down, so the worst case is the
behaviour without an agent. The agent answers ``ready`` while not draining, so a server slot left
in DRAIN by a replica that stopped is serving again once a new replica answers there (which also
means a drain set by hand through HAProxy's runtime API would be lifted within a second; the
Docker target's routers have no runtime socket).
"""

from __future__ import annotations

import shlex

from llmstack.artifacts import haproxy

AGENT_PORT = 8001
"""The drain agent's TCP port on each replica (vLLM serves 8000)."""
DEREGISTER_S = 4 * haproxy.AGENT_INTERVAL_S + 1
"""Wait between the drain flag and vLLM's SIGTERM: HAProxy asks the agent every second, so this
leaves room for three late or lost agent checks on a loaded host (5 s against a drain of minutes)."""
DRAIN_FLAG = "/tmp/llmstack-draining"
SUPERVISOR_NAME = "llmstack-engine"
"""``$0`` of the supervisor script (what ``ps`` shows)."""

AGENT_PROGRAM = "\n".join([
    "import os, socket, sys",
    'server = socket.create_server(("", int(sys.argv[1])))',
    "while True:",
    "    conn, _ = server.accept()",
    "    try:",
    '        conn.sendall(b"drain\\n" if os.path.exists(sys.argv[2]) else b"ready\\n")',
    "    except OSError:",
    "        pass",
    "    finally:",
    "        conn.close()",
])
"""HAProxy agent: one line per connection, ``drain`` once the flag file exists, else ``ready``."""


def supervisor_script(agent_port: int = AGENT_PORT, deregister_s: int = DEREGISTER_S,
                      flag: str = DRAIN_FLAG) -> str:
    """``/bin/sh -c`` script that runs ``"$@"`` (``vllm serve ...``) with the drain agent beside it."""
    quoted_flag = shlex.quote(flag)
    return "\n".join([
        f"rm -f {quoted_flag}",
        f"python3 -c {shlex.quote(AGENT_PROGRAM)} {agent_port} {quoted_flag} &",
        '"$@" &',
        "engine=$!",
        f"trap 'touch {quoted_flag}; sleep {deregister_s}; kill -TERM \"$engine\"' TERM INT",
        'wait "$engine"',
        "status=$?",
        f'if [ -f {quoted_flag} ]; then wait "$engine"; status=$?; fi',
        'exit "$status"',
    ]) + "\n"


def entrypoint(agent_port: int = AGENT_PORT, deregister_s: int = DEREGISTER_S) -> tuple[str, ...]:
    """The engine container's entrypoint; its command is ``vllm serve`` and the serve arguments."""
    return ("/bin/sh", "-c", supervisor_script(agent_port, deregister_s), SUPERVISOR_NAME)
