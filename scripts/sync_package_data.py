"""Copy the repository's policies/ and examples/ into llmstack/data (the wheel's copies).

Run after editing a file listed in ``llmstack.data.COPIES``; tests/test_package_data.py
fails while a copy differs from its original.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from llmstack import data

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    for packaged, original in data.COPIES.items():
        target = ROOT / "llmstack" / "data" / packaged
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / original, target)
        print(f"{original} -> {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
