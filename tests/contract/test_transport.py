"""HTTP behaviour: keep-alive, chunked request bodies, aborts on disconnect, the models list and cache info."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import httpx
import openai

from tests.contract.helpers import IGNORE_EOS, MESSAGES, cache_config, wait_idle
from tests.contract.targets import Target


def connection(target: Target) -> http.client.HTTPConnection:
    parts = urlsplit(target.base_url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)


def test_keep_alive_and_chunked_request_body(target: Target) -> None:
    conn = connection(target)
    try:
        conn.request("GET", "/health")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        body = json.dumps({"model": target.model, "prompt": "Routers pick replicas", "max_tokens": 2}).encode()
        conn.request("POST", "/v1/completions", body=iter([body[:7], body[7:20], body[20:]]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        second = conn.getresponse()
        reply = json.loads(second.read())
        assert first.status == 200 and second.status == 200
        assert conn.sock is sock, "the server closed a keep-alive connection"
        assert reply["usage"]["completion_tokens"] >= 1
    finally:
        conn.close()


def assert_aborted_not_completed(before: dict[str, float], after: dict[str, float]) -> None:
    """The abandoned request is no completion; an e2e observation, if any, belongs to a recorded abort."""
    assert after["success"] == before["success"], "an abandoned request was counted as completed"
    assert after["e2e_count"] - before["e2e_count"] == after["aborted"] - before["aborted"] <= 1


def test_stream_abandoned_by_its_client_is_aborted_and_not_counted(client: openai.OpenAI, target: Target) -> None:
    before = wait_idle(target)
    stream = client.chat.completions.create(model=target.model, messages=MESSAGES, max_tokens=900, stream=True,
                                            extra_body=IGNORE_EOS)  # type: ignore[call-overload]
    for index, _ in enumerate(stream):
        if index == 2:
            break
    stream.close()
    after = wait_idle(target, timeout_s=10)
    assert_aborted_not_completed(before, after)


def test_whole_request_abandoned_by_its_client_is_aborted(target: Target) -> None:
    before = wait_idle(target)
    body = json.dumps({"model": target.model, "messages": MESSAGES, "max_tokens": 900, **IGNORE_EOS}).encode()
    conn = connection(target)
    conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    time.sleep(0.15)  # 900 tokens take seconds on both targets
    conn.close()
    after = wait_idle(target, timeout_s=10)
    assert_aborted_not_completed(before, after)


def test_completed_requests_are_counted(client: openai.OpenAI, target: Target) -> None:
    before = wait_idle(target)
    client.completions.create(model=target.model, prompt="Routers", max_tokens=2, extra_body=IGNORE_EOS)
    after = wait_idle(target)
    assert after["success"] == before["success"] + 1
    assert after["e2e_count"] == before["e2e_count"] + 1


def test_models_health_version(client: openai.OpenAI, target: Target) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == [target.model]
    assert models[0].created > 0
    if target.direct:  # the router lists its routes itself
        assert models[0].owned_by == "vllm"
        assert (models[0].model_extra or {}).get("max_model_len") == target.max_model_len
    assert httpx.get(f"{target.base_url}/health", timeout=30).status_code == 200
    assert httpx.get(f"{target.base_url}/version", timeout=30).json()["version"]


def test_prefix_caching_reported_as_configured(target: Target) -> None:
    assert cache_config(target)["enable_prefix_caching"] == "True"  # the default of both


def test_unknown_path_and_wrong_method(target: Target) -> None:
    assert httpx.get(f"{target.base_url}/no-such-path", timeout=30).status_code == 404
    wrong = httpx.get(f"{target.base_url}/v1/chat/completions", timeout=30)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
