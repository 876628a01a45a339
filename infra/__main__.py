"""The Pulumi program: build the llmstack stack for the configured target.

Reads ``llmstack:spec``, ``llmstack:target`` and ``llmstack:scaling`` from the stack
configuration (see ``Pulumi.dev.yaml``), applies the scaling overrides to the spec, and
hands it to the Kubernetes or Docker program.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from llmstack.targets import stack_config

PROJECT_DIR = Path(__file__).resolve().parents[1]


def main() -> None:
    config = pulumi.Config("llmstack")
    settings = stack_config.from_values(
        config.get("spec"), config.get("target"), config.get_object("scaling"), PROJECT_DIR
    )
    if settings.target == "docker":
        from llmstack.targets.docker import program as docker_program

        docker_program.build(settings, config)
    else:
        from llmstack.targets.kubernetes import program as kubernetes_program

        kubernetes_program.build(settings, config)


main()
