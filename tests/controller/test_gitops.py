"""The GitOps path against a real local bare repository (``git init --bare`` in tmp_path).

Design note: the "remote" is a bare repository seeded with a stack file that has comments;
each test clones it afresh elsewhere to see what a reviewer sees: the commit, its author and
message, and a stack file whose comments survived. A second clone pushing in between shows
the lost race is retried from the new tip, not forced over.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llmstack.controller.gitops import GitOpsBackend, Repository
from llmstack.errors import ApplyError
from llmstack.policy import stack_file
from tests.controller.helpers import rec

STACK_FILE = """\
# production stack: reviewed changes only
config:
  llmstack:spec: stack.yaml   # the spec beside this file
  llmstack:target: kubernetes
  llmstack:scaling:
    think:
      replicas: 2   # pinned by hand
"""


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "infra.git"
    subprocess.run(["git", "init", "--bare", "--initial-branch=main", str(bare)], check=True, capture_output=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", str(bare), str(seed)], check=True, capture_output=True)
    (seed / "infra").mkdir()
    (seed / "infra" / "Pulumi.prod.yaml").write_text(STACK_FILE)
    git(seed, "add", ".")
    git(seed, "commit", "-m", "seed")
    git(seed, "push", "origin", "HEAD:main")
    return bare


def _backend(remote: Path, tmp_path: Path, push_branch: str | None = None) -> GitOpsBackend:
    repo = Repository(f"file://{remote}", "main", "infra/Pulumi.prod.yaml", push_branch)
    return GitOpsBackend(repo, tmp_path / "controller-clone", {"HOME": str(tmp_path)})


def _checkout(remote: Path, tmp_path: Path, branch: str, name: str = "review") -> Path:
    where = tmp_path / name
    subprocess.run(["git", "clone", "--branch", branch, str(remote), str(where)], check=True, capture_output=True)
    return where


def test_change_is_a_reviewable_commit_on_the_push_branch(remote: Path, tmp_path: Path) -> None:
    backend = _backend(remote, tmp_path, push_branch="llmstack/scaling")
    report = backend.apply([rec("chat", replicas=(2, 3))])
    assert report.changed and report.reference is not None
    review = _checkout(remote, tmp_path, "llmstack/scaling")
    text = (review / "infra" / "Pulumi.prod.yaml").read_text()
    assert "# production stack: reviewed changes only" in text and "# pinned by hand" in text
    assert stack_file.overrides(stack_file.parse(text, "x"), "x") == {"chat": {"replicas": 3},
                                                                      "think": {"replicas": 2}}
    log = git(review, "log", "-1", "--format=%H%n%an <%ae>%n%B")
    commit, author, title, *body = log.splitlines()
    assert commit == report.reference
    assert author == "llmstack-controller <llmstack-controller@users.noreply.invalid>"
    assert title == "llmstack: chat: replicas 2 -> 3"
    assert "  rule: ttft-slo (slo, confidence 90%)" in body and any("ttft_p95=2.41" in line for line in body)
    assert git(review, "show", "--name-only", "--format=", "HEAD").split() == ["infra/Pulumi.prod.yaml"]
    main = _checkout(remote, tmp_path, "main", "main")
    assert (main / "infra" / "Pulumi.prod.yaml").read_text() == STACK_FILE  # main waits for the review
    assert backend.current() == {"think": {"replicas": 2}}  # the deployed branch


def test_second_change_stacks_on_the_unmerged_review_branch(remote: Path, tmp_path: Path) -> None:
    backend = _backend(remote, tmp_path, push_branch="llmstack/scaling")
    backend.apply([rec("chat", replicas=(2, 3))])
    backend.apply([rec("think", replicas=(2, 1), pool="h100")])
    review = _checkout(remote, tmp_path, "llmstack/scaling")
    titles = git(review, "log", "--format=%s").splitlines()
    assert titles == ["llmstack: think: replicas 2 -> 1", "llmstack: chat: replicas 2 -> 3", "seed"]


def test_unchanged_scaling_makes_no_commit(remote: Path, tmp_path: Path) -> None:
    backend = _backend(remote, tmp_path)
    report = backend.apply([rec("think", replicas=(3, 2), pool="h100")])
    assert not report.changed
    assert git(_checkout(remote, tmp_path, "main"), "log", "--format=%s").splitlines() == ["seed"]


def test_lost_push_race_is_retried_from_the_new_tip(remote: Path, tmp_path: Path) -> None:
    backend = _backend(remote, tmp_path)
    backend.git.sync()  # the controller's clone is now behind what a human pushes next
    human = _checkout(remote, tmp_path, "main", "human")
    (human / "README.md").write_text("hand edit\n")
    git(human, "add", "README.md")
    git(human, "commit", "-m", "hand edit")
    git(human, "push", "origin", "HEAD:main")
    original = backend.git.sync
    calls = []

    def stale_first_sync() -> str:  # the first attempt commits on the old tip, as a race would
        calls.append(1)
        return "main" if len(calls) == 1 else original()

    backend.git.sync = stale_first_sync  # type: ignore[method-assign]
    report = backend.apply([rec("chat", replicas=(2, 3))])
    assert report.changed and len(calls) == 2
    main = _checkout(remote, tmp_path, "main", "after")
    assert git(main, "log", "--format=%s").splitlines() == ["llmstack: chat: replicas 2 -> 3", "hand edit", "seed"]


def test_missing_branch_and_missing_file_are_one_line_errors(remote: Path, tmp_path: Path) -> None:
    repo = Repository(f"file://{remote}", "release", "infra/Pulumi.prod.yaml")
    with pytest.raises(ApplyError, match="no branch 'release'"):
        GitOpsBackend(repo, tmp_path / "a", {"HOME": str(tmp_path)}).apply([rec()])
    repo = Repository(f"file://{remote}", "main", "Pulumi.dev.yaml")
    with pytest.raises(ApplyError, match=r"no Pulumi\.dev\.yaml"):
        GitOpsBackend(repo, tmp_path / "b", {"HOME": str(tmp_path)}).apply([rec()])


def test_push_refused_by_the_remote_is_one_line_not_a_retry(remote: Path, tmp_path: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected: open a merge request' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(ApplyError) as err:
        _backend(remote, tmp_path).apply([rec("chat", replicas=(2, 3))])
    text = err.value.render()
    assert "git push failed: remote: main is protected: open a merge request" in text
    assert "\n" not in text and "lost the race" not in text
