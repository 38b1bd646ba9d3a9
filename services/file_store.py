"""The upload store the settings name (UPLOAD_STORAGE): what the API stores the customers' files
in and what the worker's retention job deletes them from, built the same for both."""

from __future__ import annotations

from core.settings import Settings
from store.files import FileStorage, LocalStorage, S3Storage


def storage_from(settings: Settings) -> FileStorage:
    """The storage adapter the settings name: a local directory, or an S3-compatible store."""
    if settings.upload_storage != "s3":
        return LocalStorage(settings.effective_upload_dir)
    if not settings.s3_endpoint:
        raise ValueError("UPLOAD_STORAGE=s3 needs S3_ENDPOINT (host:port)")
    secret = settings.s3_secret_key
    return S3Storage(
        settings.s3_endpoint, settings.s3_bucket,
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
        secret_key=secret.get_secret_value() if secret else None, region=settings.s3_region, secure=settings.s3_secure,
    )  # fmt: skip
