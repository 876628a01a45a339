"""The rendered ``vllm serve`` arguments, parsed by vLLM's own argument parser (in the engine's venv).

vLLM's ``make_arg_parser`` (the parser ``vllm serve`` and the API server use) and its
``validate_parsed_serve_args`` run on every deployment's arguments of ``examples/stack.yaml``;
the parsed values must be the ones the spec asked for. The engine installed here is 0.32.0
while the renderer targets 0.33.0's option list: a flag 0.32.0 lacks fails here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from llmstack.artifacts import drain, vllm_args
from llmstack.capacity import kernel_choice
from llmstack.engine.launcher import ENGINE_ENV
from llmstack.spec.loading import load_spec
from tests.conftest import EXAMPLE_SPEC

PARSE = """
import json, sys
from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
from vllm.utils.argparse_utils import FlexibleArgumentParser
out = []
for argv in json.load(sys.stdin):
    ns = make_arg_parser(FlexibleArgumentParser()).parse_args(argv)
    validate_parsed_serve_args(ns)
    out.append({k: v for k, v in vars(ns).items() if isinstance(v, (str, int, float, bool, list, type(None)))})
print(json.dumps(out))
"""


def test_rendered_args_parse_in_vllm_with_the_spec_values(engine_python: Path) -> None:
    stack = load_spec(EXAMPLE_SPEC)
    argvs = [vllm_args.serve_args(stack, d.name) for d in stack.deployments]
    done = subprocess.run([str(engine_python), "-c", PARSE], input=json.dumps(argvs), capture_output=True,
                          text=True, timeout=300, env={**ENGINE_ENV, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    for deployment, ns in zip(stack.deployments, parsed, strict=True):
        variant = stack.model(deployment.model).variant(deployment.variant)
        assert ns["model_tag"] == variant.weights
        assert ns["served_model_name"] == vllm_args.served_model_names(stack, deployment.name)
        assert ns["tensor_parallel_size"] == deployment.tensor_parallel
        assert ns["max_model_len"] == deployment.engine.max_model_len
        assert ns["gpu_memory_utilization"] == deployment.engine.gpu_memory_utilization
        assert ns["max_num_seqs"] == deployment.engine.max_num_seqs
        assert ns["quantization"] == kernel_choice.quantization_flag(variant)  # None: read from the checkpoint
        assert ns["enable_prefix_caching"] == deployment.engine.enable_prefix_caching
        assert ns["port"] == 8000 and ns["host"] == "0.0.0.0"
        assert ns["shutdown_timeout"] == drain.shutdown_timeout_s(stack, deployment.name) > 0  # drain mode
