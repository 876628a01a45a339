"""The Docker target's Pulumi program: one stack on one host's Docker engine.

Called by ``infra/__main__.py`` when ``llmstack:target`` is ``docker``. Reads the spec with
``llmstack:scaling`` applied, checks it (capacity model, one-host rule, ports, GPUs) before
any resource exists, keeps the GPU assignment of the last run (:mod:`.state`) so a
scale-out moves no container, and registers :class:`~.components.DockerLlmStack`.

Configuration: ``llmstack:hfToken`` (secret, optional), ``llmstack:grafanaAdminPassword``
(secret; without it Grafana has no admin password and ``pulumi preview`` warns), ``llmstack:dockerHost`` (e.g.
``ssh://user@gpu-box`` or ``unix:///var/run/docker.sock``; default: the local engine, or
``DOCKER_HOST``), ``llmstack:gpuStateFile`` (default ``.llmstack/docker-gpus.<stack>.json``
under the project root).
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
import pulumi_docker as docker

from llmstack.targets.docker import layout, state
from llmstack.targets.docker.components import DockerLlmStack, DockerLlmStackArgs
from llmstack.targets.stack_config import StackConfig


def build(settings: StackConfig, config: pulumi.Config, state_file: Path | None = None) -> DockerLlmStack:
    """Register the stack's resources; ``state_file`` overrides where the GPU assignment is kept."""
    stack = settings.load()
    path = state_file or assignment_file(config)
    plan = layout.plan(stack, previous=state.load_assignment(path))
    opts = None
    host = config.get("dockerHost")
    if host:
        provider = docker.Provider("docker-host", host=host)
        opts = pulumi.ResourceOptions(providers=[provider])
    password = config.get_secret("grafanaAdminPassword")
    if password is None and stack.monitoring.grafana:
        pulumi.log.warn("llmstack:grafanaAdminPassword is not set: Grafana gets no admin password file; set it "
                        "with `pulumi config set --secret llmstack:grafanaAdminPassword ...`")
    result = DockerLlmStack(stack.name, DockerLlmStackArgs(layout=plan, hf_token=config.get_secret("hfToken"),
                                                           grafana_admin_password=password), opts)
    if not pulumi.runtime.is_dry_run():
        state.save_assignment(path, plan.assignment())
    pulumi.export("routerUrls", result.router_urls)
    pulumi.export("gpuAssignment", result.gpu_assignment)
    pulumi.export("prometheusUrl", result.monitoring.prometheus_url)
    pulumi.export("grafanaUrl", result.monitoring.grafana_url)
    return result


def assignment_file(config: pulumi.Config) -> Path:
    configured = config.get("gpuStateFile")
    root = Path(pulumi.get_root_directory() or os.getcwd())
    if configured:
        return Path(configured) if Path(configured).is_absolute() else root / configured
    return state.state_path(root, pulumi.get_stack())
