"""haproxy.cfg generation: ``haproxy -c`` accepts every strategy; bad input is a clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from llmstack.artifacts import haproxy
from llmstack.capacity import startup, throughput
from llmstack.errors import LlmstackError
from llmstack.spec.models import RouterSpec, RouteSpec, StackSpec
from llmstack.spec.resolving import resolve

HAPROXY = "/usr/sbin/haproxy"


def stack_with(strategy: str = "least_request", **router: Any) -> StackSpec:
    return StackSpec.model_validate({
        "name": "t",
        "pools": [{"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "cost_per_gpu_hour": 2.5}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B",
                    "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}]}],
        "deployments": [{"name": n, "model": "m", "variant": "bf16", "pool": "gpu"} for n in ("stable", "canary")],
        "routers": [{"name": "gw", "strategy": strategy, "routes": [
            {"model": "llama-3.1-8b", "backends": {"stable": 90, "canary": 10}},
            {"model": "meta-llama/Llama-3.1-8B-Instruct", "backends": {"stable": 1}}], **router}],
    })


STATIC = {
    "stable": haproxy.BackendAddressing.static([haproxy.Server("s1", "10.0.0.1", 8000),
                                                haproxy.Server("s2", "10.0.0.2", 8000)]),
    "canary": haproxy.BackendAddressing.dns("canary.t.svc.cluster.local", 8000, 4),
}


def haproxy_check(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    return subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("strategy", list(haproxy.STRATEGIES))
def test_haproxy_accepts_config_for_strategy(strategy: str, tmp_path: Path) -> None:
    config = haproxy.build_haproxy_config(stack_with(strategy), "gw", STATIC,
                                          haproxy.HaproxyOptions(runtime_socket="/run/haproxy/admin.sock"))
    result = haproxy_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    expected = {"round_robin": "balance roundrobin", "least_request": "balance leastconn",
                "session_affinity": "balance hdr(x-session-id)", "prefix_hash": "balance hash var(txn.prefix)"}
    assert expected[strategy] in config


def test_health_check_timeout_is_haproxys_timeout_check(tmp_path: Path) -> None:
    default = haproxy.build_haproxy_config(stack_with("least_request"), "gw", STATIC)
    patient = haproxy.build_haproxy_config(stack_with("least_request"), "gw", STATIC,
                                           haproxy.HaproxyOptions(health_check_timeout="5s"))
    assert "timeout check" not in default and "    timeout check 5s\n" in patient
    result = haproxy_check(patient, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dns_addressing_uses_server_template_and_resolvers() -> None:
    config = haproxy.build_haproxy_config(stack_with(), "gw", STATIC)
    assert "server-template canary- 1-4 canary.t.svc.cluster.local:8000 check resolvers llmstack_dns" in config
    assert "parse-resolv-conf" in config


def test_haproxy_accepts_explicit_nameserver(tmp_path: Path) -> None:
    addressing = {**STATIC, "canary": haproxy.BackendAddressing.dns("canary.local", 8000, 2, "10.96.0.10:53")}
    config = haproxy.build_haproxy_config(stack_with(), "gw", addressing)
    assert "nameserver dns1 10.96.0.10:53" in config
    assert haproxy_check(config, tmp_path).returncode == 0


def test_backend_names_derive_from_deployments() -> None:
    config = haproxy.build_haproxy_config(stack_with(), "gw", STATIC)
    assert "backend be_stable" in config and "backend be_canary" in config
    assert haproxy.backend_name("stable") == "be_stable"


def test_canary_weights_become_pick_ranges() -> None:
    config = haproxy.build_haproxy_config(stack_with(), "gw", STATIC)
    assert "mod(100) if route_0" in config
    assert "use_backend be_stable if route_0 { var(txn.pick) -m int ge 0 } { var(txn.pick) -m int lt 90 }" in config
    assert "use_backend be_canary if route_0 { var(txn.pick) -m int ge 90 } { var(txn.pick) -m int lt 100 }" in config


def test_unknown_router_rejected() -> None:
    with pytest.raises(LlmstackError, match="unknown router 'nope'"):
        haproxy.build_haproxy_config(stack_with(), "nope", STATIC)


def test_missing_addressing_rejected_naming_router() -> None:
    with pytest.raises(LlmstackError, match="no addressing given for deployment 'canary'") as info:
        haproxy.build_haproxy_config(stack_with(), "gw", {"stable": STATIC["stable"]})
    assert info.value.path == "routers[gw]"


def unchecked(stack: StackSpec, **router: Any) -> StackSpec:
    """The stack with router fields replaced without pydantic validation (as model_construct would)."""
    spec = stack.routers[0].model_copy(update=router)
    return stack.model_copy(update={"routers": [spec]})


def test_zero_weight_sum_rejected_naming_route() -> None:
    bad = unchecked(stack_with(), routes=[RouteSpec.model_construct(model="x", backends={"stable": 0})])
    with pytest.raises(LlmstackError, match="sum to zero") as info:
        haproxy.build_haproxy_config(bad, "gw", STATIC)
    assert info.value.path == "routers[gw].routes[x].backends"


def test_route_to_missing_deployment_rejected() -> None:
    bad = unchecked(stack_with(), routes=[RouteSpec.model_construct(model="x", backends={"ghost": 1})])
    with pytest.raises(LlmstackError, match="unknown deployment 'ghost'"):
        haproxy.build_haproxy_config(bad, "gw", STATIC)


def test_unsupported_strategy_rejected() -> None:
    bad = unchecked(stack_with(), strategy="random")
    with pytest.raises(LlmstackError, match="unsupported strategy 'random'") as info:
        haproxy.build_haproxy_config(bad, "gw", STATIC)
    assert info.value.path == "routers[gw].strategy"


@pytest.mark.parametrize("field, value", [
    pytest.param("model", "m\n    stats admin if TRUE", id="newline-in-model"),
    pytest.param("model", "m { always_true }", id="spaces-in-model"),
    pytest.param("model", "m#comment", id="hash-in-model"),
])
def test_injection_in_route_model_rejected(field: str, value: str) -> None:
    route = RouteSpec.model_construct(**{field: value, "backends": {"stable": 1}})
    with pytest.raises(LlmstackError, match=r"not allowed in haproxy\.cfg"):
        haproxy.build_haproxy_config(unchecked(stack_with(), routes=[route]), "gw", STATIC)


def test_injection_in_session_header_rejected() -> None:
    bad = unchecked(stack_with("session_affinity"), session_header="x-id)\nbackend evil")
    with pytest.raises(LlmstackError, match="session_header"):
        haproxy.build_haproxy_config(bad, "gw", STATIC)


@pytest.mark.parametrize("make", [
    pytest.param(lambda: haproxy.Server("s 1", "10.0.0.1", 80), id="server-name-space"),
    pytest.param(lambda: haproxy.Server("s1", "10.0.0.1\nlisten x", 80), id="host-newline"),
    pytest.param(lambda: haproxy.Server("s1", "10.0.0.1", 70000), id="port-range"),
    pytest.param(lambda: haproxy.BackendAddressing.dns("a b", 80, 2), id="dns-host-space"),
    pytest.param(lambda: haproxy.BackendAddressing.dns("svc", 80, 0), id="no-slots"),
    pytest.param(lambda: haproxy.HaproxyOptions(health_check_interval="2s\nlisten x"), id="duration"),
    pytest.param(lambda: haproxy.HaproxyOptions(health_check_timeout="5s\nlisten x"), id="check-timeout"),
    pytest.param(lambda: haproxy.HaproxyOptions(runtime_socket="/run/a b.sock"), id="socket-space"),
])
def test_unsafe_addressing_and_options_rejected(make: Any) -> None:
    with pytest.raises(LlmstackError):
        make()


def test_router_spec_rejects_bad_values_before_haproxy() -> None:
    with pytest.raises(ValueError, match="sum to zero"):
        RouterSpec.model_validate({"name": "gw", "routes": [{"model": "m", "backends": {"a": 0}}]})


def test_prefix_hash_picks_the_canary_at_random_and_bounds_replica_load() -> None:
    config = haproxy.build_haproxy_config(stack_with("prefix_hash"), "gw", STATIC)
    picks = [line.strip() for line in config.splitlines() if "set-var(txn.pick_key)" in line]
    assert picks == [f"http-request set-var(txn.pick_key) rand({haproxy.PICK_RANGE})"]
    backends = config.split("\nbackend ")[1:]
    assert backends and all("hash-balance-factor 150" in b and "balance hash var(txn.prefix)" in b
                            for b in backends)


def test_session_affinity_still_hashes_the_session_into_the_canary_pick() -> None:
    config = haproxy.build_haproxy_config(stack_with("session_affinity"), "gw", STATIC)
    assert "set-var(txn.pick_key) req.hdr(x-session-id),crc32" in config
    assert "hash-balance-factor" not in config


def test_drain_agent_is_asked_on_static_and_template_servers_only_when_given(tmp_path: Path) -> None:
    addressing = {
        "stable": haproxy.BackendAddressing.static([haproxy.Server("s1", "10.0.0.1", 8000, agent_port=8001),
                                                    haproxy.Server("s2", "10.0.0.2", 8000)]),
        "canary": haproxy.BackendAddressing.dns("canary.t.svc.cluster.local", 8000, 4, agent_port=8001),
    }
    config = haproxy.build_haproxy_config(stack_with(), "gw", addressing)
    result = haproxy_check(config, tmp_path)
    assert result.returncode == 0 and "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    agent = f" agent-check agent-port 8001 agent-inter {haproxy.AGENT_INTERVAL_S}s"
    slots = haproxy.server_slots(stack_with(), "canary").server_options
    assert f"server s1 10.0.0.1:8000 check{agent}{slots}\n" in config
    assert f"server s2 10.0.0.2:8000 check{slots}\n" in config
    assert f"resolve-prefer ipv4{agent}{slots}\n" in config
    assert "agent-check" not in haproxy.build_haproxy_config(stack_with(), "gw", STATIC)


@pytest.mark.parametrize("make", [lambda: haproxy.Server("s1", "10.0.0.1", 8000, agent_port=0),
                                  lambda: haproxy.BackendAddressing.dns("c.local", 8000, 4, agent_port=70000)])
def test_bad_agent_port_rejected(make: Any) -> None:
    with pytest.raises(LlmstackError, match="agent port"):
        make()


def test_each_server_takes_max_num_seqs_and_the_rest_wait_for_a_start_up() -> None:
    """Every server line carries the engine's max_num_seqs as maxconn; the backend queue waits as long as
    the hold timeout (a replica's start-up), so a replica that starts takes the waiting requests."""
    stack = stack_with()
    config = haproxy.build_haproxy_config(stack, "gw", STATIC)
    for deployment in ("stable", "canary"):
        spec = stack.deployment(deployment)
        profile = throughput.profile(resolve(stack, spec))
        backend = config.split(f"backend be_{deployment}\n")[1].split("\nbackend ")[0]
        servers = [line for line in backend.splitlines() if line.strip().startswith("server")]
        assert servers and all(line.endswith(f" maxconn {profile.max_num_seqs}") for line in servers), backend
        assert f"    timeout queue {round(startup.hold_timeout_s(spec.replicas, profile))}s\n" in backend
