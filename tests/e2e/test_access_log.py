"""The access log of the real server: `aftersales api` started as a process, with the logging
it configures (our masking, then uvicorn's own LOGGING_CONFIG, as `aftersales dev` also uses),
writes one masked line per request and no logging error.

Issue 12 §2.1: every request used to write a 100-line `--- Logging error ---` traceback
(the masking record factory dropped the arguments uvicorn's access formatter unpacks).
Issue 13 §8: phones and e-mails in paths, percent-encoded or not, were logged as sent.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Database
from tests.support.people import AGENT

ROOT = Path(__file__).resolve().parents[2]

# (the path as sent, the path as the access log must show it)
REQUESTS = [
    ("/cases/13976543210", "/cases/*******3210"),
    ("/cases/%2B86%20139%207654%203210", "/cases/*******3210"),
    ("/cases/zorblax%40example.org/timeline", "/cases/z***@example.org/timeline"),
    ("/cases?x=a@b.org", "/cases?x=a***@b.org"),
    ("/cases/AS-20251103-000042/timeline", "/cases/AS-20251103-000042/timeline"),
]
PERSONAL = ("13976543210", "7654", "%2B86", "zorblax", "a@b.org")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _run_api(env: WorkflowEnvironment, database: Database) -> str:
    """Start `aftersales api`, send REQUESTS, stop it with Ctrl-C; what it wrote, stdout then stderr."""
    port = _free_port()
    environment = os.environ | {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "DATABASE_URL": database.url,
        "CASE_NUMBER_PREFIX": database.prefix,
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT": "",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "api",
        "--port",
        str(port),
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(600):
                assert process.returncode is None, "aftersales api exited before serving"
                try:
                    await http.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("aftersales api did not start within 60 s")
            for sent, _ in REQUESTS:
                # Sent exactly as written: the encoded forms are the point.
                response = await http.get(
                    httpx.URL(f"http://127.0.0.1:{port}").copy_with(raw_path=sent.encode()), headers=AGENT
                )
                assert response.status_code < 500, response.text
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        except TimeoutError:
            process.kill()
            stdout, stderr = await process.communicate()
    return stdout.decode(errors="replace") + stderr.decode(errors="replace")


async def test_each_request_writes_one_masked_access_line(env: WorkflowEnvironment, database: Database) -> None:
    output = await _run_api(env, database)
    assert "Logging error" not in output and "Traceback" not in output, output[-3000:]
    lines = output.splitlines()
    access = [line for line in lines if re.search(r'"GET /cases\S* HTTP/1\.1" \d{3}', line)]
    assert [re.search(r'"GET (\S+) HTTP', line).group(1) for line in access] == [logged for _, logged in REQUESTS], (
        output[-3000:]
    )
    assert all(re.match(r'INFO: +127\.0\.0\.1:\d+ - "GET ', line) for line in access), access
    # The health polls were logged too, once each, and nothing else repeated the personal paths.
    assert any('"GET /healthz HTTP/1.1"' in line for line in lines)
    # Less the addresses: a port such as 47654 is no phone number.
    said = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", output)
    for personal in PERSONAL:
        assert personal not in said, [line for line in said.splitlines() if personal in line]
