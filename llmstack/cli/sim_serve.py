"""``llmstack sim serve``: simulated vLLM replicas as HTTP servers on 127.0.0.1 (live mode)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from llmstack import yaml_text
from llmstack.artifacts import prometheus
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.fileio import atomic_write_text
from llmstack.sim.server import LiveFleet
from llmstack.spec.loading import load_spec

sim_app = typer.Typer(help="Fleet simulator: live simulated replicas.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")


@sim_app.command("serve")
def serve(
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML"),
    deployment: str = typer.Option(..., "--deployment", help="deployment to simulate"),
    replicas: int = typer.Option(1, "--replicas", min=1, max=256, help="simulated replicas to start"),
    port_base: int = typer.Option(8000, "--port-base", min=0, max=65535, help="first port (0: any free ports)"),
    time_factor: float = typer.Option(1.0, "--time-factor", help="simulated seconds per real second"),
    duration: float | None = typer.Option(None, "--duration", min=0, help="stop after this many seconds"),
    scrape_config: Path | None = typer.Option(None, "--scrape-config", help="also write the scrape config here"),
    as_json: bool = typer.Option(False, "--json", help="print the ports and the scrape config as JSON"),
) -> None:
    """Serve /v1/completions, /v1/chat/completions, /health, /v1/models and vLLM-format /metrics until Ctrl-C;
    prints a prometheus.yml that scrapes the replicas with the labels the policy engine's queries use."""
    stack = load_spec(spec)
    fleet = LiveFleet(stack, deployment, replicas=replicas, port_base=port_base, time_factor=time_factor)
    ports = fleet.start()
    try:
        config = prometheus.build_prometheus_config(
            stack, prometheus.ScrapeTargets.static({deployment: [f"127.0.0.1:{p}" for p in ports]}), rule_files=[])
        text = yaml_text.dump(config)
        if scrape_config is not None:
            atomic_write_text(scrape_config, text)
        if as_json:
            print_json({"deployment": deployment, "ports": ports, "scrape_config": config})
        else:
            for port in ports:
                console.print(f"{deployment} replica on http://127.0.0.1:{port} (metrics: /metrics)")
            console.print("prometheus.yml for these replicas (prometheus --config.file=prometheus.yml):",
                          highlight=False)
            print(text, flush=True)
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            time.sleep(0.2)
    finally:
        fleet.stop()
