"""Calibrated profiles: efficiency terms fitted to one real deployment, as pure data.

``llmstack calibrate`` measures an OpenAI-compatible endpoint under a closed-loop sweep and fits
the capacity model's efficiency terms (bandwidth and compute efficiency, fixed and per-sequence
step overhead, API-server time and the serial part of it, busy-engine admission); the result is a
:class:`CalibratedProfile` keyed by what it was measured on (architecture, variant, accelerator,
TP, engine version). A deployment names one
with ``deployments[].profile``; :func:`apply` swaps the fitted terms into that deployment's
:class:`~llmstack.capacity.throughput.EngineProfile` after checking the key matches.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmstack import yaml_text
from llmstack.errors import LlmstackError

PROFILE_VERSION = 1


class ProfileKey(BaseModel):
    """What a profile was measured on; it applies only to a deployment with the same key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: str
    variant: str = Field(description="the variant's compute format label, e.g. 'bf16' or 'int4 weight-only (Marlin)'")
    accelerator: str
    tensor_parallel: int = Field(ge=1)
    engine_version: str | None = Field(default=None, description="vLLM version the endpoint reported, if any")


class FittedTerms(BaseModel):
    """The capacity model's efficiency terms, fitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bandwidth_efficiency: float = Field(gt=0, le=5)
    compute_efficiency: float = Field(gt=0, le=5)
    step_overhead_s: float = Field(ge=0)
    per_sequence_overhead_s: float = Field(ge=0)
    api_server_s: float = Field(ge=0)
    api_server_serial_s: float | None = Field(default=None, ge=0, description=(
        "the API server's time that requests arriving together queue for (absent: all of api_server_s)"))
    api_server_per_token_s: float | None = Field(default=None, ge=0, description=(
        "the API server's time per streamed token (absent: the model's default)"))
    busy_admission_s: float = Field(default=0.0, ge=0, description=(
        "extra TTFT of a request that arrives while the engine is busy (absent in version-1 files: 0)"))


class LevelResult(BaseModel):
    """One concurrency level of the sweep: measured on the client, and what the fitted model says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(ge=1)
    requests: int = Field(ge=1)
    prompt_tokens: float
    output_tokens: float
    used_in_fit: bool
    measured_output_tokens_per_s: float
    measured_ttft_mean_s: float
    measured_tpot_mean_s: float
    fitted_output_tokens_per_s: float | None = None
    fitted_ttft_mean_s: float | None = None
    fitted_tpot_mean_s: float | None = None


class CalibratedProfile(BaseModel):
    """A calibration: key, fitted terms, the engine's own cache facts and the sweep behind them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PROFILE_VERSION
    key: ProfileKey
    terms: FittedTerms
    kv_cache_tokens: int | None = Field(default=None, description="num_gpu_blocks x block_size from /metrics")
    block_size: int | None = None
    max_num_seqs: int | None = None
    endpoint: str
    model: str
    measured_at: str
    levels: list[LevelResult] = Field(default_factory=list)


def key_mismatch(profile: CalibratedProfile, key: ProfileKey) -> str | None:
    """Why ``profile`` does not apply to a deployment with ``key`` (None when it does)."""
    for field in ("architecture", "variant", "accelerator", "tensor_parallel"):
        have, want = getattr(profile.key, field), getattr(key, field)
        if have != want:
            return f"it was measured with {field} {have!r}, the deployment has {want!r}"
    return None


def to_yaml(profile: CalibratedProfile) -> str:
    return yaml_text.dump(profile.model_dump(mode="json"))


def from_yaml(text: str, source: str) -> CalibratedProfile:
    """Parse a profile file's text; bad content is one :class:`LlmstackError` naming the file."""
    try:
        data = yaml.safe_load(text)
        return CalibratedProfile.model_validate(data)
    except yaml.YAMLError as exc:
        raise LlmstackError(f"profile is not YAML: {exc}", path=source) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LlmstackError(f"not a calibrated profile: {where}: {first['msg']}", path=source,
                            hint="write one with llmstack calibrate") from exc


@cache
def load(path: str) -> CalibratedProfile:
    """Read the profile at ``path`` (cached: profiles are immutable files)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LlmstackError(f"cannot read profile {path!r}: {exc.strerror}", path="deployments[].profile") from exc
    return from_yaml(text, path)
