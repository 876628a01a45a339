"""Baseline autoscalers: HPA tolerance and stabilization, KEDA threshold and cooldown, saturation."""

from __future__ import annotations

from llmstack.sim.baselines import Hpa, Keda, Saturation


def test_hpa_holds_within_tolerance_and_scales_up_at_once() -> None:
    hpa = Hpa(target=0.5)
    assert hpa.desired_replicas(0, {"gpu_utilization": 0.54}, 4) == 4
    assert hpa.desired_replicas(15, {"gpu_utilization": 1.0}, 4) == 8


def test_hpa_scale_down_waits_for_stabilization_window() -> None:
    hpa = Hpa(target=0.5)
    assert hpa.desired_replicas(0, {"gpu_utilization": 0.5}, 4) == 4
    assert hpa.desired_replicas(100, {"gpu_utilization": 0.1}, 4) == 4
    assert hpa.desired_replicas(301, {"gpu_utilization": 0.1}, 4) == 1


def test_hpa_keeps_replicas_without_metric() -> None:
    assert Hpa().desired_replicas(0, {"replicas_up": 3}, 3) == 3


def test_keda_targets_five_waiting_per_replica_with_360s_cooldown() -> None:
    keda = Keda()
    assert keda.desired_replicas(0, {"queue_length": 20}, 2) == 4
    assert keda.desired_replicas(15, {"queue_length": 0}, 4) == 4
    assert keda.desired_replicas(370, {"queue_length": 0}, 4) == 0


def test_keda_wakes_from_zero_on_the_router_queue_only() -> None:
    keda = Keda()
    assert keda.desired_replicas(0, {"replicas_up": 0, "router_queue_length": 0, "router_request_rate": 0}, 0) == 0
    assert keda.desired_replicas(15, {"replicas_up": 0, "router_queue_length": 2}, 0) == 1
    assert Keda().desired_replicas(15, {"replicas_up": 0, "router_queue_length": 12}, 0) == 3


def test_saturation_adds_one_when_spare_capacity_low_and_removes_only_if_load_fits() -> None:
    sat = Saturation()
    assert sat.desired_replicas(0, {"replicas_up": 2, "kv_cache_usage": 0.75, "queue_length": 0}, 2) == 3
    assert sat.desired_replicas(0, {"replicas_up": 2, "kv_cache_usage": 0.2, "queue_length": 8}, 2) == 3
    assert sat.desired_replicas(0, {"replicas_up": 3, "kv_cache_usage": 0.3, "queue_length": 0}, 3) == 2
    assert sat.desired_replicas(0, {"replicas_up": 3, "kv_cache_usage": 0.6, "queue_length": 0}, 3) == 3
    assert sat.desired_replicas(0, {"replicas_up": 2, "kv_cache_usage": 0.75, "queue_length": 0}, 3) == 3
