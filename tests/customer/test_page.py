"""The customer page over HTTP: refused links, one answer per link, forms only from this page,
and the files a customer sends (checked on content, stripped of metadata, shown to the right staff)."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from services.customer_links import issue_token
from tests.conftest import Database
from tests.customer.conftest import ANSWER_LIMIT, HOTLINE, CustomerSite, nonce_of
from tests.support.api import drive_to_feedback, open_and_triage, post
from tests.support.people import AGENT, HANDLER, OTHER_HANDLER
from tests.support.waiting import wait_for_event, wait_for_stage
from workflows.case import CaseWorkflow

NAME, PHONE = "张三丰", "138 0013 8000"


async def _asking(site: CustomerSite) -> str:
    """A case waiting for the customer's answer to a question."""
    case = await open_and_triage(site.client)
    number = case["number"]
    await post(site.client, f"/cases/{number}/accept", None, HANDLER)
    await post(site.client, f"/cases/{number}/info-requests", {"question": "请拍一张底座裂缝的照片"}, HANDLER)
    return number


def _photo(exif: bool = True, size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    image = Image.new("RGB", size, (200, 30, 30))
    data = Image.Exif()
    if exif:
        data[0x010F] = "PhoneMakerSecret"  # Make
        data[0x0110] = "ModelX"  # Model
        data.get_ifd(0x8825).update({1: "N", 2: (39.0, 54.0, 27.0)})  # GPS latitude
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=data)
    return out.getvalue()


async def _form(site: CustomerSite, token: str) -> str:
    opened = await site.client.get(f"/c/{token}")
    assert opened.status_code == 200, opened.text
    return nonce_of(opened.text)


async def _reply(site: CustomerSite, token: str, files: list[tuple[str, bytes, str]], **extra: Any) -> httpx.Response:
    nonce = await _form(site, token)
    parts = [("files", f) for f in files]
    return await site.client.post(
        f"/c/{token}", data={"text": "在底座左侧", "nonce": nonce} | extra, files=parts or None
    )


def _mine(site: CustomerSite, number: str) -> list[str]:
    return [p.name for p in site.stored_files() if p.parent.name == number]


async def test_expired_foreign_and_altered_links_are_refused_with_a_page(site: CustomerSite) -> None:
    case = await open_and_triage(site.client)
    number = case["number"]
    expired = await site.client.get(f"/c/{site.token(number, 'status', timedelta(seconds=-1))}")
    assert expired.status_code == 410
    assert "此链接已过期" in expired.text and HOTLINE in expired.text
    assert 'id="status"' not in expired.text  # an expired link shows nothing of the case

    other_key = Settings(customer_link_secret=SecretStr("someone-else"))
    foreign = issue_token(number, "status", datetime.now(UTC) + timedelta(days=1), other_key)
    other_case = site.token(number, "status").replace(number, number[:-1] + ("9" if number[-1] != "9" else "8"))
    for token in (foreign, other_case, "not-a-token", "A" * 300):
        refused = await site.client.get(f"/c/{token}")
        assert refused.status_code == 404, token
        assert "链接无效" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
        posted = await site.client.post(f"/c/{token}", data={"score": "5"})
        assert posted.status_code == 404

    # A genuine status link: this case's number, its stage in plain words, nothing personal.
    page = await site.client.get(f"/c/{site.token(number, 'status')}")
    assert page.status_code == 200
    assert number in page.text and "已转给负责的部门" in page.text
    assert NAME not in page.text and PHONE not in page.text and "handler-wang" not in page.text
    english = await site.client.get(f"/c/{site.token(number, 'status')}", headers={"Accept-Language": "en-US,en"})
    assert "It is with the team responsible" in english.text and 'lang="en"' in english.text


async def test_a_form_posted_from_elsewhere_is_refused(site: CustomerSite) -> None:
    case = await open_and_triage(site.client)
    number = case["number"]
    await drive_to_feedback(site.client, number)
    token = site.token(number, "survey")
    nonce = await _form(site, token)
    # No nonce, another link's nonce, or another site's Origin: refused, and the case still waits.
    other = site.token(number, "survey", timedelta(days=3))
    for data, headers in [
        ({"score": "5"}, {}),
        ({"score": "5", "nonce": await _form(site, other)}, {}),
        ({"score": "5", "nonce": nonce}, {"Origin": "https://evil.example"}),
    ]:
        refused = await site.client.post(f"/c/{token}", data=data, headers=headers)
        assert refused.status_code == 403 and "页面已失效" in refused.text
    bad = await site.client.post(f"/c/{token}", data={"score": "9", "nonce": nonce})
    assert bad.status_code == 422 and "请选择 1 到 5 分" in bad.text
    control = await site.client.post(f"/c/{token}", data={"score": "5", "comment": "a\x00b", "nonce": nonce})
    assert control.status_code == 422 and "控制字符" in control.text
    assert (await site.client.get(f"/cases/{number}", headers=AGENT)).json()["live"]["stage"] == "awaiting_feedback"

    # Answered once; the second press (another score) is received, not acted on.
    first = await site.client.post(f"/c/{token}", data={"score": "4", "nonce": nonce})
    assert first.status_code == 303
    again = await site.client.post(f"/c/{token}", data={"score": "1", "nonce": nonce})
    assert again.status_code == 200 and "已经收到" in again.text
    timeline = (await site.client.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    closing = [e for e in timeline if e["kind"] in ("closed", "reopened")]
    assert [(e["kind"], e["data"]["score"], e["actor_id"]) for e in closing] == [("closed", 4, "customer-page")]


async def test_a_photo_over_the_limit_or_not_a_photo_is_refused_and_nothing_is_stored(site: CustomerSite) -> None:
    number = await _asking(site)
    token = site.token(number, "info_request")
    big = _photo(noise=True, size=(200, 200))
    assert len(big) > site.settings.upload_max_image_bytes
    too_large = await _reply(site, token, [("crack.png", big, "image/png")])
    assert too_large.status_code == 413
    assert "第 1 个文件太大" in too_large.text and "64 KB" in too_large.text
    forged = await _reply(
        site, token, [("ok.jpg", _photo(), "image/jpeg"), ("crack.jpg", b"MZ\x90\x00" * 50, "image/jpeg")]
    )
    assert forged.status_code == 415 and "第 2 个文件不是支持的照片或视频" in forged.text

    class Rejecting:
        async def scan(self, data: bytes, content_type: str) -> str | None:
            return "EICAR test signature"

    scanner, site.app.state.upload_scanner = site.app.state.upload_scanner, Rejecting()
    try:
        infected = await _reply(site, token, [("crack.jpg", _photo(), "image/jpeg")])
    finally:
        site.app.state.upload_scanner = scanner
    assert infected.status_code == 422 and "未通过安全检查" in infected.text

    # An answer larger than the whole body may be is refused before it is read, with a page too.
    huge = await _reply(site, token, [("crack.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(ANSWER_LIMIT), "video/mp4")])
    assert huge.status_code == 413 and "提交的内容太大（最多 1 MB）" in huge.text

    # Nothing of any refused answer was kept, and the case still waits for the customer.
    assert _mine(site, number) == []
    assert (await site.client.get(f"/cases/{number}/attachments", headers=AGENT)).json() == []
    assert (await site.client.get(f"/cases/{number}", headers=AGENT)).json()["live"]["stage"] == "awaiting_customer"


async def test_an_uploaded_photo_loses_its_metadata_and_only_the_cases_staff_see_it(site: CustomerSite) -> None:
    number = await _asking(site)
    token = site.token(number, "info_request")
    page = await site.client.get(f"/c/{token}")
    assert "请拍一张底座裂缝的照片" in page.text  # the question asked
    assert "handler-wang" not in page.text and 'id="handler"' not in page.text  # staff stay unnamed...
    site.settings.customer_page_shows_staff = True
    try:  # ...unless configured
        assert '<dd id="handler">handler-wang</dd>' in (await site.client.get(f"/c/{token}")).text
    finally:
        site.settings.customer_page_shows_staff = False
    original = _photo()
    assert b"PhoneMakerSecret" in original and Image.open(io.BytesIO(original)).getexif()
    sent = await _reply(site, token, [("IMG_0001.jpg", original, "image/jpeg")])
    assert sent.status_code == 303, sent.text
    thanks = await site.client.get(sent.headers["location"])
    assert "已收到您的回复" in thanks.text and 'name="nonce"' not in thanks.text
    await wait_for_stage(site.client, number, "in_handling", AGENT)

    listed = await site.client.get(f"/cases/{number}/attachments", headers=HANDLER)
    assert listed.status_code == 200, listed.text
    [attachment] = listed.json()
    assert (attachment["kind"], attachment["content_type"]) == ("photo", "image/jpeg")
    timeline = (await site.client.get(f"/cases/{number}/timeline", headers=HANDLER)).json()
    reply = next(e for e in timeline if e["kind"] == "customer_replied")
    assert reply["data"]["evidence"] == [{"kind": "photo", "uri": attachment["evidence"]}]
    assert reply["data"]["text"] == "在底座左侧" and reply["actor_id"] == "customer-page"

    served = await site.client.get(attachment["href"], headers=HANDLER)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert b"PhoneMakerSecret" not in served.content and b"ModelX" not in served.content
    cleaned = Image.open(io.BytesIO(served.content))
    assert (cleaned.size, dict(cleaned.getexif())) == ((64, 48), {})
    assert _mine(site, number) == [f"{attachment['reference']}.jpg"]

    # Another department's handler: 404 as for any case they do not see; an agent sees it.
    for path in (f"/cases/{number}/attachments", attachment["href"]):
        hidden = await site.client.get(path, headers=OTHER_HANDLER)
        assert hidden.status_code == 404 and hidden.json()["title"] == "Case not found"
    assert (await site.client.get(attachment["href"], headers=AGENT)).content == served.content
    assert (await site.client.get(attachment["href"])).status_code == 401


async def test_the_fix_check_answered_on_the_page_archives_the_case(
    site: CustomerSite, env: WorkflowEnvironment, database: Database
) -> None:
    number = (await open_and_triage(site.client))["number"]
    await drive_to_feedback(site.client, number)
    survey = site.token(number, "survey")
    assert (
        await site.client.post(f"/c/{survey}", data={"score": "5", "nonce": await _form(site, survey)})
    ).status_code == 303
    token = site.token(number, "fix_check", timedelta(days=10))
    early = await site.client.get(f"/c/{token}")
    assert early.status_code == 200 and 'name="held"' in early.text  # asked days later, answerable now

    await env.fast_forward(env.client.get_workflow_handle_for(CaseWorkflow.run, number), timedelta(days=7, minutes=1))
    await wait_for_event(database, number, "fix_check_sent")
    page = await site.client.get(f"/c/{token}")
    assert "问题解决后是否一直正常？" in page.text
    held = await site.client.post(f"/c/{token}", data={"held": "yes", "nonce": nonce_of(page.text)})
    assert held.status_code == 303, held.text
    await wait_for_stage(site.client, number, "archived", AGENT, source="record")
    timeline = (await site.client.get(f"/cases/{number}/timeline", headers=AGENT)).json()
    confirmed = next(e for e in timeline if e["kind"] == "fix_confirmed")
    assert (confirmed["actor_id"], confirmed["data"]["held"]) == ("customer-page", True)


async def test_a_short_video_is_recognised_by_its_content_and_kept_as_sent(site: CustomerSite) -> None:
    number = await _asking(site)
    token = site.token(number, "info_request")
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(4000)
    sent = await _reply(site, token, [("clip.bin", video, "application/octet-stream")])
    assert sent.status_code == 303, sent.text
    [attachment] = (await site.client.get(f"/cases/{number}/attachments", headers=HANDLER)).json()
    assert (attachment["kind"], attachment["content_type"], attachment["size"]) == ("video", "video/mp4", len(video))
    assert (await site.client.get(attachment["href"], headers=HANDLER)).content == video
