#!/usr/bin/env bash
# Lint and type check, as CI does before the tests (.ci/run). Needs the dev extras: pip install -e '.[dev]'.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/ruff" check .
"$bin/ruff" format --check .
"$bin/mypy"  # files and settings: [tool.mypy] in pyproject.toml
