"""Token-length spread of simulated requests: a lognormal fitted to the public traces (pure, seeded).

Where a workload gives only a mean output length (the synthetic generators of
:mod:`llmstack.sim.traces`, a chat reply the simulated replica ends by itself), the simulator
draws each request's output length from a lognormal with that mean and log-standard-deviation
:data:`OUTPUT_SIGMA`, instead of giving every request the mean.

Why a lognormal with sigma 0.85: it is the maximum-likelihood lognormal fit (sigma = the standard
deviation of log length) of the output lengths in both Azure LLM inference traces shipped in
``llmstack/sim/data`` (Azure/AzurePublicDataset, 2023; Splitwise, ISCA 2024):

=============  ========  =====  ======  ==============  =======================
trace          requests  mean   median  CV (sd / mean)  sd of log length (MLE)
=============  ========  =====  ======  ==============  =======================
azure-conv     19,366    211.1  129     0.77            0.859
azure-code      8,819     27.9   13     2.15            0.847
=============  ========  =====  ======  ==============  =======================

The two traces' coefficients of variation differ (conversation replies are capped at 1000
tokens, code completions have a long tail), their log spreads agree; the fitted lognormal's CV
is sqrt(exp(0.85^2) - 1) = 1.03, between the two. :func:`log_spread` recomputes the sigma from
a trace, and a test checks the constant against the shipped files.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable

OUTPUT_SIGMA = 0.85
"""Log-standard-deviation of output lengths (azure-conv 0.859, azure-code 0.847; see the module docstring)."""

MAX_LENGTH = 10_000_000
"""Upper clip of a drawn length (the traces' own bound on token counts)."""


def draw(rng: random.Random, mean: float, sigma: float) -> int:
    """One length: lognormal with mean ``mean`` and log-sd ``sigma``, rounded, at least 1 (``mean`` when sigma is 0)."""
    if sigma <= 0:
        return max(1, round(mean))
    mu = math.log(mean) - sigma * sigma / 2  # E[exp(N(mu, s^2))] = exp(mu + s^2 / 2) = mean
    return max(1, min(MAX_LENGTH, round(rng.lognormvariate(mu, sigma))))


def coefficient_of_variation(sigma: float) -> float:
    """CV of a lognormal with log-sd ``sigma``."""
    return math.sqrt(math.expm1(sigma * sigma))


def log_spread(lengths: Iterable[int]) -> float:
    """The maximum-likelihood lognormal sigma of ``lengths`` (population sd of their logs)."""
    logs = [math.log(n) for n in lengths if n > 0]
    if len(logs) < 2:
        raise ValueError("need at least two positive lengths")
    return statistics.pstdev(logs)
