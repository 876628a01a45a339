"""Pulumi's mock runtime with every ``RegisterResource`` request recorded (shared by the component tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks


def recorded_registrations(monkeypatch: pytest.MonkeyPatch, mocks: pulumi.runtime.Mocks) -> list[Any]:
    """Install ``mocks`` on a fresh event loop; the returned list fills with each resource registration."""
    seen: list[Any] = []
    original = pulumi_mocks.MockMonitor.RegisterResource

    def record(self: pulumi_mocks.MockMonitor, request: Any) -> Any:
        seen.append(request)
        return original(self, request)

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", record)
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, preview=False)
    return seen
