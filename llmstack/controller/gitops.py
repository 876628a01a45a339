"""The GitOps path: each change is a reviewable commit of ``llmstack:scaling`` in the stack file.

One apply: bring the working clone (on the controller's volume) to the tip of the branch it
builds on (``push_branch`` when it exists on the remote, so unmerged changes pile up as a
series, else ``branch``), edit ``Pulumi.<stack>.yaml`` with the policy engine's round-trip
writer (:mod:`llmstack.policy.stack_file`: comments and layout kept, only the changed
entries touched), commit with a message that carries every recommendation's rule, signals
and prediction, and push to ``push_branch`` (for review; ArgoCD, Flux or the Pulumi operator
deploy ``branch`` once it is merged) or straight to ``branch``. A push that loses a race
(someone pushed first) is retried once from the new tip. Git runs as a subprocess (the real
``git``; tests use a local bare repository); credentials come from git's own configuration
(the mounted credential store), never from the URL.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmstack.controller.backends import ApplyReport, reasons, summary
from llmstack.errors import ApplyError, LlmstackError, redact
from llmstack.fileio import atomic_write_text
from llmstack.policy import applying, stack_file
from llmstack.policy.recommendation import Recommendation

GIT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Repository:
    url: str
    branch: str
    stack_file: str
    push_branch: str | None = None
    author_name: str = "llmstack-controller"
    author_email: str = "llmstack-controller@users.noreply.invalid"

    @property
    def target(self) -> str:
        return self.push_branch or self.branch


class Git:
    """``git`` in one working folder, with a fixed identity and no prompts."""

    def __init__(self, workdir: Path, repo: Repository, env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.repo = repo
        self.env = {**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0",
                    "GIT_AUTHOR_NAME": repo.author_name, "GIT_AUTHOR_EMAIL": repo.author_email,
                    "GIT_COMMITTER_NAME": repo.author_name, "GIT_COMMITTER_EMAIL": repo.author_email}

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(["git", *args], cwd=self.workdir, env=self.env, capture_output=True, text=True,
                                  input=stdin, timeout=GIT_TIMEOUT_S, check=False)
        except FileNotFoundError as exc:
            raise ApplyError("git is not installed", hint="the controller image ships git") from exc
        except subprocess.TimeoutExpired as exc:
            raise ApplyError(f"git {args[0]} took over {GIT_TIMEOUT_S:.0f} s") from exc
        if check and done.returncode != 0:
            raise ApplyError(redact(f"git {args[0]} failed: {_last_line(done)}"), file=self.repo.url)
        return done

    def sync(self) -> str:
        """Clone or fetch; check out the branch this change builds on; return which one."""
        if not (self.workdir / ".git").exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.run("clone", "--no-checkout", "--origin", "origin", self.repo.url, ".")
        self.run("remote", "set-url", "origin", self.repo.url)
        self.run("fetch", "--prune", "origin")
        base = self.repo.branch
        if self.repo.push_branch and self._remote_has(self.repo.push_branch):
            base = self.repo.push_branch
        if not self._remote_has(base):
            raise ApplyError(f"the repository has no branch {base!r}", file=self.repo.url,
                             hint="set controller.gitops.branch to a branch that exists")
        self.run("checkout", "--force", "-B", self.repo.target, f"origin/{base}")
        self.run("clean", "-fdx")
        return base

    def _remote_has(self, branch: str) -> bool:
        found = self.run("rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}", check=False)
        return found.returncode == 0

    def commit(self, path: str, message: str) -> str:
        """Commit ``path`` alone with ``message``; return the commit hash."""
        self.run("add", "--", path)
        self.run("commit", "--no-verify", "--file", "-", "--", path, stdin=message)
        return self.run("rev-parse", "HEAD").stdout.strip()

    def push(self) -> bool:
        """Push HEAD to the target branch; False when the remote moved (non-fast-forward)."""
        done = self.run("push", "--porcelain", "origin", f"HEAD:refs/heads/{self.repo.target}", check=False)
        if done.returncode == 0:
            return True
        output = done.stdout + done.stderr
        if "[rejected]" in output and ("non-fast-forward" in output or "fetch first" in output):
            return False
        raise ApplyError(redact(f"git push failed: {_last_line(done)}"), file=self.repo.url)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    """Why git failed: the remote's own words (a hook's message) when it sent any, else git's last line."""
    lines = [line.strip() for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
    remote = [line for line in lines if line.startswith("remote:") and line != "remote:"]
    if remote:
        return remote[-1]
    return lines[-1] if lines else f"exit status {done.returncode}"


class GitOpsBackend:
    """Apply by committing the stack file's ``llmstack:scaling`` change and pushing it."""

    name = "gitops"

    def __init__(self, repo: Repository, workdir: Path, env: Mapping[str, str] | None = None) -> None:
        self.repo = repo
        self.git = Git(workdir, repo, env)

    @property
    def _file(self) -> Path:
        return self.git.workdir / self.repo.stack_file

    def _read(self) -> tuple[Any, dict[str, dict[str, Any]]]:
        if not self._file.exists():
            raise ApplyError(f"the repository has no {self.repo.stack_file} on its branch", file=self.repo.url,
                             hint="commit the stack file first, or set controller.gitops.stack_file")
        try:
            doc = stack_file.load(self._file)
            return doc, stack_file.overrides(doc, f"{self.repo.url}:{self.repo.stack_file}")
        except LlmstackError as exc:
            raise ApplyError(exc.message, file=exc.file, path=exc.path, hint=exc.hint) from exc

    def current(self) -> dict[str, dict[str, Any]]:
        """``llmstack:scaling`` of the deployed branch (not of unmerged review commits)."""
        self.git.sync()
        self.git.run("checkout", "--force", "--detach", f"origin/{self.repo.branch}")
        return self._read()[1]

    def apply(self, recommendations: Sequence[Recommendation]) -> ApplyReport:
        for _ in range(2):
            report = self._attempt(recommendations)
            if report is not None:
                return report
        raise ApplyError(f"git push to {self.repo.target!r} lost the race twice (the branch keeps moving)",
                         file=self.repo.url, hint="the next cycle tries again")

    def _attempt(self, recommendations: Sequence[Recommendation]) -> ApplyReport | None:
        base = self.git.sync()
        doc, existing = self._read()
        scaling = applying.merged_scaling(existing, recommendations)
        if scaling == existing:
            head = self.git.run("rev-parse", "HEAD").stdout.strip()
            return ApplyReport(self.name, False, scaling, head, f"{self.repo.stack_file} on {base} already says so")
        atomic_write_text(self._file, stack_file.render(doc, scaling))
        commit = self.git.commit(self.repo.stack_file, commit_message(recommendations))
        if not self.git.push():
            return None
        return ApplyReport(self.name, True, scaling, commit,
                           f"committed {commit[:12]} to {self.repo.target} (based on {base})")


def commit_message(recommendations: Sequence[Recommendation]) -> str:
    """Title (every change), a blank line, then why: rule, signals and prediction per deployment."""
    return (f"{summary(recommendations)}\n\n{reasons(recommendations)}\n\n"
            "Written by the llmstack controller (policy engine); only llmstack:scaling changed.\n")
