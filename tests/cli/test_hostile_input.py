"""Hostile specs, traces and arguments: one line naming the file/field/value, exit 2, no traceback, no hang.

Design note: every case runs the real CLI in this process (:mod:`tests.cli.hostile`) under a
20 s alarm. Specs are the example spec with one field made hostile; traces are tiny Azure CSVs
or synthetic specs. ``expect`` is a piece of the one error line: the file or field it names and
the value or rule. The BOM cases must succeed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.hostile import run
from tests.conftest import EXAMPLE_SPEC

GOOD = EXAMPLE_SPEC.read_text()
AZURE_HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"


def _spec(edit: Callable[[str], str] | bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "spec.yaml"
        path.write_bytes(edit if isinstance(edit, bytes) else edit(GOOD).encode())
        return path
    return make


SPECS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "binary": (_spec(b"\x00\x01\xff\xfe" * 64), "spec.yaml: spec file is binary"),
    "invalid-utf8": (_spec(GOOD.encode() + b"\n# \xff\xfe\n"), "spec.yaml: spec file is not UTF-8"),
    "requests-per-s-inf": (_spec(lambda t: t.replace("requests_per_s: 2.0", "requests_per_s: .inf", 1)),
                           "workload.requests_per_s: inf is not allowed"),
    "requests-per-s-nan": (_spec(lambda t: t.replace("requests_per_s: 2.0", "requests_per_s: .nan", 1)),
                           "workload.requests_per_s: nan is not allowed"),
    "cost-inf": (_spec(lambda t: re.sub(r"cost_per_gpu_hour: [\d.]+", "cost_per_gpu_hour: .inf", t, count=1)),
                 "pools[h100].cost_per_gpu_hour: inf is not allowed"),
    "duplicate-key": (_spec(lambda t: t.replace("  - name: chat\n", "  - name: chat\n    name: chat2\n", 1)),
                      "duplicate key 'name'"),
    "gpus-per-node-true": (_spec(lambda t: re.sub(r"gpus_per_node: \d+", "gpus_per_node: true", t, count=1)),
                           "pools[h100].gpus_per_node: true is a boolean"),
    "nodes-max-1e12": (_spec(lambda t: t.replace("nodes: {min: 1, max: 4}", "nodes: {min: 1, max: 1000000000000}")),
                       "pools[h100].nodes.max: 1000000000000 is out of range"),
    "replicas-max-1e9": (_spec(lambda t: t.replace("max: 8, initial: 2", "max: 1000000000, initial: 2", 1)),
                         "deployments[chat].replicas.max: 1000000000 is out of range"),
    "tp3-on-32-heads": (_spec(lambda t: t.replace("tensor_parallel: 1", "tensor_parallel: 3", 1)),
                        "deployments[chat].tensor_parallel: 3 does not divide"),
    "max-model-len-1e9": (_spec(lambda t: t.replace("max_model_len: 8192", "max_model_len: 1000000000", 1)),
                          "engine.max_model_len: 1000000000 is out of range"),
    "more-gpus-than-pool": (_spec(lambda t: t.replace("replicas: {min: 1, max: 8, initial: 2}",
                                                      "replicas: {min: 20, max: 30, initial: 20}", 1)),
                            "pools[l4].nodes.max: minimum replicas need"),
    "not-a-mapping": (_spec(lambda t: "- just\n- a list\n"), "a stack spec is a YAML mapping"),
    "deep-nesting": (_spec(lambda t: "a: " + "[" * 5000 + "]" * 5000 + "\n"), "spec.yaml"),
}


@pytest.mark.parametrize("command", ["plan", "render"])
@pytest.mark.parametrize("case", list(SPECS))
def test_hostile_spec_is_one_line_exit_2(case: str, command: str, tmp_path: Path) -> None:
    make, expect = SPECS[case]
    spec = make(tmp_path)
    extra = ["--out", str(tmp_path / "out")] if command == "render" else []
    outcome = run([command, "--spec", str(spec), *extra])
    assert outcome.code == 2, outcome.stderr
    assert len(outcome.lines) == 1 and outcome.lines[0].startswith("error: "), outcome.stderr
    assert expect in outcome.lines[0]
    assert not (tmp_path / "out").exists()  # no partial write


def _trace(text: str | bytes) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        path = tmp / "trace.csv"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)
    return make


def _literal(text: str) -> Callable[[Path], str]:
    return lambda tmp: text


TRACES: dict[str, tuple[Callable[[Path], str], list[str], str]] = {
    "binary-trace": (_trace(b"\x00\x9f" * 500), [], "trace.csv: trace file is binary"),
    "invalid-utf8-trace": (_trace(AZURE_HEAD.encode() + b"2023-11-16 18:15:47.0,3\xff,2\n"), [],
                           "trace.csv: trace file is not UTF-8"),
    "context-tokens-inf": (_trace(AZURE_HEAD + "2023-11-16 18:15:50.5730300,inf,2\n"), [],
                           "trace.csv: line 3: ContextTokens 'inf' is not a finite number"),
    "row-dated-9999": (_trace(AZURE_HEAD + "9999-12-31 23:59:59.0000000,10,2\n"), [],
                       "line 3: timestamp is 2,913,219 days after the first row"),
    "tokens-1e300": (_trace(AZURE_HEAD + "2023-11-16 18:15:50.5730300,1e300,2\n"), [],
                     "ContextTokens '1e300' is above 10,000,000 tokens"),
    "sigma-nan": (_literal("poisson:rate=5,duration=1m,sigma=nan"), [], "sigma=nan is not allowed"),
    "prompt-0-sigma-1": (_literal("poisson:rate=5,duration=1m,prompt=0,sigma=1"), [], "prompt=0 is not allowed"),
    "period-0s": (_literal("diurnal:rate=5,period=0s,duration=1m"), [], "period=0 is not allowed"),
    "every-0s": (_literal("bursts:rate=5,every=0s,duration=1m"), [], "every=0 is not allowed"),
    "rate-nan": (_literal("poisson:rate=nan,duration=1m"), [], "rate=nan is not allowed"),
    "rate-inf": (_literal("poisson:rate=inf,duration=1m"), [], "rate=inf is not allowed"),
    "rate-1e9": (_literal("poisson:rate=1e9,duration=1h"), [], "rate=1e+09 is not allowed"),
    "rate-x-duration": (_literal("poisson:rate=1000,duration=700h"), [], "rate x duration is 2.52e+09 requests"),
    "rate-scale-nan": (_literal("azure-conv"), ["--rate-scale", "nan"], "--rate-scale: 'nan' is not a finite number"),
    "rate-scale-inf": (_literal("azure-conv"), ["--rate-scale", "inf"], "--rate-scale: 'inf' is not a finite number"),
    "rate-scale-1e300": (_literal("azure-conv"), ["--rate-scale", "1e300"], "rate scale 1e+300 would give"),
    "rate-scale-negative": (_literal("azure-conv"), ["--rate-scale=-2"], "rate scale must be a finite number > 0"),
    "interval-nan": (_literal("azure-conv"), ["--interval", "nan"], "--interval: 'nan' is not a finite number"),
}


@pytest.mark.parametrize("case", list(TRACES))
def test_hostile_trace_or_argument_is_one_line_exit_2(case: str, tmp_path: Path) -> None:
    make, extra, expect = TRACES[case]
    outcome = run(["simulate", "--spec", str(EXAMPLE_SPEC), "--deployment", "chat", "--trace", make(tmp_path),
                   "--autoscaler", "static:2", *extra])
    assert outcome.code == 2, outcome.stderr
    assert len(outcome.lines) == 1 and outcome.lines[0].startswith("error: "), outcome.stderr
    assert expect in outcome.lines[0]


def test_utf8_bom_spec_and_csv_accepted(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    trace = tmp_path / "trace.csv"
    trace.write_bytes(b"\xef\xbb\xbf" + (AZURE_HEAD + "2023-11-16 18:15:50.5730300,100,20\n").encode())
    assert run(["plan", "--spec", str(spec), "--json"]).code == 0
    outcome = run(["simulate", "--spec", str(spec), "--deployment", "chat", "--trace", str(trace),
                   "--autoscaler", "static:1", "--json"])
    assert outcome.code == 0, outcome.stderr
