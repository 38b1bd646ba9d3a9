"""Patch ids of CaseWorkflow.

Every change a running case could meet is asked with `workflow.patched(<id>)`: histories
recorded before it take the old path. An id goes through the stages of samples-python's
`patching/`: `patched` (both paths) -> `deprecate_patch` once no running case and no kept
baseline lacks the marker -> removed. `BASELINES` says which recorded baseline in
tests/histories/ first carries each marker (None: no baseline yet, the lead records one)
and so when the old path may go: after every case started before that baseline is archived
and the baselines without the marker are retired.

Call sites ask `patched(<id>)` below, not `workflow.patched`: a new run carries the markers of
the ids in BUNDLED as one marker, PATCHES_BUNDLED's.
"""

from __future__ import annotations

from temporalio import workflow

# Refunds go to the customer's original payment route first and to an alternative route
# when it fails; a resolution no route could carry out becomes a follow-up task for a
# person instead of failing the case. Cases approved before this patch keep their one
# `execute_resolution` call.
EXECUTION_ROUTES = "execution-routes"

# An exchange first checks stock; out of stock, the customer chooses a similar item or a
# refund (clocks paused meanwhile).
EXCHANGE_STOCK = "exchange-stock-check"

# Returns and repairs wait for logistics and the warehouse step by step (domain/returns.py)
# before the refund, exchange or repaired item is settled; cases approved before this patch
# keep their one `execute_resolution` call.
RETURN_STEPS = "return-steps"

# An exchange offer the customer leaves unanswered is reminded, then settled by the refund it
# included; offers made before this patch wait for the customer as they did.
EXCHANGE_OFFER_TIMEOUT = "exchange-offer-timeout"

# Recording a transition and suggesting a triage are quick writes and reads of our own
# database: as local activities they run inside the workflow task instead of costing a
# server round trip each (bench/README.md). Cases started before this patch keep the
# regular activities they were recorded with.
LOCAL_SIDE_EFFECTS = "local-record-and-triage"

# Approval by grade (issue 4): a deadline for the approver, a second rejection sends the plan
# to the head, too many reopens send the case to the head. Each adds timers or events that
# cases recorded before it never had.
APPROVAL_CLOCK = "approval-deadline"

SECOND_REJECTION = "second-rejection-to-head"

REOPEN_LIMIT = "reopen-limit-to-head"

# Result and follow-up (issue 4, steps 6 and 7): a working day to tell the customer the result,
# a call-back task for a person after a low score, and a fix check days after a satisfied close.
# Cases recorded before them keep the old way: no result clock, a `call_back` notification only,
# and archiving at once after closing.
RESULT_CLOCK = "result-clock"

CALL_BACK_TASK = "call-back-task"

FIX_CHECK = "fix-check"

# Multi-department cases (issue 4): contribution deadlines share the case's one timer and a
# plan waits for every contribution. Only cases whose head named assisting departments meet
# either; the patch marks the histories that do.
MULTI_DEPARTMENT = "multi-department"

# A case that wakes late (a backlog of timers on a busy worker) may find several items due
# at once, e.g. a warning and the breach: they are recorded with one local activity in one
# workflow task instead of one each (bench/README.md, deadline lag). Cases recorded before
# this patch recorded each item alone.
COALESCE_DUE_ITEMS = "coalesce-due-items"

# The first reply is due by the suggested priority's target from receipt (15 minutes for a
# suggested P1, issue 12), and triage re-targets a clock still unmet to the priority it sets;
# the `received` and `triaged` events say which target applied. Cases received before this
# patch started their first-reply timer at P3's 30 minutes and keep it.
FIRST_REPLY_BY_PRIORITY = "first-reply-by-priority"


# A person's action is recorded by a regular activity, scheduled in the workflow task that
# accepts the update, so the write exists only once the acceptance is in history. A local
# activity wrote it before the task completed: a crash then left an approval in the record
# that the server dropped with the task (issue 13). Timer-, signal- and start-driven writes
# stay local: their cause is already in history and a retried task writes them again (the
# store replaces what a lost task wrote: store/cases.py). Cases recorded before this patch
# keep their local activities in handlers.
RECORD_AFTER_ACCEPT = "record-after-accept"

# A write the database refuses for good (a data error, e.g. a NUL character in text) fails
# the record activity at once instead of retrying for ever (issue 13 §2): the case notes the
# failure for the stuck finder and waits there for an engineer, recording nothing after it.
# Only a case that meets such a refusal runs this code; no recorded history did.
RECORD_REFUSED = "record-refused"

# Marketplace after-sales (issue 17): a case opened from a platform message carries the
# platform's deadline as its `platform` clock. Asked when the clock is first armed, so only
# marketplace cases carry the marker; no case recorded before it had a platform.
PLATFORM_CLOCK = "platform-clock"

# A marketplace case's approved refund is sent to the platform (its agreement, or the receipt
# confirmation after a return) instead of our payment routes, and an approved return is
# authorised there first. Only cases with a platform meet it.
PLATFORM_DECISIONS = "platform-decisions"

# Search attributes are upserted only when one changed, and only those that did (issue 19 §4:
# all eleven at every write were 15 upserts, ≈ 5.5 KB of a closed loop's history). Cases
# recorded before it upserted all at every write and keep doing so. Stage: patched.
CHANGED_SEARCH_ATTRIBUTES = "changed-search-attributes"

# A wait of over two minutes wakes a minute ahead and sets the last minute from the task that
# wakes (domain/due.py, WAKE_EARLY_BY): its timer no longer fires as late as the task that set it
# completed after its clock (issue 19 §6 a). Cases recorded before it slept each wait whole.
# Stage: patched.
WAKE_AHEAD = "wake-ahead"

# A new run asks the patches of ASKED_AT_START before it does anything else (workflow.py), so
# that their markers are in its first workflow task. A patch first asked right after a local
# activity returned could, in replay, be asked before core had read its marker: when the
# activity's result came in while core was completing the task early (a local activity slow
# enough to near the task timeout, e.g. on a worker just restarted), the activity's marker landed
# in that task and the patch's in the next; replay resolved the activity within the first,
# `patched` answered False, and the history's marker had no command (TMPRL1100 on
# `first-reply-by-priority`, tests/e2e/test_worker_crash.py). The recorded paths ask only these
# after a local activity (tests/workflows/test_patches.py keeps it so). Runs recorded before it
# ask each where its change applies. Stage: patched.
PATCHES_AT_START = "patches-at-start"

# Asked after a local activity where their change applies (a receipt's triage suggestion, a due
# item's record, a refused record): each a marker and an upsert of TemporalChangeVersion, so
# only these, not every patch (all of them cost 7 KB of history per case, measured).
ASKED_AT_START = (FIRST_REPLY_BY_PRIORITY, COALESCE_DUE_ITEMS, WAKE_AHEAD, RECORD_REFUSED)

# A new run asks this one patch instead of each id in BUNDLED, and its marker answers for all
# of them: one marker and one upsert of TemporalChangeVersion instead of one of each per id
# (12 of each in a closed loop: 22 events, 4.5 KB; issue 19 §4, bench/README.md "What one case
# costs"). A run recorded before it has no such marker and asks each id where its change
# applies, as it did. So a case's TemporalChangeVersion holds either PATCHES_BUNDLED (every id
# in BUNDLED applies) or the ids it met. A patch added later is asked on its own (or goes in a
# later bundle). Once no running case and no kept baseline predates the bundle, every id in
# BUNDLED is true everywhere and their old paths can go together. Stage: patched.
PATCHES_BUNDLED = "bundle-2026-12"

# id -> the first baseline in tests/histories/ that recorded its marker.
BASELINES: dict[str, str | None] = {
    LOCAL_SIDE_EFFECTS: "v2-local-activities",
    EXECUTION_ROUTES: "v3-handling-rules",
    EXCHANGE_STOCK: "v3-handling-rules",
    APPROVAL_CLOCK: "v3-handling-rules",
    SECOND_REJECTION: "v3-handling-rules",
    REOPEN_LIMIT: "v3-handling-rules",
    RETURN_STEPS: "v4-returns-follow-up-departments",
    EXCHANGE_OFFER_TIMEOUT: "v4-returns-follow-up-departments",
    RESULT_CLOCK: "v4-returns-follow-up-departments",
    CALL_BACK_TASK: "v4-returns-follow-up-departments",
    FIX_CHECK: "v4-returns-follow-up-departments",
    MULTI_DEPARTMENT: "v4-returns-follow-up-departments",
    COALESCE_DUE_ITEMS: "v4-returns-follow-up-departments",
    FIRST_REPLY_BY_PRIORITY: "v5-first-reply-record-after-accept",
    RECORD_AFTER_ACCEPT: "v5-first-reply-record-after-accept",
    RECORD_REFUSED: "v10-patches-at-start",  # asked at start since; its own path has no history
    PLATFORM_CLOCK: "v6-platform-clock",
    PLATFORM_DECISIONS: "v6-platform-clock",
    CHANGED_SEARCH_ATTRIBUTES: "v8-lean-case",
    WAKE_AHEAD: "v9-wake-ahead",
    PATCHES_AT_START: "v10-patches-at-start",
    PATCHES_BUNDLED: "v11-bundled-patches",
}

# Every id a run carrying PATCHES_BUNDLED takes as patched without asking: all patches before it.
BUNDLED = frozenset(BASELINES) - {PATCHES_BUNDLED}


def patched(patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, answered by PATCHES_BUNDLED's marker for an id in BUNDLED.
    The SDK remembers each answer for the run, so the bundle is asked once: by a new run in
    its first workflow task (the run asks PATCHES_AT_START first thing), before any activity."""
    if patch_id in BUNDLED and workflow.patched(PATCHES_BUNDLED):
        return True
    return workflow.patched(patch_id)
