"""``llmstack controller`` as a process: a GitOps controller on a local bare repository, endpoints on
127.0.0.1, two refused cycles (no Prometheus listens), and the one-line errors for bad set-ups."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import EXAMPLE_SPEC
from tests.controller.test_gitops import STACK_FILE, git
from tests.servers import free_port


def _spec(tmp_path: Path, controller: dict[str, Any]) -> Path:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    data["controller"] = {"enabled": True, **controller}
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmstack", "controller", *args], capture_output=True, text=True,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})


def test_controller_command_runs_cycles_and_audits_them(tmp_path: Path) -> None:
    bare = tmp_path / "infra.git"
    subprocess.run(["git", "init", "--bare", "--initial-branch=main", str(bare)], check=True, capture_output=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", str(bare), str(seed)], check=True, capture_output=True)
    (seed / "Pulumi.prod.yaml").write_text(STACK_FILE.replace("think", "chat"))
    git(seed, "add", ".")
    git(seed, "commit", "-m", "seed")
    git(seed, "push", "origin", "HEAD:main")
    spec = _spec(tmp_path, {"apply": "gitops", "gitops": {"repository": f"file://{bare}"}})
    data = tmp_path / "data"
    done = _run("--spec", str(spec), "--prometheus", f"http://127.0.0.1:{free_port()}", "--timeout", "0.5",
                "--data-dir", str(data), "--listen", f"127.0.0.1:{free_port()}", "--cycles", "2", "--interval", "1")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["outcome"] for line in lines] == ["metrics_failed", "metrics_failed"]
    audit = [json.loads(line) for line in (data / "audit.jsonl").read_text().splitlines()]
    assert {e["outcome"] for e in audit} == {"refused"}
    assert (data / "repository" / "Pulumi.prod.yaml").exists()  # cloned to read the settings in force


def test_operator_path_outside_a_cluster_is_one_error_line(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {})
    done = _run("--spec", str(spec), "--prometheus", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "d"),
                "--cycles", "1")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "not running in a cluster" in line


def test_missing_prometheus_url_names_the_spec_field(tmp_path: Path) -> None:
    done = _run("--spec", str(_spec(tmp_path, {})), "--data-dir", str(tmp_path / "d"), "--cycles", "1")
    assert done.returncode == 2
    assert "controller.prometheus_url" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_bad_controller_section_is_one_line_naming_the_field(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"apply": "gitops", "gitops": {"repository": "https://u:secret@git.example/x.git"}})
    done = _run("--spec", str(spec), "--cycles", "1")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "controller.gitops.repository" in line and "credentials_secret" in line
    assert "u:secret" not in line
