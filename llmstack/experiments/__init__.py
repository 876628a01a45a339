"""Experiments: the composition layer where the simulator meets the policy engine.

``sim`` and ``policy`` never import each other (the import-linter contract in pyproject.toml);
what needs both lives here: :mod:`llmstack.experiments.registry` resolves ``--autoscaler NAME``
(the simulator's baselines and oracle, and ``policy:PATH``, the policy engine behind the
simulator's autoscaler interface), :mod:`llmstack.experiments.replay` runs and scores a trace
under named autoscalers (what ``llmstack simulate`` and the benchmarks share), and
:mod:`llmstack.experiments.plotting` draws the runs.
"""
