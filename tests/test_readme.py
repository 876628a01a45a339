"""Every command in README.md runs here, so the README cannot rot.

Design note: the README's ```bash blocks are interpreted line by line in a scratch folder
that links ``examples/`` and ``policies/``:

- the first two blocks are the newcomer's two commands: the second must be exactly what
  ``.ci/run`` runs; the first (bootstrap + ``llmstack demo``) is run by tests/demo with a
  shorter ``--duration``, and here its ``llmstack`` part is checked to parse (``--help``);
- ``llmstack ...`` runs for real (``python -m llmstack``) and must exit 0;
- ``pulumi config set [--secret] KEY VALUE`` lines collect stack configuration, and
  ``pulumi up``/``pulumi preview`` run the Pulumi program (``infra/__main__.py``) with that
  configuration under Pulumi's mock runtime: no CLI exists here, the program does;
- ``pulumi package add DIR`` checks DIR is the component package (its schema: tests/targets);
- ``pip install NAME[extras]`` checks the distribution and extras against pyproject.toml;
- ``kubectl apply -k DIR`` and ``docker compose up`` cannot run without a cluster or a Docker
  engine: they check that the folder they would apply was rendered by an earlier line;
- any other command fails the test, so the README only shows commands that are checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from tests.conftest import ROOT
from tests.targets.kubernetes.test_k8s_program import Recorder

README = ROOT / "README.md"
FENCE = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def bash_blocks() -> list[list[str]]:
    blocks = []
    for body in FENCE.findall(README.read_text()):
        lines, pending = [], ""
        for raw in body.splitlines():
            line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = (pending + line).strip()
            pending = ""
            lines.extend(part.strip() for part in line.split(" && ") if part.strip())
        blocks.append(lines)
    return blocks


def first_commands() -> tuple[str, str]:
    bodies = FENCE.findall(README.read_text())
    return bodies[0].strip(), bodies[1].strip()


def test_first_two_commands_are_demo_and_ci_tests() -> None:
    demo, tests = first_commands()
    assert demo.startswith("bash scripts/bootstrap.sh && ") and "llmstack demo" in demo
    assert tests.startswith("bash scripts/bootstrap.sh --engine && "), "the test command installs the engine tier"
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), ".ci/run must run exactly the README's test command"
    llmstack = demo.split("&& ", 1)[1].replace(".venv/bin/llmstack", "llmstack")
    result = subprocess.run([sys.executable, "-m", *shlex.split(llmstack)[:2], "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _run_pulumi_program(config: dict[str, str], secrets: list[str], cwd: Path) -> Recorder:
    mocks = Recorder()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, preview=False)
    pulumi.runtime.set_all_config(config, secret_keys=secrets)
    previous = Path.cwd()

    @pulumi.runtime.test
    def run() -> Any:
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")

    os.chdir(cwd)
    try:
        run()
    finally:
        os.chdir(previous)
    return mocks


def _check_pip_install(requirements: list[str]) -> None:
    """``pip install NAME[extras]`` names this project's distribution and extras (nothing is installed)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[([a-z0-9,-]+)\])?", requirement)
        assert match is not None, requirement
        assert match.group(1) == project["name"], f"pip install {requirement}: the distribution is {project['name']}"
        extras = set((match.group(2) or "").split(",")) - {""}
        assert extras <= set(project["optional-dependencies"]), f"unknown extras in {requirement}"


def _interpret(block: list[str], scratch: Path) -> list[str]:
    cwd = scratch
    config: dict[str, str] = {}
    secrets: list[str] = []
    done = []
    for line in block:
        words = shlex.split(line)
        env_prefix = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env_prefix[key] = value
        if words[0] == "cd":
            cwd = (cwd / words[1]).resolve()
        elif words[0] == "llmstack":
            result = subprocess.run([sys.executable, "-m", "llmstack", *words[1:]], cwd=cwd, capture_output=True,
                                    text=True, timeout=300, env={**os.environ, **env_prefix})
            assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        elif words[:3] == ["pulumi", "config", "set"]:
            args = [w for w in words[3:] if w != "--secret"]
            key = args[0] if ":" in args[0] else f"llmstack:{args[0]}"
            config[key] = args[1]
            if "--secret" in words:
                secrets.append(key)
        elif words[0] == "pulumi" and words[1] in ("up", "preview"):
            mocks = _run_pulumi_program(config, secrets, ROOT)
            assert mocks.resources, f"{line}: the program registered no resources"
        elif words[:3] == ["pulumi", "package", "add"]:
            assert (ROOT / words[3] / "PulumiPlugin.yaml").is_file(), line
        elif words[:2] == ["pip", "install"]:
            _check_pip_install(words[2:])
        elif words[:3] == ["kubectl", "apply", "-k"]:
            assert (cwd / words[3] / "kustomization.yaml").is_file(), line
        elif words[:2] == ["docker", "compose"]:
            assert (cwd / "compose.yaml").is_file(), line
        else:
            raise AssertionError(f"README command not covered by the doc test: {line}")
        done.append(line)
    return done


def test_python_program_in_readme_is_the_tested_example() -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None
    program = (ROOT / "examples" / "program" / "__main__.py").read_text()
    assert block.group(1).strip() in program


@pytest.mark.parametrize("index", range(2, len(bash_blocks())))
def test_readme_block_runs(index: int, tmp_path: Path) -> None:
    for folder in ("examples", "policies"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    (tmp_path / "Pulumi.yaml").symlink_to(ROOT / "Pulumi.yaml")
    done = _interpret(bash_blocks()[index], tmp_path)
    assert done, json.dumps(bash_blocks()[index])


def test_yaml_program_in_readme_matches_the_component_schema() -> None:
    from pulumi.provider.experimental.component import ComponentProvider

    from llmstack.targets import provider

    programs = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
                if "runtime: yaml" in b]
    assert programs, "README shows a Pulumi YAML program"
    schema = json.loads(ComponentProvider(provider.COMPONENTS, provider.PACKAGE).schema or "{}")
    for program in programs:
        for name, resource in program["resources"].items():
            declared = schema["resources"][resource["type"]]
            assert set(resource["properties"]) <= set(declared["inputProperties"]), name
            assert set(declared["requiredInputs"]) <= set(resource["properties"]), name
        for expression in program["outputs"].values():
            resource, _, attribute = expression.strip("${}").partition(".")
            attribute = re.split(r"[\[.]", attribute)[0]
            assert attribute in schema["resources"][program["resources"][resource]["type"]]["properties"]
