"""Reading docker-compose.yml without Docker: PyYAML plus compose's interpolation, resolved with
the defaults the file writes. Shared by tests/e2e/test_compose.py and
tests/e2e/test_compose_observability.py; nothing from the project is imported."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


def resolve(value: str) -> str:
    """Apply compose interpolation using only the defaults written in the file.

    `${VAR:-default}` / `${VAR-default}` become `default`, `$$` becomes `$`.
    A `${VAR}` without a default cannot be resolved statically and raises.
    """

    def _sub(match: re.Match[str]) -> str:
        if match.group("op") is None:
            raise AssertionError(f"${{{match.group('name')}}} has no default in {value!r}")
        return match.group("default")

    return _INTERPOLATION.sub(_sub, value.replace("$$", "\x00")).replace("\x00", "$")


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        env = {k: v for k, v in pairs}
    return {str(k): resolve(str(v)) for k, v in env.items()}


def depends_of(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short syntax means service_started
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def argv(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def script_of(service: dict) -> str:
    """Entry point + command of a one-shot job as one resolved text."""
    parts = argv(service.get("entrypoint")) + argv(service.get("command"))
    return resolve("\n".join(parts))


def load_compose() -> dict:
    assert COMPOSE_FILE.is_file(), COMPOSE_FILE
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data
