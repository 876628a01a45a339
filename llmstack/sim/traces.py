"""Request traces: public trace readers, time slicing, rate scaling and seeded synthetic generators.

Readers (each returns a :class:`Trace` with arrival times in seconds from the first request):

- Azure LLM inference CSV (``TIMESTAMP,ContextTokens,GeneratedTokens``; Splitwise, ISCA 2024);
  the conversation and code traces ship as package data, named ``azure-conv`` and ``azure-code``;
- BurstGPT CSV (``Timestamp, Session ID, Elapsed time, Model, Request tokens, Response tokens,
  Total tokens, Log Type``; timestamps in seconds);
- Mooncake JSONL (``timestamp`` in ms, ``input_length``, ``output_length``, ``hash_ids`` of
  512-token prefix blocks, which drive prefix-cache hits).

A malformed row (missing column, non-numeric or negative value, no output tokens, a timestamp
earlier than the row before, a value that is not finite or above :data:`MAX_TOKENS`, a row
more than :data:`MAX_DURATION_S` after the first) raises :class:`SpecError` naming the file and line, or is
skipped and counted in :attr:`Trace.skipped_rows` with ``skip_bad_rows=True``.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from llmstack.errors import SpecError
from llmstack.sim import lengths
from llmstack.spec.loading import read_text

MAX_REQUESTS = 2_000_000
"""Requests a trace may hold (read, generated or after rate scaling): beyond it a run would not end in useful time."""
MAX_DURATION_S = 31 * 86400.0
"""A trace spans at most 31 days (the public traces span hours to days)."""
MAX_TOKENS = lengths.MAX_LENGTH
"""Prompt or output tokens of one request: above any model's context window."""
MAX_SIGMA = 4.0
"""Lognormal sigma of synthetic token lengths (4 already spreads lengths over six orders of magnitude)."""

BUILTIN = {"azure-conv": "azure_conv.csv", "azure-code": "azure_code.csv"}
"""Traces shipped in ``llmstack/sim/data`` (Azure/AzurePublicDataset, CC-BY)."""


@dataclass(frozen=True, slots=True)
class TraceRequest:
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Trace:
    """Requests sorted by arrival time (seconds)."""

    name: str
    requests: tuple[TraceRequest, ...]
    skipped_rows: int = 0

    @property
    def duration_s(self) -> float:
        return self.requests[-1].arrival_s if self.requests else 0.0

    @property
    def mean_rate(self) -> float:
        return len(self.requests) / self.duration_s if self.duration_s > 0 else 0.0


class _BadRow(ValueError):
    pass


def _rows_to_trace(name: str, rows: Iterable[tuple[int, Callable[[], TraceRequest]]], skip_bad_rows: bool,
                   path: str) -> Trace:
    requests: list[TraceRequest] = []
    skipped = 0
    last = -math.inf
    for line, parse in rows:
        try:
            request = parse()
            if request.prompt_tokens < 1:
                raise _BadRow(f"prompt tokens must be >= 1, got {request.prompt_tokens}")
            if request.output_tokens < 1:
                raise _BadRow(f"output tokens must be >= 1, got {request.output_tokens}")
            if not math.isfinite(request.arrival_s):
                raise _BadRow("timestamp is not finite")
            if request.arrival_s < last:
                raise _BadRow("timestamp is earlier than the row before (trace must be sorted)")
            if requests and request.arrival_s - requests[0].arrival_s > MAX_DURATION_S:
                days = (request.arrival_s - requests[0].arrival_s) / 86400
                raise _BadRow(f"timestamp is {days:,.0f} days after the first row "
                              f"(a trace spans at most {MAX_DURATION_S / 86400:.0f} days)")
        except (_BadRow, ValueError, KeyError, TypeError, IndexError, RecursionError, OverflowError) as exc:
            if skip_bad_rows:
                skipped += 1
                continue
            raise SpecError(f"line {line}: {exc}", file=path,
                                hint="fix the row or pass --skip-bad-rows to skip and count bad rows") from None
        last = request.arrival_s
        requests.append(request)
        if len(requests) > MAX_REQUESTS:
            raise SpecError(f"line {line}: trace holds more than {MAX_REQUESTS:,} requests", file=path,
                            hint="cut it into slices")
    if not requests:
        raise SpecError("trace has no usable requests", file=path)
    origin = requests[0].arrival_s
    shifted = tuple(replace(r, arrival_s=r.arrival_s - origin) for r in requests)
    return Trace(name, shifted, skipped)


def _int(value: Any, what: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadRow(f"missing {what}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _BadRow(f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _BadRow(f"{what} {value!r} is not a finite number")
    if number > MAX_TOKENS:
        raise _BadRow(f"{what} {value!r} is above {MAX_TOKENS:,} tokens")
    if number != int(number):
        raise _BadRow(f"{what} {value!r} is not a whole number")
    if number < 0:
        raise _BadRow(f"{what} is negative ({value})")
    return int(number)


def _float(value: Any, what: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadRow(f"missing {what}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _BadRow(f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _BadRow(f"{what} {value!r} is not a finite number")
    return number


def _azure_time(text: str | None) -> float:
    if not text:
        raise _BadRow("missing TIMESTAMP")
    text = text.strip()
    # 7 fractional digits: keep microseconds for fromisoformat
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(\.\d+)?", text)
    if not match:
        raise _BadRow(f"TIMESTAMP {text!r} is not 'YYYY-MM-DD HH:MM:SS.fffffff'")
    base = datetime.fromisoformat(match.group(1)).timestamp()
    return base + (float(match.group(2)) if match.group(2) else 0.0)


def _csv_rows(path: Path, required: list[str]) -> tuple[csv.DictReader[str], Iterator[dict[str, str]]]:
    lines = read_text(path, "trace file").splitlines()
    reader = csv.DictReader(lines, skipinitialspace=True)
    try:
        fields = [f.strip() for f in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise SpecError(f"line 1: not CSV: {exc}", file=str(path)) from None
    missing = [c for c in required if c not in fields]
    if missing:
        raise SpecError(f"line 1: header lacks column(s) {missing}; it has {fields}", file=str(path))
    reader.fieldnames = fields
    return reader, _csv_checked(reader, path)


def _csv_checked(reader: csv.DictReader[str], path: Path) -> Iterator[dict[str, str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise SpecError(f"line {reader.line_num}: not CSV: {exc}", file=str(path)) from None


def read_azure(path: str | Path, *, skip_bad_rows: bool = False, name: str | None = None) -> Trace:
    """Azure LLM inference trace CSV: ``TIMESTAMP,ContextTokens,GeneratedTokens``."""
    path = Path(path)
    reader, rows = _csv_rows(path, ["TIMESTAMP", "ContextTokens", "GeneratedTokens"])

    def parsed() -> Iterator[tuple[int, Callable[[], TraceRequest]]]:
        for row in rows:
            def parse(row: dict[str, str] = row) -> TraceRequest:
                if None in row or any(row.get(k) is None for k in ("TIMESTAMP", "ContextTokens", "GeneratedTokens")):
                    raise _BadRow("wrong number of columns")
                return TraceRequest(_azure_time(row["TIMESTAMP"]), _int(row["ContextTokens"], "ContextTokens"),
                                    _int(row["GeneratedTokens"], "GeneratedTokens"))
            yield reader.line_num, parse

    return _rows_to_trace(name or path.stem, parsed(), skip_bad_rows, str(path))


BURSTGPT_COLUMNS = ["Timestamp", "Session ID", "Elapsed time", "Model", "Request tokens", "Response tokens",
                    "Total tokens", "Log Type"]


def read_burstgpt(path: str | Path, *, skip_bad_rows: bool = False, name: str | None = None) -> Trace:
    """BurstGPT CSV (timestamps in seconds); uses ``Timestamp``, ``Request tokens``, ``Response tokens``."""
    path = Path(path)
    reader, rows = _csv_rows(path, ["Timestamp", "Request tokens", "Response tokens"])

    def parsed() -> Iterator[tuple[int, Callable[[], TraceRequest]]]:
        for row in rows:
            def parse(row: dict[str, str] = row) -> TraceRequest:
                if None in row or any(v is None for v in row.values()):
                    raise _BadRow("wrong number of columns")
                return TraceRequest(_float(row["Timestamp"], "Timestamp"),
                                    _int(row["Request tokens"], "Request tokens"),
                                    _int(row["Response tokens"], "Response tokens"))
            yield reader.line_num, parse

    return _rows_to_trace(name or path.stem, parsed(), skip_bad_rows, str(path))


def read_mooncake(path: str | Path, *, skip_bad_rows: bool = False, name: str | None = None) -> Trace:
    """Mooncake JSONL: ``timestamp`` (ms), ``input_length``, ``output_length``, ``hash_ids``."""
    path = Path(path)
    text = read_text(path, "trace file")

    def parsed() -> Iterator[tuple[int, Callable[[], TraceRequest]]]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue

            def parse(line: str = line) -> TraceRequest:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _BadRow(f"not JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise _BadRow("not a JSON object")
                for key in ("timestamp", "input_length", "output_length"):
                    if key not in obj:
                        raise _BadRow(f"missing {key!r}")
                hashes = obj.get("hash_ids")
                if hashes is not None and (not isinstance(hashes, list)
                                           or not all(isinstance(h, int) for h in hashes)):
                    raise _BadRow("hash_ids must be a list of integers")
                return TraceRequest(_float(obj["timestamp"], "timestamp") / 1000.0,
                                    _int(obj["input_length"], "input_length"),
                                    _int(obj["output_length"], "output_length"),
                                    tuple(hashes) if hashes is not None else None)
            yield number, parse

    return _rows_to_trace(name or path.stem, parsed(), skip_bad_rows, str(path))


def builtin_path(name: str) -> Path:
    with resources.as_file(resources.files("llmstack.sim").joinpath("data").joinpath(BUILTIN[name])) as path:
        return Path(path)


def load_trace(source: str | Path, *, skip_bad_rows: bool = False) -> Trace:
    """A trace from a builtin name (``azure-conv``, ``azure-code``), a synthetic spec or a file.

    Synthetic specs: ``poisson:rate=5,duration=10m``, ``diurnal:rate=5,peak=3,period=1h,duration=2h``,
    ``bursts:rate=2,burst=10,every=10m,length=1m,duration=1h``, ``gaps:rate=1,on=10m,off=15m,duration=2h``
    (plus ``prompt=``, ``output=``, ``sigma=``, ``output_sigma=``, ``seed=``; output lengths spread by
    default, :class:`Spread`).
    Files: ``.jsonl`` is Mooncake; a CSV whose header has ``TIMESTAMP`` is Azure, ``Request tokens`` BurstGPT.
    """
    text = str(source)
    if text in BUILTIN:
        return read_azure(builtin_path(text), skip_bad_rows=skip_bad_rows, name=text)
    kind = text.split(":", 1)[0]
    if kind in SYNTHETIC and ":" in text and not Path(text).exists():
        return synthetic(text)
    path = Path(text)
    if not path.is_file():
        raise SpecError(f"trace {text!r} is neither a file nor a builtin trace",
                        hint=f"builtin traces: {', '.join(BUILTIN)}; "
                             f"synthetic: {', '.join(SYNTHETIC)}:key=value,...")
    if path.suffix in (".jsonl", ".json"):
        return read_mooncake(path, skip_bad_rows=skip_bad_rows)
    header = (read_text(path, "trace file").splitlines() or [""])[0]
    if "TIMESTAMP" in header:
        return read_azure(path, skip_bad_rows=skip_bad_rows)
    if "Request tokens" in header:
        return read_burstgpt(path, skip_bad_rows=skip_bad_rows)
    raise SpecError(f"unrecognised trace format (header {header.strip()[:80]!r})", file=str(path),
                        hint="expected Azure (TIMESTAMP,ContextTokens,GeneratedTokens), BurstGPT CSV or Mooncake JSONL")


# ---------------------------------------------------------------- transforms

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Seconds of ``90``, ``90s``, ``10m``, ``1.5h``, ``500ms``."""
    match = _DURATION.match(text)
    if not match:
        raise SpecError(f"{what} {text!r} is not a duration", hint="use e.g. 90s, 10m, 1h")
    scale = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[match.group(2)]
    return float(match.group(1)) * scale


def parse_slice(text: str) -> tuple[float, float]:
    """``10m..40m`` -> (600, 2400); either end may be empty (``..30m``, ``1h..``)."""
    if ".." not in text:
        raise SpecError(f"slice {text!r} has no '..'", path="slice", hint="use START..END, e.g. 10m..40m")
    start_text, end_text = text.split("..", 1)
    start = parse_duration(start_text, what="slice start") if start_text.strip() else 0.0
    end = parse_duration(end_text, what="slice end") if end_text.strip() else math.inf
    if end <= start:
        raise SpecError(f"slice {text!r} ends before it starts", path="slice")
    return start, end


def slice_trace(trace: Trace, start_s: float, end_s: float) -> Trace:
    """Requests arriving in [start, end), shifted so the slice starts at 0."""
    picked = tuple(replace(r, arrival_s=r.arrival_s - start_s) for r in trace.requests
                   if start_s <= r.arrival_s < end_s)
    if not picked:
        raise SpecError(f"slice {start_s:g}s..{end_s:g}s of {trace.name} holds no requests",
                            path="slice", hint=f"the trace lasts {trace.duration_s:.0f}s")
    return Trace(trace.name, picked, trace.skipped_rows)


def scale_rate(trace: Trace, factor: float, *, seed: int = 0) -> Trace:
    """The same duration and rate shape at ``factor`` times the rate.

    Each request is kept ``floor(factor)`` times, plus once more with probability ``frac(factor)``;
    extra copies arrive a uniform 0..2 mean gaps later, so scaling up does not create
    simultaneous arrivals. Seeded, so a run is reproducible.
    """
    if not (math.isfinite(factor) and factor > 0):
        raise SpecError(f"rate scale must be a finite number > 0, got {factor}", path="rate scale")
    if len(trace.requests) * factor > MAX_REQUESTS:
        raise SpecError(f"rate scale {factor:g} would give {len(trace.requests) * factor:.3g} requests "
                        f"(at most {MAX_REQUESTS:,})", path="rate scale", hint="scale a slice of the trace")
    if factor == 1:
        return trace
    rng = random.Random(seed)
    whole, frac = int(factor), factor - int(factor)
    gap = trace.duration_s / max(1, len(trace.requests) - 1)
    out: list[TraceRequest] = []
    for r in trace.requests:
        copies = whole + (1 if rng.random() < frac else 0)
        for c in range(copies):
            out.append(r if c == 0 else replace(r, arrival_s=r.arrival_s + rng.uniform(0, 2 * gap)))
    if not out:
        out.append(trace.requests[0])
    out.sort(key=lambda r: r.arrival_s)
    return Trace(f"{trace.name} x{factor:g}", tuple(out), trace.skipped_rows)


# ---------------------------------------------------------------- synthetic


def _check(name: str, key: str, value: float, low: float, high: float, *, low_open: bool = False) -> None:
    """``value`` finite and within low..high (``low_open``: above low), or one line naming the argument."""
    ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        sign = ">" if low_open else ">="
        upper = f" and <= {high:g}" if math.isfinite(high) else ""
        raise SpecError(f"{key}={value:g} is not allowed; use a finite number {sign} {low:g}{upper}",
                        path=f"synthetic trace {name}")


def _check_generator(name: str, peak_rate: float, duration_s: float, prompt: float, output: float,
                     spread: Spread) -> None:
    _check(name, "rate", peak_rate, 0.0, 1e6, low_open=True)
    _check(name, "duration", duration_s, 0.0, MAX_DURATION_S, low_open=True)
    _check(name, "prompt", prompt, 1.0, MAX_TOKENS)
    _check(name, "output", output, 1.0, MAX_TOKENS)
    for key, value in (("sigma", spread.sigma), ("output_sigma", spread.output_sigma)):
        if value is not None:
            _check(name, key, value, 0.0, MAX_SIGMA)
    if peak_rate * duration_s > MAX_REQUESTS:
        raise SpecError(f"rate x duration is {peak_rate * duration_s:.3g} requests (at most {MAX_REQUESTS:,})",
                        path=f"synthetic trace {name}", hint="lower the rate or the duration")


@dataclass(frozen=True)
class Spread:
    """Lognormal log-sds of a generator's token lengths.

    ``sigma`` (default 0: every prompt has the mean) spreads prompts and, unless ``output_sigma``
    is given, outputs too, drawn from the arrival stream as before. Given neither, outputs spread
    with the traces' fitted :data:`llmstack.sim.lengths.OUTPUT_SIGMA`; ``output_sigma`` (and that
    default) draw from a stream of their own, so the arrivals of a seed do not move.
    """

    sigma: float | None = None
    output_sigma: float | None = None

    def output_draws(self, arrivals: random.Random, seed: int) -> tuple[random.Random, float]:
        """The random stream and log-sd that output lengths come from."""
        if self.output_sigma is None and self.sigma is not None:
            return arrivals, self.sigma
        own = random.Random(f"output-lengths:{seed}")
        return own, lengths.OUTPUT_SIGMA if self.output_sigma is None else self.output_sigma


def _inhomogeneous(rate_at: Callable[[float], float], peak_rate: float, duration_s: float, prompt: float,
                   output: float, spread: Spread, seed: int, name: str) -> Trace:
    """Poisson arrivals with a time-varying rate (thinning), token lengths lognormal around their means."""
    _check_generator(name, peak_rate, duration_s, prompt, output, spread)
    rng = random.Random(seed)
    output_rng, output_sigma = spread.output_draws(rng, seed)
    prompt_sigma = spread.sigma or 0.0
    t = 0.0
    out: list[TraceRequest] = []
    while True:
        t += rng.expovariate(peak_rate)
        if t >= duration_s:
            break
        if rng.random() * peak_rate <= rate_at(t):
            out.append(TraceRequest(t, lengths.draw(rng, prompt, prompt_sigma),
                                    lengths.draw(output_rng, output, output_sigma)))
    if not out:
        raise SpecError(f"synthetic trace {name!r} produced no requests", hint="raise rate or duration")
    return Trace(name, tuple(out))


def poisson(rate: float, duration_s: float, *, prompt_tokens: float = 1024, output_tokens: float = 256,
            sigma: float | None = None, output_sigma: float | None = None, seed: int = 0) -> Trace:
    """Constant-rate Poisson arrivals (length spread: :class:`Spread`)."""
    return _inhomogeneous(lambda _t: rate, rate, duration_s, prompt_tokens, output_tokens,
                          Spread(sigma, output_sigma), seed, f"poisson {rate:g}/s")


def diurnal(rate: float, duration_s: float, *, peak: float = 3.0, period_s: float = 86400.0,
            prompt_tokens: float = 1024, output_tokens: float = 256, sigma: float | None = None,
            output_sigma: float | None = None, seed: int = 0) -> Trace:
    """A day-shaped rate: ``rate`` at the trough, ``peak`` x rate at the crest, one cycle per ``period_s``."""
    _check("diurnal", "period", period_s, 0.0, math.inf, low_open=True)
    _check("diurnal", "peak", peak, 0.0, 1e3)

    def rate_at(t: float) -> float:
        return rate * (1 + (peak - 1) * (1 - math.cos(2 * math.pi * t / period_s)) / 2)

    return _inhomogeneous(rate_at, rate * max(1.0, peak), duration_s, prompt_tokens, output_tokens,
                          Spread(sigma, output_sigma), seed, f"diurnal {rate:g}/s x{peak:g}")


def bursts(rate: float, duration_s: float, *, burst: float = 5.0, every_s: float = 600.0, length_s: float = 60.0,
           start_s: float | None = None, prompt_tokens: float = 1024, output_tokens: float = 256,
           sigma: float | None = None, output_sigma: float | None = None, seed: int = 0) -> Trace:
    """A base rate with bursts of ``burst`` x rate lasting ``length_s``, one every ``every_s`` from ``start_s``."""
    _check("bursts", "every", every_s, 0.0, math.inf, low_open=True)
    _check("bursts", "length", length_s, 0.0, math.inf)
    _check("bursts", "burst", burst, 0.0, 1e3)
    if start_s is not None:
        _check("bursts", "start", start_s, 0.0, math.inf)
    first = every_s / 2 if start_s is None else start_s

    def rate_at(t: float) -> float:
        in_burst = t >= first and (t - first) % every_s < length_s
        return rate * burst if in_burst else rate

    return _inhomogeneous(rate_at, rate * max(1.0, burst), duration_s, prompt_tokens, output_tokens,
                          Spread(sigma, output_sigma), seed, f"bursts {rate:g}/s x{burst:g}")


def gaps(rate: float, duration_s: float, *, on_s: float = 600.0, off_s: float = 900.0,
         prompt_tokens: float = 1024, output_tokens: float = 256, sigma: float | None = None,
         output_sigma: float | None = None, seed: int = 0) -> Trace:
    """``rate`` for ``on_s``, then no arrivals at all for ``off_s``, repeated (a model idle between uses)."""
    _check("gaps", "on", on_s, 0.0, math.inf, low_open=True)
    _check("gaps", "off", off_s, 0.0, math.inf)

    def rate_at(t: float) -> float:
        return rate if t % (on_s + off_s) < on_s else 0.0

    return _inhomogeneous(rate_at, rate, duration_s, prompt_tokens, output_tokens, Spread(sigma, output_sigma),
                          seed, f"gaps {rate:g}/s {on_s:g}s on {off_s:g}s off")


SYNTHETIC = {"poisson": poisson, "diurnal": diurnal, "bursts": bursts, "gaps": gaps}
_DURATION_KEYS = {"duration": "duration_s", "period": "period_s", "every": "every_s", "length": "length_s",
                  "start": "start_s", "on": "on_s", "off": "off_s"}
_FLOAT_KEYS = {"rate": "rate", "peak": "peak", "burst": "burst", "prompt": "prompt_tokens",
               "output": "output_tokens", "sigma": "sigma",
               "output_sigma": "output_sigma"}


def synthetic(text: str) -> Trace:
    """Parse ``kind:key=value,...`` (see :func:`load_trace`) and generate the trace."""
    kind, _, args = text.partition(":")
    generator = SYNTHETIC[kind]
    kwargs: dict[str, Any] = {}
    for part in filter(None, (a.strip() for a in args.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise SpecError(f"synthetic trace argument {part!r} is not key=value", path="synthetic trace")
        try:
            if key in _DURATION_KEYS:
                kwargs[_DURATION_KEYS[key]] = parse_duration(value, what=key)
            elif key in _FLOAT_KEYS:
                kwargs[_FLOAT_KEYS[key]] = float(value)
            elif key == "seed":
                kwargs["seed"] = int(value)
            else:
                raise SpecError(f"unknown synthetic trace argument {key!r}", path="synthetic trace",
                                    hint=f"known: {sorted([*_DURATION_KEYS, *_FLOAT_KEYS, 'seed'])}")
        except ValueError:
            raise SpecError(f"synthetic trace argument {part!r} has a bad value", path="synthetic trace") from None
    for required in ("rate", "duration_s"):
        if required not in kwargs:
            raise SpecError(f"synthetic trace {text!r} needs {required.removesuffix('_s')}=", path="synthetic trace")
    try:
        trace: Trace = generator(**kwargs)
    except TypeError as exc:
        raise SpecError(f"synthetic trace {text!r}: {exc}", path="synthetic trace") from None
    return trace
