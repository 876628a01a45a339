"""One shared HTTP client for the demo's polls of its own processes on 127.0.0.1 (plain HTTP).

``httpx.get`` builds a new client per call, and a new client loads the CA bundle into an SSL
context: about 22 ms of CPU, holding the GIL, per call (measured on the 2-core dev machine). The
demo polls HAProxy's stats page every 0.1 s and Prometheus' targets every 0.2-1 s while it
reconciles, from threads that share the interpreter with the simulated replicas' event loop, so
those polls starved the replicas (HAProxy health checks timed out). One client, reused, with no
TLS verification set up (nothing here is HTTPS) costs a connection per poll at most.
"""

from __future__ import annotations

import threading

import httpx

_client: httpx.Client | None = None
_lock = threading.Lock()


def client() -> httpx.Client:
    """The process-wide client (created on first use; httpx clients are safe to share between threads)."""
    global _client
    with _lock:
        if _client is None:
            _client = httpx.Client(verify=False, trust_env=False)
        return _client


def get(url: str, *, timeout: float, params: dict[str, str] | None = None) -> httpx.Response:
    """``GET url`` on 127.0.0.1 through the shared client."""
    return client().get(url, params=params, timeout=timeout)
