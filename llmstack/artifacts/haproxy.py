"""HAProxy 2.6 configuration for a router: an OpenAI-compatible front end over vLLM deployments.

How a request travels (one ``frontend`` per router, one ``backend`` per deployment):

1. The request body is buffered whole, up to ``max_body_bytes`` (``http-request wait-for-body``;
   ``tune.bufsize`` holds it, so a long prompt whose ``model`` key comes late is still routed);
   a larger body is answered 413 (before it is read, when ``Content-Length`` announces it). The
   OpenAI ``model`` is read from the JSON body (``req.body,json_query('$.model')``), else from a
   path prefix: ``/<model>/<path>`` is routed like ``<path>`` with that model and the prefix is
   stripped before forwarding (``/<model>/metrics`` is one replica's metrics). Without a model the
   router answers ``GET /health`` itself (200 while any deployment has a server up, else 503),
   ``/metrics`` (HAProxy's own exporter) and ``/v1/models`` (the routed models that have a server
   up now, with ``created``); ``/version``, ``/tokenize`` and ``/detokenize`` go to the first
   route; any other request without a model gets 400, an unknown model 404 (JSON bodies in
   OpenAI's error shape, as are HAProxy's own 400/408/500/502/503/504 answers; a request whose
   headers never complete still gets HAProxy 2.6's built-in HTML 408).
2. The route's backends (deployments) are weighted: a pick in ``0..sum(weights)-1`` chooses
   one (a canary between variants). The pick is random, except for session_affinity, where
   it is a hash of the session header so a session stays on one deployment. prefix_hash
   picks at random too: most prompts share their start (a system prompt), so a hash of it
   would send every request to one deployment and starve the canary. A deployment with no
   server up is skipped for the next one that has one; if none has, HAProxy answers 503.
3. Inside a deployment the replicas are balanced by the router's strategy: ``roundrobin``,
   ``leastconn`` (least_request), a consistent hash of the session header
   (session_affinity) or of the first ``prefix_hash_bytes`` of the prompt (prefix_hash).
   prefix_hash bounds each replica's load (``hash-balance-factor``, the router spec's
   ``hash_balance_factor``: no replica takes more than that percentage of the average
   in-flight requests; beyond it the request goes to the next replica on the ring), so a
   shared prompt start keeps its cache locality without one replica taking all traffic.
4. Each server takes at most the engine's ``max_num_seqs`` requests at once (``maxconn``); the
   rest wait in the backend's queue, oldest first, for the first server with a free slot, so a
   replica that has just started takes the waiting requests at once (without it every request is
   sent on arrival and waits in the engine it was sent to, however many replicas start after).
   A request waits at most the deployment's hold timeout (``timeout queue``,
   :func:`llmstack.capacity.startup.hold_timeout_s`: the time a new replica takes to start);
   then HAProxy answers 503. With a hash strategy the wait is on the hashed server.
   :mod:`llmstack.sim.fleet` models the same queue.

Replicas are addressed statically (:meth:`BackendAddressing.static`) or through DNS
(:meth:`BackendAddressing.dns`: ``server-template`` slots filled by the ``resolvers``
section, so scaling changes no configuration and needs no reload). Health checks
``GET /health``; client and server timeouts let token streams (SSE) run for minutes, and
responses are forwarded as they arrive. A second frontend on ``stats_port`` serves
``/metrics`` (HAProxy's Prometheus exporter) and ``/stats``; ``/healthz`` on the main port
is the router's own liveness check.

Every string from the spec or the caller is checked against a strict pattern before it is
written, so nothing can add a line or a directive to the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from llmstack.artifacts import haproxy_hold
from llmstack.capacity import throughput
from llmstack.capacity.startup import hold_timeout_s
from llmstack.errors import LlmstackError
from llmstack.spec.models import RouterSpec, StackSpec
from llmstack.spec.resolving import resolve

STRATEGY_BALANCE = {
    "round_robin": "roundrobin",
    "least_request": "leastconn",
}
"""Strategies that map onto a plain ``balance`` algorithm; the two hash strategies are built below."""
STRATEGIES = ("round_robin", "least_request", "session_affinity", "prefix_hash")

RESOLVERS = "llmstack_dns"
AGENT_INTERVAL_S = 1
"""How often HAProxy asks a replica's drain agent (``agent-inter``), when the addressing names one."""
DNS_RESOLVE_INTERVAL_S = 1
"""``timeout resolve``: how often the ``server-template`` names are resolved again."""
DNS_HOLD_OBSOLETE_S = 30
"""``hold obsolete``: a server whose address left the DNS answer keeps taking requests this long
(the drain wait before a replica stops is sized on it: :mod:`llmstack.targets.kubernetes.draining`)."""
HEALTH_PATH = "/health"
ROUTER_HEALTH_PATH = "/healthz"
"""The router's liveness: 200 while HAProxy runs (``monitor-uri``)."""
PICK_RANGE = 2147483647
MAX_BODY_LIMIT = 64 * 1024 * 1024
HEADER_ROOM = 65536
REWRITE_RESERVE = 1024
"""HAProxy's default ``tune.maxrewrite`` (1024 bytes kept free in each buffer)."""
ENGINE_PATHS = ("/version", "/tokenize", "/detokenize")
"""Engine paths that make sense without a model: they go to the router's first route when none is given."""

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,199}$")
_HEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")
_DURATION = re.compile(r"^[1-9][0-9]{0,8}(us|ms|s|m|h|d)?$")
_SOCKET = re.compile(r"^/[A-Za-z0-9._/-]{1,200}$")


@dataclass(frozen=True)
class Server:
    """One replica address for static addressing."""

    name: str
    host: str
    port: int
    agent_port: int | None = None
    """A drain agent on the replica (``agent-check``, :func:`agent_options`); None: none."""

    def __post_init__(self) -> None:
        _check(_SERVER_NAME, self.name, "server name")
        _check(_HOST, self.host, "server host")
        _check_port(self.port, f"server {self.name} port")
        if self.agent_port is not None:
            _check_port(self.agent_port, f"server {self.name} agent port")


@dataclass(frozen=True)
class BackendAddressing:
    """How a deployment's replicas are found: a fixed server list, or DNS with ``server-template``."""

    servers: tuple[Server, ...] = ()
    hostname: str | None = None
    port: int | None = None
    max_servers: int = 0
    resolver_nameserver: str | None = None
    agent_port: int | None = None
    """DNS addressing: the port of every replica's drain agent (``agent-check``); None: none."""

    @classmethod
    def static(cls, servers: Sequence[Server]) -> BackendAddressing:
        names = [s.name for s in servers]
        if len(set(names)) != len(names):
            raise LlmstackError(f"duplicate server names in {names}")
        return cls(servers=tuple(servers))

    @classmethod
    def dns(
        cls,
        hostname: str,
        port: int,
        max_servers: int,
        resolver_nameserver: str | None = None,
        agent_port: int | None = None,
    ) -> BackendAddressing:
        """``max_servers`` slots filled from the A records of ``hostname`` (a headless Service).

        ``resolver_nameserver`` None: the nameservers of the container's ``/etc/resolv.conf``
        (``parse-resolv-conf``: kube-dns in a pod, Docker's embedded DNS in a container). An
        explicit ``host:port`` must be resolvable when HAProxy starts (an IP address is safest).
        """
        _check(_HOST, hostname, "DNS hostname")
        _check_port(port, f"port of {hostname}")
        if not 1 <= max_servers <= 1024:
            raise LlmstackError(f"max_servers for {hostname} is {max_servers}; allowed 1..1024")
        if resolver_nameserver is not None:
            _nameserver(resolver_nameserver)
        if agent_port is not None:
            _check_port(agent_port, f"agent port of {hostname}")
        return cls(hostname=hostname, port=port, max_servers=max_servers, resolver_nameserver=resolver_nameserver,
                   agent_port=agent_port)

    @property
    def is_dns(self) -> bool:
        return self.hostname is not None


@dataclass(frozen=True)
class HaproxyOptions:
    """Where the router listens and how patient it is. ``port`` None: the router spec's port."""

    bind_host: str = "0.0.0.0"
    port: int | None = None
    stats_port: int = 8404
    runtime_socket: str | None = None
    health_check_interval: str = "2s"
    health_check_fall: int = 3
    health_check_rise: int = 2
    health_check_timeout: str | None = None
    """How long a health check may wait for its answer (HAProxy ``timeout check``); None: ``inter``."""
    stream_timeout: str = "10m"
    """Client and server inactivity timeout: a token stream may pause this long."""
    connect_timeout: str = "5s"
    queue_timeout: str = "60s"
    request_timeout: str = "30s"
    max_body_bytes: int = 4 * 1024 * 1024
    """The largest request body routed (HAProxy buffers it whole to read ``model``); larger ones get 413.
    4 MiB holds a 128k-token prompt (about 512 KB of text) many times over; buffer memory is used only
    by requests in flight."""
    maxconn: int = 4096
    hold_timeout: str | None = None
    """Hold a request whose route has no server up this long (a scale-to-zero deployment's cold start),
    then route it (:mod:`llmstack.artifacts.haproxy_hold`); None: answer 503 at once. Needs ``hold_script``."""
    hold_script: str | None = None
    """Where the hold's Lua script (:data:`~llmstack.artifacts.haproxy_hold.HOLD_SCRIPT`) lies next to haproxy.cfg."""
    log: bool = True
    extra_global: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _check(_HOST, self.bind_host, "bind_host")
        if self.port is not None:
            _check_port(self.port, "port")
        _check_port(self.stats_port, "stats_port")
        if self.runtime_socket is not None:
            _check(_SOCKET, self.runtime_socket, "runtime_socket")
        if self.health_check_timeout is not None:
            _check(_DURATION, self.health_check_timeout, "health_check_timeout")
        if self.hold_timeout is not None:
            _check(_DURATION, self.hold_timeout, "hold_timeout")
            if self.hold_script is None:
                raise LlmstackError("hold_timeout needs hold_script (the path of the hold's Lua script)")
            _check(_SOCKET, self.hold_script, "hold_script")
        for name in ("health_check_interval", "stream_timeout", "connect_timeout", "queue_timeout",
                     "request_timeout"):
            _check(_DURATION, getattr(self, name), name)
        if not 16384 <= self.max_body_bytes <= MAX_BODY_LIMIT:
            raise LlmstackError(f"max_body_bytes {self.max_body_bytes} is outside 16384..{MAX_BODY_LIMIT}")
        for name in ("health_check_fall", "health_check_rise", "maxconn"):
            if getattr(self, name) < 1:
                raise LlmstackError(f"{name} must be >= 1")
        for line in self.extra_global:
            if "\n" in line or "\r" in line:
                raise LlmstackError("extra_global lines may not contain line breaks")

    @property
    def buffer_size(self) -> int:
        """``tune.bufsize``: the largest body, its headers and HAProxy's rewrite reserve."""
        return self.max_body_bytes + HEADER_ROOM + REWRITE_RESERVE


def backend_name(deployment: str) -> str:
    """The haproxy.cfg backend of a deployment (also the ``proxy`` label of HAProxy's metrics)."""
    return f"be_{deployment}"


def build_haproxy_config(
    stack: StackSpec,
    router: str,
    addressing: Mapping[str, BackendAddressing],
    options: HaproxyOptions | None = None,
) -> str:
    """The haproxy.cfg text for ``router``; ``addressing`` maps each of its deployments to its replicas.

    ``options`` None means ``HaproxyOptions()``.
    """
    options = options if options is not None else HaproxyOptions()
    spec = _router(stack, router)
    path = f"routers[{spec.name}]"
    _validate(stack, spec, path)
    deployments = _deployments(spec)
    for deployment in deployments:
        if deployment not in addressing:
            raise LlmstackError(f"no addressing given for deployment {deployment!r}", path=path,
                                hint=f"pass addressing for {deployments}")
    dns = [a for a in addressing.values() if a.is_dns]
    nameservers = sorted({a.resolver_nameserver for a in dns if a.resolver_nameserver is not None})
    resolv_conf = any(a.resolver_nameserver is None for a in dns)
    port = options.port if options.port is not None else spec.port
    if port == options.stats_port:
        raise LlmstackError(f"router port and stats port are both {port}", path=path)
    sections = [
        _global(options),
        _defaults(options),
        *([_resolvers(nameservers, resolv_conf)] if dns else []),
        _stats_frontend(options),
        _frontend(spec, options, port),
        *(_backend(spec, d, addressing[d], options, server_slots(stack, d)) for d in deployments),
    ]
    header = (f"# Generated by llmstack for stack {stack.name!r}, router {spec.name!r} "
              f"(strategy {spec.strategy}). Do not edit: change the stack spec and render again.\n")
    return header + "\n".join(sections)


# ---------------------------------------------------------------- sections


def _global(options: HaproxyOptions) -> str:
    lines = ["global", f"    maxconn {options.maxconn}", f"    tune.bufsize {options.buffer_size}"]
    if options.log:
        lines.append("    log stdout format raw local0")
    if options.runtime_socket:
        lines.append(f"    stats socket {options.runtime_socket} mode 600 level admin expose-fd listeners")
    if options.hold_timeout is not None:
        lines.append(f"    lua-load {options.hold_script}")
    lines += [f"    {line}" for line in options.extra_global]
    return "\n".join(lines) + "\n"


def _defaults(options: HaproxyOptions) -> str:
    lines = [
        "defaults",
        "    mode http",
        *(["    log global", "    option dontlognull"] if options.log else []),
        "    option forwardfor",
        "    option http-no-delay",
        "    option abortonclose",  # a client that goes away aborts its generation on the engine too
        "    option redispatch 1",
        "    retries 2",
        "    retry-on conn-failure empty-response",
        f"    timeout connect {options.connect_timeout}",
        f"    timeout client {options.stream_timeout}",
        f"    timeout server {options.stream_timeout}",
        f"    timeout http-request {options.request_timeout}",
        "    timeout http-keep-alive 10s",
        f"    timeout queue {options.queue_timeout}",
        f"    timeout tunnel {options.stream_timeout}",
        *([f"    timeout check {options.health_check_timeout}"] if options.health_check_timeout else []),
        f"    default-server inter {options.health_check_interval} fall {options.health_check_fall} "
        f"rise {options.health_check_rise}",
        _http_error(400, "invalid_request_error", "the router could not parse the HTTP request"),
        _http_error(408, "timeout_error", "the request was not received in time"),
        _http_error(500, "internal_error", "the router failed"),
        _http_error(502, "bad_gateway", "the model server closed the connection or answered badly"),
        _http_error(503, "service_unavailable", "no healthy model server is available for this model"),
        _http_error(504, "gateway_timeout", "the model server did not answer in time"),
    ]
    return "\n".join(lines) + "\n"


def _resolvers(nameservers: list[str], resolv_conf: bool) -> str:
    lines = [f"resolvers {RESOLVERS}", *(["    parse-resolv-conf"] if resolv_conf else [])]
    for index, nameserver in enumerate(nameservers, start=1):
        lines.append(f"    nameserver dns{index} {_nameserver(nameserver)}")
    lines += [
        "    accepted_payload_size 8192",
        "    resolve_retries 3",
        f"    timeout resolve {DNS_RESOLVE_INTERVAL_S}s",
        "    timeout retry 1s",
        "    hold valid 10s",
        f"    hold obsolete {DNS_HOLD_OBSOLETE_S}s",
    ]
    return "\n".join(lines) + "\n"


def _stats_frontend(options: HaproxyOptions) -> str:
    lines = [
        "frontend stats",
        f"    bind {_bind(options.bind_host, options.stats_port)}",
        *(["    no log"] if options.log else []),
        "    http-request use-service prometheus-exporter if { path /metrics }",
        *([haproxy_hold.held_metrics_line()] if options.hold_timeout is not None else []),
        "    stats enable",
        "    stats uri /stats",
        "    stats refresh 10s",
    ]
    return "\n".join(lines) + "\n"


def _frontend(spec: RouterSpec, options: HaproxyOptions, port: int) -> str:
    lines = [
        f"frontend {spec.name}",
        f"    bind {_bind(options.bind_host, port)}",
        *(["    option httplog"] if options.log else []),
        f"    monitor-uri {ROUTER_HEALTH_PATH}",
        *_body_lines(options),
        *_model_lines(spec),
        *_own_answer_lines(spec),
        *_pick_lines(spec),
        *(_hold_lines(spec, options.hold_timeout) if options.hold_timeout is not None else []),
    ]
    for index, route in enumerate(spec.routes):
        lines += _use_backend_lines(index, route.backends)
    lines += [
        "    http-response set-header x-llmstack-backend %b",
        "    http-response set-header x-llmstack-server %s",
    ]
    return "\n".join(lines) + "\n"


def _body_lines(options: HaproxyOptions) -> list[str]:
    """Refuse a body over the limit with 413 (before reading it when it is announced), else buffer it whole."""
    limit = options.max_body_bytes
    too_large = _error_body(f"the request body is over the router limit of {limit} bytes",
                            "invalid_request_error", 413)
    return [
        f"    http-request return status 413 content-type application/json string '{too_large}' "
        f"if {{ req.hdr_val(content-length) gt {limit} }}",
        f"    http-request wait-for-body time {options.request_timeout} if METH_POST",
        f"    http-request return status 413 content-type application/json string '{too_large}' "
        f"if {{ req.body_len gt {limit} }}",
    ]


def _model_lines(spec: RouterSpec) -> list[str]:
    """``txn.model``: from the JSON body, else from a ``/<model>/`` path prefix (stripped before forwarding)."""
    lines = [
        "    # the OpenAI model: from the JSON body, else from a /<model>/ path prefix",
        "    http-request set-var(txn.model) req.body,json_query('$.model') if METH_POST",
        "    acl has_model var(txn.model) -m found",
    ]
    # longest model first, so /org/model-x/... is not taken for a model named "org"
    by_length = sorted(enumerate(spec.routes), key=lambda item: -len(item[1].model))
    for index, route in by_length:
        lines.append(f"    acl path_{index} path_beg /{route.model}/")
        lines.append(f"    http-request set-var(txn.model) str({route.model}) if !has_model path_{index}")
        lines.append(f"    http-request replace-path '^/{re.escape(route.model)}(/.*)$' '\\1' if path_{index}")
    for index, route in enumerate(spec.routes):
        lines.append(f"    acl route_{index} var(txn.model) -m str {route.model}")
    return lines


def _default_model_lines(spec: RouterSpec) -> list[str]:
    """Requests still without a model: a one-route router sends all of them to its model (it is then
    as transparent as the engine itself); a larger one sends the model-free engine paths to its first route."""
    first = spec.routes[0].model
    if len(spec.routes) == 1:
        return [f"    http-request set-var(txn.model) str({first}) if !has_model"]
    return [f"    http-request set-var(txn.model) str({first}) if !has_model {{ path {' '.join(ENGINE_PATHS)} }}"]


def _own_answer_lines(spec: RouterSpec) -> list[str]:
    """What the router answers itself: its health, its metrics, the model list and the errors."""
    up = [f"    acl route_up_{index} nbsrv({backend_name(d)}) gt 0"
          for index, route in enumerate(spec.routes) for d, w in route.backends.items() if w > 0]
    up += [f"    acl any_up nbsrv({backend_name(d)}) gt 0" for d in _deployments(spec)]
    down = _error_body("no model of this router has a healthy server", "service_unavailable", 503)
    no_model = _error_body('no model given: set "model" in the JSON body or use a /<model>/v1/ path',
                           "invalid_request_error", 400)
    # vLLM's own answer for an unknown model, so a client cannot tell the router's from the engine's
    aliases = ", ".join(r.model for r in spec.routes)
    unknown = _error_body(f"The model `%[var(txn.model),json(utf8s)]` does not exist. Valid aliases: {aliases}.",
                          "NotFoundError", 404, param="model")
    unknown_condition = " ".join(f"!route_{i}" for i in range(len(spec.routes)))
    return [
        *up,
        "    http-request return status 200 if { path /health } !has_model any_up",
        f"    http-request return status 503 content-type application/json string '{down}' "
        "if { path /health } !has_model",
        "    http-request use-service prometheus-exporter if { path /metrics } !has_model",
        *_models_list_lines(spec),
        *_default_model_lines(spec),
        f"    http-request return status 400 content-type application/json string '{no_model}' if !has_model",
        f"    http-request return status 404 content-type application/json lf-string '{unknown}' "
        f"if {unknown_condition}",
    ]


def _models_list_lines(spec: RouterSpec) -> list[str]:
    """``GET /v1/models``: the routed models that have a healthy server now, as vLLM lists its own."""
    lines = ["    acl list_models path /v1/models",
             "    http-request set-var(txn.models) str(x) if list_models !has_model"]
    for index, route in enumerate(spec.routes):
        card = ('{"id":"' + route.model + '","object":"model","created":%[date],"owned_by":"llmstack",'
                '"root":"' + route.model + '","parent":null}')
        lines.append(f"    http-request set-var-fmt(txn.models) '%[var(txn.models)],{card}' "
                     f"if list_models !has_model route_up_{index}")
    lines.append("    http-request return status 200 content-type application/json lf-string "
                 """'{"object":"list","data":[%[var(txn.models),regsub("^x,?","")]]}' """
                 "if list_models !has_model")
    return lines


def _pick_lines(spec: RouterSpec) -> list[str]:
    """A number per request that chooses among a route's weighted deployments."""
    lines = [f"    http-request set-var(txn.pick_key) rand({PICK_RANGE})"]
    if spec.strategy == "session_affinity":
        header = spec.session_header
        lines.append(f"    http-request set-var(txn.pick_key) req.hdr({header}),crc32 "
                     f"if {{ req.hdr({header}) -m found }}")
    elif spec.strategy == "prefix_hash":
        # the prompt start: the body from the "prompt" or "messages" key on, or the body itself
        regex = "^.*?\\\"(prompt|messages)\\\"[[:space:]]*:"
        lines.append(
            f"    http-request set-var(txn.prefix) \"req.body,regsub('{regex}',''),bytes(0,{spec.prefix_hash_bytes})\""
            " if METH_POST")
    for index, route in enumerate(spec.routes):
        total = sum(route.backends.values())
        lines.append(f"    http-request set-var(txn.pick) var(txn.pick_key),mod({total}) if route_{index}")
    return lines


def _hold_lines(spec: RouterSpec, hold_timeout: str) -> list[str]:
    """Per route: hold a request while none of the route's deployments has a server up."""
    timeout_ms = duration_ms(hold_timeout)
    lines: list[str] = []
    for index, route in enumerate(spec.routes):
        backends = [backend_name(d) for d, w in sorted(route.backends.items(), key=lambda item: -item[1]) if w > 0]
        lines.append(haproxy_hold.hold_line(backends, timeout_ms, f"!route_up_{index} route_{index}"))
    return lines


def duration_ms(duration: str) -> int:
    """An HAProxy duration (``90s``, ``3m``, ``500ms``; no unit: milliseconds) in milliseconds."""
    match = re.fullmatch(r"([0-9]+)(us|ms|s|m|h|d)?", duration)
    if match is None:
        raise LlmstackError(f"duration {duration!r} is not an HAProxy duration", hint="e.g. 90s, 3m, 500ms")
    scale = {"us": 0.001, "ms": 1, None: 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    return max(1, round(int(match.group(1)) * scale[match.group(2)]))


def _use_backend_lines(index: int, backends: Mapping[str, int]) -> list[str]:
    lines: list[str] = []
    low = 0
    weighted = [(d, w) for d, w in backends.items() if w > 0]
    for deployment, weight in weighted:
        high = low + weight
        be = backend_name(deployment)
        lines.append(
            f"    use_backend {be} if route_{index} {{ var(txn.pick) -m int ge {low} }} "
            f"{{ var(txn.pick) -m int lt {high} }} {{ nbsrv({be}) gt 0 }}")
        low = high
    # the picked deployment has no server up: the next one that has, by weight
    by_weight = sorted(weighted, key=lambda item: -item[1])
    for deployment, _ in by_weight:
        be = backend_name(deployment)
        lines.append(f"    use_backend {be} if route_{index} {{ nbsrv({be}) gt 0 }}")
    lines.append(f"    use_backend {backend_name(by_weight[0][0])} if route_{index}")
    return lines


def server_slots(stack: StackSpec, deployment: str) -> BackendSlots:
    """What one server of ``deployment`` takes at once, and how long a request may wait for a slot."""
    spec = stack.deployment(deployment)
    profile = throughput.profile(resolve(stack, spec))
    return BackendSlots(profile.max_num_seqs, round(hold_timeout_s(spec.replicas, profile)))


@dataclass(frozen=True)
class BackendSlots:
    """A backend's per-server ``maxconn`` (the engine's ``max_num_seqs``) and its ``timeout queue``."""

    maxconn: int
    queue_timeout_s: int

    @property
    def server_options(self) -> str:
        """The options every server line of the backend carries (the demo's dynamic servers too)."""
        return f" maxconn {self.maxconn}"


def _backend(spec: RouterSpec, deployment: str, addressing: BackendAddressing, options: HaproxyOptions,
             slots: BackendSlots) -> str:
    lines = [f"backend {backend_name(deployment)}"]
    if spec.strategy in STRATEGY_BALANCE:
        lines.append(f"    balance {STRATEGY_BALANCE[spec.strategy]}")
    elif spec.strategy == "session_affinity":
        lines += [f"    balance hdr({spec.session_header})", "    hash-type consistent"]
    else:
        lines += ["    balance hash var(txn.prefix)", "    hash-type consistent",
                  f"    hash-balance-factor {spec.hash_balance_factor}"]
    lines += [
        f"    option httpchk GET {HEALTH_PATH}",
        "    http-check expect status 200",
        f"    timeout queue {slots.queue_timeout_s}s",
    ]
    if addressing.is_dns:
        lines.append(
            f"    server-template {deployment}- 1-{addressing.max_servers} {addressing.hostname}:{addressing.port} "
            f"check resolvers {RESOLVERS} init-addr none resolve-prefer ipv4{agent_options(addressing.agent_port)}"
            f"{slots.server_options}")
    else:
        if not addressing.servers and options.hold_timeout is None:
            raise LlmstackError(f"deployment {deployment!r} has no servers", path=f"routers[{spec.name}]",
                                hint="give at least one Server, or use DNS addressing")
        for server in addressing.servers:
            lines.append(f"    server {server.name} {_address(server.host, server.port)} check"
                         f"{agent_options(server.agent_port)}{slots.server_options}")
    return "\n".join(lines) + "\n"


def agent_options(agent_port: int | None) -> str:
    """Server options of a drain agent: HAProxy asks it every ``AGENT_INTERVAL_S``; its answer
    ``drain`` stops new requests to the server (in-flight ones finish), ``ready`` lifts that. An agent
    that does not answer changes nothing (the health check alone decides up or down)."""
    if agent_port is None:
        return ""
    return f" agent-check agent-port {agent_port} agent-inter {AGENT_INTERVAL_S}s"


# ---------------------------------------------------------------- checks and helpers


def _router(stack: StackSpec, router: str) -> RouterSpec:
    for candidate in stack.routers:
        if candidate.name == router:
            return candidate
    raise LlmstackError(f"unknown router {router!r}", path="routers",
                        hint=f"routers are {sorted(r.name for r in stack.routers)}")


def _validate(stack: StackSpec, spec: RouterSpec, path: str) -> None:
    """Re-check what the spec models check, for specs built without validation (model_construct)."""
    _check(_NAME, spec.name, "router name", path)
    if spec.strategy not in STRATEGIES:
        raise LlmstackError(f"unsupported strategy {spec.strategy!r}", path=f"{path}.strategy",
                            hint=f"use one of {', '.join(STRATEGIES)}")
    _check(_HEADER, spec.session_header, "session_header", f"{path}.session_header")
    if not isinstance(spec.hash_balance_factor, int) or not 100 <= spec.hash_balance_factor <= 1000:
        raise LlmstackError(f"hash_balance_factor {spec.hash_balance_factor!r} is outside 100..1000",
                            path=f"{path}.hash_balance_factor")
    if not spec.routes:
        raise LlmstackError("router has no routes", path=f"{path}.routes")
    deployments = {d.name for d in stack.deployments}
    seen: set[str] = set()
    for route in spec.routes:
        route_path = f"{path}.routes[{route.model}]"
        _check(_MODEL, route.model, "route model", route_path)
        if route.model in seen:
            raise LlmstackError(f"model {route.model!r} is routed twice", path=route_path)
        seen.add(route.model)
        if not route.backends:
            raise LlmstackError("route has no backends", path=f"{route_path}.backends")
        for deployment, weight in route.backends.items():
            _check(_NAME, deployment, "backend deployment", f"{route_path}.backends")
            if deployment not in deployments:
                raise LlmstackError(f"unknown deployment {deployment!r}", path=f"{route_path}.backends",
                                    hint=f"deployments are {sorted(deployments)}")
            if not 0 <= weight <= 256:
                raise LlmstackError(f"weight of {deployment!r} is {weight}; allowed 0..256",
                                    path=f"{route_path}.backends")
        if sum(route.backends.values()) <= 0:
            raise LlmstackError("backend weights sum to zero", path=f"{route_path}.backends",
                                hint="give at least one backend a weight > 0")


def _deployments(spec: RouterSpec) -> list[str]:
    names: list[str] = []
    for route in spec.routes:
        for deployment in route.backends:
            if deployment not in names:
                names.append(deployment)
    return names


def _error_body(message: str, kind: str, code: int, param: str | None = None) -> str:
    # OpenAI's error shape as vLLM writes it; message text is ours (no quote of user input except via json())
    quoted = "null" if param is None else f'"{param}"'
    return ('{"error":{"message":"' + message.replace('"', '\\"') + f'","type":"{kind}","param":{quoted},'
            f'"code":{code}}}}}')


def _http_error(status: int, kind: str, message: str) -> str:
    return (f"    http-error status {status} content-type application/json string "
            f"'{_error_body(message, kind, status)}'")


def _check(pattern: re.Pattern[str], value: str, what: str, path: str | None = None) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise LlmstackError(f"{what} {value!r} is not allowed in haproxy.cfg", path=path,
                            hint=f"it must match {pattern.pattern}")


def _check_port(port: int, what: str) -> None:
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise LlmstackError(f"{what} {port!r} is not a TCP port (1..65535)")


def _nameserver(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise LlmstackError(f"resolver nameserver {value!r} must be host:port")
    _check(_HOST, host, "resolver nameserver host")
    _check_port(int(port), "resolver nameserver port")
    return value


def _address(host: str, port: int) -> str:
    return f"{host}:{port}"


def _bind(host: str, port: int) -> str:
    return f"{host}:{port}"
