"""``llmstack controller``: the policy loop as a long-running service (the in-cluster controller).

The Kubernetes target runs it in the ``llmstack-controller`` pod (``--spec`` the spec from
its ConfigMap, ``--data-dir`` its claim, ``--listen 0.0.0.0:9400``); it applies through the
path the spec's ``controller:`` section names and serves ``/metrics``, ``/healthz`` and
``/readyz``. ``--dry-run`` decides and audits but applies nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import typer
from prometheus_client import CollectorRegistry

from llmstack.cli import _policy as opts
from llmstack.cli.app import app
from llmstack.cli.output import clean
from llmstack.cli.prometheus_options import PrometheusOptions, prometheus_options
from llmstack.controller import process, service
from llmstack.errors import LlmstackError
from llmstack.policy import loop
from llmstack.policy.rules import load_policy
from llmstack.spec.loading import load_spec

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _namespace(flag: str | None) -> str:
    """``--namespace``, else ``POD_NAMESPACE`` (downward API), else the service account's namespace file."""
    if flag:
        return flag
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if NAMESPACE_FILE.exists():
        return NAMESPACE_FILE.read_text(encoding="utf-8").strip()
    return "llmstack"


@app.command()
@prometheus_options(url_required=False, url_help="Prometheus base URL (default: controller.prometheus_url)")
def controller(
    prom: PrometheusOptions,
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML (in the pod: its ConfigMap)"),
    policy: list[Path] = opts.POLICY,
    data_dir: Path = typer.Option(process.DATA_DIR, "--data-dir", help="audit log, state, desired replicas, clone"),
    listen: str = typer.Option("127.0.0.1:9400", "--listen", help="host:port of /metrics, /healthz, /readyz"),
    namespace: str | None = typer.Option(None, "--namespace", help="the controller's namespace (default: the pod's)"),
    interval: float | None = typer.Option(None, "--interval", min=1.0,
                                          help="seconds between cycles (default: controller.interval_s)"),
    cycles: int | None = typer.Option(None, "--cycles", min=1, help="stop after this many cycles"),
    dry_run: bool = typer.Option(False, "--dry-run", help="decide and audit, apply nothing"),
) -> None:
    """Run the policy loop in the cluster, applying through the controller's configured path."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stack = load_spec(spec)
    url = prom.url or stack.controller.prometheus_url
    if url is None:
        raise LlmstackError("no Prometheus URL", path="controller.prometheus_url",
                            hint="pass --prometheus or set controller.prometheus_url in the spec")
    reader = dataclasses.replace(prom, url=url).reader()
    paths = process.Paths(data_dir)
    registry = CollectorRegistry()
    backend, desired = process.build_backend(stack, paths, _namespace(namespace), registry)
    running = process.Controller(stack, load_policy(policy), reader, backend, paths, registry, desired, dry_run,
                                 prom.recording_rules)

    def show(result: loop.CycleResult) -> None:
        print(json.dumps(clean({"time": result.now, "outcome": process.outcome(result), "warnings": result.warnings,
                                "recommendations": [r.to_json() for r in result.recommendations]})), flush=True)

    running.run(interval_s=interval or stack.controller.interval_s, listen=service.parse_listen(listen),
                cycles=cycles, on_cycle=show)
