"""Every `bash` block of README.md runs verbatim, in order, against a real `aftersales dev`.

The blocks run in one bash (`set -euo pipefail`), each sourced from its own file so a
failure names its README line, in a working directory where `.aftersales/` is the dev
run's and `examples/` the repository's. `API`, `TEMPORAL_ADDRESS` and `TEMPORAL_UI_URL`
name the run's free ports (the README's defaults are the dev ports). `curl` is the real
curl with `--fail-with-body`: a block whose request is refused (4xx/5xx) fails, as a
person reading the answer would notice.

Two blocks are marked in the README with `<!-- readme-test: ... -->` and not run here:
`run-it` (install, then `aftersales dev`: this test starts that same `aftersales dev` from
the installed venv) and `test-it` (install, then pytest: `.ci/run` runs exactly those
commands, checked below, and it is this suite).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

from tests.support.devrun import REPO, DevRun

README = REPO / "README.md"
FENCE = re.compile(
    r"(?:^<!-- readme-test: (?P<mark>[a-z-]+)[^\n]*-->\n)?^(?P<indent>[ \t]*)```bash\n(?P<body>.*?)^(?P=indent)```$",
    re.M | re.S,
)


@dataclass
class Block:
    line: int
    mark: str | None
    body: str


def blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [Block(text.count("\n", 0, m.start("body")) + 1, m["mark"], dedent(m["body"])) for m in FENCE.finditer(text)]


def _marked(mark: str) -> Block:
    found = [b for b in blocks() if b.mark == mark]
    assert len(found) == 1, f"README.md needs exactly one block marked readme-test: {mark}"
    return found[0]


def test_the_install_and_test_commands_are_the_ones_ci_runs() -> None:
    run_it, test_it = _marked("run-it").body.strip(), _marked("test-it").body.strip()
    assert run_it == "python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/aftersales dev"
    ci = (REPO / ".ci" / "run").read_text().replace(" --quiet", "")
    for command in test_it.split(" && "):
        assert re.search(rf"^{re.escape(command)}$", ci, re.M), f"{command!r} is not a line of .ci/run"
    # The first two commands of "Run it" are the ones of "Test it" (so CI installs the same way).
    assert run_it.split(" && ")[:2] == test_it.split(" && ")[:2]


def _strict_curl(bin_dir: Path) -> None:
    real = shutil.which("curl")
    assert real, "curl is needed for the README's blocks"
    bin_dir.mkdir()
    shim = bin_dir / "curl"
    shim.write_text(f'#!/bin/sh\nexec {real} --fail-with-body --show-error "$@"\n')
    shim.chmod(0o755)


def test_every_bash_block_runs_verbatim_against_aftersales_dev(tmp_path: Path) -> None:
    runnable = [b for b in blocks() if b.mark is None]
    assert len(runnable) >= 5, "the README's blocks were not found"
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copytree(REPO / "examples", work / "examples")
    scripts = tmp_path / "blocks"
    scripts.mkdir()
    main = ["set -euo pipefail"]
    for index, block in enumerate(runnable):
        path = scripts / f"{index:02d}-README-line-{block.line}.sh"
        path.write_text(block.body)
        main += [f"echo '>>> README.md line {block.line}' >&2", f"source {path}", "echo"]
    _strict_curl(tmp_path / "bin")

    with DevRun(work) as run:
        banner = run.output()
        # Without --encrypt-payloads the person running it is told, plainly.
        assert "Personal data: NOT ENCRYPTED" in banner and "--encrypt-payloads" in banner
        assert f"Report page  {run.api}/reports/monthly.html" in banner
        env = run.env()
        env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
        done = subprocess.run(
            ["bash", "-c", "\n".join(main)], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        failed_at = re.findall(r">>> (README.md line \d+)", done.stderr)
        assert done.returncode == 0, (
            f"the block at {failed_at[-1] if failed_at else '?'} failed ({done.returncode}):\n"
            f"{done.stderr[-4000:]}\n--- stdout ---\n{done.stdout[-3000:]}"
        )

    out = done.stdout
    # What the README says the blocks print.
    numbers = re.findall(r"^AS-\d{8}-\d{6}$", out, re.M)
    assert numbers, out[:2000]  # the tour's `echo "$N"`
    assert '"stage":"awaiting_feedback"' in out  # "live.stage is now awaiting_feedback"
    assert re.search(r"^ask_[0-9a-f]{12}_\S+$", out, re.M)  # apikey create prints the key
    assert re.search(r"^key [0-9a-f]{12} revoked$", out, re.M)
    assert "triage rules 2026-12-shoes uploaded" in out and "triage rules 2026-12-sleeves in force" in out
    assert '"fallback":{"version":"2026-11-default","source":"built-in"' in out
    assert (work / "rules-2026-11-default.json").read_text().startswith('{"version":"2026-11-default"')
    assert "Stuck cases:" in out
    assert "Monthly quality report" in out and (work / "report.html").read_text().lower().startswith("<!doctype html>")
    for step in ("pickup_booked", "parcel_received", "quality_checked", "restocked"):
        assert f'"step":"{step}"' in out or step in out
