"""The recorded baselines of tests/histories/ (scripts/record_histories.sh), oldest first."""

from __future__ import annotations

from pathlib import Path

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def version(baseline: Path) -> int:
    """`v10-patches-at-start` -> 10: by number, as "v10" sorts before "v2" by name."""
    return int(baseline.name[1:].split("-", 1)[0])


def baselines() -> list[Path]:
    return sorted((path for path in HISTORIES.iterdir() if path.is_dir()), key=version)
