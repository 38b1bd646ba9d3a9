"""`aftersales dev` as a person runs it (a subprocess): its Temporal server never outlives it,
a port already taken is refused naming who holds it, and `--encrypt-payloads` keeps
personal data out of Temporal's history while Temporal UI still shows it decoded."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.support.devrun import AFTERSALES, DevRun, alive
from tests.support.people import intake

NAME = "张三丰"
PHONE = "+86 138 0013 8000"


def test_the_temporal_server_dies_with_a_killed_dev(tmp_path: Path) -> None:
    run = DevRun(tmp_path).start()
    server = run.temporal_pid()
    assert alive(server)
    os.kill(run.process.pid, signal.SIGKILL)
    run.process.wait()
    deadline = time.monotonic() + 10
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(server):  # leave no orphan behind, even when failing
        os.kill(server, signal.SIGKILL)
        pytest.fail(f"the Temporal server (pid {server}) outlived `aftersales dev`")
    # ...so the next run gets its ports and starts cleanly on the same data.
    again = DevRun(tmp_path, api_port=run.api_port, temporal_port=run.temporal_port, ui_port=run.ui_port)
    with again:
        assert again.temporal_pid() != server


@pytest.mark.parametrize("flag", ["--temporal-port", "--ui-port", "--api-port"])
def test_a_taken_port_is_refused_naming_its_pid(tmp_path: Path, flag: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = DevRun(tmp_path, **{flag.removeprefix("--").replace("-", "_"): port})
        done = subprocess.run(run.command(), cwd=tmp_path, env=run.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"port {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in message
    assert flag in message
    assert "Aftersales is running" not in done.stdout


def _start_payloads(history) -> list:  # noqa: ANN001 - temporalio WorkflowHistory
    started = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    return list(started.workflow_execution_started_event_attributes.input.payloads)


def _wire(payloads: list) -> dict:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def _decoded_text(body: dict) -> str:
    return "".join(base64.b64decode(p["data"]).decode("utf-8", "replace") for p in body["payloads"])


async def test_encrypt_payloads_keeps_personal_data_out_of_the_history(tmp_path: Path) -> None:
    run = DevRun(tmp_path, extra=["--encrypt-payloads"])
    with run:
        banner = run.output()
        assert "Payloads     encrypted (key in .aftersales/codec-keys)" in banner
        assert "NOT ENCRYPTED" not in banner
        # The UI is told where to decode: the API's /codec.
        cmdline = Path(f"/proc/{run.temporal_pid()}/cmdline").read_bytes().split(b"\0")
        assert f"http://127.0.0.1:{run.api_port}/codec".encode() == cmdline[cmdline.index(b"--ui-codec-endpoint") + 1]
        keys = run.keys()
        with run.client() as api:
            opened = api.post("/cases", json=intake(), headers={"X-API-Key": keys["agent"]})
            assert opened.status_code == 201, opened.text
            number = opened.json()["number"]

            # What the server stores, read without any key: no name, no phone, no complaint.
            temporal = await Client.connect(run.temporal_address)
            history = await temporal.get_workflow_handle(number).fetch_history()
            raw = b"".join(e.SerializeToString() for e in history.events)
            for secret in (NAME, PHONE, "kettle is leaking"):
                assert secret.encode() not in raw, secret
            payloads = _start_payloads(history)
            assert payloads and all(p.metadata["encoding"] == b"binary/encrypted" for p in payloads)

            # An authorised operator gets it decoded; an agent gets it back still encrypted.
            decoded = api.post("/codec/decode", json=_wire(payloads), headers={"X-API-Key": keys["supervisor"]})
            assert decoded.status_code == 200 and NAME in _decoded_text(decoded.json())
            as_agent = api.post("/codec/decode", json=_wire(payloads), headers={"X-API-Key": keys["agent"]})
            assert as_agent.json() == _wire(payloads)
            # Temporal UI of this run (its origin, no sign-in) is the operator's; nobody else unidentified.
            from_ui = api.post("/codec/decode", json=_wire(payloads), headers={"Origin": run.ui_url})
            assert from_ui.status_code == 200 and NAME in _decoded_text(from_ui.json())
            assert from_ui.headers["access-control-allow-origin"] == run.ui_url
            stranger = api.post("/codec/decode", json=_wire(payloads), headers={"Origin": "http://evil.example"})
            assert stranger.status_code == 401

            # The stuck list links to this run's Temporal UI and says why each case is listed.
            stuck = subprocess.run(
                [AFTERSALES, "cases", "stuck", "--hours", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                env={**run.env(), "COLUMNS": "250"},
            )  # fmt: skip
            assert stuck.returncode == 0, stuck.stderr
            assert f"{run.ui_url}/namespaces/default/workflows/{number}" in stuck.stdout.replace("\n", "")
            assert "in stage > 0 h" in stuck.stdout
    key = (tmp_path / ".aftersales" / "codec-keys").read_text()
    assert oct((tmp_path / ".aftersales" / "codec-keys").stat().st_mode & 0o777) == "0o600"

    # A restart reuses the key: the case stored before is still readable.
    again = DevRun(
        tmp_path,
        extra=["--encrypt-payloads"],
        api_port=run.api_port,
        ui_port=run.ui_port,
        temporal_port=run.temporal_port,
    )
    with again, again.client() as api:
        assert (tmp_path / ".aftersales" / "codec-keys").read_text() == key
        decoded = api.post("/codec/decode", json=_wire(payloads), headers={"X-API-Key": keys["head"]})
        assert NAME in _decoded_text(decoded.json())
        case = api.get(f"/cases/{number}", headers={"X-API-Key": keys["supervisor"]})
        # The worker replays the case from its encrypted history with the same key.
        assert case.status_code == 200 and case.json()["live"] is not None and NAME in case.text, case.text
