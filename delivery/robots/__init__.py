"""Staff alerts (SLA warnings and breaches, escalations, approvals waiting, follow-up tasks) to
the departments' group robots on WeCom, DingTalk and Feishu/Lark, configured by ROBOTS.

One module per robot (wecom, dingtalk, feishu), their common HTTP handling (base), the words
of an alert (message), the configuration (config) and the router (router) that the outbox
dispatcher composes in front of its other adapter (delivery/notify.py).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from delivery.notify import NotificationAdapter
from delivery.robots.config import RobotsConfig, load_robots
from delivery.robots.router import StaffRobots

__all__ = ["RobotsConfig", "StaffRobots", "load_robots", "staff_robots"]


def staff_robots(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], other: NotificationAdapter
) -> StaffRobots:
    """The router ROBOTS describes, in front of `other`; ValueError naming the bad key when ROBOTS is wrong."""
    assert settings.robots is not None
    return StaffRobots(load_robots(settings.robots), sessions, other, zone=ZoneInfo(settings.business_timezone))
