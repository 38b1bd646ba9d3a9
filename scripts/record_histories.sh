#!/usr/bin/env bash
# Refresh tests/histories/ from a real run of the workflow and API tests (every path they
# drive), for the replay test. Run it when a workflow change is meant to be a new baseline;
# keep the old histories that stand for cases still open in production.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/histories
AFTERSALES_RECORD_HISTORIES="$out" python -m pytest -q -k "sqlite" tests/test_closed_loop_api.py tests/test_case_clocks.py tests/test_sla_clocks.py
ls "$out" | wc -l
