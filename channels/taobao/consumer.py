"""The TMC consumer: Taobao's messages over a WebSocket, into the same intake as the HTTP endpoint.

It runs beside the worker (worker.py starts it when TAOBAO_APP_KEY is set) or alone
(`aftersales tmc`). One connection at a time: CONNECT signed with the app key and secret, then
each pushed refund message is parsed, enriched with the refund's detail and recorded through
the intake (`take_event`), and only then confirmed. A crash, a database or Temporal outage
before the confirmation leaves the message unconfirmed: TMC delivers it again, and the intake's
de-duplication by message id makes the second delivery act once. A dropped connection is
opened again after a backoff (1 s doubling to a minute, reset once connected).

Protocol and behaviour follow Taobao's SDKs (channels/taobao/protocol.py): the official client
also pulls every few seconds (`PullRequest`) so messages left while it was away come at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from channels.base import MessageRejected
from channels.taobao.adapter import TaobaoAdapter
from channels.taobao.protocol import (
    MAX_FRAME_BYTES,
    Frame,
    FrameError,
    MessageKind,
    MessageType,
    confirm_frame,
    connect_frame,
    decode,
    encode,
    pull_frame,
)
from core.cancellation import raise_if_cancelled
from domain.marketplace import IntakeResult, PlatformEvent, PlatformStep

log = logging.getLogger(__name__)

DEFAULT_URL = "ws://mc.api.taobao.com/"


class EventTaker(Protocol):
    async def take_event(self, event: PlatformEvent) -> IntakeResult: ...


class TmcRefused(Exception):
    """The TMC server refused our CONNECT (wrong key or secret, app not subscribed)."""


def message_body(frame: Frame) -> bytes:
    """A Data frame as the adapter parses it: the fields the refund topics need, as JSON."""
    content = frame.content
    pub_time = content.get("pub_time") or content.get("outtime")
    return json.dumps(
        {
            "id": content.get("id"),
            "topic": content.get("topic"),
            "content": content.get("content"),
            "pub_time": pub_time.isoformat() if isinstance(pub_time, datetime) else pub_time,
        },
        default=str,
    ).encode()


class TmcConsumer:
    def __init__(
        self,
        adapter: TaobaoAdapter,
        intake: EventTaker,
        *,
        app_key: str,
        secret: str,
        group: str = "default",
        url: str = DEFAULT_URL,
        pull_seconds: float = 5.0,
        max_backoff_seconds: float = 60.0,
        on_taken: Callable[[IntakeResult], Awaitable[None]] | None = None,
    ) -> None:
        self._adapter = adapter
        self._intake = intake
        self._app_key = app_key
        self._secret = secret
        self._group = group
        self._url = url
        self._pull_seconds = pull_seconds
        self._max_backoff = max_backoff_seconds
        self._on_taken = on_taken
        self.connected = asyncio.Event()  # set while a session is open (tests and readiness)
        self.taken = 0  # messages recorded and confirmed, since start

    async def run(self) -> None:
        """Consume until cancelled, reconnecting after any failure of the connection."""
        backoff = 1.0
        while True:
            try:
                async with connect(self._url, max_size=MAX_FRAME_BYTES, open_timeout=10) as socket:
                    await self._session(socket)
                    backoff = 1.0
            except asyncio.CancelledError:
                raise
            except TmcRefused as error:
                log.error("TMC refused the connection: %s", error)
            except (OSError, WebSocketException, FrameError, TimeoutError) as error:
                log.warning(
                    "TMC connection lost (%s: %s); reconnecting in %.0f s", type(error).__name__, error, backoff
                )
            except Exception as error:  # noqa: BLE001 - the intake failed (database, Temporal): the message stays unconfirmed
                log.warning("TMC message not recorded (%s); reconnecting in %.0f s", type(error).__name__, backoff)
            finally:
                self.connected.clear()
            raise_if_cancelled()  # a cancel swallowed inside the websocket library still stops the loop
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self._max_backoff)

    async def _session(self, socket: ClientConnection) -> None:
        await socket.send(encode(connect_frame(self._app_key, self._secret, self._group, datetime.now(UTC))))
        ack = decode(_binary(await asyncio.wait_for(socket.recv(), timeout=10)))
        if ack.type is not MessageType.CONNECTACK or ack.status_code or not ack.token:
            raise TmcRefused(f"{ack.status_code} {ack.status_phrase or ''}".strip())
        token = ack.token
        log.info("TMC connected to %s as group %s", self._url, self._group)
        self.connected.set()
        puller = asyncio.create_task(self._pull(socket, token), name="tmc-pull")
        try:
            async for data in socket:
                frame = decode(_binary(data))
                if frame.type is MessageType.SEND and frame.kind is MessageKind.DATA:
                    await self._take(socket, token, frame)
        except ConnectionClosed:
            pass
        finally:
            puller.cancel()
        raise ConnectionError("the TMC server closed the connection")

    async def _pull(self, socket: ClientConnection, token: str) -> None:
        while True:
            await asyncio.sleep(self._pull_seconds)
            try:
                await socket.send(encode(pull_frame(token)))
            except ConnectionClosed:
                return

    async def _take(self, socket: ClientConnection, token: str, frame: Frame) -> None:
        message_id = frame.content.get("id")
        if not isinstance(message_id, int):
            log.warning("TMC message without an id: not confirmed")
            return
        try:
            events = self._adapter.parse(message_body(frame))
        except MessageRejected as error:
            # It will never read better: confirm it, or TMC would send it forever.
            log.warning("TMC message %s refused (%s): confirmed without recording", message_id, error)
            events = []
        for event in events:
            if event.step is PlatformStep.OTHER:
                log.info("TMC message %s on topic %s: not a refund topic, not recorded", message_id, event.topic)
                continue
            # Any failure here propagates: the message stays unconfirmed and comes again.
            result = await self._intake.take_event(await self._adapter.enrich(event))
            log.info(
                "TMC message %s for refund %s: case %s%s",
                message_id,
                event.after_sale_id,
                result.case_number or "(held)",
                " (seen before)" if result.duplicate else "",
            )
            if self._on_taken is not None:
                await self._on_taken(result)
        await socket.send(encode(confirm_frame(token, message_id)))
        self.taken += 1


def _binary(data: Any) -> bytes:
    if isinstance(data, str):
        raise FrameError("a text frame: TMC speaks binary frames")
    return bytes(data)
