"""Headless Chromium for the tests that render a page."""

from __future__ import annotations

import os
import shutil

import pytest


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        reason = "Debian's chromium package is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + ", and CI=true requires this test to run")
        pytest.skip(reason)
    return found
