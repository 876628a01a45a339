"""Benchmark: one recommend cycle over 1,000 deployments against a real Prometheus.

A synthetic exporter on 127.0.0.1 serves vLLM-named series for N deployments (one replica
each, the ``deployment`` label in the exposition, ``honor_labels``); the Debian Prometheus
scrapes it every second. Measured, after the series have a few samples:

- batched: ``read_snapshots`` (one query per signal for all deployments) + ``evaluate``;
- per deployment: the same expressions restricted to one deployment each
  (:func:`llmstack.metrics.queries.for_deployment`), on a sample of deployments, scaled to N.

Writes benchmarks/results/recommend.json. Run: ``python benchmarks/bench_recommend.py``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmstack.metrics import queries, reading  # noqa: E402
from llmstack.policy import deciding  # noqa: E402
from llmstack.policy.rules import load_policy  # noqa: E402
from llmstack.policy.state import ScalingState  # noqa: E402
from llmstack.spec.models import StackSpec  # noqa: E402
from tests.policy.servers import running_prometheus  # noqa: E402

N = 1000
PER_DEPLOYMENT_SAMPLE = 50
BUCKETS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, "+Inf")


def stack(n: int) -> StackSpec:
    return StackSpec.model_validate({
        "name": "bench",
        "pools": [{"name": "l4", "accelerator": "L4", "gpus_per_node": 1, "nodes": {"min": 0, "max": 4 * n},
                   "cost_per_gpu_hour": 0.45}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B", "variants": [
            {"name": "awq", "weights": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
             "quantization": "awq_marlin"}]}],
        "deployments": [{"name": f"d{i:04d}", "model": "m", "variant": "awq", "pool": "l4",
                         "replicas": {"min": 1, "max": 8, "initial": 2},
                         "slo": {"ttft_p95_ms": 1000, "tpot_p95_ms": 60},
                         "engine": {"max_model_len": 8192, "max_num_seqs": 64}} for i in range(n)],
    })


class Synthetic:
    """vLLM-format text for n deployments; counters grow with wall time at per-deployment rates."""

    def __init__(self, n: int) -> None:
        rng = random.Random(7)
        self.rates = [rng.uniform(0.2, 6.0) for _ in range(n)]
        self.ttft = [rng.uniform(0.1, 2.5) for _ in range(n)]
        self.start = time.time()
        self.n = n

    def text(self) -> bytes:
        t = time.time() - self.start
        out: list[str] = []
        for i in range(self.n):
            lab = f'deployment="d{i:04d}"'
            done = self.rates[i] * t
            out.append(f"vllm:num_requests_running{{{lab}}} {8 + i % 20}")
            out.append(f"vllm:num_requests_waiting{{{lab}}} {i % 7}")
            out.append(f"vllm:kv_cache_usage_perc{{{lab}}} {0.2 + (i % 10) / 20}")
            out.append(f"vllm:request_success_total{{{lab}}} {done:.3f}")
            out.append(f"vllm:prompt_tokens_total{{{lab}}} {done * 1000:.1f}")
            out.append(f"vllm:generation_tokens_total{{{lab}}} {done * 250:.1f}")
            out.append(f"vllm:num_preemptions_total{{{lab}}} 0")
            for le in BUCKETS:
                share = 1.0 if le == "+Inf" or float(le) >= self.ttft[i] else 0.0
                out.append(f'vllm:time_to_first_token_seconds_bucket{{{lab},le="{le}"}} {done * share:.3f}')
                out.append(f'vllm:request_time_per_output_token_seconds_bucket{{{lab},le="{le}"}} {done:.3f}')
        return ("\n".join(out) + "\n").encode()


def serve(source: Synthetic) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = source.text()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    spec = stack(N)
    policy = load_policy(ROOT / "policies" / "default.yaml")
    expected = {d.name: 1 for d in spec.deployments}
    server = serve(Synthetic(N))
    port = server.server_address[1]
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [{
        "job_name": "synthetic", "honor_labels": True, "scrape_interval": "1s", "scrape_timeout": "1s",
        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}
    with tempfile.TemporaryDirectory() as tmp, running_prometheus(Path(tmp), config) as prom:
        prom.wait_for("count(sum by (deployment) (rate(vllm:request_success_total[1m])))",
                      lambda r: bool(r) and float(r[0]["value"][1]) == N, timeout=60)
        time.sleep(3)
        source = reading.PrometheusReader(prom.url, timeout_s=30)
        batched: list[float] = []
        read_only: list[float] = []
        recs = 0
        for _ in range(5):
            t0 = time.perf_counter()
            snaps = reading.read_snapshots(source, expected, time.time())
            t1 = time.perf_counter()
            ev = deciding.evaluate(snaps, ScalingState(), policy, spec, time.time())
            t2 = time.perf_counter()
            batched.append(t2 - t0)
            read_only.append(t1 - t0)
            recs = len(ev.recommendations)
        complete = sum(1 for s in snaps.values() if "request_rate" in s.values)
        cycle = queries.cycle_queries()
        sample = [d.name for d in spec.deployments[:PER_DEPLOYMENT_SAMPLE]]
        t0 = time.perf_counter()
        for name in sample:
            for q in cycle:
                source.query(queries.for_deployment(q.expr, name))
        per_sample = time.perf_counter() - t0
    server.shutdown()
    per_deployment_total = per_sample / len(sample) * N
    best = statistics.median(batched)
    result = {
        "deployments": N,
        "queries_per_cycle_batched": len(cycle),
        "queries_per_cycle_per_deployment": len(cycle) * N,
        "batched_cycle_s_median": round(best, 4),
        "batched_cycle_s_all": [round(x, 4) for x in batched],
        "batched_read_s_median": round(statistics.median(read_only), 4),
        "decide_s_median": round(best - statistics.median(read_only), 4),
        "deployments_with_data": complete,
        "recommendations": recs,
        "per_deployment_read_s_measured": round(per_sample, 3),
        "per_deployment_sample": len(sample),
        "per_deployment_read_s_scaled_to_n": round(per_deployment_total, 3),
        "speedup_read_only": round(per_deployment_total / statistics.median(read_only), 1),
        "speedup_full_cycle": round(per_deployment_total / best, 1),
        "prometheus": "/usr/bin/prometheus 2.42 (Debian), scrape_interval 1s, one synthetic target, honor_labels",
    }
    out = ROOT / "benchmarks" / "results" / "recommend.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
