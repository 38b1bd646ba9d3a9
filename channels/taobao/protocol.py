"""The TMC wire protocol (淘宝消息服务): binary frames over a WebSocket, as Taobao's SDKs speak it.

Sources read (the protocol is not documented apart from its SDKs):
- GitHub `TheNorthMemory/tmc.js`, lib/message.js, lib/consumer.js, lib/message-kind.js,
  lib/message-fields.js (a maintained Node.js TMC consumer);
- PyPI `tmcpy` 0.3.3, tmcpy/messageio.py and tmcpy/client.py (the Python port of the Java
  SDK's `TmcClient`, default endpoint ws://mc.api.taobao.com/).

A frame: protocol version (byte, 2), message type (byte), then headers, each an int16 header
type followed by its value, until the header type 0. Integers are little-endian; a "counted
string" is an int32 byte length and UTF-8 bytes. Custom headers carry a counted-string key, a
value-format byte and the value; the content of a message is its custom headers.

The conversation: the client sends CONNECT with app_key, group_name, timestamp (ms) and sign
(MD5 of secret + "app_key"+key + "group_name"+group + "timestamp"+ts + secret, upper-case hex);
the server answers CONNECTACK with a token (or a status code and phrase on refusal). The server
pushes SEND frames of kind Data (topic, content as JSON text, id, ...); the client confirms
each by id with a SEND of kind Confirm carrying the token. An unconfirmed message is delivered
again later; a client may also ask for messages with a SEND of kind PullRequest.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

PROTOCOL_VERSION = 2
MAX_FRAME_BYTES = 1_048_576  # a refund message is a few hundred bytes; anything near this is not TMC


class MessageType(IntEnum):
    CONNECT = 0
    CONNECTACK = 1
    SEND = 2
    SENDACK = 3


class HeaderType(IntEnum):
    END_OF_HEADERS = 0
    CUSTOM = 1
    STATUS_CODE = 2
    STATUS_PHRASE = 3
    FLAG = 4
    TOKEN = 5


class ValueFormat(IntEnum):
    VOID = 0
    COUNTED_STRING = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    DATE = 6
    BYTE_ARRAY = 7


class MessageKind(IntEnum):
    """The `__kind` custom header of a SEND frame."""

    NONE = 0
    PULL_REQUEST = 1
    CONFIRM = 2
    DATA = 3
    FAILED = 20


KIND = "__kind"


class FrameError(ValueError):
    """Bytes that are not a TMC frame."""


@dataclass
class Frame:
    type: MessageType
    content: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    status_code: int | None = None
    status_phrase: str | None = None
    flag: int | None = None
    version: int = PROTOCOL_VERSION

    @property
    def kind(self) -> MessageKind | None:
        value = self.content.get(KIND)
        try:
            return MessageKind(value) if value is not None else None
        except ValueError:
            return None


# ---- encoding -------------------------------------------------------------------


def _counted(value: str | bytes | None) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else (value or b"")
    return struct.pack("<i", len(raw)) + raw


def _custom_value(value: Any) -> bytes:
    if value is None or isinstance(value, bool):
        return struct.pack("<B", ValueFormat.VOID)
    if isinstance(value, int):
        if -(2**7) <= value < 2**7:
            return struct.pack("<Bb", ValueFormat.BYTE, value)
        if -(2**15) <= value < 2**15:
            return struct.pack("<Bh", ValueFormat.INT16, value)
        if -(2**31) <= value < 2**31:
            return struct.pack("<Bi", ValueFormat.INT32, value)
        return struct.pack("<Bq", ValueFormat.INT64, value)
    if isinstance(value, datetime):
        return struct.pack("<Bq", ValueFormat.DATE, int(value.timestamp() * 1000))
    if isinstance(value, bytes):
        return struct.pack("<Bi", ValueFormat.BYTE_ARRAY, len(value)) + value
    return struct.pack("<B", ValueFormat.COUNTED_STRING) + _counted(str(value))


def encode(frame: Frame) -> bytes:
    out = bytearray(struct.pack("<BB", frame.version, frame.type))
    if frame.status_code is not None:
        out += struct.pack("<hi", HeaderType.STATUS_CODE, frame.status_code)
    if frame.status_phrase is not None:
        out += struct.pack("<h", HeaderType.STATUS_PHRASE) + _counted(frame.status_phrase)
    if frame.flag is not None:
        out += struct.pack("<hi", HeaderType.FLAG, frame.flag)
    if frame.token is not None:
        out += struct.pack("<h", HeaderType.TOKEN) + _counted(frame.token)
    for key, value in frame.content.items():
        out += struct.pack("<h", HeaderType.CUSTOM) + _counted(key) + _custom_value(value)
    out += struct.pack("<h", HeaderType.END_OF_HEADERS)
    return bytes(out)


# ---- decoding -------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise FrameError(f"frame ends inside a value at byte {self.at}")
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return value

    def raw(self) -> bytes:
        length = self.take("<i")
        if length < 0 or self.at + length > len(self.data):
            raise FrameError(f"bad length {length} at byte {self.at}")
        value = self.data[self.at : self.at + length]
        self.at += length
        return value

    def text(self) -> str | None:
        raw = self.raw()
        try:
            return raw.decode("utf-8") if raw else None
        except UnicodeDecodeError as error:
            raise FrameError("a string is not UTF-8") from error

    def custom_value(self) -> Any:
        fmt = self.take("<B")
        readers = {
            ValueFormat.VOID: lambda: None,
            ValueFormat.BYTE: lambda: self.take("<b"),
            ValueFormat.INT16: lambda: self.take("<h"),
            ValueFormat.INT32: lambda: self.take("<i"),
            ValueFormat.INT64: lambda: self.take("<q"),
            ValueFormat.DATE: lambda: datetime.fromtimestamp(self.take("<q") / 1000, UTC),
            ValueFormat.BYTE_ARRAY: self.raw,
            ValueFormat.COUNTED_STRING: self.text,
        }
        reader = readers.get(fmt)
        if reader is None:
            raise FrameError(f"unknown value format {fmt}")
        return reader()


def decode(data: bytes) -> Frame:
    if len(data) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(data)} bytes is over {MAX_FRAME_BYTES}")
    reader = _Reader(data)
    version = reader.take("<B")
    try:
        frame = Frame(type=MessageType(reader.take("<B")), version=version)
    except ValueError as error:
        raise FrameError(str(error)) from error
    for _ in range(1000):  # a frame has a handful of headers; a loop without an end is not a frame
        header = reader.take("<h")
        if header == HeaderType.END_OF_HEADERS:
            return frame
        if header == HeaderType.CUSTOM:
            key = reader.text()
            if not key:
                raise FrameError("a custom header without a name")
            frame.content[key] = reader.custom_value()
        elif header == HeaderType.STATUS_CODE:
            frame.status_code = reader.take("<i")
        elif header == HeaderType.STATUS_PHRASE:
            frame.status_phrase = reader.text()
        elif header == HeaderType.FLAG:
            frame.flag = reader.take("<i")
        elif header == HeaderType.TOKEN:
            frame.token = reader.text()
        else:
            raise FrameError(f"unknown header type {header}")
    raise FrameError("too many headers")


# ---- the client's frames ------------------------------------------------------------


def connect_sign(app_key: str, secret: str, group: str, timestamp: str) -> str:
    """MD5 over secret + sorted key/value pairs + secret, upper-case hex (tmc.js `sign`, tmcpy `create_sign`)."""
    pairs = "".join(
        f"{k}{v}" for k, v in sorted({"app_key": app_key, "group_name": group, "timestamp": timestamp}.items())
    )
    return hashlib.md5(f"{secret}{pairs}{secret}".encode()).hexdigest().upper()


def connect_frame(app_key: str, secret: str, group: str, now: datetime) -> Frame:
    timestamp = str(int(now.timestamp() * 1000))
    return Frame(
        type=MessageType.CONNECT,
        content={
            "app_key": app_key,
            "group_name": group,
            "timestamp": timestamp,
            "sign": connect_sign(app_key, secret, group, timestamp),
            "sdk": "aftersales-tmc",
        },
    )


def confirm_frame(token: str | None, message_id: int) -> Frame:
    return Frame(type=MessageType.SEND, token=token, content={KIND: MessageKind.CONFIRM, "id": message_id})


def pull_frame(token: str | None) -> Frame:
    return Frame(type=MessageType.SEND, token=token, content={KIND: MessageKind.PULL_REQUEST})
