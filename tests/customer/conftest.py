"""The app with the customer page as a customer meets it: real worker and Temporal dev server, a
link secret, uploads in a temporary directory with a small photo limit (so "too large" is cheap)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from services.customer_links import issue_token
from store.db import session_factory
from store.files import LocalStorage
from tests.conftest import Database, app_settings

PHOTO_LIMIT = 64 * 1024
ANSWER_LIMIT = 1024 * 1024
HOTLINE = "400-123-4567"


@dataclass
class CustomerSite:
    app: FastAPI
    client: httpx.AsyncClient  # the API and the page, in process
    settings: Settings
    uploads: Path

    def token(self, number: str, purpose: str, expires_in: timedelta = timedelta(days=2)) -> str:
        return issue_token(number, purpose, datetime.now(UTC) + expires_in, self.settings)

    def stored_files(self) -> list[Path]:
        return LocalStorage(self.uploads).files()


@pytest.fixture(scope="module")
async def site(
    env: WorkflowEnvironment, database: Database, worker: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CustomerSite]:
    data = tmp_path_factory.mktemp("customer-page")
    settings = app_settings(
        database,
        worker,
        data_dir=data,
        upload_dir=data / "uploads",
        upload_max_image_bytes=PHOTO_LIMIT,
        upload_max_answer_bytes=ANSWER_LIMIT,
        customer_link_secret=SecretStr("customer-page-tests-key"),
        customer_hotline=HOTLINE,
    )
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aftersales.test") as client:
        yield CustomerSite(app, client, settings, data / "uploads")


def nonce_of(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found, html
    return found.group(1)
