"""Pod and container security contexts: the one spelling of "restricted" every workload uses.

Pod Security Standards ``restricted``: non-root, ``seccompProfile: RuntimeDefault``, no
privilege escalation, every capability dropped. :func:`container` adds a read-only root
filesystem where the image writes nothing outside mounted volumes. The UIDs are the images'
own unprivileged users (HAProxy ``haproxy`` 99, Prometheus/node-exporter ``nobody`` 65534,
Grafana 472, the distroless endpoint picker ``nonroot`` 65532), above 10000 where the
image allows (:data:`HIGH_UID`) so a container user never matches a host user.
"""

from __future__ import annotations

from typing import Any

HIGH_UID = 10001
"""Used where the image runs as any UID (HAProxy, Prometheus, the picker): clear of host users."""
RUNTIME_DEFAULT = {"type": "RuntimeDefault"}


def pod(run_as_user: int | None, fs_group: int | None = None) -> dict[str, Any]:
    """Pod-level securityContext; ``run_as_user`` None: the image's user (it must be non-root)."""
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": dict(RUNTIME_DEFAULT)}
    if run_as_user is not None:
        context["runAsUser"] = run_as_user
        context["runAsGroup"] = run_as_user
    if fs_group is not None:
        context["fsGroup"] = fs_group
    return context


def container(*, read_only_root: bool = True) -> dict[str, Any]:
    """Container-level securityContext: no escalation, no capabilities, read-only root by default."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(RUNTIME_DEFAULT),
    }
