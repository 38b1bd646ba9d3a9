"""A person opens the monthly report page in a browser: with no credentials they get a sign-in
form (not problem JSON), sign in with their key or token, and the page then opens from a
cookie that nothing but the pages accept."""

from __future__ import annotations

import httpx

from tests.support.people import token

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PAGE = "/reports/monthly.html"


async def test_a_browser_signs_in_and_opens_the_report_page(api: httpx.AsyncClient) -> None:
    try:
        await _sign_in_and_open(api)
    finally:
        api.cookies.clear()  # the session client is shared: no other test may inherit the session


async def _sign_in_and_open(api: httpx.AsyncClient) -> None:
    first = await api.get(PAGE, params={"month": "2025-03"}, headers=BROWSER)
    assert first.status_code == 401
    assert first.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/reports/sign-in">' in first.text
    assert '<html lang="zh-CN">' in first.text and "<h1>月度质量报告 <span" in first.text
    assert "API 密钥 / API key" in first.text and 'value="2025-03"' in first.text
    # A program still gets the problem document.
    assert (await api.get(PAGE, params={"month": "2025-03"})).headers["content-type"] == "application/problem+json"

    supervisor = token("supervisor-zhao", "supervisor")
    signed_in = await api.post("/reports/sign-in", content=f"key={supervisor}&month=2025-03", headers=FORM)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == f"{PAGE}?month=2025-03"
    cookie = signed_in.headers["set-cookie"]
    for attribute in ("aftersales_session=", "HttpOnly", "SameSite=strict", "Path=/reports", "Max-Age=28800"):
        assert attribute.lower() in cookie.lower(), cookie
    session = {"Cookie": f"aftersales_session={signed_in.cookies['aftersales_session']}"}

    page = await api.get(signed_in.headers["location"], headers=BROWSER | session)
    assert page.status_code == 200, page.text
    assert "<h1>月度质量报告 Monthly quality report 2025-03</h1>" in page.text

    # The cookie is a credential for the pages only: never for the JSON API, nor for an action.
    assert (await api.get("/reports/monthly", params={"month": "2025-03"}, headers=session)).status_code == 401
    assert (await api.get("/cases", headers=session)).status_code == 401
    assert (await api.post("/cases", json={}, headers=session)).status_code == 401

    signed_out = await api.post("/reports/sign-out")
    assert signed_out.status_code == 200 and 'aftersales_session=""' in signed_out.headers["set-cookie"]


async def test_a_wrong_key_or_role_gets_the_form_again_saying_why(api: httpx.AsyncClient) -> None:
    wrong = await api.post("/reports/sign-in", content="key=ask_000000000000_nope&month=2025-03", headers=FORM)
    assert wrong.status_code == 401 and "密钥无效或已吊销。The key is unknown or revoked." in wrong.text
    assert "set-cookie" not in wrong.headers
    agent = await api.post("/reports/sign-in", content=f"key={token('agent-li', 'agent')}&month=2025-03", headers=FORM)
    assert agent.status_code == 403 and "角色 agent 无权查看报告。Role agent may not see the report." in agent.text
    assert "set-cookie" not in agent.headers
    # A session of a role that may not see it (e.g. a stale cookie) gets the form with the reason.
    stale = {"Cookie": f"aftersales_session={token('agent-li', 'agent')}"}
    refused = await api.get(PAGE, params={"month": "2025-03"}, headers=BROWSER | stale)
    assert refused.status_code == 403 and "当前角色无权查看报告。role agent may not do this" in refused.text
    # A session whose key is unknown (revoked since) is asked to sign in again, Chinese first.
    revoked = {"Cookie": "aftersales_session=ask_000000000000_nope"}
    again = await api.get(PAGE, params={"month": "2025-03"}, headers=BROWSER | revoked)
    assert again.status_code == 401 and '<form method="post" action="/reports/sign-in">' in again.text
    assert "登录已失效或密钥已吊销，请重新登录。" in again.text
