"""The in-cluster controller's Kubernetes objects: complete, least-privilege, hardened, valid.

Design note: every object is validated the way the rest of the render is (kubernetes-validate
strict for built-in kinds, jsonschema against the real KEDA ScaledObject and Prometheus Operator
ServiceMonitor CRDs copied into tests/data/crds). RBAC is checked as the whole rule list, so a
widened verb or a dropped ``resourceNames`` fails. The spec ConfigMap is read back with the
spec loader's model to show the controller decides from the same stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
import yaml

from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import objects, rendering
from tests.pulumi_recording import recorded_registrations
from tests.targets.kubernetes.helpers import containers, find, stack_with
from tests.targets.kubernetes.test_k8s_components import ClusterMocks
from tests.targets.kubernetes.validation import validate

GITOPS = {"apply": "gitops", "gitops": {"repository": "https://git.example.invalid/infra.git",
                                        "push_branch": "llmstack/scaling", "stack_file": "infra/Pulumi.prod.yaml",
                                        "credentials_secret": "infra-git"}}


def controller_objects(**controller: Any) -> list[dict[str, Any]]:
    stack = stack_with(controller={"enabled": True, **controller})
    return objects.build(stack).controller


def kinds(objs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objs}


@pytest.mark.parametrize("controller", [
    pytest.param({}, id="pulumi-operator"),
    pytest.param(GITOPS, id="gitops"),
    pytest.param({"keda": {"enabled": True}}, id="operator-keda"),
    pytest.param({**GITOPS, "keda": {"enabled": True}}, id="gitops-keda"),
])
def test_every_controller_object_validates_against_its_schema(controller: dict[str, Any]) -> None:
    objs = controller_objects(**controller)
    assert objs
    for obj in objs:
        validate(obj)


def test_operator_path_renders_deployment_rbac_claim_service_and_monitor() -> None:
    objs = controller_objects()
    assert kinds(objs) == {(k, "llmstack-controller") for k in (
        "ConfigMap", "ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim", "Deployment", "Service",
        "NetworkPolicy", "ServiceMonitor")}
    role = find(objs, "Role")
    assert role["rules"] == [{"apiGroups": ["pulumi.com"], "resources": ["stacks"], "resourceNames": ["llmstack"],
                              "verbs": ["get", "patch"]}]
    binding = find(objs, "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "llmstack-controller", "namespace": "llmstack"}]
    pod = find(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "llmstack-controller" and pod["automountServiceAccountToken"] is True
    claim = find(objs, "PersistentVolumeClaim")["spec"]
    assert claim["resources"]["requests"]["storage"] == "1Gi" and claim["accessModes"] == ["ReadWriteOnce"]
    monitor = find(objs, "ServiceMonitor")["spec"]
    service = find(objs, "Service")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"


def test_stack_in_another_namespace_gets_the_role_there() -> None:
    objs = controller_objects(pulumi_operator={"stack_object": "prod", "namespace": "pulumi"})
    assert find(objs, "Role")["metadata"]["namespace"] == "pulumi"
    assert find(objs, "Role")["rules"][0]["resourceNames"] == ["prod"]
    assert find(objs, "RoleBinding")["metadata"]["namespace"] == "pulumi"
    assert find(objs, "RoleBinding")["subjects"][0]["namespace"] == "llmstack"


def test_gitops_path_has_no_role_and_no_api_token() -> None:
    objs = controller_objects(**GITOPS)
    assert not {k for k, _ in kinds(objs)} & {"Role", "RoleBinding", "ClusterRole"}
    pod = find(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert find(objs, "ServiceAccount")["automountServiceAccountToken"] is False
    [secret] = [v for v in pod["volumes"] if "secret" in v]
    assert secret["secret"]["secretName"] == "infra-git"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["GIT_CONFIG_VALUE_0"] == "store --file=/etc/llmstack/git/git-credentials"


def test_controller_pod_is_hardened_and_probed_on_its_health_endpoints() -> None:
    deployment = find(controller_objects(), "Deployment")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    [c] = containers(deployment)
    context = c["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert c["image"].startswith("ghcr.io/pulumi-llmstack/llmstack:0.1.0")
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/var/lib/llmstack", "/tmp", "/etc/llmstack"} <= mounts
    assert c["command"] == ["llmstack"] and c["args"][:1] == ["controller"]
    url = c["args"][c["args"].index("--prometheus") + 1]
    assert url == "http://prometheus-operated.monitoring.svc.cluster.local:9090"


def test_spec_config_map_reads_back_as_the_same_stack() -> None:
    stack = stack_with(controller={"enabled": True, **GITOPS})
    text = find(objects.build(stack).controller, "ConfigMap")["data"]["stack.yaml"]
    assert StackSpec.model_validate(yaml.safe_load(text)) == stack


def test_pod_rolls_for_a_spec_change_but_not_for_the_controllers_own_scaling() -> None:
    from llmstack.spec.scaling import apply_scaling, parse_scaling

    def checksum(stack: StackSpec) -> str:
        pod = find(objects.build(stack).controller, "Deployment")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["llmstack.io/config-checksum"])

    base = stack_with(controller={"enabled": True})
    scaled = apply_scaling(base, parse_scaling({"chat": {"replicas": 4, "variant": "bf16"}}))
    assert scaled != base and checksum(scaled) == checksum(base)
    deployments = [d.model_dump() for d in base.deployments]
    deployments[0]["replicas"]["max"] = 3
    assert checksum(stack_with(deployments=deployments, controller={"enabled": True})) != checksum(base)


def test_keda_scaled_object_per_deployment_follows_desired_replicas() -> None:
    objs = controller_objects(keda={"enabled": True, "polling_interval_s": 10})
    scaled = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "ScaledObject"}
    assert set(scaled) == {"chat-vllm", "think-vllm"}
    chat = scaled["chat-vllm"]
    assert chat["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat-vllm"}
    assert (chat["minReplicaCount"], chat["maxReplicaCount"], chat["pollingInterval"]) == (1, 4, 10)
    [trigger] = chat["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["query"] == 'max(llmstack_desired_replicas{deployment="chat",namespace="llmstack"})'
    assert trigger["metadata"]["threshold"] == "1" and trigger["metadata"]["ignoreNullValues"] == "false"
    behavior = chat["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 0


def test_keda_targets_the_leader_worker_set_of_a_multi_node_deployment() -> None:
    base = stack_with()
    deployments = [d.model_dump() for d in base.deployments]
    deployments[1].update({"tensor_parallel": 8, "pipeline_parallel": 2})
    stack = stack_with(deployments=deployments, controller={"enabled": True, "keda": {"enabled": True}})
    scaled = find(objects.build(stack).controller, "ScaledObject", "think-vllm")
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    validate(scaled)


def test_plain_prometheus_scrapes_the_controller_and_admits_keda() -> None:
    stack = stack_with(monitoring={"prometheus_operator": False},
                       controller={"enabled": True, "keda": {"enabled": True}})
    built = objects.build(stack)
    assert not [o for o in built.controller if o["kind"] == "ServiceMonitor"]
    config = yaml.safe_load(find(built.monitoring, "ConfigMap", "t-prometheus")["data"]["prometheus.yml"])
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "llmstack-controller"]
    assert {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"], "regex": "controller",
            "action": "keep"} in job["relabel_configs"]
    policy = find(built.monitoring, "NetworkPolicy", "t-prometheus")
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}}} in peers
    url = find(built.controller, "ScaledObject", "chat-vllm")["spec"]["triggers"][0]["metadata"]["serverAddress"]
    assert url == "http://t-prometheus.llmstack.svc.cluster.local:9090"


def test_render_puts_controller_in_its_folder_and_readme_names_what_it_needs() -> None:
    files = rendering.render(stack_with(controller={"enabled": True, "keda": {"enabled": True}}))
    assert "controller/deployment-llmstack-controller.yaml" in files
    assert "controller/scaledobject-chat-vllm.yaml" in files
    assert "controller/role-llmstack-controller.yaml" in yaml.safe_load(files["kustomization.yaml"])["resources"]
    readme = files["README.md"]
    assert "scaledobjects.keda.sh" in readme and "servicemonitors.monitoring.coreos.com" in readme
    assert "Stack `llmstack` (pulumi.com/v1)" in readme


def test_no_controller_objects_when_disabled() -> None:
    built = objects.build(stack_with())
    assert built.controller == []
    assert not [p for p in rendering.render_objects(built) if p.startswith("controller/")]


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every RegisterResource request of the mock runtime (as in test_k8s_components)."""
    yield recorded_registrations(monkeypatch, ClusterMocks())


@pytest.mark.parametrize("keda", [True, False])
def test_llm_stack_registers_the_controller_and_leaves_keda_its_replicas(requests: list[Any], keda: bool) -> None:
    from llmstack.targets.kubernetes.components import LlmStack, LlmStackArgs

    stack = stack_with(controller={"enabled": True, "keda": {"enabled": keda}})

    @pulumi.runtime.test
    def run() -> Any:
        return LlmStack("prod", LlmStackArgs.from_spec(stack)).urn

    run()
    assert [r.type for r in requests if r.name == "prod-controller"] == ["llmstack:kubernetes:Controller"]
    children = {(r.type, r.name) for r in requests if r.parent.endswith("::prod-controller")}
    assert ("kubernetes:apps/v1:Deployment", "prod-llmstack-controller") in children
    assert ("kubernetes:rbac.authorization.k8s.io/v1:Role", "prod-llmstack-controller") in children
    assert (("kubernetes:keda.sh/v1alpha1:ScaledObject", "prod-chat-vllm") in children) is keda
    engine = next(r for r in requests if r.type == "kubernetes:apps/v1:Deployment" and r.name == "prod-chat-vllm")
    assert list(engine.ignoreChanges) == (["spec.replicas"] if keda else [])


def test_controller_objects_pass_the_crossguard_policy_pack() -> None:
    from tests.policies.test_crossguard import _type, policies

    stack = stack_with(controller={"enabled": True, "keda": {"enabled": True}})
    for obj in objects.build(stack).controller:
        typ = _type(obj)
        for check in (policies.gpu_violations, policies.image_violations, policies.token_violations,
                      policies.exposure_violations):
            assert check(typ, obj) == [], (obj["kind"], obj["metadata"]["name"])
    assert policies.image_violations("kubernetes:apps/v1:Deployment", find(
        objects.build(stack_with(controller={"enabled": True, "image": "ghcr.io/x/y:1.0"})).controller,
        "Deployment")) == []
