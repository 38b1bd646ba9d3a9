#!/usr/bin/env bash
# Lint and type check, as CI does before the tests (.ci/run). Needs the dev extras: pip install -e '.[dev]'.
# Settings: [tool.ruff] and [tool.mypy] in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/ruff" check .
"$bin/mypy"
"$bin/ruff" format --check .  # `ruff format .` fixes what this reports
