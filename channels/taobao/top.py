"""The TOP (Taobao Open Platform) HTTP API: a signed POST to the router, JSON answers.

Signature (open.taobao.com "API调用方法详解", as the public SDKs implement it, e.g. GitHub
`go-dragon/dragon` tools/top.go): sort every parameter but `sign` by name, concatenate
name+value; `md5`: MD5(secret + that + secret); `hmac`: HMAC-MD5 keyed with the secret;
`hmac-sha256`: HMAC-SHA256 keyed with the secret; upper-case hex. Common parameters: method,
app_key, session (the shop's access token), timestamp (yyyy-MM-dd HH:mm:ss, Beijing time),
format=json, v=2.0, sign_method. A failure answers `{"error_response": {code, msg, sub_code,
sub_msg}}`; `isp.*` sub-codes and the call-limit code 7 are the platform's trouble (try again),
`isv.*` are a refusal of what we asked.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

BEIJING = ZoneInfo("Asia/Shanghai")
SignMethod = Literal["md5", "hmac", "hmac-sha256"]
# Codes of the platform's own trouble: 7 call limit, 15 remote service error with an isp.* sub-code,
# 520/530 internal; anything else is an answer about our request.
_TRANSIENT_CODES = {"7", "520", "530"}


def sign(params: Mapping[str, str], secret: str, method: SignMethod = "md5") -> str:
    joined = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")
    if method == "md5":
        digest = hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest()
    elif method == "hmac":
        digest = hmac.new(secret.encode(), joined.encode(), hashlib.md5).hexdigest()
    else:
        digest = hmac.new(secret.encode(), joined.encode(), hashlib.sha256).hexdigest()
    return digest.upper()


def top_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def parse_top_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


class TopUnavailable(Exception):
    """The platform could not answer (network, 5xx, call limit, isp.* error): try again later."""


class TopError(Exception):
    """The platform answered our request with a refusal (isv.* and the like)."""

    def __init__(self, code: str, message: str, sub_code: str | None, sub_message: str | None) -> None:
        super().__init__(f"{code} {sub_code or ''}: {sub_message or message}")
        self.code = code
        self.message = message
        self.sub_code = sub_code
        self.sub_message = sub_message


class TopClient:
    def __init__(
        self,
        url: str,
        app_key: str,
        secret: str,
        session: str,
        *,
        sign_method: SignMethod = "md5",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._app_key = app_key
        self._secret = secret
        self._session = session
        self._sign_method = sign_method
        self._timeout = timeout
        self._transport = transport

    async def call(self, method: str, params: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """The body of `<method without taobao. and dots as _>_response`; TopError or TopUnavailable otherwise."""
        form = {key: str(value) for key, value in params.items() if value is not None}
        form |= {
            "method": method,
            "app_key": self._app_key,
            "session": self._session,
            "timestamp": top_time(datetime.now(BEIJING)),
            "format": "json",
            "v": "2.0",
            "sign_method": self._sign_method,
        }
        form["sign"] = sign(form, self._secret, self._sign_method)
        try:
            async with httpx.AsyncClient(timeout=timeout or self._timeout, transport=self._transport) as http:
                answer = await http.post(self._url, data=form)
        except httpx.HTTPError as error:
            raise TopUnavailable(f"{method}: {type(error).__name__}") from error
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TopUnavailable(f"{method}: HTTP {answer.status_code}")
        try:
            body = answer.json()
        except ValueError as error:
            raise TopUnavailable(f"{method}: not JSON (HTTP {answer.status_code})") from error
        if not isinstance(body, dict):
            raise TopUnavailable(f"{method}: unexpected answer")
        if "error_response" in body:
            failure = body["error_response"] or {}
            code = str(failure.get("code", ""))
            sub_code = failure.get("sub_code")
            if code in _TRANSIENT_CODES or (sub_code or "").startswith("isp."):
                raise TopUnavailable(f"{method}: {code} {sub_code or ''}")
            raise TopError(code, str(failure.get("msg", "")), sub_code, failure.get("sub_msg"))
        key = method.removeprefix("taobao.").removeprefix("tmall.").replace(".", "_") + "_response"
        result = body.get(key)
        if not isinstance(result, dict):
            raise TopUnavailable(f"{method}: no {key} in the answer")
        return result
