"""The alert rules and the dashboard under deploy/ (issue 16, part 3).

`promtool check rules` and `promtool test rules` (deploy/prometheus/alerts.test.yml: each alert
fires on the series that should raise it) pass; every query of the rules and of the Grafana
dashboard names only metrics the product exports (tests/support/observability.py, each of which
tests/e2e/test_observability.py finds in a real scrape), or the Temporal server's and Prometheus's
own where the rules say so.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from tests.support.observability import EXPORTED, PROMETHEUS, TEMPORAL_SERVER, promtool_path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "aftersales.json"

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool"}
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords,
    label names (in `{...}`, `by (...)`, `on (...)`), strings, durations or Grafana variables."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges, [$__rate_interval] included
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    expr = re.sub(r"\boffset\s+\w+", " ", expr)
    names = set()
    for match in _IDENTIFIER.finditer(expr):
        rest = expr[match.end() :].lstrip()
        before = expr[: match.start()]
        if (
            rest.startswith("(")
            or match.group() in _KEYWORDS
            or (before and (before[-1].isdigit() or before[-1] == "."))
        ):
            continue  # a function, a keyword, or the exponent/unit of a number
        names.add(match.group())
    return names


def test_metric_names_reads_promql() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket{job="a"}[5m])))'
    ) == {"http_request_duration_seconds_bucket"}
    assert metric_names("sum(rate(a_total[1h])) > 2 * sum(rate(b[7d] offset 1h)) and c >= 5") == {"a_total", "b", "c"}
    assert metric_names('absent(up{job=~"x.*"} == 1)') == {"up"}


def test_promtool_checks_the_rules_and_their_tests() -> None:
    promtool = promtool_path()
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


def test_every_rule_reads_metrics_that_exist() -> None:
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    alerts = {rule["alert"] for rule in rules}
    # What issue 16 asks to be alerted on, each by a rule.
    assert {
        "AftersalesSlaBreachRateAboveNormal",
        "AftersalesOldestNotificationPending",
        "AftersalesWorkflowTaskFailures",
        "AftersalesWorkflowScheduleToStartSlow",
        "AftersalesSyncMatchRateLow",
        "AftersalesWorkerDown",
    } <= alerts
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        unknown = names - EXPORTED - TEMPORAL_SERVER - PROMETHEUS
        assert unknown == set(), f"{rule['alert']} reads {unknown}, which nothing exports"


def test_every_dashboard_panel_reads_metrics_the_product_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    titles = " ".join(panel["title"] for panel in panels)
    for wanted in ("stage", "SLA breaches", "Escalations", "Approvals waiting", "API latency", "slots", "backlog"):
        assert wanted in titles, wanted
    used = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            assert names <= EXPORTED, f"{panel['title']}: {names - EXPORTED} is not exported by the API or the worker"
            used |= names
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert {"aftersales_open_cases", "aftersales_sla_breaches_total", "temporal_worker_task_slots_used"} <= used
