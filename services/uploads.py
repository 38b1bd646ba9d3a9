"""Files a customer sends with an answer: checked on their content, cleaned, scanned, stored, recorded.

The name and the declared type of an upload are ignored: what the bytes are decides. Photos
(JPEG, PNG, WebP) are decoded and encoded again by Pillow, which leaves their metadata behind
(EXIF with the place and the phone, XMP, comments), after turning them the way EXIF said.
Short videos (MP4, QuickTime, WebM) are recognised by their container's signature and kept as
they are. Every file goes through the virus-scan hook before anything is stored; one refused
file refuses the whole answer, and nothing of it is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import io
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from core.settings import Settings
from store.attachments import AttachmentStore
from store.files import FileStorage
from store.models import CaseAttachmentRow

MAX_FILES = 5
# Larger images are refused before they are decoded (a small file can unpack to gigabytes).
MAX_PIXELS = 40_000_000
_IMAGE_TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


class UploadRefused(Exception):
    """A file the page does not take; `code` says why (the page words it), `index` which file."""

    def __init__(self, code: str, index: int, detail: str = "") -> None:
        super().__init__(f"file {index + 1}: {code} {detail}".strip())
        self.code, self.index, self.detail = code, index, detail


class Scanner(Protocol):
    async def scan(self, data: bytes, content_type: str) -> str | None:
        """None for a clean file, else why it is refused (it is never stored)."""


class NoScan:
    async def scan(self, data: bytes, content_type: str) -> str | None:
        return None


def scanner_from(settings: Settings) -> Scanner:
    """`upload_scanner` ("module:callable", called with the settings), or no scanning."""
    if not settings.upload_scanner:
        return NoScan()
    module, _, name = settings.upload_scanner.partition(":")
    scanner: Scanner = getattr(importlib.import_module(module), name)(settings)
    return scanner


@dataclass(frozen=True)
class CleanFile:
    kind: str  # photo or video
    content_type: str
    extension: str
    data: bytes


def _video(data: bytes) -> tuple[str, str] | None:
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return ("video/quicktime", "mov") if data[8:10] == b"qt" else ("video/mp4", "mp4")
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm", "webm"
    return None


def _clean_image(data: bytes, index: int) -> CleanFile | None:
    """The photo encoded again without metadata; None if the bytes are no image Pillow knows."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format or ""
                if kind not in _IMAGE_TYPES:
                    return None
                if probe.width * probe.height > MAX_PIXELS:
                    raise UploadRefused("too_large", index, f"{probe.width}x{probe.height} pixels")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                if kind == "JPEG" and upright.mode not in ("RGB", "L"):
                    upright = upright.convert("RGB")
                out = io.BytesIO()
                # Only the pixels are handed on: no exif=, no icc/xmp/comment kept.
                upright.save(out, format=kind, **({"quality": 90} if kind in ("JPEG", "WEBP") else {}))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning):
        return None
    content_type, extension = _IMAGE_TYPES[kind]
    return CleanFile("photo", content_type, extension, out.getvalue())


def check(data: bytes, index: int, settings: Settings) -> CleanFile:
    """What the file is, by its content, within the limits; UploadRefused otherwise."""
    if not data:
        raise UploadRefused("empty", index)
    video = _video(data)
    if video is not None:
        if len(data) > settings.upload_max_video_bytes:
            raise UploadRefused("too_large", index, f"{len(data)} bytes")
        return CleanFile("video", video[0], video[1], data)
    if len(data) > settings.upload_max_image_bytes:
        raise UploadRefused("too_large", index, f"{len(data)} bytes")
    clean = _clean_image(data, index)
    if clean is None:
        raise UploadRefused("unsupported_type", index)
    return clean


class Uploads:
    """Checks, scans, stores and records a customer's files for one case."""

    def __init__(self, settings: Settings, storage: FileStorage, records: AttachmentStore, scanner: Scanner) -> None:
        self.settings, self.storage, self.records, self.scanner = settings, storage, records, scanner

    async def accept(self, number: str, files: list[bytes]) -> list[CaseAttachmentRow]:
        """Every file checked and scanned first, then all stored and recorded; the rows (their
        references go into the case as evidence). UploadRefused and nothing kept otherwise."""
        if len(files) > MAX_FILES:
            raise UploadRefused("too_many", MAX_FILES, f"at most {MAX_FILES} files")
        cleaned: list[CleanFile] = []
        for index, data in enumerate(files):
            clean = await asyncio.to_thread(check, data, index, self.settings)
            reason = await self.scanner.scan(clean.data, clean.content_type)
            if reason is not None:
                raise UploadRefused("infected", index, reason)
            cleaned.append(clean)
        rows: list[CaseAttachmentRow] = []
        now = datetime.now(UTC)
        try:
            for clean in cleaned:
                reference = f"att-{secrets.token_hex(12)}"
                key = f"{number}/{reference}.{clean.extension}"
                await self.storage.put(key, clean.data, clean.content_type)
                rows.append(
                    CaseAttachmentRow(
                        case_number=number, reference=reference, kind=clean.kind, content_type=clean.content_type,
                        size=len(clean.data), sha256=hashlib.sha256(clean.data).hexdigest(), storage_key=key,
                        uploaded_at=now,
                    )
                )  # fmt: skip
            await self.records.add(rows)
        except BaseException:
            await asyncio.shield(self.discard(rows))
            raise
        return rows

    async def discard(self, rows: list[CaseAttachmentRow]) -> None:
        """Undo `accept` (the answer they came with was not taken)."""
        for row in rows:
            await self.storage.delete(row.storage_key)
        await self.records.remove([row.reference for row in rows])
