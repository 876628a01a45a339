"""The demo's configuration files: haproxy.cfg, prometheus.yml, rules and file_sd targets (pure text).

Everything is built by the same artifact builders that ``llmstack render`` and the Pulumi
targets use (:mod:`llmstack.artifacts.haproxy`, :mod:`llmstack.artifacts.prometheus`), for a
copy of the stack whose monitoring scrapes and evaluates every second (the demo runs on an
accelerated clock). Replicas are addressed statically on 127.0.0.1; the engines' scrape
targets come from one file_sd file per deployment, so scaling needs no Prometheus reload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llmstack import yaml_text
from llmstack.artifacts import haproxy, haproxy_hold, prometheus
from llmstack.spec.models import StackSpec

HOST = "127.0.0.1"
SCRAPE_INTERVAL = "1s"
FILE_SD_DIR = "targets"
RULES_DIR = "rules"


@dataclass(frozen=True)
class DemoPorts:
    """Where the demo's router and Prometheus listen (all on 127.0.0.1)."""

    router: int
    router_stats: int
    prometheus: int


def demo_stack(stack: StackSpec, scrape_interval: str = SCRAPE_INTERVAL) -> StackSpec:
    """``stack`` with Prometheus scraping and evaluating every ``scrape_interval``."""
    monitoring = stack.monitoring.model_copy(update={"scrape_interval": scrape_interval,
                                                     "evaluation_interval": scrape_interval})
    return stack.model_copy(update={"monitoring": monitoring})


def server_name(deployment: str, port: int) -> str:
    """The haproxy server name of the replica listening on ``port``."""
    return f"{deployment}-{port}"


HOLD_TIMEOUT = "150s"
"""How long the demo's router holds a request for a deployment at zero replicas: a real CPU engine's
cold start (30-60 s on 2 cores, more under load) with room; a simulated replica starts in about a second."""


def router_options(stack: StackSpec, router: str, ports: DemoPorts, runtime_socket: str | None = None,
                   hold_script: str | None = None) -> haproxy.HaproxyOptions:
    """The demo router's options; it holds requests when one of its deployments may scale to zero."""
    hold = haproxy_hold.holds(stack) and hold_script is not None
    # A replica is stopped only after the router has drained it, so checks need not find dead ones fast;
    # they must not fail a live one whose API server is starved of CPU (a CPU vLLM on 2 cores answered
    # /health in > 1 s under load and was marked DOWN, turning a request into a 503).
    return haproxy.HaproxyOptions(bind_host=HOST, port=ports.router, stats_port=ports.router_stats,
                                  runtime_socket=runtime_socket, log=False, health_check_interval="1s",
                                  health_check_fall=3, health_check_rise=1, health_check_timeout="5s",
                                  hold_timeout=HOLD_TIMEOUT if hold else None,
                                  hold_script=hold_script if hold else None)


def server_check(options: haproxy.HaproxyOptions) -> str:
    """The health-check arguments of a server added at run time (dynamic servers skip ``default-server``)."""
    return (f"inter {options.health_check_interval} fall {options.health_check_fall} "
            f"rise {options.health_check_rise}")


def haproxy_config(stack: StackSpec, router: str, replicas: Mapping[str, Sequence[int]], ports: DemoPorts,
                   runtime_socket: str | None = None, hold_script: str | None = None) -> str:
    """haproxy.cfg for ``router`` with each deployment's replicas (ports on 127.0.0.1) as static servers."""
    options = router_options(stack, router, ports, runtime_socket, hold_script)
    addressing = {d: haproxy.BackendAddressing.static([haproxy.Server(server_name(d, p), HOST, p)
                                                       for p in sorted(ps)])
                  for d, ps in replicas.items()}
    return haproxy.build_haproxy_config(stack, router, addressing, options)


def file_sd_text(stack: StackSpec, deployment: str, ports: Sequence[int]) -> str:
    """The file_sd JSON of one deployment's engines (an empty list when it has none)."""
    if not ports:
        return "[]\n"
    targets = prometheus.file_sd_targets(stack, deployment, [f"{HOST}:{p}" for p in sorted(ports)])
    return json.dumps(targets, indent=2) + "\n"


def file_sd_name(deployment: str) -> str:
    return f"{FILE_SD_DIR}/{deployment}.json"


def prometheus_files(stack: StackSpec, ports: DemoPorts, workdir: str) -> dict[str, str]:
    """prometheus.yml and its rule files, keyed by their path relative to ``workdir``."""
    targets = prometheus.ScrapeTargets.file_sd(f"{workdir.rstrip('/')}/{FILE_SD_DIR}",
                                               router=[f"{HOST}:{ports.router_stats}"])
    config = prometheus.build_prometheus_config(stack, targets, rule_files=[f"{RULES_DIR}/*.yml"])
    return {
        "prometheus.yml": yaml_text.dump(config),
        f"{RULES_DIR}/recording.yml": yaml_text.dump(prometheus.build_recording_rules(stack)),
        f"{RULES_DIR}/alerts.yml": yaml_text.dump(prometheus.build_alert_rules(stack)),
    }
