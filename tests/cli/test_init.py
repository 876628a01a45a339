"""``llmstack init``: the scaffolded project runs under Pulumi's mock runtime, and init never overwrites.

Design note: the scaffold's ``__main__.py`` is run with ``runpy`` exactly as the Pulumi
language host would run it, with the configuration of the ``Pulumi.dev.yaml`` it wrote
(objects passed as JSON text, as the engine passes them).
"""

from __future__ import annotations

import asyncio
import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from llmstack.errors import LlmstackError
from llmstack.targets import scaffold
from tests.targets.kubernetes.test_k8s_program import Recorder

FILES = {"Pulumi.yaml", "__main__.py", "requirements.txt", "stack.yaml", "policies/default.yaml", "Pulumi.dev.yaml"}


def _run_scaffold(project: Path) -> Recorder:
    stack_file = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]
    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in stack_file.items()}
    mocks = Recorder()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, preview=False)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test
    def run() -> Any:
        runpy.run_path(str(project / "__main__.py"), run_name="__main__")

    run()
    return mocks


@pytest.mark.parametrize("target", ["kubernetes", "docker"])
def test_init_scaffold_deploys_under_mocks(target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "new-project"
    result = subprocess.run([sys.executable, "-m", "llmstack", "init", str(project), "--target", target, "--json"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {str(Path(p).relative_to(project)) for p in json.loads(result.stdout)} == FILES
    assert yaml.safe_load((project / "Pulumi.yaml").read_text())["name"] == "new-project"
    assert yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]["llmstack:target"] == target
    monkeypatch.chdir(project)  # the docker program keeps its GPU assignment under the project
    mocks = _run_scaffold(project)
    kind = "kubernetes:apps/v1:Deployment" if target == "kubernetes" else "docker:index/container:Container"
    assert mocks.of_type(kind), sorted({r.typ for r in mocks.resources})


def test_init_refuses_existing_files_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("mine\n")
    with pytest.raises(LlmstackError, match=r"stack\.yaml exists already"):
        scaffold.write(scaffold.plan(tmp_path, "kubernetes"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.yaml"]
    assert (tmp_path / "stack.yaml").read_text() == "mine\n"


def test_init_rejects_unknown_target(tmp_path: Path) -> None:
    with pytest.raises(LlmstackError, match="unknown target 'nomad'"):
        scaffold.plan(tmp_path, "nomad")
