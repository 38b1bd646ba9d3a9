"""`aftersales dev` prints a one-time console sign-in link per role: the agent's link signs the
browser in once and opens the agent's inbox."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.devrun import DevRun

ROLES = ("agent", "handler", "supervisor", "head", "admin")


def test_dev_prints_a_sign_in_link_per_role_that_works_once(tmp_path: Path) -> None:
    with DevRun(tmp_path) as run:
        output = run.output()
        links = dict(re.findall(r"^  (\w+) +(http://\S+/console/dev-sign-in/\S+)$", output, re.M))
        assert sorted(links) == sorted(ROLES), output
        with httpx.Client(base_url=run.api) as browser:
            first = browser.get(links["agent"])
            assert first.status_code == 303, first.text
            inbox = browser.get("/console/", headers={"Accept-Language": "en"})
            assert inbox.status_code == 200
            assert "agent-li" in inbox.text and "<h1>Inbox</h1>" in inbox.text
        again = httpx.get(links["agent"])
        assert again.status_code == 401  # one-time
