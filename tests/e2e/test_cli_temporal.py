"""The `aftersales` commands as a person runs them in a terminal: the ones that talk to
Temporal take its address like `aftersales dev` names it and say in one line when nothing
answers there; `apikey list` shows every key id whole, as `apikey revoke` needs it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.devrun import AFTERSALES, DevRun, free_port


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = DevRun(cwd).env()
    base.pop("TEMPORAL_ADDRESS")
    return subprocess.run([AFTERSALES, *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "args, by_env",
    [
        (["cases", "stuck"], False),
        (["cases", "stuck"], True),
        (["temporal", "setup"], False),
        (["temporal", "setup"], True),
        (["worker"], False),
        (["api", "--port", "0"], False),
    ],
)
def test_nothing_answering_at_the_temporal_address_is_one_line(tmp_path: Path, args: list[str], by_env: bool) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = _run(
        args + ([] if by_env else ["--temporal-address", address]),
        tmp_path,
        **({"TEMPORAL_ADDRESS": address} if by_env else {}),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.strip().splitlines() == [
        f"error: nothing answers at Temporal {address} (namespace default); "
        "start `aftersales dev` or pass --temporal-address / set TEMPORAL_ADDRESS"
    ]


def test_apikey_list_shows_whole_ids_that_revoke_takes(tmp_path: Path) -> None:
    db = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}", "COLUMNS": "80"}
    assert _run(["migrate"], tmp_path, **db).returncode == 0
    ids = []
    for index in range(3):
        created = _run(
            ["apikey", "create", "--role", "handler", "--department", "logistics", "--name", f"wms-bridge-{index}-" + "x" * 50],
            tmp_path, **db,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        ids.append(re.fullmatch(r"ask_([0-9a-f]{12})_\S+", created.stdout.strip()).group(1))
    assert _run(["apikey", "revoke", ids[0]], tmp_path, **db).returncode == 0  # a revoked date widens its column
    listed = _run(["apikey", "list"], tmp_path, **db)
    assert listed.returncode == 0, listed.stderr
    assert max(map(len, listed.stdout.splitlines())) <= 80
    for key_id in ids:
        assert key_id in listed.stdout, listed.stdout
    revoked = _run(["apikey", "revoke", ids[1]], tmp_path, **db)
    assert revoked.returncode == 0 and revoked.stdout.strip() == f"key {ids[1]} revoked"
    # A prefix only one live key has is enough; one several share is refused, naming them.
    by_prefix = _run(["apikey", "revoke", ids[2][:6]], tmp_path, **db)
    assert by_prefix.returncode == 0 and by_prefix.stdout.strip() == f"key {ids[2]} revoked"
    more = [
        re.fullmatch(
            r"ask_([0-9a-f]{12})_\S+", _run(["apikey", "create", "--role", "agent"], tmp_path, **db).stdout.strip()
        ).group(1)
        for _ in range(17)
    ]  # 17 > 16 first hex digits
    shared = next(a[:1] for a in more if sum(b.startswith(a[:1]) for b in more) > 1)
    ambiguous = _run(["apikey", "revoke", shared], tmp_path, **db)
    assert ambiguous.returncode == 1 and f"live keys start with {shared}:" in ambiguous.stderr
    assert _run(["apikey", "revoke", "zz"], tmp_path, **db).stderr.strip() == "error: no live key zz"
