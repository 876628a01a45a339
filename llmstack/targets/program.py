"""The Pulumi program every llmstack project runs: the configured target's stack.

Reads ``llmstack:spec`` (a path relative to the project, or the spec inline as a YAML
object), ``llmstack:target`` and ``llmstack:scaling`` from the stack configuration, applies
the scaling overrides and hands the spec to the Kubernetes or Docker program. Called by the
repository's ``infra/__main__.py`` and by the ``__main__.py`` that ``llmstack init`` writes.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from llmstack.targets import stack_config


def main(project_dir: Path) -> None:
    config = pulumi.Config("llmstack")
    settings = stack_config.from_values(
        stack_config.spec_value(config), config.get("target"), config.get_object("scaling"), project_dir)
    if settings.target == "docker":
        from llmstack.targets.docker import program as docker_program

        docker_program.build(settings, config)
    else:
        from llmstack.targets.kubernetes import program as kubernetes_program

        kubernetes_program.build(settings, config)
