"""Taobao/Tmall (淘宝/天猫): refunds through TMC messages and the TOP API."""

from __future__ import annotations

from channels.taobao.adapter import TaobaoAdapter
from channels.taobao.top import TopClient
from core.settings import Settings


def taobao_configured(settings: Settings) -> bool:
    return bool(settings.taobao_app_key) and settings.taobao_app_secret is not None


def adapter_from_settings(settings: Settings) -> TaobaoAdapter:
    assert settings.taobao_app_key and settings.taobao_app_secret is not None
    top = TopClient(
        settings.taobao_api_url,
        settings.taobao_app_key,
        settings.taobao_app_secret.get_secret_value(),
        settings.taobao_session.get_secret_value() if settings.taobao_session else "",
        sign_method=settings.taobao_sign_method,
    )
    return TaobaoAdapter(top, shop_type=settings.taobao_shop_type, return_address_id=settings.taobao_return_address_id)
