"""Image pinning: every image is tag@sha256 pinned, or listed as pending with its reason.

Design note: digests are only written where a public source showed them (see
``llmstack/artifacts/images.py``); an image added without a digest fails here until it is
either pinned or added to ``DIGEST_PENDING`` on purpose, and a pending entry whose image
gained a digest fails too, so the list cannot go stale.
"""

from __future__ import annotations

import re

import pytest

from llmstack.artifacts import images

REFERENCE = re.compile(r"^[a-z0-9./-]+:[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?$")


@pytest.mark.parametrize("name", sorted(images.IMAGES))
def test_image_is_digest_pinned_or_pending_with_a_reason(name: str) -> None:
    image = images.IMAGES[name]
    assert image.tag not in ("", "latest")
    assert REFERENCE.match(image.reference), image.reference
    if image.digest is None:
        assert images.DIGEST_PENDING.get(name), f"{name} has no digest and no reason in DIGEST_PENDING"
    else:
        assert images.DIGEST.match(image.digest)
        assert image.reference.endswith(f":{image.tag}@sha256:{image.digest}")
        assert name not in images.DIGEST_PENDING, f"{name} is pinned; drop it from DIGEST_PENDING"


def test_pending_list_names_only_known_images() -> None:
    assert set(images.DIGEST_PENDING) <= set(images.IMAGES)


def test_malformed_digest_is_caught() -> None:
    assert not images.DIGEST.match("sha256:" + "0" * 64)
    assert not images.DIGEST.match("ABC")
