"""The ROBOTS setting: which group robots exist and which of them hears each department's alerts at each rung.

A TOML or JSON document (or the path of a .toml/.json file holding one):

    console_url = "https://aftersales.example.com/console"   # optional: alerts link to the case in the console
    [robots.quality-wecom]
    kind = "wecom"                                    # wecom | dingtalk | feishu
    webhook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."
    format = "markdown"                               # text (default) | markdown
    [robots.heads-feishu]
    kind = "feishu"
    webhook = "https://open.feishu.cn/open-apis/bot/v2/hook/..."
    secret = "..."                                    # the bot's signing secret (DingTalk 加签, Feishu 签名校验)
    [routes.quality]                                  # a department, or "*" for any department (and none)
    handler = ["quality-wecom"]                       # rungs: agent, handler, supervisor, head
    head = ["heads-feishu"]

It is checked when the dispatcher starts: a mistake stops the process with the key that is wrong.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from domain.case import Department, Role

ANY_DEPARTMENT = "*"
# Who an alert can be for: the people of the escalation ladder (domain/sla.py) and the agents.
RUNGS = (Role.AGENT.value, Role.HANDLER.value, Role.SUPERVISOR.value, Role.HEAD.value)
DEPARTMENTS = tuple(d.value for d in Department)
MAX_ROBOTS_PER_RUNG = 10
RobotKind = Literal["wecom", "dingtalk", "feishu"]


def _no_control(text: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("control characters are not allowed")
    return text


class RobotSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: RobotKind
    webhook: str = Field(min_length=8, max_length=1000)
    secret: SecretStr | None = None
    format: Literal["text", "markdown"] = "text"

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, url: str) -> str:
        _no_control(url)
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return url

    @model_validator(mode="after")
    def _secret_fits_kind(self) -> RobotSpec:
        if self.secret is not None and not self.secret.get_secret_value().strip():
            raise ValueError("secret is empty: set the robot's signing secret or leave it out")
        if self.kind == "wecom" and self.secret is not None:
            # WeCom group robots are not signed: the key in the webhook URL is the credential.
            raise ValueError("a wecom robot takes no secret (its key is part of the webhook URL)")
        return self


class RobotsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    console_url: str | None = Field(default=None, max_length=300)
    robots: dict[str, RobotSpec] = Field(min_length=1, max_length=200)
    routes: dict[str, dict[str, list[str]]] = Field(default_factory=dict, max_length=len(DEPARTMENTS) + 1)

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        _no_control(url)
        if urlsplit(url).scheme not in ("https", "http"):
            raise ValueError("must be an http(s) URL")
        return url.rstrip("/")

    @field_validator("robots")
    @classmethod
    def _robot_ids(cls, robots: dict[str, RobotSpec]) -> dict[str, RobotSpec]:
        for robot_id in robots:
            if not robot_id or len(robot_id) > 64 or not all(ch.isalnum() or ch in "-_." for ch in robot_id):
                raise ValueError(f"robot id {robot_id!r}: 1-64 letters, digits, '-', '_' or '.'")
        return robots

    @model_validator(mode="after")
    def _routes_known(self) -> RobotsConfig:
        for department, rungs in self.routes.items():
            if department not in DEPARTMENTS and department != ANY_DEPARTMENT:
                raise ValueError(
                    f"routes.{department}: unknown department; known: {', '.join(DEPARTMENTS)} or {ANY_DEPARTMENT!r}"
                )
            for rung, ids in rungs.items():
                if rung not in RUNGS:
                    raise ValueError(f"routes.{department}.{rung}: unknown rung; known: {', '.join(RUNGS)}")
                if len(ids) > MAX_ROBOTS_PER_RUNG:
                    raise ValueError(f"routes.{department}.{rung}: at most {MAX_ROBOTS_PER_RUNG} robots")
                unknown = [robot_id for robot_id in ids if robot_id not in self.robots]
                if unknown:
                    raise ValueError(
                        f"routes.{department}.{rung}: robot {', '.join(map(repr, unknown))} is not defined under [robots]"
                    )
        return self

    def robots_for(self, department: str | None, rung: str) -> list[str]:
        """The robots hearing `department`'s alerts at `rung`: the department's own list when it has one
        for that rung (an empty one silences "*" there), else the "*" list; no department (before
        triage) reads "*" only."""
        own = self.routes.get(department, {}) if department else {}
        if rung in own:
            return list(dict.fromkeys(own[rung]))
        return list(dict.fromkeys(self.routes.get(ANY_DEPARTMENT, {}).get(rung, [])))


def _document(value: str) -> tuple[dict[str, Any], str]:
    text = value.strip()
    if "\n" not in text and text.endswith((".toml", ".json")):
        path = Path(text)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"ROBOTS: cannot read {path}: {error.strerror}") from None
        where = f"ROBOTS ({path.name})"
        as_json = path.suffix == ".json"
    else:
        where, as_json = "ROBOTS", text.startswith("{")
    try:
        return (json.loads(text) if as_json else tomllib.loads(text)), where
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{where}: not valid {'JSON' if as_json else 'TOML'}: {error}") from None


def load_robots(value: str) -> RobotsConfig:
    """The configuration in `value`, or ValueError naming the setting and the key that is wrong.
    Secrets never appear in the message (inputs are hidden)."""
    document, where = _document(value)
    try:
        return RobotsConfig.model_validate(document)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_input=False, include_url=False):
            key = ".".join(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {message}" if key else message)
        raise ValueError(f"{where}: " + "; ".join(problems)) from None
