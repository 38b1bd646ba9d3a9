"""Where uploaded files' bytes live: a storage adapter (a local directory by default, or any
S3-compatible store through the `minio` client). Keys are made by the caller from the case
number and a random reference, never from a file name the customer sent."""

from __future__ import annotations

import asyncio
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63}){0,3}$")


def _checked(key: str) -> str:
    # No "..", no absolute path, no odd characters: a key names a file below the root, nothing else.
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


class FileStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under `root`, written whole or not at all (a temporary file renamed into place)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    def files(self) -> list[Path]:
        """Every file stored (tests: "nothing stored")."""
        return sorted(p for p in self.root.rglob("*") if p.is_file()) if self.root.exists() else []


class S3Storage:
    """An S3-compatible store (AWS S3, MinIO, Ceph, OSS/COS S3 endpoints) through `minio`,
    whose client is synchronous: each call runs in a thread."""

    def __init__(
        self, endpoint: str, bucket: str, *, access_key: str | None, secret_key: str | None, region: str | None,
        secure: bool,
    ) -> None:  # fmt: skip
        from minio import Minio

        self.bucket = bucket
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, region=region, secure=secure)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, self.bucket, _checked(key), io.BytesIO(data), len(data), content_type
        )

    async def get(self, key: str) -> bytes | None:
        from minio.error import S3Error

        def read() -> bytes | None:
            try:
                response = self.client.get_object(self.bucket, _checked(key))
            except S3Error as error:
                if error.code in ("NoSuchKey", "NoSuchObject"):
                    return None
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.remove_object, self.bucket, _checked(key))
