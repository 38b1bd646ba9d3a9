"""The channel adapters in use, selected by configuration: a platform is on when its
credentials are set (core/settings.py)."""

from __future__ import annotations

from channels.base import ChannelAdapter
from channels.douyin.adapter import DouyinAdapter
from channels.taobao import adapter_from_settings as taobao_adapter
from channels.taobao import taobao_configured
from core.settings import Settings
from domain.marketplace import Platform


def adapters_from_settings(settings: Settings) -> dict[Platform, ChannelAdapter]:
    adapters: dict[Platform, ChannelAdapter] = {}
    if settings.douyin_app_key and settings.douyin_app_secret is not None:
        adapters[Platform.DOUYIN] = DouyinAdapter(
            settings.douyin_app_key,
            settings.douyin_app_secret.get_secret_value(),
            settings.douyin_api_url,
            settings.douyin_access_token.get_secret_value() if settings.douyin_access_token else "",
        )
    if taobao_configured(settings):
        adapters[Platform.TAOBAO] = taobao_adapter(settings)
    return adapters
