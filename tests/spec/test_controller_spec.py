"""The ``controller:`` section: defaults, and one clear line for each bad value (file, field, what is allowed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from llmstack.errors import SpecError
from llmstack.spec.loading import load_spec
from tests.conftest import EXAMPLE_SPEC


def _load(tmp_path: Path, controller: dict[str, Any]) -> Any:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    data["controller"] = controller
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_controller_defaults_to_off_with_the_operator_path(tmp_path: Path) -> None:
    spec = _load(tmp_path, {}).controller
    assert not spec.enabled and spec.apply == "pulumi-operator" and not spec.keda.enabled
    assert (spec.pulumi_operator.stack_object, spec.interval_s, spec.audit_volume_size) == ("llmstack", 30, "1Gi")


@pytest.mark.parametrize(("controller", "path", "words"), [
    pytest.param({"apply": "gitops"}, "controller", "needs the gitops section", id="gitops-unset"),
    pytest.param({"apply": "kubectl"}, "controller.apply", "'pulumi-operator' or 'gitops'", id="unknown-path"),
    pytest.param({"image": "llmstack:latest"}, "controller.image", "not pinned", id="latest"),
    pytest.param({"image": "llmstack"}, "controller.image", "not pinned", id="untagged"),
    pytest.param({"interval_s": 1}, "controller.interval_s", "greater than or equal to 5", id="interval"),
    pytest.param({"audit_volume_size": "1G"}, "controller.audit_volume_size", "pattern", id="size"),
    pytest.param({"apply": "gitops", "gitops": {"repository": "https://u:tok@git.example/x.git"}},
                 "controller.gitops.repository", "credentials_secret", id="credentials-in-url"),
    pytest.param({"apply": "gitops", "gitops": {"repository": "ftp://x/y"}}, "controller.gitops.repository",
                 "not a git URL", id="not-git"),
    pytest.param({"apply": "gitops", "gitops": {"repository": "https://x/y", "branch": "a..b"}},
                 "controller.gitops.branch", "not a git branch name", id="branch"),
    pytest.param({"apply": "gitops", "gitops": {"repository": "https://x/y", "stack_file": "a/../Pulumi.p.yaml"}},
                 "controller.gitops.stack_file", "leaves the repository", id="escape"),
    pytest.param({"keda": {"enabled": True, "polling_interval_s": 0}}, "controller.keda.polling_interval_s",
                 "greater than or equal to 1", id="keda-poll"),
    pytest.param({"promethus_url": "http://p:9090"}, "controller.promethus_url", "unknown field", id="typo"),
])
def test_bad_controller_value_is_one_line_naming_the_field(tmp_path: Path, controller: dict[str, Any], path: str,
                                                           words: str) -> None:
    with pytest.raises(SpecError) as err:
        _load(tmp_path, {"enabled": True, **controller})
    text = err.value.render()
    assert err.value.path == path and words in text and "\n" not in text
    assert "tok@" not in text
