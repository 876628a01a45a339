"""Durations as spec and policy files write them: seconds, or ``90s``, ``5m``, ``1h``, ``500ms``.

:data:`Duration` is the pydantic field type (a float of seconds after validation); the spec's
``replicas.idle_window`` and the policy files' ``for:``, cooldowns and windows use it.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``90s``, ``5m``, ``1h``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '90s' or '5m'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("a duration is a finite number of seconds")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration (use seconds or '90s', '5m', '1h')")


Duration = Annotated[float, BeforeValidator(parse_duration)]
