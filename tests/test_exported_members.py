"""``llmstack.__all__`` is sorted and every name in it exists."""

from __future__ import annotations

import llmstack


def test_all_sorted_and_importable() -> None:
    assert list(llmstack.__all__) == sorted(llmstack.__all__)
    for name in llmstack.__all__:
        assert getattr(llmstack, name) is not None
