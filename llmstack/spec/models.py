"""Pydantic models of the stack spec: pools, models and variants, deployments, routers, monitoring.

Every model forbids unknown fields, so a typo in YAML is an error that names the
field instead of a silently ignored key. Cross-references (a deployment's pool,
model and variant; a route's backends) are checked on :class:`StackSpec`.
Catalog lookups (accelerator and architecture names) happen in
:mod:`llmstack.spec.resolving`, not here, so a spec can be built without I/O.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo

from llmstack.catalog.entries import AcceleratorSpec, ArchitectureSpec, SafeText
from llmstack.errors import LlmstackError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""Kubernetes DNS-1123 label: lowercase alphanumerics and '-', 1-63 chars."""

HTTP_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
Name = Annotated[
    str,
    Field(min_length=1, max_length=40, pattern=DNS_LABEL.pattern,
          description="DNS-1123 label (lowercase letters, digits, '-'), at most 40 characters"),
]
QuantizationMethod = Literal[
    "awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "compressed-tensors", "modelopt", "experts_int8",
]
"""Methods accepted by the pinned vLLM (0.33.0 ``QuantizationMethods``) that the capacity model knows."""

CompressedTensorsScheme = Literal["w4a16", "w8a16", "w8a8-int8", "w8a8-fp8"]
KvCacheDtype = Literal["auto", "bfloat16", "float16", "fp8", "fp8_e4m3", "fp8_e5m2"]
ModelDtype = Literal["auto", "bfloat16", "float16"]
VariantKind = Literal["base", "quantized", "distilled", "pruned"]
RouterStrategy = Literal["round_robin", "least_request", "session_affinity", "prefix_hash"]
MAX_NODES = 5000
"""Kubernetes' documented scale limit: 5,000 nodes per cluster (kubernetes.io "Considerations for large clusters")."""
MAX_REPLICAS = 1024
"""HAProxy ``server-template`` slots the router renders per deployment (artifacts/haproxy.py allows 1..1024)."""
MAX_COST_PER_GPU_HOUR = 1000.0
"""Dollars; the dearest cloud GPU hour is about $15 (8-GPU H200 instances run ~$100/h for eight)."""


class Spec(BaseModel):
    """Base for every spec model: unknown fields are errors; instances are immutable.

    Numbers are finite (``.inf``/``.nan`` are errors) and a YAML boolean is never a number
    (``gpus_per_node: true`` is an error, not 1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None and _numeric(cls.model_fields[info.field_name]):
            raise ValueError(f"{str(value).lower()} is a boolean; a number is expected")
        return value


def _numeric(field: FieldInfo) -> bool:
    kinds = get_args(field.annotation) or (field.annotation,)
    return any(kind in (int, float) for kind in kinds)


# ---------------------------------------------------------------- hardware


class NodeRange(Spec):
    min: int = Field(default=0, ge=0, le=MAX_NODES)
    max: int = Field(default=1, ge=1, le=MAX_NODES, description="at most 5,000 (Kubernetes' cluster limit)")

    @model_validator(mode="after")
    def _ordered(self) -> NodeRange:
        if self.min > self.max:
            raise ValueError(f"nodes.min ({self.min}) is greater than nodes.max ({self.max})")
        return self


class Toleration(Spec):
    """A Kubernetes toleration, as the pod spec spells it."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class PoolSpec(Spec):
    """A set of identical GPU nodes (a Kubernetes node pool, or one Docker host)."""

    name: Name
    accelerator: SafeText | AcceleratorSpec
    gpus_per_node: int = Field(ge=1, le=64)
    nodes: NodeRange = Field(default_factory=NodeRange)
    cost_per_gpu_hour: float = Field(ge=0, le=MAX_COST_PER_GPU_HOUR)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    affinity: dict[str, object] | None = None
    device_resource: str = Field(
        default="nvidia.com/gpu",
        pattern=LABEL_KEY.pattern,
        description="extended resource the device plugin advertises: nvidia.com/gpu, amd.com/gpu, google.com/tpu",
    )
    device_ids: list[int] | None = Field(
        default=None, description="Docker target: the host's GPU indices (default 0..gpus_per_node-1)"
    )

    @field_validator("node_selector")
    @classmethod
    def _labels_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            if not LABEL_KEY.match(key):
                raise ValueError(f"node_selector key {key!r} is not a valid Kubernetes label key")
            if len(label) > 63 or not LABEL_VALUE.match(label):
                raise ValueError(f"node_selector value {label!r} for {key!r} is not a valid label value")
        return value

    @property
    def accelerator_name(self) -> str:
        return self.accelerator if isinstance(self.accelerator, str) else self.accelerator.name

    @property
    def max_gpus(self) -> int:
        """The most GPUs the pool holds: ``nodes.max`` nodes x ``gpus_per_node``."""
        return self.gpus_per_node * self.nodes.max

    def cost_per_hour(self, gpus: float) -> float:
        """Dollars per hour of ``gpus`` GPUs of this pool (the one place GPU cost is computed).

        With GPU-hours for ``gpus`` it is the cost of a run.
        """
        return gpus * self.cost_per_gpu_hour


# ---------------------------------------------------------------- models


class VariantSpec(Spec):
    """One way of serving a model family: base weights, quantized, distilled or pruned."""

    name: Name
    kind: VariantKind | None = Field(default=None, description="default: quantized if quantization is set, else base")
    weights: SafeText = Field(description="Hugging Face repo id or local path served by vLLM")
    architecture: SafeText | ArchitectureSpec | None = Field(
        default=None, description="defaults to the model's; a distilled variant names its smaller one"
    )
    quantization: QuantizationMethod | None = None
    quantization_scheme: CompressedTensorsScheme | None = Field(
        default=None, description="required with compressed-tensors: which weight/activation scheme"
    )
    weight_bits: Literal[4, 8] | None = Field(default=None, description="override for awq/gptq (default 4)")
    dtype: ModelDtype = "auto"
    kv_cache_dtype: KvCacheDtype = "auto"
    sparsity: float = Field(default=0.0, ge=0, lt=1, description="pruned: share of weights removed")
    quality: float = Field(default=1.0, gt=0, le=1, description="relative quality score for quality floors")

    @model_validator(mode="after")
    def _consistent(self) -> VariantSpec:
        if self.quantization == "compressed-tensors" and self.quantization_scheme is None:
            raise ValueError("quantization 'compressed-tensors' needs quantization_scheme "
                             "(one of w4a16, w8a16, w8a8-int8, w8a8-fp8)")
        if self.quantization_scheme is not None and self.quantization != "compressed-tensors":
            raise ValueError("quantization_scheme is only valid with quantization: compressed-tensors")
        if self.kind == "quantized" and self.quantization is None:
            raise ValueError("kind 'quantized' needs a quantization method")
        if self.kind == "distilled" and self.architecture is None:
            raise ValueError("kind 'distilled' needs the smaller model's architecture")
        if self.kind == "pruned" and self.sparsity == 0:
            raise ValueError("kind 'pruned' needs sparsity > 0")
        return self

    @property
    def effective_kind(self) -> VariantKind:
        if self.kind is not None:
            return self.kind
        return "quantized" if self.quantization else "base"


class ModelSpec(Spec):
    """A model family: one architecture, several variants."""

    name: Name
    architecture: SafeText | ArchitectureSpec
    variants: list[VariantSpec] = Field(min_length=1)

    @field_validator("variants")
    @classmethod
    def _unique(cls, value: list[VariantSpec]) -> list[VariantSpec]:
        _require_unique([v.name for v in value], "variant")
        return value

    def variant(self, name: str) -> VariantSpec:
        for candidate in self.variants:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


# ---------------------------------------------------------------- deployments


class ReplicaRange(Spec):
    min: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    max: int = Field(default=1, ge=1, le=MAX_REPLICAS, description="at most 1024 (the router's server slots)")
    initial: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)

    @model_validator(mode="after")
    def _ordered(self) -> ReplicaRange:
        if self.min > self.max:
            raise ValueError(f"replicas.min ({self.min}) is greater than replicas.max ({self.max})")
        if self.initial is not None and not self.min <= self.initial <= self.max:
            raise ValueError(f"replicas.initial ({self.initial}) is outside min..max ({self.min}..{self.max})")
        return self

    @property
    def start(self) -> int:
        return self.initial if self.initial is not None else self.min


class SloSpec(Spec):
    ttft_p95_ms: float = Field(default=1000, gt=0, description="time to first token, 95th percentile")
    tpot_p95_ms: float = Field(default=100, gt=0, description="time per output token, 95th percentile")


class EngineOptions(Spec):
    """vLLM engine options the capacity model reads; anything else goes in extra_args."""

    max_model_len: int | None = Field(default=None, ge=16, le=10_000_000, description="at most 10M tokens")
    max_num_seqs: int | None = Field(default=None, ge=1, le=4096, description="None: vLLM's runtime default")
    max_num_batched_tokens: int | None = Field(default=None, ge=16, description="None: vLLM's runtime default")
    gpu_memory_utilization: float = Field(default=0.92, gt=0.05, le=0.99, description="vLLM 0.33 default 0.92")
    enable_prefix_caching: bool = True
    block_size: Literal[8, 16, 32, 64, 128] = 16
    extra_args: list[str] = Field(default_factory=list, description="free-form `vllm serve` arguments")


class WorkloadSpec(Spec):
    """The request shape a deployment is sized for (planner and model-based rules)."""

    requests_per_s: float = Field(default=1.0, ge=0, le=1e6, description="expected demand across all replicas")
    prompt_tokens: int = Field(default=1024, ge=1, le=10_000_000)
    output_tokens: int = Field(default=256, ge=1, le=10_000_000)


class DeploymentSpec(Spec):
    """A variant served by vLLM on a pool, with its replica range and SLO."""

    name: Name
    model: Name
    variant: Name
    pool: Name
    tensor_parallel: int = Field(default=1, ge=1, le=64)
    pipeline_parallel: int = Field(default=1, ge=1, le=64)
    replicas: ReplicaRange = Field(default_factory=ReplicaRange)
    slo: SloSpec = Field(default_factory=SloSpec)
    engine: EngineOptions = Field(default_factory=EngineOptions)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    quality_floor: float = Field(default=0.0, ge=0, le=1, description="variant switches never go below this")
    update_strategy: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    profile: str | None = Field(
        default=None, min_length=1, max_length=4096,
        description="calibrated profile file (llmstack calibrate --out); relative to the spec file",
    )

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel


# ---------------------------------------------------------------- routing and monitoring


class RouteSpec(Spec):
    model: SafeText = Field(description="the OpenAI `model` name clients send")
    backends: dict[Name, int] = Field(min_length=1, description="deployment -> weight (canaries)")

    @field_validator("backends")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        for name, weight in value.items():
            if weight < 0 or weight > 256:
                raise ValueError(f"weight of backend {name!r} is {weight}; allowed 0..256")
        if sum(value.values()) == 0:
            raise ValueError(f"weights of backends {sorted(value)} sum to zero; at least one must be > 0")
        return value


class GatewayRef(Spec):
    """inference-gateway routers: the Gateway (Gateway API) their HTTPRoute attaches to."""

    name: Name = Field(default="llmstack-gateway", description="the Gateway named in the HTTPRoute's parentRefs")
    namespace: Name | None = Field(default=None, description="None: the stack's namespace")
    class_name: Name | None = Field(
        default=None, description="set: llmstack also creates the Gateway with this gatewayClassName "
                                  "(e.g. istio, agentgateway, nginx); None: the Gateway exists already")
    port: int = Field(default=80, ge=1, le=65535, description="listener port of a Gateway llmstack creates")


class RouterSpec(Spec):
    name: Name
    implementation: Literal["haproxy", "inference-gateway"] = Field(
        default="haproxy", description="haproxy: llmstack's HAProxy (Docker, and the Kubernetes default); "
                                       "inference-gateway: Gateway API HTTPRoute to InferencePools (Kubernetes)")
    gateway: GatewayRef = Field(default_factory=GatewayRef)
    strategy: RouterStrategy = "least_request"
    routes: list[RouteSpec] = Field(min_length=1)
    port: int = Field(default=8080, ge=1, le=65535)
    service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = "ClusterIP"
    session_header: str = Field(default="x-session-id", pattern=HTTP_HEADER_NAME.pattern)
    prefix_hash_bytes: int = Field(default=256, ge=16, le=8192, description="prompt bytes hashed by prefix_hash")
    hash_balance_factor: int = Field(
        default=150, ge=100, le=1000,
        description="prefix_hash: no replica takes more than this % of the average in-flight requests "
                    "(HAProxy hash-balance-factor; bounded-load consistent hashing)")
    replicas: int = Field(default=2, ge=1, le=16)

    @field_validator("routes")
    @classmethod
    def _unique_models(cls, value: list[RouteSpec]) -> list[RouteSpec]:
        _require_unique([r.model for r in value], "route model")
        return value


class MonitoringSpec(Spec):
    scrape_interval: str = Field(default="15s", pattern=r"^\d+(ms|s|m)$")
    evaluation_interval: str = Field(default="15s", pattern=r"^\d+(ms|s|m)$")
    retention: str = Field(default="15d", pattern=r"^\d+(h|d|w)$")
    grafana: bool = True
    dcgm_exporter: bool = True
    prometheus_operator: bool = True
    node_exporter: bool = False


class DockerSpec(Spec):
    """Docker target only: where the host publishes ports (the Kubernetes target ignores this section)."""

    publish_address: str = Field(
        default="127.0.0.1", description="host address published ports bind to; 0.0.0.0 exposes them to the network"
    )
    prometheus_port: int | None = Field(default=9090, ge=1, le=65535, description="None: not published")
    grafana_port: int | None = Field(default=3000, ge=1, le=65535, description="None: not published")

    @field_validator("publish_address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"publish_address {value!r} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)") from None
        return value


class BatchJobSpec(Spec):
    """Offline inference: ``vllm run-batch`` over an OpenAI batch file, with a deployment's model and pool."""

    name: Name
    deployment: Name = Field(description="serves the batch with this deployment's variant, pool, parallelism "
                                         "and engine options")
    input: SafeText = Field(default="input.jsonl", description="OpenAI batch file, relative to the data volume")
    output: SafeText = Field(default="output.jsonl", description="results file, relative to the data volume")
    volume_size: str = Field(default="50Gi", pattern=r"^\d+(Mi|Gi|Ti)$", description="size of the data claim")
    storage_class: str | None = Field(default=None, description="None: the cluster's default storage class")
    backoff_limit: int = Field(default=1, ge=0, le=10)
    active_deadline_s: int | None = Field(default=None, ge=60, description="None: no deadline")


# ---------------------------------------------------------------- the in-cluster controller

IMAGE_REF = re.compile(r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
                       r"(@sha256:[0-9a-f]{64})?$")
GIT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
"""Branch names: letters, digits, ``._/-`` (what ``git check-ref-format --branch`` takes; see :func:`_git_branch`)."""
GIT_URL = re.compile(r"^(https://[^\s]+|ssh://[^\s]+|file://[^\s]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+)$")
REPO_PATH = re.compile(r"^([A-Za-z0-9._-]+/)*Pulumi\.[A-Za-z0-9._-]+\.yaml$")


def _git_branch(value: str | None) -> str | None:
    if value is not None and (".." in value or "//" in value or value.endswith(("/", ".", ".lock"))):
        raise ValueError(f"{value!r} is not a git branch name (no '..', '//', or a trailing '/', '.', '.lock')")
    return value


class PulumiOperatorApply(Spec):
    """The Pulumi Kubernetes Operator path: the controller patches ``llmstack:scaling`` into a ``Stack``."""

    stack_object: Name = Field(default="llmstack", description="metadata.name of the pulumi.com/v1 Stack")
    namespace: Name | None = Field(default=None, description="the Stack's namespace; None: the controller's")


class GitOpsApply(Spec):
    """The GitOps path: the controller commits ``llmstack:scaling`` to the stack file in a git repository."""

    repository: str = Field(min_length=1, max_length=2048,
                            description="clone URL (https://, ssh://, git@host:path or file://); no credentials "
                                        "in it: put them in credentials_secret")
    branch: str = Field(default="main", pattern=GIT_REF.pattern, description="the branch that is deployed")
    push_branch: str | None = Field(
        default=None, pattern=GIT_REF.pattern,
        description="push each change to this branch for review (ArgoCD/Flux deploy `branch`); None: to `branch`")
    stack_file: str = Field(default="Pulumi.prod.yaml", pattern=REPO_PATH.pattern, max_length=1024,
                            description="path of Pulumi.<stack>.yaml inside the repository")
    author_name: SafeText = "llmstack-controller"
    author_email: str = Field(default="llmstack-controller@users.noreply.invalid", pattern=r"^[^\s<>@]+@[^\s<>@]+$")
    credentials_secret: Name | None = Field(
        default=None, description="Secret with key `git-credentials` (git's credential store format, "
                                  "https://<user>:<token>@<host>), mounted read-only; None: no credentials")

    @field_validator("branch", "push_branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        return _git_branch(value)

    @field_validator("stack_file")
    @classmethod
    def _inside(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError(f"stack_file {value!r} leaves the repository; give a path inside it")
        return value

    @field_validator("repository")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if not GIT_URL.match(value):
            raise ValueError(f"repository {value!r} is not a git URL; use https://host/path, ssh://, "
                             "git@host:path or file://")
        if re.match(r"^https://[^/]*@", value):
            raise ValueError("the repository URL carries credentials; put them in credentials_secret")
        return value


class KedaFastPath(Spec):
    """KEDA: horizontal moves land through ``llmstack_desired_replicas`` and a ScaledObject, without Pulumi."""

    enabled: bool = False
    polling_interval_s: int = Field(default=15, ge=1, le=3600, description="how often KEDA queries Prometheus")
    cooldown_period_s: int = Field(default=60, ge=0, le=86_400,
                                   description="KEDA's wait before the last replica goes (replicas.min 0)")
    operator_namespace: Name = Field(default="keda", description="where KEDA runs (its operator queries Prometheus; "
                                                                 "the plain Prometheus admits it)")


class ControllerSpec(Spec):
    """The policy engine running in the cluster (Kubernetes target): ``llmstack controller``."""

    enabled: bool = False
    image: str | None = Field(
        default=None, pattern=IMAGE_REF.pattern, max_length=512,
        description="pinned image reference (repository:tag or @sha256:digest); None: llmstack's pinned image")
    namespace: Name | None = Field(default=None, description="None: the stack's namespace")
    prometheus_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s/@]+(:\d+)?(/[^\s]*)?$", max_length=2048,
        description="None: the in-cluster Prometheus (the target's plain Prometheus Service, or the "
                    "Prometheus Operator's prometheus-operated Service)")
    interval_s: int = Field(default=30, ge=5, le=3600, description="seconds between policy cycles")
    apply: Literal["pulumi-operator", "gitops"] = Field(
        default="pulumi-operator", description="how vertical and variant moves (and, without KEDA, every move) land")
    pulumi_operator: PulumiOperatorApply = Field(default_factory=PulumiOperatorApply)
    gitops: GitOpsApply | None = None
    keda: KedaFastPath = Field(default_factory=KedaFastPath)
    audit_volume_size: str = Field(default="1Gi", pattern=r"^\d+(Mi|Gi|Ti)$", description="the audit log's claim")
    storage_class: str | None = Field(default=None, description="None: the cluster's default storage class")

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str | None) -> str | None:
        if value is not None and (("@sha256:" not in value and not re.search(r":[^/]+$", value))
                                  or value.endswith(":latest")):
            raise ValueError(f"image {value!r} is not pinned; give repository:tag (not latest) or @sha256:<digest>")
        return value

    @model_validator(mode="after")
    def _apply_configured(self) -> ControllerSpec:
        if self.apply == "gitops" and self.gitops is None:
            raise ValueError("apply: gitops needs the gitops section (repository, branch, stack_file)")
        return self


# ---------------------------------------------------------------- the stack


class StackSpec(Spec):
    """The whole stack: what runs where, how it is routed and watched."""

    name: Name
    pools: list[PoolSpec] = Field(min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    routers: list[RouterSpec] = Field(default_factory=list)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    docker: DockerSpec = Field(default_factory=DockerSpec, description="Docker target: published ports")
    batch_jobs: list[BatchJobSpec] = Field(default_factory=list, description="vllm run-batch jobs (Kubernetes)")
    controller: ControllerSpec = Field(default_factory=ControllerSpec,
                                       description="the policy engine in the cluster (Kubernetes target)")
    accelerators: list[AcceleratorSpec] = Field(default_factory=list, description="inline catalog additions")
    architectures: list[ArchitectureSpec] = Field(default_factory=list, description="inline catalog additions")
    budget_per_hour: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _references(self) -> StackSpec:
        _require_unique([p.name for p in self.pools], "pool")
        _require_unique([m.name for m in self.models], "model")
        _require_unique([d.name for d in self.deployments], "deployment")
        _require_unique([r.name for r in self.routers], "router")
        _require_unique([b.name for b in self.batch_jobs], "batch job")
        pools = {p.name for p in self.pools}
        models = {m.name: m for m in self.models}
        deployments = {d.name for d in self.deployments}
        for d in self.deployments:
            if d.pool not in pools:
                raise ValueError(f"deployments[{d.name}].pool: unknown pool {d.pool!r}; pools are {sorted(pools)}")
            if d.model not in models:
                raise ValueError(
                    f"deployments[{d.name}].model: unknown model {d.model!r}; models are {sorted(models)}"
                )
            variants = [v.name for v in models[d.model].variants]
            if d.variant not in variants:
                raise ValueError(
                    f"deployments[{d.name}].variant: model {d.model!r} has no variant {d.variant!r}; "
                    f"it has {variants}"
                )
        for job in self.batch_jobs:
            if job.deployment not in deployments:
                raise ValueError(f"batch_jobs[{job.name}].deployment: unknown deployment {job.deployment!r}; "
                                 f"deployments are {sorted(deployments)}")
        for r in self.routers:
            for route in r.routes:
                for backend in route.backends:
                    if backend not in deployments:
                        raise ValueError(
                            f"routers[{r.name}].routes[{route.model}].backends: unknown deployment "
                            f"{backend!r}; deployments are {sorted(deployments)}"
                        )
        return self

    def pool(self, name: str) -> PoolSpec:
        return _by_name(self.pools, name, "pool")

    def model(self, name: str) -> ModelSpec:
        return _by_name(self.models, name, "model")

    def deployment(self, name: str) -> DeploymentSpec:
        return _by_name(self.deployments, name, "deployment")


_Named = TypeVar("_Named", PoolSpec, ModelSpec, DeploymentSpec)


def _by_name(items: list[_Named], name: str, what: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    raise LlmstackError(f"unknown {what} {name!r}", hint=f"{what}s are {sorted(i.name for i in items)}")


def _require_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} name {name!r}")
        seen.add(name)
