"""A monitored, routed, policy-scaled Llama fleet on Kubernetes, declared in Python."""

import pulumi

from llmstack.spec import models as s
from llmstack.spec import scaling
from llmstack.targets.kubernetes.components import LlmStack, LlmStackArgs

config = pulumi.Config("llmstack")
stack = s.StackSpec(
    name="chat",
    pools=[s.PoolSpec(name="l4", accelerator="L4", gpus_per_node=1, nodes=s.NodeRange(max=8), cost_per_gpu_hour=0.45,
                      tolerations=[s.Toleration(key="nvidia.com/gpu", operator="Exists")])],
    models=[s.ModelSpec(name="llama-3-1-8b", architecture="Llama-3.1-8B", variants=[
        s.VariantSpec(name="awq", weights="hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", quantization="awq")])],
    deployments=[s.DeploymentSpec(name="chat", model="llama-3-1-8b", variant="awq", pool="l4",
                                  replicas=s.ReplicaRange(min=1, max=8, initial=2), slo=s.SloSpec(ttft_p95_ms=1000),
                                  engine=s.EngineOptions(max_model_len=8192))],
    routers=[s.RouterSpec(name="gateway", routes=[s.RouteSpec(model="llama-3.1-8b", backends={"chat": 100})])],
)  # monitoring (PodMonitors, PrometheusRule, Grafana dashboards, DCGM exporter) is on by default
stack = scaling.apply_scaling(stack, scaling.parse_scaling(config.get_object("scaling")))  # the policy engine's knobs
fleet = LlmStack("chat", LlmStackArgs.from_spec(stack, hf_token=config.get_secret("hfToken")))
pulumi.export("endpoint", fleet.router_endpoints["gateway"])
