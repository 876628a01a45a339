"""The Pulumi program of this repository's project (``Pulumi.yaml``: ``main: infra/``).

Everything is in :func:`llmstack.targets.program.main`: ``llmstack:spec``, ``llmstack:target``
and ``llmstack:scaling`` from the stack configuration (see ``Pulumi.dev.yaml``), the spec
with the scaling overrides applied, the Kubernetes or Docker program.
"""

from __future__ import annotations

from pathlib import Path

from llmstack.targets import program

program.main(Path(__file__).resolve().parents[1])
