"""Search attributes an operator filters cases by in Temporal UI. Never personal data."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_PRIORITY = SearchAttributeKey.for_keyword("CasePriority")
CASE_CATEGORY = SearchAttributeKey.for_keyword_list("CaseCategory")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
SLA_STATE = SearchAttributeKey.for_keyword("SlaState")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
REOPEN_COUNT = SearchAttributeKey.for_int("ReopenCount")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
ASSIGNEE = SearchAttributeKey.for_keyword("Assignee")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CUSTOMER_TIER = SearchAttributeKey.for_keyword("CustomerTier")
# A marketplace case's after-sale, `douyin:7123...` (platform and the platform's id: no personal data).
PLATFORM_AFTER_SALE = SearchAttributeKey.for_keyword("PlatformAfterSale")

ALL = (
    CASE_STAGE,
    CASE_PRIORITY,
    CASE_CATEGORY,
    DEPARTMENT,
    SLA_STATE,
    ESCALATION_LEVEL,
    REOPEN_COUNT,
    NEXT_DEADLINE,
    ASSIGNEE,
    CHANNEL,
    CUSTOMER_TIER,
    PLATFORM_AFTER_SALE,
)

_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "KEYWORD_LIST": "KeywordList",
    "INT": "Int",
    "DATETIME": "Datetime",
}


def cli_definitions() -> list[str]:
    """`Name=Type` pairs as `temporal server start-dev --search-attribute` takes them."""
    return [f"{key.name}={_CLI_TYPES[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}" for key in ALL]
