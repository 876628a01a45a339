"""Files the wheel carries for users outside the repository: the policies, the example specs
and the Crossguard policy pack (the catalogs live in :mod:`llmstack.catalog`, the traces in
:mod:`llmstack.sim`).

The repository's ``policies/`` and ``examples/`` folders stay what the README and the tests
use; these are their copies, kept identical by ``tests/test_package_data.py`` (run
``python scripts/sync_package_data.py`` after editing the originals). The CLI's defaults
point here, found with :mod:`importlib.resources`, never relative to the working directory,
so ``llmstack demo`` works from any folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from llmstack.errors import LlmstackError

COPIES: dict[str, str] = {
    "policies/default.yaml": "policies/default.yaml",
    "policies/demo.yaml": "policies/demo.yaml",
    "policies/demo-vllm.yaml": "policies/demo-vllm.yaml",
    "policies/crossguard/PulumiPolicy.yaml": "policies/crossguard/PulumiPolicy.yaml",
    "policies/crossguard/__main__.py": "policies/crossguard/__main__.py",
    "policies/crossguard/llmstack_policies.py": "policies/crossguard/llmstack_policies.py",
    "policies/crossguard/requirements.txt": "policies/crossguard/requirements.txt",
    "examples/stack.yaml": "examples/stack.yaml",
    "examples/docker-stack.yaml": "examples/docker-stack.yaml",
}
"""Packaged path (under ``llmstack/data``) -> its original, relative to the repository root."""


def path(relative: str) -> Path:
    """Filesystem path of a packaged file, e.g. ``path("policies/default.yaml")``.

    Wheels install unzipped, so the resource is a real file; a zipped install is refused
    with a clear message rather than extracted to a temporary file that would vanish.
    """
    resource = resources.files(__name__).joinpath(relative)
    if not isinstance(resource, Path):
        raise LlmstackError(f"packaged file {relative} is not on the filesystem",
                            hint="install llmstack unzipped (pip does)")
    return resource


def policy(name: str = "default.yaml") -> Path:
    return path(f"policies/{name}")


def example(name: str = "stack.yaml") -> Path:
    return path(f"examples/{name}")


def policy_pack() -> Path:
    """The Crossguard policy pack folder (``pulumi preview --policy-pack <this>``)."""
    return path("policies/crossguard")
