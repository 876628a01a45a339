"""The registry of named autoscalers that ``llmstack simulate --autoscaler NAME`` and the benchmarks share.

- ``static[:N]``, ``hpa[:TARGET]``, ``keda[:THRESHOLD]``, ``saturation``: the simulator's
  baselines (:mod:`llmstack.sim.baselines`);
- ``oracle``: the bound searched on the trace it is scored on (:mod:`llmstack.sim.oracle`);
- ``policy:PATH``: the policy engine (:mod:`llmstack.policy.autoscaler`), PATH one or more
  policy files, comma-separated.
"""

from __future__ import annotations

from llmstack.errors import LlmstackError
from llmstack.policy.autoscaler import policy_autoscaler
from llmstack.sim.baselines import KEDA_THRESHOLD, Hpa, Keda, Saturation, Static
from llmstack.sim.fleet import FleetConfig
from llmstack.sim.oracle import oracle
from llmstack.sim.protocol import Autoscaler
from llmstack.sim.traces import Trace
from llmstack.spec.models import DeploymentSpec, StackSpec

BASELINES = ("static", "hpa", "keda", "saturation", "oracle")
NAMES_HINT = "one of static[:N], hpa[:TARGET], keda[:THRESHOLD], saturation, oracle, policy:PATH"


def resolve_autoscaler(name: str, stack: StackSpec, deployment: str | DeploymentSpec, *,
                       trace: Trace | None = None, config: FleetConfig | None = None) -> Autoscaler:
    """The autoscaler called ``name`` for ``deployment`` (``trace`` is needed by ``oracle``).

    The oracle searches its schedule with the fleet simulator under ``config`` (default: the
    simulator's defaults): pass the configuration it will be scored under.
    """
    spec = stack.deployment(deployment) if isinstance(deployment, str) else deployment
    kind, _, arg = name.partition(":")
    if kind in ("static", "hpa", "keda"):
        return _parametrized(kind, arg, name, spec)
    if kind == "saturation":
        return Saturation()
    if kind == "oracle":
        if trace is None:
            raise LlmstackError("the oracle needs the trace it will be scored on", path="--autoscaler")
        return oracle(stack, spec, trace, config or FleetConfig())
    if kind == "policy":
        if not arg:
            raise LlmstackError("policy autoscaler needs a path", path="--autoscaler",
                                hint="policy:policies/default.yaml")
        return policy_autoscaler(arg, stack, spec)
    raise LlmstackError(f"unknown autoscaler {name!r}", path="--autoscaler", hint=NAMES_HINT)


def _parametrized(kind: str, arg: str, name: str, spec: DeploymentSpec) -> Autoscaler:
    """``static[:N]``, ``hpa[:TARGET]`` or ``keda[:THRESHOLD]`` with its argument parsed."""
    try:
        if kind == "static":
            return Static(int(arg) if arg else spec.replicas.start, name=name)
        if kind == "hpa":
            return Hpa(float(arg) if arg else 0.7, name=name)
        return Keda(float(arg) if arg else KEDA_THRESHOLD, name=name)
    except ValueError:
        raise LlmstackError(f"bad argument {arg!r} for autoscaler {kind!r}", path="--autoscaler",
                            hint="static:N, hpa:TARGET (0-1), keda:THRESHOLD") from None
