"""Storage adapters for uploads: the local directory (used by the tests of the page) and the
S3-compatible one as the settings build it, against a local S3 endpoint (moto's server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from core.settings import Settings
from services.file_store import storage_from
from services.uploads import NoScan, scanner_from
from store.files import LocalStorage, S3Storage
from tests.support.devrun import free_port


async def test_local_storage_writes_whole_files_below_its_root_only(tmp_path) -> None:
    storage = storage_from(Settings(data_dir=tmp_path))
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path / "uploads"
    await storage.put("AS-20261201-000001/att-1.jpg", b"bytes", "image/jpeg")
    assert await storage.get("AS-20261201-000001/att-1.jpg") == b"bytes"
    assert [p.name for p in storage.files()] == ["att-1.jpg"]
    for bad in ("../outside.jpg", "/etc/passwd", "a/../../b", "a\x00b", ""):
        with pytest.raises(ValueError, match="not a storage key"):
            await storage.put(bad, b"x", "image/jpeg")
    await storage.delete("AS-20261201-000001/att-1.jpg")
    assert await storage.get("AS-20261201-000001/att-1.jpg") is None


def test_s3_storage_is_built_from_the_settings() -> None:
    settings = Settings(
        upload_storage="s3", s3_endpoint="minio.internal:9000", s3_bucket="case-files",
        s3_access_key=SecretStr("access"), s3_secret_key=SecretStr("secret"), s3_secure=False,
    )  # fmt: skip
    storage = storage_from(settings)
    assert isinstance(storage, S3Storage) and storage.bucket == "case-files"
    with pytest.raises(ValueError, match="S3_ENDPOINT"):
        storage_from(Settings(upload_storage="s3"))


def test_the_scanner_hook_is_named_in_the_settings() -> None:
    assert isinstance(scanner_from(Settings()), NoScan)
    built = scanner_from(Settings(upload_scanner="tests.customer.test_storage:rejecting"))
    assert isinstance(built, Rejecting)


class Rejecting:
    async def scan(self, data: bytes, content_type: str) -> str | None:
        return "refused by the test scanner"


def rejecting(settings: Settings) -> Rejecting:
    return Rejecting()


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """A local S3 endpoint (moto's server, over HTTP on a free port): the S3 API the store speaks."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


async def test_the_s3_store_keeps_returns_and_deletes_a_file(s3_endpoint: str) -> None:
    settings = Settings(
        upload_storage="s3", s3_endpoint=s3_endpoint, s3_bucket="case-files", s3_region="us-east-1",
        s3_access_key=SecretStr("testing"), s3_secret_key=SecretStr("testing"), s3_secure=False,
    )  # fmt: skip
    storage = storage_from(settings)
    assert isinstance(storage, S3Storage)
    storage.client.make_bucket("case-files")
    key = "AS-20261201-000001/att-1.jpg"
    await storage.put(key, b"\xff\xd8 a photo", "image/jpeg")
    assert await storage.get(key) == b"\xff\xd8 a photo"
    stored = storage.client.stat_object("case-files", key)
    assert (stored.size, stored.content_type) == (len(b"\xff\xd8 a photo"), "image/jpeg")
    assert await storage.get("AS-20261201-000001/att-2.jpg") is None  # never stored: nothing, not an error
    with pytest.raises(ValueError, match="not a storage key"):
        await storage.put("../outside.jpg", b"x", "image/jpeg")
    await storage.delete(key)
    assert await storage.get(key) is None
    await storage.delete(key)  # again (a retried retention run): no error
