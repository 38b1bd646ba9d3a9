"""/cases/{number}/attachments: the photos and videos the customer sent from the customer page,
to the people who may see the case (a handler of another department gets 404, as for the case)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import Caller, CaseNumber, Store
from api.problems import Problem, case_not_found
from domain.case import Actor, Role
from services.access import sees
from store.attachments import AttachmentStore
from store.cases import CaseStore
from store.files import FileStorage

router = APIRouter(prefix="/cases", tags=["cases"])

Reference = Annotated[str, Path(pattern=r"^att-[0-9a-f]{24}$", description="The attachment's reference")]


class Attachment(BaseModel):
    reference: str
    evidence: str  # how the case's timeline names it (a customer reply's evidence uri)
    kind: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    href: str


async def _attachments(request: Request) -> AttachmentStore:
    return request.app.state.attachments


async def _files(request: Request) -> FileStorage:
    return request.app.state.file_storage


Attachments = Annotated[AttachmentStore, Depends(_attachments)]
Files = Annotated[FileStorage, Depends(_files)]


async def _visible(actor: Actor, store: CaseStore, number: str) -> None:
    row = await store.get_case(number)
    assisting = await store.assisting(number) if actor.role is Role.HANDLER else []
    if row is None or not sees(actor, row.department, assisting):
        raise case_not_found(number)


@router.get("/{number}/attachments", response_model=list[Attachment], summary="Files the customer sent")
async def list_attachments(
    number: CaseNumber,
    store: Store,
    attachments: Attachments,
    actor: Caller,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many, oldest first")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[Attachment]:
    await _visible(actor, store, number)
    return [
        Attachment(
            reference=row.reference, evidence=f"attachment:{row.reference}", kind=row.kind,
            content_type=row.content_type, size=row.size, sha256=row.sha256, uploaded_at=row.uploaded_at,
            href=f"/cases/{number}/attachments/{row.reference}",
        )
        for row in await attachments.of_case(number, limit, offset)
    ]  # fmt: skip


@router.get(
    "/{number}/attachments/{reference}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "video/mp4": {}}, "description": "The file"}},
    summary="One file the customer sent",
)
async def get_attachment(
    number: CaseNumber, reference: Reference, store: Store, attachments: Attachments, files: Files, actor: Caller
) -> Response:
    await _visible(actor, store, number)
    row = await attachments.one(number, reference)
    data = await files.get(row.storage_key) if row is not None else None
    if row is None or data is None:
        raise Problem(404, "Attachment not found", f"case {number} has no attachment {reference}")
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Content-Disposition": f'inline; filename="{reference}"',
        },
    )
