"""The wheel's copies of policies/ and examples/ (``llmstack.data``) match the repository's.

Design note: the repository keeps ``policies/`` and ``examples/`` (the README, the tests and
``pulumi preview --policy-pack policies/crossguard`` use them); the package carries copies so
an installed ``llmstack`` finds them with importlib.resources. This test fails as soon as an
original changes without ``python scripts/sync_package_data.py``.
"""

from __future__ import annotations

import pytest

from llmstack import data
from tests.conftest import ROOT


@pytest.mark.parametrize("packaged", sorted(data.COPIES))
def test_packaged_copy_identical_to_repository_file(packaged: str) -> None:
    original = ROOT / data.COPIES[packaged]
    assert data.path(packaged).read_bytes() == original.read_bytes(), (
        f"{data.COPIES[packaged]} changed: run python scripts/sync_package_data.py")


def test_every_policy_and_example_is_packaged() -> None:
    tracked = {p.relative_to(ROOT).as_posix() for folder in ("policies", "examples")
               for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    left_out = tracked - set(data.COPIES.values()) - {"policies/.keep", "examples/program/Pulumi.yaml",
                                                        "examples/program/__main__.py"}
    assert not left_out, f"add to llmstack.data.COPIES: {sorted(left_out)}"


def test_cli_defaults_point_into_the_package() -> None:
    from llmstack.cli import _policy

    assert data.policy().is_file() and data.example().is_file()
    assert _policy.POLICY.default == [data.policy()]
