"""The llmstack policy pack: ``pulumi preview --policy-pack policies/crossguard``.

The validators live in :mod:`llmstack_policies` (importable and unit-tested); this file
only registers them (``PolicyPack`` starts the analyzer server and blocks).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parent))

import llmstack_policies

PolicyPack(name="llmstack", policies=llmstack_policies.POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
