"""Staff alerts to the departments' group robots; every other notification to the adapter it had.

A staff alert is a notification whose topic asks someone to act (TOPICS in message.py) and
whose recipient is a person of the case's department: `department:<d>` and `employee:<id>`
(the handler's rung), `supervisor:<d>`, or a role (agent, handler, supervisor, head). Its
department and rung choose the robots (config.py). No robot for them: NotRouted, recorded
as `unrouted` on the outbox row, never retried. One robot failing: DeliveryFailed, retried
with the outbox's backoff; a robot that already took the alert is not sent it again, by this
dispatcher or another one (platforms have no idempotency key): each robot's answer is recorded
per outbox row in delivery_attempts (store/messages.py) and a retry skips those recorded sent.
A robot that took the alert but whose answer was lost may hear it twice: the platform gives no
way to ask.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from delivery.notify import DeliveryFailed, NotificationAdapter, NotRouted
from delivery.robots.base import GroupRobot
from delivery.robots.config import RUNGS, RobotsConfig
from delivery.robots.dingtalk import DingTalkRobot
from delivery.robots.feishu import FeishuRobot
from delivery.robots.message import TOPICS, compose
from delivery.robots.wecom import WeComRobot
from store.alert_facts import alert_facts
from store.messages import FAILED, SENT, MessageStore
from store.outbox import OutboundNotification

KINDS: dict[str, type[GroupRobot]] = {"wecom": WeComRobot, "dingtalk": DingTalkRobot, "feishu": FeishuRobot}


def build_robots(config: RobotsConfig) -> dict[str, GroupRobot]:
    return {
        robot_id: KINDS[spec.kind](
            robot_id,
            spec.webhook,
            secret=spec.secret.get_secret_value() if spec.secret else None,
            markdown=spec.format == "markdown",
        )
        for robot_id, spec in config.robots.items()
    }


def staff_target(recipient: str) -> tuple[str | None, str] | None:
    """(department named by the recipient, rung), or None when the recipient is no staff member
    (the customer, a warehouse or carrier system)."""
    prefix, _, rest = recipient.partition(":")
    if rest:
        if prefix == "department":
            return rest, "handler"
        if prefix == "employee":
            return None, "handler"
        if prefix in RUNGS:
            return rest, prefix
        return None
    return (None, recipient) if recipient in RUNGS else None


class StaffRobots:
    """A NotificationAdapter: staff alerts to robots, everything else to `other`."""

    def __init__(
        self,
        config: RobotsConfig,
        sessions: async_sessionmaker[AsyncSession],
        other: NotificationAdapter,
        *,
        zone: ZoneInfo,
        robots: dict[str, GroupRobot] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._sessions = sessions
        self._other = other
        self._zone = zone
        self._robots = robots if robots is not None else build_robots(config)
        self._record = MessageStore(sessions)
        self._now = now

    async def deliver(self, notification: OutboundNotification) -> None:
        target = staff_target(notification.recipient) if notification.topic in TOPICS else None
        if target is None:
            await self._other.deliver(notification)
            return
        named_department, rung = target
        facts = await alert_facts(self._sessions, notification.case_number, notification.seq)
        department = named_department or (facts.department if facts else None)
        robot_ids = self._config.robots_for(department, rung)
        if not robot_ids:
            raise NotRouted(f"no group robot for department {department or 'none'} at rung {rung} (ROBOTS routes)")
        alert = compose(
            notification.topic,
            notification.case_number,
            notification.body,
            facts,
            rung=rung,
            department=department,
            zone=self._zone,
            console_url=self._config.console_url,
        )
        failures = []
        already = await self._record.robots_sent(notification.id)
        for robot_id in robot_ids:
            if robot_id in already:
                continue
            try:
                await self._robots[robot_id].send(alert)
            except DeliveryFailed as error:
                failures.append(str(error))
                await self._attempt(notification, robot_id, FAILED, str(error))
                continue
            await self._attempt(notification, robot_id, SENT)
        if failures:
            raise DeliveryFailed("; ".join(failures))

    async def _attempt(
        self, notification: OutboundNotification, robot_id: str, result: str, detail: str | None = None
    ) -> None:
        await self._record.record_robot(
            notification.id, notification.case_number, notification.seq, notification.topic, robot_id,
            notification.attempt, result, self._now(), detail,
        )  # fmt: skip
