#!/usr/bin/env bash
# Record histories of every path the workflow and API tests drive into tests/histories/NAME/,
# for the replay test. Run it when a workflow change is patched in (`workflow.patched`):
# the new directory guards the new code path, and the older directories stay, because they
# stand for cases still open in production that were started on the older code.
# One process (-n 0): parallel workers would each number their cases from 1 and overwrite each other's files.
#   scripts/record_histories.sh v3-something
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/record_histories.sh NAME (a new directory under tests/histories/)}
out=tests/histories/$name
AFTERSALES_RECORD_HISTORIES="$out" python -m pytest -n 0 -q -k "sqlite" tests/e2e/test_closed_loop_api.py tests/workflows/test_case_clocks.py \
  tests/workflows/test_sla_clocks.py tests/workflows/test_handling_rules.py tests/workflows/test_triage_rules.py tests/workflows/test_execution.py \
  tests/api/test_queues.py tests/workflows/test_returns.py tests/workflows/test_follow_up.py tests/workflows/test_multi_department.py tests/workflows/test_due_items.py \
  tests/workflows/test_triage_priority.py tests/channels/test_douyin_channel.py tests/workflows/test_continue_as_new.py tests/workflows/test_brief_answers.py
ls "$out" | wc -l
