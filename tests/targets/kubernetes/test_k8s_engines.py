"""Engine manifests: GPU requests, pool scheduling, probes, secrets, update strategy, multi-node groups.

Design note: a replica whose TP x PP exceeds one node becomes a LeaderWorkerSet group; the
leader runs the Ray head and `vllm serve --distributed-executor-backend ray`, workers join
with `ray start --address=$(LWS_LEADER_ADDRESS):6379 --block` (Kubernetes expands the
variable from the env LWS injects).
"""

from __future__ import annotations

import pytest

from llmstack.artifacts import images
from llmstack.capacity import planning
from llmstack.errors import LlmstackError
from llmstack.targets.kubernetes import engines, naming, networking, objects, sizing
from llmstack.targets.kubernetes.options import KubernetesOptions, ModelCache
from tests.targets.kubernetes.helpers import containers, find, stack_with


def _built(**changes: object) -> objects.StackObjects:
    return objects.build(stack_with(**changes))


def test_gpu_requests_equal_limits_equal_tp_times_pp() -> None:
    built = _built()
    for name, want in (("chat", 1), ("think", 4)):
        workload = find(built.deployments[name], "Deployment")
        resources = containers(workload)[0]["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == str(want)
        assert resources["limits"]["nvidia.com/gpu"] == str(want)
        assert workload["metadata"]["annotations"]["llmstack.io/gpus-per-pod"] == str(want)


def test_pool_device_resource_name_used_for_gpus() -> None:
    stack = stack_with()
    pools = [p.model_dump() for p in stack.pools]
    pools[0]["device_resource"] = "amd.com/gpu"
    built = objects.build(stack_with(pools=pools))
    limits = containers(find(built.deployments["chat"], "Deployment"))[0]["resources"]["limits"]
    assert limits["amd.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in limits


def test_pool_selector_and_tolerations_land_on_pods() -> None:
    pod = find(_built().deployments["chat"], "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "l4"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_container_pinned_image_probes_port_and_secret_reference() -> None:
    container = containers(find(_built().deployments["chat"], "Deployment"))[0]
    assert container["image"] == images.VLLM_IMAGE
    assert not container["image"].endswith(":latest")
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert not [e for e in container["env"] if e["name"] == "HF_TOKEN"]  # a file, not an env var (CKV_K8S_35)
    token_path = next(e["value"] for e in container["env"] if e["name"] == "HF_TOKEN_PATH")
    pod = find(_built().deployments["chat"], "Deployment")["spec"]["template"]["spec"]
    secret = next(v for v in pod["volumes"] if "secret" in v)
    mount = next(m for m in container["volumeMounts"] if m["name"] == secret["name"])
    assert secret["secret"]["secretName"] == "llmstack-hf-token"
    assert token_path == f"{mount['mountPath']}/token" and mount["readOnly"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["command"] == ["vllm", "serve"]
    assert "--tensor-parallel-size" in container["args"]


def test_startup_probe_allows_longer_loads_for_larger_weights() -> None:
    built = _built()
    small = containers(find(built.deployments["chat"], "Deployment"))[0]["startupProbe"]
    big = containers(find(built.deployments["think"], "Deployment"))[0]["startupProbe"]
    assert small["failureThreshold"] * small["periodSeconds"] >= 600
    assert big["failureThreshold"] > small["failureThreshold"]


def test_shm_is_memory_and_cache_is_mounted_at_hf_home() -> None:
    pod = find(_built().deployments["think"], "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == "llmstack-model-cache"
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"dshm": "/dev/shm", "model-cache": "/root/.cache/huggingface",
                      "hf-token": "/var/run/secrets/llmstack/hf"}


def test_host_path_cache_replaces_the_claim() -> None:
    options = KubernetesOptions(model_cache=ModelCache(kind="hostPath", host_path="/mnt/models"))
    built = objects.build(stack_with(), options)
    assert not [o for o in built.shared if o["kind"] == "PersistentVolumeClaim"]
    pod = find(built.deployments["chat"], "Deployment")["spec"]["template"]["spec"]
    cache = next(v for v in pod["volumes"] if v["name"] == "model-cache")
    assert cache["hostPath"] == {"path": "/mnt/models", "type": "DirectoryOrCreate"}


def test_memory_request_covers_the_weights_a_pod_loads() -> None:
    stack = stack_with()
    for r in planning.check_stack(stack):
        shape = sizing.shape(r)
        assert shape.memory_gib >= shape.weights_gib * shape.gpus_per_pod / shape.gpus_per_replica + shape.shm_gib


def test_rolling_update_surges_one_without_unavailability() -> None:
    strategy = find(_built().deployments["chat"], "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_recreate_strategy_when_chosen() -> None:
    stack = stack_with()
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[0]["update_strategy"] = "Recreate"
    built = objects.build(stack_with(deployments=deployments))
    assert find(built.deployments["chat"], "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_services_cluster_ip_and_headless_select_serving_pods() -> None:
    objs = _built().deployments["chat"]
    svc = find(objs, "Service", naming.engine("chat"))
    headless = find(objs, "Service", naming.headless("chat"))
    assert svc["spec"]["type"] == "ClusterIP"
    assert headless["spec"]["clusterIP"] == "None"
    workload = find(objs, "Deployment")
    assert svc["spec"]["selector"] == workload["spec"]["selector"]["matchLabels"]
    assert find(objs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_multi_node_replica_becomes_leader_worker_set() -> None:
    stack = stack_with()
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[1].update(tensor_parallel=8, pipeline_parallel=2)
    built = objects.build(stack_with(deployments=deployments))
    lws = find(built.deployments["think"], "LeaderWorkerSet")
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    leader, worker = containers(lws)
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "8"
    script = leader["args"][0]
    assert "ray start --head --port=6379" in script
    assert "--distributed-executor-backend ray" in script
    assert "--pipeline-parallel-size 2" in script
    assert worker["command"] == ["ray", "start"]
    assert worker["args"] == ["--address=$(LWS_LEADER_ADDRESS):6379", "--block"]
    assert template["leaderTemplate"]["spec"]["nodeSelector"] == {"pool": "h100"}
    assert template["workerTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == "engine-worker"
    assert not [o for o in built.deployments["think"] if o["kind"] == "Deployment"]


def test_uneven_multi_node_split_rejected_with_numbers() -> None:
    stack = stack_with()
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[1].update(tensor_parallel=1, pipeline_parallel=9)
    with pytest.raises(LlmstackError, match=r"9 GPUs cannot be split evenly over 2 nodes of 8 GPUs"):
        objects.build(stack_with(deployments=deployments))


def test_network_policy_admits_router_prometheus_and_group_peers_only() -> None:
    options = KubernetesOptions()
    policy = networking.engine_policy(objects.resolve(stack_with(), options)["chat"], options)
    rules = policy["spec"]["ingress"]
    sources = [rule["from"][0]["podSelector"]["matchLabels"] for rule in rules]
    assert sources[0]["app.kubernetes.io/component"] == "router"
    assert sources[1] == {"app.kubernetes.io/name": "prometheus"}
    assert sources[2] == policy["spec"]["podSelector"]["matchLabels"]
    assert rules[0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_leader_script_waits_for_group_before_serving() -> None:
    script = engines.leader_script(["vllm", "serve", "m", "--served-model-name", "a b"])
    lines = script.splitlines()
    assert lines[1].startswith("ray start --head")
    assert lines[-1] == "exec vllm serve m --served-model-name 'a b'"
    assert "$LWS_GROUP_SIZE" in script
