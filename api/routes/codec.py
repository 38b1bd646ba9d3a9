"""/codec: Temporal's remote codec protocol, so Temporal UI can show encrypted payloads.

Temporal UI (configured with this endpoint) posts the payloads it displays
and shows what comes back. Only people who may see a case's personal data get
them decoded: supervisors, the after-sales head and admins. Any other caller
gets the payloads back as they came, still encrypted; nobody unidentified gets
an answer at all.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.auth import _api_key, _bearer, current_actor
from api.cors import origin_of
from api.deps import AppSettings
from api.json_body import DecimalJsonRoute
from api.problems import Problem
from core.codec import CodecKeyError, EncryptionCodec, UnreadablePayload
from domain.case import Role

router = APIRouter(prefix="/codec", tags=["codec"], route_class=DecimalJsonRoute)
logger = logging.getLogger(__name__)

_DECODERS = frozenset({Role.SUPERVISOR, Role.HEAD, Role.ADMIN})


async def may_see_personal_data(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> bool:
    """Whether the caller gets payloads decoded. A caller with credentials: by role. Without any:
    refused (401), except on `aftersales dev --encrypt-payloads`, where Temporal UI's own origin
    is the operator: that UI has no sign-in, so whoever can open it already sees what it shows,
    and the operator must see the cases decoded there (create_app(ui_codec_trusted=True))."""
    state = request.app.state
    if not api_key and not bearer and getattr(state, "ui_codec_trusted", False):
        if request.headers.get("origin") == origin_of(state.settings.temporal_ui_url):
            return True
    actor = await current_actor(request, api_key, bearer)
    return actor.role in _DECODERS


MaySeePersonalData = Annotated[bool, Depends(may_see_personal_data)]
Namespace = Annotated[str | None, Header(alias="X-Namespace", description="The namespace the payloads belong to")]


class WirePayload(BaseModel):
    """A payload as Temporal's JSON carries it: metadata values and data base64-encoded."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""

    def to_proto(self) -> Payload:
        try:
            return Payload(
                metadata={k: base64.b64decode(v, validate=True) for k, v in self.metadata.items()},
                data=base64.b64decode(self.data, validate=True),
            )
        except binascii.Error:
            raise Problem(422, "Invalid payload", "payload metadata and data must be base64") from None

    @classmethod
    def from_proto(cls, payload: Payload) -> WirePayload:
        return cls(
            metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
            data=base64.b64encode(payload.data).decode(),
        )


class Payloads(BaseModel):
    payloads: list[WirePayload] = Field(default_factory=list, max_length=1000)


async def _codec(
    request: Request, settings: AppSettings, may_see: MaySeePersonalData, namespace: Namespace = None
) -> EncryptionCodec | None:
    """The codec for this request, or None: the payloads then go back as they came (no codec
    configured, a caller who may not see personal data, or another namespace's payloads)."""
    # Our keys belong to our namespace; another namespace's payloads are not ours to touch.
    if not may_see or (namespace and namespace != settings.temporal_namespace):
        return None
    return request.app.state.codec


Codec = Annotated[EncryptionCodec | None, Depends(_codec)]


@router.post("/decode", response_model=Payloads, summary="Decrypt payloads for Temporal UI")
async def decode(body: Payloads, codec: Codec) -> Payloads:
    if codec is None:
        return body
    out = []
    for wire in body.payloads:
        try:
            out.append(WirePayload.from_proto(codec.decrypt(wire.to_proto())))
        except (CodecKeyError, UnreadablePayload) as error:
            # One payload under a retired key, or tampered with, must not blank the whole page:
            # it stays encrypted.
            logger.warning("codec decode: %s", error)
            out.append(wire)
    return Payloads(payloads=out)


@router.post("/encode", response_model=Payloads, summary="Encrypt payloads for Temporal UI")
async def encode(body: Payloads, codec: Codec) -> Payloads:
    if codec is None:
        return body
    return Payloads(payloads=[WirePayload.from_proto(codec.encrypt(wire.to_proto())) for wire in body.payloads])
