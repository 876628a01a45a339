"""The built wheel, installed into a fresh virtualenv outside the checkout, runs ``llmstack demo`` and
``llmstack init`` from an empty folder.

Design note: the wheel is built with ``pip wheel . --no-deps`` and installed with ``--no-deps``;
the fresh venv borrows the dependencies (pulumi, pydantic, ...) from this checkout's venv
through a ``.pth`` line, which puts that site-packages on ``sys.path`` without running its
``.pth`` files, so the checkout's editable install of llmstack is not visible: the test asserts
that ``llmstack`` is imported from the fresh venv. Installing the dependencies from the index
as well is what a user does; here it would only add minutes of downloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ folder of a fresh venv holding only the built wheel (plus the borrowed dependencies)."""
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(base / "dist")],
                   check=True, timeout=300, capture_output=True)
    (wheel,) = (base / "dist").glob("pulumi_llmstack-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    ask = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run([str(env_dir / "bin" / "python"), "-c", ask], check=True, capture_output=True,
                             text=True).stdout.strip()
    (Path(purelib) / "borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install",
                    "--no-deps", "-q", str(wheel)], check=True, timeout=300, capture_output=True)
    return env_dir / "bin"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_wheel_imports_llmstack_from_the_fresh_venv(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(installed / "python"), "-c", "import llmstack; print(llmstack.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True, env=_clean_env(), check=True)
    assert Path(result.stdout.strip()).is_relative_to(installed.parent), result.stdout


def test_wheel_demo_runs_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(installed / "llmstack"), "demo", "--duration", "12", "--json"], cwd=tmp_path,
                            capture_output=True, text=True, env=_clean_env(), timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["errors"] == []
    assert Path(summary["spec"]).is_relative_to(installed.parent)
    assert sum(d["requests_succeeded"] for d in summary["deployments"]) > 0


def test_wheel_init_scaffolds_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(installed / "llmstack"), "init", "proj", "--target", "docker"], cwd=tmp_path,
                            capture_output=True, text=True, env=_clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "proj" / "Pulumi.yaml").is_file()
    scaffolded = tmp_path / "proj" / "policies" / "default.yaml"
    assert scaffolded.read_text() == (ROOT / "policies" / "default.yaml").read_text()
