"""Signal names match the catalog; histogram_quantile behaves like Prometheus'."""

from __future__ import annotations

import math

import pytest

from llmstack.catalog import signals
from llmstack.sim.protocol import SIGNAL_NAMES, histogram_quantile, vllm_buckets


def test_signal_names_are_the_catalog_signals() -> None:
    assert tuple(s.name for s in signals.signals()) == SIGNAL_NAMES


def test_histogram_quantile_interpolates_within_bucket() -> None:
    # 10 observations in (0.1, 0.25]: the median lies halfway through that bucket
    assert histogram_quantile(0.5, [0.1, 0.25, 0.5], [0.2] * 10) == pytest.approx(0.175)
    assert histogram_quantile(0.5, [1.0, 2.0], [0.5, 0.5]) == pytest.approx(0.5)


def test_histogram_quantile_nan_without_observations_and_top_bound_for_inf_bucket() -> None:
    assert math.isnan(histogram_quantile(0.95, [1.0], []))
    assert histogram_quantile(0.95, [1.0, 2.0], [100.0] * 5) == 2.0


def test_vllm_buckets_read_from_catalog() -> None:
    assert vllm_buckets("vllm:time_to_first_token_seconds")[-1] == 2560.0
