"""Optional encryption of every payload Temporal stores: AES-256-GCM with key ids.

Workflow inputs, results, activity arguments, update arguments, memos,
summaries and failure messages leave the process encrypted, so the Temporal
server, its database and an exported history hold no customer data in clear.
Search attributes are not payloads and stay readable; they never carry personal
data (domain/search_attributes.py).

Keys rotate without downtime: settings list several `kid:base64key` pairs, the
active one (the first, or CODEC_KEY_ID) encrypts, every listed one decrypts.
An old key is dropped only once no history still needs it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


class CodecKeyError(ValueError):
    """The configured keys are malformed, or a payload names a key we do not hold."""


class UnreadablePayload(ValueError):
    """A payload marked encrypted that does not decrypt: tampered with, truncated, or its key id garbled."""


def parse_keys(text: str) -> dict[str, bytes]:
    """`kid:base64key,kid2:base64key2` -> {kid: key}, in the order given; keys are 16, 24 or 32 bytes."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        kid = kid.strip()
        if not sep or not kid:
            raise CodecKeyError("codec keys are `kid:base64key` pairs separated by commas")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise CodecKeyError(f"codec key {kid!r} is not valid base64") from None
        if len(key) not in (16, 24, 32):
            raise CodecKeyError(f"codec key {kid!r} has {len(key)} bytes; AES needs 16, 24 or 32 (32 recommended)")
        if kid in keys:
            raise CodecKeyError(f"codec key id {kid!r} is listed twice")
        keys[kid] = key
    return keys


def new_key() -> str:
    """A fresh 256-bit key, base64, for `kid:<this>`."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def ensure_key_file(path: Path, kid: str = "dev") -> str:
    """The codec keys (`kid:base64key`) kept in `path`, created there (mode 600) the first time:
    `aftersales dev --encrypt-payloads` reuses them on every restart, or its own history would
    become unreadable."""
    if path.exists():
        text = path.read_text().strip()
        parse_keys(text)  # a damaged file is refused, never silently replaced
        return text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    text = f"{kid}:{new_key()}"
    path.write_text(text + "\n")
    return text


class EncryptionCodec(PayloadCodec):
    """AES-GCM per payload: a random nonce, the key id bound in as associated data."""

    def __init__(self, keys: Mapping[str, bytes], active: str | None = None) -> None:
        if not keys:
            raise CodecKeyError("the codec needs at least one key")
        active = active or next(iter(keys))
        if active not in keys:
            raise CodecKeyError(f"the active codec key id {active!r} is not among the keys ({', '.join(keys)})")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active = active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        kid = self.active.encode()
        sealed = self._ciphers[self.active].encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        # Payloads written before the codec was switched on stay readable.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        try:
            kid = payload.metadata.get(KEY_ID, b"").decode()
        except UnicodeDecodeError:
            raise UnreadablePayload("payload key id is not UTF-8") from None
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise CodecKeyError(
                f"payload encrypted with unknown codec key id {kid!r}; known: {', '.join(self._ciphers)}"
                " (add the old key to the codec keys to read it)"
            )
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        decoded = Payload()
        try:
            decoded.ParseFromString(cipher.decrypt(nonce, sealed, kid.encode()))
        except (InvalidTag, ValueError, DecodeError):
            # ValueError: a nonce cut short; DecodeError: what decrypted is not a payload.
            raise UnreadablePayload(
                f"payload under codec key id {kid!r} does not decrypt: tampered with or truncated"
            ) from None
        return decoded


def codec_from(keys: str | None, active: str | None = None) -> EncryptionCodec | None:
    """The codec for configured keys, or None when none are configured (encryption off)."""
    if not keys or not keys.strip():
        return None
    return EncryptionCodec(parse_keys(keys), active)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The project's converter: pydantic models as JSON, encrypted when a codec is given.

    With encryption on, failure messages and stack traces are payloads too
    (they may quote the data that caused them).
    """
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
