"""Hypothesis fuzzing of spec loading, trace parsing and the CLI arguments: no traceback, no hang.

Design note: each property feeds hostile input to the real entry point and allows exactly two
endings: a result, or an :class:`LlmstackError` (the CLI: ``SystemExit`` with code 0 or 2 and,
for 2, one error line). Any other exception is a traceback and fails the example; a 10 s alarm
per example (:func:`tests.cli.hostile.time_limit`) turns a hang into a failure. Specs are the
example spec with fields replaced by hostile values (and raw bytes); traces are Azure CSVs with
hostile cells, synthetic specs with hostile arguments and rate scales; argv is drawn from the
commands' own options and hostile values. Runs are derandomized (the same cases in CI), and the
examples run are counted in ``COUNTS`` and printed (``pytest -s``) for the issue's note;
``LLMSTACK_FUZZ_SCALE`` multiplies the examples (and, above 1, draws new ones each run).
"""

from __future__ import annotations

import copy
import math
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmstack.cli._checks import preflight
from llmstack.errors import LlmstackError
from llmstack.sim import traces
from llmstack.spec.loading import load_spec, parse_spec
from tests.cli.hostile import run, time_limit
from tests.conftest import EXAMPLE_SPEC

COUNTS: Counter[str] = Counter()
SCALE = int(os.environ.get("LLMSTACK_FUZZ_SCALE", "1"))
"""Multiplies every property's examples (a long local run: LLMSTACK_FUZZ_SCALE=20)."""
FUZZ = settings(derandomize=SCALE == 1, database=None, deadline=None, suppress_health_check=list(HealthCheck))
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE_SPEC.read_text())

HOSTILE_NUMBERS = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 3, 10**9, 10**12, 2**63, 1e300, -0.0, True, False]))
HOSTILE_VALUES = st.one_of(
    HOSTILE_NUMBERS, st.none(), st.text(max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), st.sampled_from(["", "x" * 300, "\x00", "🙂"]))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of the example spec (mapping keys and list indexes)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


PATHS = list(_paths(BASE))


def _replaced(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print("\nfuzz cases run:", dict(COUNTS), "total", sum(COUNTS.values()))


@settings(FUZZ, max_examples=250 * SCALE)
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), HOSTILE_VALUES), min_size=1, max_size=3))
def test_spec_with_hostile_fields_loads_or_one_error(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    COUNTS["spec fields"] += 1
    data = BASE
    for path, value in edits:
        try:
            data = _replaced(path, value) if data is BASE else _apply(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed the path
    text = yaml.safe_dump(data, allow_unicode=True)
    with time_limit(10):
        try:
            preflight(parse_spec(text, "fuzz.yaml"), "fuzz.yaml")
        except LlmstackError as exc:
            assert "\n" not in exc.render()


def _apply(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@settings(FUZZ, max_examples=200 * SCALE)
@given(raw=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode),
                     st.builds(lambda cut, junk: EXAMPLE_SPEC.read_bytes()[:cut] + junk,
                               st.integers(0, 3000), st.binary(max_size=20))))
def test_spec_file_of_any_bytes_loads_or_one_error(raw: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    COUNTS["spec bytes"] += 1
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_bytes(raw)
    with time_limit(10):
        try:
            load_spec(path)
        except LlmstackError as exc:
            assert "\n" not in exc.render()


CELL = st.one_of(st.sampled_from(["inf", "-inf", "nan", "1e300", "-3", "0", "1.5", "", " ", "10", "\x7f", "x,y",
                                  "9999-12-31 23:59:59.0000000", "2023-11-16 18:15:50.5730300", '"q"']),
                 st.text(max_size=12), st.integers(-10, 10**12).map(str))


@settings(FUZZ, max_examples=300 * SCALE)
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), min_size=0, max_size=6), skip=st.booleans(),
       bom=st.booleans())
def test_azure_trace_with_hostile_cells_parses_or_one_error(rows: list[tuple[str, str, str]], skip: bool, bom: bool,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    COUNTS["trace rows"] += 1
    body = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
    body += "".join(",".join(row) + "\n" for row in rows)
    path = tmp_path_factory.mktemp("trace") / "trace.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8", "surrogatepass"))
    with time_limit(10):
        try:
            trace = traces.load_trace(path, skip_bad_rows=skip)
        except LlmstackError as exc:
            assert "\n" not in exc.render()
            return
    assert trace.requests and trace.duration_s <= traces.MAX_DURATION_S
    assert all(1 <= r.prompt_tokens <= traces.MAX_TOKENS for r in trace.requests)


ARG = st.one_of(st.sampled_from(["nan", "inf", "-inf", "0", "0s", "-1", "1e9", "1e300", "1e-300", "", "5", "1m",
                                 "10m", "2h", "abc", "1.5", "9" * 30]),
                st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=6))
SYNTH_KEYS = ["rate", "duration", "sigma", "prompt", "output", "period", "every", "length", "peak", "burst",
              "start", "seed", "bogus"]


@settings(FUZZ, max_examples=300 * SCALE)
@given(kind=st.sampled_from(["poisson", "diurnal", "bursts"]),
       args=st.dictionaries(st.sampled_from(SYNTH_KEYS), ARG, max_size=6),
       scale=st.floats(allow_nan=True, allow_infinity=True))
def test_synthetic_trace_and_rate_scale_or_one_error(kind: str, args: dict[str, str], scale: float) -> None:
    COUNTS["synthetic traces"] += 1
    text = f"{kind}:" + ",".join(f"{k}={v}" for k, v in args.items())
    with time_limit(10):
        try:
            trace = traces.load_trace(text)
            scaled = traces.scale_rate(trace, scale)
        except LlmstackError as exc:
            assert "\n" not in exc.render()
            return
    assert len(scaled.requests) <= traces.MAX_REQUESTS and math.isfinite(scale)


OPTIONS: dict[str, list[str]] = {
    "plan": ["--rps", "--prompt-tokens", "--output-tokens", "--deployment", "--declared-only", "--json"],
    "render": ["--target", "--scaling", "--json"],
    "simulate": ["--deployment", "--trace", "--slice", "--rate-scale", "--autoscaler", "--compare", "--balancer",
                 "--startup-delay", "--interval", "--seed", "--skip-bad-rows", "--json"],
}


@settings(FUZZ, max_examples=60 * SCALE)
@given(command=st.sampled_from(sorted(OPTIONS)), data=st.data())
def test_cli_arguments_exit_cleanly(command: str, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
                                    ) -> None:
    COUNTS["cli argv"] += 1
    out = tmp_path_factory.mktemp("out")
    argv = [command, "--spec", str(EXAMPLE_SPEC)]
    argv += {"render": ["--out", str(out)], "simulate": ["--deployment", "chat", "--trace",
                                                          "poisson:rate=2,duration=2m"]}.get(command, [])
    for option in data.draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=3)):
        argv += [option] if option in ("--json", "--declared-only", "--skip-bad-rows") else [option, data.draw(ARG)]
    outcome = run(argv, limit_s=15)
    assert outcome.code in (0, 2), (argv, outcome.stderr[-2000:])
    if outcome.code == 2 and "--json" not in argv:
        assert outcome.lines and ("error" in outcome.lines[-1].lower() or "usage" in outcome.stderr.lower())
