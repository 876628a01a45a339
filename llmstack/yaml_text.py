"""The one YAML writer for every file llmstack writes (Prometheus, Kubernetes, Docker Compose, specs, profiles).

Deterministic: keys in the order built, no anchors or aliases (a reused dict is written out in
full), no line folding, Unicode as is, and multi-line strings (haproxy.cfg, scripts) in block
style so the rendered files stay readable (when no line ends in spaces, which block style
cannot keep).
"""

from __future__ import annotations

from typing import Any

import yaml

WIDTH = 4096


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    """``data`` as YAML text (see the module docstring)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=WIDTH)
