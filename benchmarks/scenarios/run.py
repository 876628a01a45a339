"""The scenario matrix: the shipped policy vs the oracle, HPA, KEDA, saturation and the best static fleet.

8 stacks (benchmarks/scenarios/stacks.yaml) x 8 traces (MATRIX_TRACES of llmstack/experiments/scenarios.py;
``--traces`` picks some), each 10 minutes, every trace scaled to the stack.
Writes benchmarks/results/scenarios.md and scenarios.json. The policy (one file, policies/default.yaml)
was tuned on the tuning cells only (TUNING_STACKS x TUNING_TRACES); the table reports both sets apart.
Oracle and baseline scores are cached in .llmstack/scenario-cache (keyed by the scenario and the
simulator's source), so a policy change re-runs only the policy.

Run: ``python benchmarks/scenarios/run.py [--only tuning|held-out] [--policy PATH]``. The fresh held-out
set (stacks written after the last policy change): ``--spec benchmarks/scenarios/fresh-stacks.yaml --out
scenarios-fresh`` (benchmarks/results/scenarios-fresh.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llmstack.experiments import scenarios as sc  # noqa: E402
from llmstack.fileio import atomic_write_text  # noqa: E402
from llmstack.spec.loading import load_spec  # noqa: E402

STACKS = ROOT / "benchmarks" / "scenarios" / "stacks.yaml"
DATA = ROOT / "benchmarks" / "scenarios" / "data"
CACHE = ROOT / ".llmstack" / "scenario-cache"
RESULTS = ROOT / "benchmarks" / "results"
OUT = "scenarios"
"""The results' file name in benchmarks/results (.md and .json)."""
NAMES = ("policy", "oracle", sc.NO_FORESIGHT, sc.NOW_HELD, "hpa", "keda", "saturation", "static")


def _row(r: sc.ScenarioResult) -> str:
    cells = []
    for n in NAMES:
        c = r.cells.get(n)
        cells.append("-" if c is None else f"{c.attainment:.1%} / {c.gpu_hours:.2f}")
    ratio = r.cells["policy"].gpu_hours / max(1e-9, r.cells["oracle"].gpu_hours)
    return (f"| {r.stack} | {r.trace} | {r.requests} | {r.startup_s:.0f} | " + " | ".join(cells)
            + f" | {r.best_static if r.best_static is not None else '-'} | {r.bound_gpu_hours:.2f} "
            f"| {r.bound_declared_gpu_hours:.2f} | {ratio:.2f} | {_verdict(r)} |")


def _verdict(r: sc.ScenarioResult) -> str:
    pol, ora, hpa = r.cells["policy"], r.cells["oracle"], r.cells["hpa"]
    misses = []
    if ora.attainment >= sc.TARGET and pol.attainment < sc.TARGET:
        now, held = r.cells.get(sc.NO_FORESIGHT), r.cells.get(sc.NOW_HELD)
        blind = now is not None and now.attainment < sc.TARGET
        also = f", held {held.attainment:.1%}" if held is not None else ""
        misses.append(f"attainment (oracle without foresight {now.attainment:.1%}{also})" if blind and now
                      else "attainment")
    ratio = pol.gpu_hours / max(1e-9, ora.gpu_hours)
    if ratio > 1.5:
        misses.append("GPU-h > 1.5x")
    if pol.gpu_hours > hpa.gpu_hours * 1.0001 and hpa.attainment >= pol.attainment:
        misses.append("over HPA")
    return "ok" if not misses else "miss: " + ", ".join(misses)


def _reproduce_args(spec: Path, out: str, duration_s: float) -> str:
    """The arguments that reproduce a table of ``spec``'s stacks over ``duration_s`` written to ``out`` (none for
    the main matrix)."""
    minutes = "" if duration_s == sc.DURATION_S else f" --minutes {duration_s / 60:g}"
    if spec.resolve() == STACKS.resolve() and out == OUT:
        return minutes
    shown = spec.resolve().relative_to(ROOT) if spec.resolve().is_relative_to(ROOT) else spec
    return f" --spec {shown} --out {out}{minutes}"


def _summary_lines(label: str, results: list[sc.ScenarioResult]) -> list[str]:
    if not results:
        return []
    s = sc.summarize(results)
    return [f"**{label}** ({s.scenarios} scenarios): oracle reaches 99 % in {s.oracle_reaches}, the policy too in "
            f"{s.policy_reaches} of those; policy GPU-h / oracle GPU-h median {s.median_ratio:.2f} (target <= 1.15), "
            f"worst {s.worst_ratio:.2f} on {s.worst_scenario} (target <= 1.5); more GPU-h than HPA at HPA's equal or "
            f"better attainment: {len(s.hpa_violations)} ({', '.join(s.hpa_violations) or 'none'}). Without foresight "
            f"the oracle's own fleet misses 99 % in {s.need_foresight} of the {s.oracle_reaches}; where it does not, "
            f"the policy reaches 99 % in {s.policy_reaches_without_foresight} of "
            f"{s.oracle_reaches - s.need_foresight}. Knowing the present exactly and holding each count "
            f"{sc.HOLD_STARTUPS:g} start-ups ({sc.NOW_HELD}) reaches 99 % in {s.held_reaches} of the "
            f"{s.oracle_reaches}. The best static fleet (sized in hindsight) reaches the policy's "
            f"attainment or better with fewer GPU-h in {len(s.static_wins)}.", ""]


def table(results: list[sc.ScenarioResult], seconds: float, spec: Path = STACKS, out: str = OUT,
          duration_s: float = sc.DURATION_S) -> str:
    header = ["| stack | trace | requests | start-up s | " + " | ".join(f"{n} att / GPU-h" for n in NAMES)
              + " | best static | bound GPU-h | declared-shape bound GPU-h | policy/oracle | verdict |",
              "|" + "---|" * (len(NAMES) + 9)]
    lines = ["# Scenario matrix: one policy file, tuning and held-out scenarios", "",
             f"Reproduce: `python benchmarks/scenarios/run.py{_reproduce_args(spec, out, duration_s)}` "
             f"({seconds:.0f} s here, "
             "with cached oracle and baselines; a cold run simulates each scenario about 15 times). Each cell: "
             "SLO attainment (TTFT and TPOT both within the deployment's SLO, share of all requests) / "
             "GPU-hours. Every trace lasts "
             f"{duration_s / 60:.0f} minutes and is scaled to the stack (mean rate = load x one replica's "
             "saturation rate for the trace's mean request); replicas start after the capacity model's start-up "
             "estimate (llmstack/capacity/startup.py); every controller starts warm with the replicas the oracle "
             "has up at t=0 (static: its own count). `oracle-now` is the oracle's own per-interval fleet with "
             "each interval's count asked for only when the interval begins (the present load known exactly, "
             "nothing of the future): where it misses 99 % and the oracle does not, meeting the SLO takes "
             "foresight or standing headroom a start-up long, which no reactive controller has. "
             f"`{sc.NOW_HELD}`: the same, each count held {sc.HOLD_STARTUPS:g} start-ups after it was needed (the "
             "scale-in stabilization the policy and HPA have); where the policy reaches 99 % and it does not, the "
             "policy's headroom bought the attainment. bound GPU-h: "
             "GPU-hours below which no schedule reaches the oracle's attainment, whatever replica counts it runs "
             "and whichever of the deployment's candidate shapes (capacity.planning.shapes: variants x pools x TP) "
             "it moves between (llmstack/sim/bound.py, proof in its docstring); declared-shape bound GPU-h: the "
             "same for schedules that never move.", "",
             f"Tuning set: stacks {', '.join(sc.TUNING_STACKS)} x traces {', '.join(sc.TUNING_TRACES)}. Everything "
             "else is held out: policies/default.yaml was changed only while looking at the tuning rows.", ""]
    for split in ("tuning", "held-out"):
        part = [r for r in results if r.split == split]
        if not part:
            continue
        lines += [f"## {split}", "", *_summary_lines(split, part), *header, *(_row(r) for r in part), ""]
    lines += ["## all", "", *_summary_lines("all", results)]
    moved = [(r, r.cells["policy"]) for r in results if r.cells["policy"].moves]
    lines += ["", "## the policy's vertical and variant moves", ""]
    lines += [f"- {r.stack} / {r.trace}: " + "; ".join(c.moves) for r, c in moved] or ["- none"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("tuning", "held-out"))
    parser.add_argument("--policy", default="policies/default.yaml")
    parser.add_argument("--stacks", help="comma-separated deployment names (default: all)")
    parser.add_argument("--traces", help="comma-separated trace names (default: MATRIX_TRACES)")
    parser.add_argument("--no-write", action="store_true", help="print only (for tuning runs)")
    parser.add_argument("--spec", type=Path, default=STACKS, help="the stacks (default: stacks.yaml)")
    parser.add_argument("--out", default=OUT, help="results file name in benchmarks/results (default: scenarios)")
    parser.add_argument("--minutes", type=float, default=sc.DURATION_S / 60,
                        help=f"each trace's length (default: {sc.DURATION_S / 60:g})")
    args = parser.parse_args()
    if not args.minutes > 0:
        parser.error(f"--minutes {args.minutes:g}: each trace needs a positive length in minutes")
    stack = load_spec(args.spec)
    wanted_stacks = args.stacks.split(",") if args.stacks else [d.name for d in stack.deployments]
    wanted_traces = args.traces.split(",") if args.traces else sc.MATRIX_TRACES
    cases = [c for c in sc.TRACES if c.name in wanted_traces]
    todo = [(d, c) for d in wanted_stacks for c in cases if not args.only or sc.split_of(d, c.name) == args.only]
    started = time.monotonic()
    results = []
    for i, (dep, case) in enumerate(todo, 1):
        t0 = time.monotonic()
        r = sc.run_scenario(stack, dep, case, f"policy:{args.policy}", DATA, cache=CACHE,
                            duration_s=args.minutes * 60)
        results.append(r)
        pol, ora = r.cells["policy"], r.cells["oracle"]
        print(f"[{i}/{len(todo)}] {dep} / {case.name}: policy {pol.attainment:.1%} {pol.gpu_hours:.2f} GPU-h, "
              f"oracle {ora.attainment:.1%} {ora.gpu_hours:.2f} GPU-h ({time.monotonic() - t0:.0f} s) {_verdict(r)}",
              flush=True)
    text = table(results, time.monotonic() - started, args.spec, args.out, args.minutes * 60)
    if not args.no_write:
        atomic_write_text(RESULTS / f"{args.out}.md", text + "\n")
        atomic_write_text(RESULTS / f"{args.out}.json", json.dumps([r.to_json() for r in results], indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
