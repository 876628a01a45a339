"""The two Kubernetes API calls the controller makes, behind :class:`StackClient`: get and patch one Stack.

Why plain httpx and not the ``kubernetes`` client: the controller makes exactly two calls
(``GET`` and a JSON merge ``PATCH`` of one ``stacks.pulumi.com`` object), httpx is already a
dependency, and the in-cluster configuration is three files and two environment variables;
the ``kubernetes`` package would add about 30 MB of generated models (and google-auth,
websocket-client, urllib3 pins) to the controller image for them. The service account token
is read again for every request, because the kubelet rotates projected tokens (about hourly).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from llmstack.errors import ApplyError

STACK_GROUP = "pulumi.com"
STACK_VERSION = "v1"
STACK_PLURAL = "stacks"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MERGE_PATCH = "application/merge-patch+json"


class StackClient(Protocol):
    """Get and patch one ``pulumi.com/v1`` Stack (the real API server, or a fake that records the patch)."""

    def get_stack(self, namespace: str, name: str) -> dict[str, Any]: ...

    def patch_stack(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply ``body`` as a JSON merge patch (RFC 7386); return the object after it."""
        ...


def stack_path(namespace: str, name: str) -> str:
    return f"/apis/{STACK_GROUP}/{STACK_VERSION}/namespaces/{namespace}/{STACK_PLURAL}/{name}"


@dataclass(frozen=True)
class InCluster:
    """Where the API server is and how this pod proves who it is."""

    base_url: str
    token_file: Path
    ca_file: Path | bool

    @classmethod
    def from_environment(cls, account_dir: Path = SERVICE_ACCOUNT_DIR) -> InCluster:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host or not (account_dir / "token").exists():
            raise ApplyError("not running in a cluster: KUBERNETES_SERVICE_HOST or the service account token "
                             f"({account_dir / 'token'}) is missing",
                             hint="the pulumi-operator path runs in the llmstack-controller pod "
                                  "(automountServiceAccountToken: true)")
        bracketed = f"[{host}]" if ":" in host else host
        return cls(f"https://{bracketed}:{port}", account_dir / "token", account_dir / "ca.crt")


class HttpStackClient:
    """:class:`StackClient` over httpx with the pod's service account (``transport``: tests pass a mock)."""

    def __init__(self, cluster: InCluster, *, timeout_s: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.cluster = cluster
        verify = str(cluster.ca_file) if isinstance(cluster.ca_file, Path) else cluster.ca_file
        self._client = httpx.Client(base_url=cluster.base_url, timeout=timeout_s, verify=verify,
                                    transport=transport)

    def _headers(self) -> dict[str, str]:
        try:
            token = self.cluster.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ApplyError(f"cannot read the service account token: {exc.strerror or exc}",
                             file=str(self.cluster.token_file)) from exc
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get_stack(self, namespace: str, name: str) -> dict[str, Any]:
        return self._send("GET", namespace, name, None)

    def patch_stack(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send("PATCH", namespace, name, body)

    def _send(self, method: str, namespace: str, name: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = self._headers() | ({"Content-Type": MERGE_PATCH} if body is not None else {})
        try:
            response = self._client.request(method, stack_path(namespace, name), headers=headers, json=body)
        except httpx.HTTPError as exc:
            raise ApplyError(f"the Kubernetes API did not answer {method} stacks.pulumi.com/{name}: {exc}") from exc
        if response.status_code >= 400:
            raise api_error(method, namespace, name, response)
        data = response.json()
        if not isinstance(data, dict):
            raise ApplyError(f"the Kubernetes API answered {method} stacks.pulumi.com/{name} with no object")
        return data


HINTS = {
    401: "the service account token was refused; is the pod's token mounted and current?",
    403: "the llmstack-controller Role grants get and patch on this one Stack; check its resourceNames "
         "and namespace match controller.pulumi_operator",
    404: "create the Stack object (pulumi.com/v1) first, or set controller.pulumi_operator.stack_object",
    409: "the Stack changed between read and patch; the next cycle reads it again",
}


def api_error(method: str, namespace: str, name: str, response: httpx.Response) -> ApplyError:
    """One line for a refused call: status, the API server's message, what to check."""
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        message = response.text[:200]
    return ApplyError(f"{method} stacks.pulumi.com/{name} in namespace {namespace}: HTTP {response.status_code}"
                      + (f" {message}" if message else ""), hint=HINTS.get(response.status_code))
