"""`vllm serve` arguments for a deployment, checked against the pinned vLLM's option list.

The arguments are what follows ``vllm serve`` (:data:`VLLM_ENTRYPOINT`): the weights as the
positional model tag, then one option per engine setting the capacity model reads, then
the deployment's free-form ``engine.extra_args``. :func:`validate_args` accepts only options
(and choices) that vLLM 0.33.0 defines, read from the shipped
``llmstack/catalog/data/vllm-serve-args.json``.

``--quantization`` is passed only for methods that quantize while loading (``fp8``,
``experts_int8``): a checkpoint's declared method is left to vLLM to detect, so it picks the
Marlin/Machete kernels the capacity model assumes (:mod:`llmstack.capacity.kernel_choice`).

``--served-model-name`` lists the names the router routes on: every route ``model`` whose
backends include the deployment, else the model family's name. vLLM answers to all of them,
so a request the router forwards is never refused for its model name.

``--shutdown-timeout`` puts vLLM in drain mode on SIGTERM (finish in-flight requests, refuse new
ones) for the deployment's longest expected request (:mod:`llmstack.artifacts.drain`); it is set
from the SLO and ``max_model_len``, so it is reserved like the other derived flags.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from llmstack.artifacts import drain
from llmstack.capacity import kernel_choice
from llmstack.catalog.loading import data_file
from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec

VLLM_ENTRYPOINT = ["vllm", "serve"]
ENGINE_PORT = 8000
"""The port every target's engine listens on (vLLM's default ``--port``); defined here only."""
ARGS_FILE = "vllm-serve-args.json"
RESERVED_FLAGS = frozenset({
    "--model", "--served-model-name", "--tensor-parallel-size", "--pipeline-parallel-size", "--quantization",
    "--dtype", "--kv-cache-dtype", "--max-model-len", "--gpu-memory-utilization", "--max-num-seqs",
    "--max-num-batched-tokens", "--block-size", "--enable-prefix-caching", "--no-enable-prefix-caching",
    "--port", "--host", drain.SHUTDOWN_FLAG,
})
"""Flags the spec sets through its fields (the capacity model reads those): not allowed as free-form."""


@dataclass(frozen=True)
class VllmOption:
    """One `vllm serve` option from the pinned list."""

    flag: str
    boolean: bool
    """BooleanOptionalAction: ``--x`` / ``--no-x``, no value."""
    multiple: bool
    """Takes one or more values (``list[...]`` types, e.g. ``--served-model-name a b``)."""
    choices: tuple[str, ...] | None


@cache
def options() -> dict[str, VllmOption]:
    """flag -> option, for every engine and frontend argument of the pinned vLLM."""
    data = data_file(ARGS_FILE)
    result: dict[str, VllmOption] = {}
    for entry in [*data["all_engine_args"], *data["frontend_args"]]:
        kind = str(entry["type"])
        choices = entry.get("choices")
        result[entry["flag"]] = VllmOption(
            flag=entry["flag"],
            boolean="BooleanOptionalAction" in str(entry.get("argparse", "")),
            multiple="list[" in kind,
            choices=tuple(str(c) for c in choices) if choices else None,
        )
    return result


def served_model_names(stack: StackSpec, deployment: str) -> list[str]:
    """The names clients use for this deployment: the routed ``model`` names, else the model's name."""
    spec = stack.deployment(deployment)
    names: list[str] = []
    for router in stack.routers:
        for route in router.routes:
            if deployment in route.backends and route.model not in names:
                names.append(route.model)
    return names or [spec.model]


def serve_args(
    stack: StackSpec,
    deployment: str,
    *,
    port: int = ENGINE_PORT,
    host: str = "0.0.0.0",
    extra: Sequence[str] = (),
) -> list[str]:
    """The arguments after ``vllm serve`` for one deployment (validated).

    ``extra`` is for the deploy target's own needs (e.g. ``--distributed-executor-backend``);
    it goes before the spec's ``engine.extra_args``. A flag the spec already sets through an
    engine field may not be repeated in either, since vLLM would silently take the last one.
    """
    spec = stack.deployment(deployment)
    variant = stack.model(spec.model).variant(spec.variant)
    engine = spec.engine
    args = [variant.weights, "--served-model-name", *served_model_names(stack, deployment)]
    args += ["--tensor-parallel-size", str(spec.tensor_parallel)]
    args += ["--pipeline-parallel-size", str(spec.pipeline_parallel)]
    flag = kernel_choice.quantization_flag(variant)  # checkpoint-declared methods: none, vLLM picks the kernel
    if flag is not None:
        args += ["--quantization", flag]
    args += ["--dtype", variant.dtype, "--kv-cache-dtype", variant.kv_cache_dtype]
    if engine.max_model_len is not None:
        args += ["--max-model-len", str(engine.max_model_len)]
    args += ["--gpu-memory-utilization", _number(engine.gpu_memory_utilization)]
    if engine.max_num_seqs is not None:
        args += ["--max-num-seqs", str(engine.max_num_seqs)]
    if engine.max_num_batched_tokens is not None:
        args += ["--max-num-batched-tokens", str(engine.max_num_batched_tokens)]
    args += ["--block-size", str(engine.block_size)]
    args.append("--enable-prefix-caching" if engine.enable_prefix_caching else "--no-enable-prefix-caching")
    args += [drain.SHUTDOWN_FLAG, str(drain.shutdown_timeout_s(stack, deployment))]
    args += ["--port", str(port), "--host", host]
    generated = set(_flags(args)) | RESERVED_FLAGS
    path = f"deployments[{deployment}].engine.extra_args"
    for source, more in (("extra", list(extra)), (path, list(engine.extra_args))):
        for flag in _flags(more):
            if flag in generated:
                raise LlmstackError(
                    f"{flag} is already set from the deployment spec", path=source,
                    hint="set it through the engine/variant fields (the capacity model reads those), "
                         "not as a free-form argument",
                )
        args += more
    try:
        validate_args(args)
    except LlmstackError as exc:
        raise LlmstackError(exc.message, path=path, hint=exc.hint) from exc
    return args


def validate_args(args: Sequence[str]) -> None:
    """Raise :class:`LlmstackError` for any option, value or choice the pinned vLLM does not accept.

    Accepts an optional positional model tag first, ``--flag value``, ``--flag=value``,
    ``--flag v1 v2`` for list options and ``--x`` / ``--no-x`` for boolean ones.
    """
    known = options()
    items = list(args)
    index = 0
    if items and not items[0].startswith("-"):
        _check_text(items[0], "model tag")
        index = 1
    while index < len(items):
        token = items[index]
        index += 1
        if token.startswith("-") and not token.startswith("--"):
            raise LlmstackError(f"{token} is not a `vllm serve` option in vLLM 0.33.0 (short aliases are not "
                                "in the pinned list)", hint="use the long --option name")
        if not token.startswith("--"):
            raise LlmstackError(
                f"unexpected argument {token!r}",
                hint="`vllm serve` takes the model first, then only --options and their values",
            )
        flag, has_inline, inline = token.partition("=")
        negated = flag.startswith("--no-") and flag not in known
        option = known.get("--" + flag[len("--no-"):] if negated else flag)
        if option is None:
            raise LlmstackError(f"{flag} is not a `vllm serve` option in vLLM 0.33.0",
                                hint=_suggest(flag, list(known)))
        if negated and not option.boolean:
            raise LlmstackError(f"{flag}: {option.flag} is not a boolean option", hint=f"use {option.flag} VALUE")
        if option.boolean:
            if has_inline:
                raise LlmstackError(f"{flag} takes no value",
                                    hint=f"use {option.flag} or --no-{option.flag[2:]}")
            continue
        if has_inline:
            values = [inline]
        else:
            values = []
            while index < len(items) and not items[index].startswith("--"):
                values.append(items[index])
                index += 1
                if not option.multiple:
                    break
        if not values or any(v == "" for v in values):
            raise LlmstackError(f"{flag} needs a value")
        for value in values:
            _check_text(value, flag)
            if option.choices is not None and value not in option.choices:
                raise LlmstackError(f"{flag} {value!r} is not a choice in vLLM 0.33.0",
                                    hint=f"choices: {', '.join(option.choices)}")


def _flags(args: Sequence[str]) -> list[str]:
    return [a.partition("=")[0] for a in args if a.startswith("--")]


def _check_text(value: str, what: str) -> None:
    if any(ch in value for ch in "\n\r\x00"):
        raise LlmstackError(f"{what}: value contains a line break or NUL", hint="arguments are single-line")


def _number(value: float) -> str:
    return f"{value:g}"


def _suggest(flag: str, known: list[str]) -> str:
    close = difflib.get_close_matches(flag, known, n=3, cutoff=0.6)
    return f"did you mean {', '.join(close)}?" if close else "see `vllm serve --help` for vLLM 0.33.0"
