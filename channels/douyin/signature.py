"""Douyin Shop's signatures: the message push's `event-sign` header and the open API's `sign`.

Push: `event-sign` = md5(app_key + raw body + app_secret), lower-case hex (zsmhub/doudian-sdk
message/doudian_sign.go `VerifySign`; fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance
Extensions/DouyinShopClientEventExtensions.cs `VerifyEventSignature`, compared ignoring case).
API: hmac-sha256(app_secret, app_secret + "app_key" + key + "method" + method + "param_json" +
body + "timestamp" + ts + "v" + v + app_secret), lower-case hex (the same .NET SDK,
Interceptors/DouyinShopRequestSignInterceptor.cs).
"""

from __future__ import annotations

import hashlib
import hmac


def push_signature(app_key: str, body: bytes, app_secret: str) -> str:
    return hashlib.md5(app_key.encode() + body + app_secret.encode(), usedforsecurity=False).hexdigest()


def push_signed(app_key: str, app_secret: str, body: bytes, signature: str | None) -> bool:
    if not signature or len(signature) > 64:
        return False
    return hmac.compare_digest(push_signature(app_key, body, app_secret), signature.strip().lower())


def api_signature(app_key: str, app_secret: str, method: str, param_json: str, timestamp: str, version: str) -> str:
    plain = (
        f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{version}{app_secret}"
    )
    return hmac.new(app_secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
