"""Payload encryption (core/codec.py) and the /codec endpoint Temporal UI decodes through."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.codec import ENCODING, KEY_ID, CodecKeyError, EncryptionCodec, codec_from, data_converter, new_key, parse_keys
from core.settings import Settings
from domain.case import CaseIntake
from tests.support.people import ADMIN, AGENT, HANDLER, HEAD, SUPERVISOR, intake

OLD, NEW = new_key(), new_key()
UI = "http://ui.example:8233"


def _plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_round_trip_encrypts_with_a_key_id() -> None:
    codec = EncryptionCodec(parse_keys(f"k1:{OLD}"))
    [sealed] = await codec.encode([_plain("张三丰 +86 138 0013 8000")])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert "张三丰".encode() not in sealed.data and b"8000" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == _plain("张三丰 +86 138 0013 8000")


async def test_rotation_new_payloads_use_the_new_key_and_old_ones_still_decrypt() -> None:
    before = EncryptionCodec(parse_keys(f"k1:{OLD}"))
    [old_payload] = await before.encode([_plain("before rotation")])
    after = EncryptionCodec(parse_keys(f"k2:{NEW},k1:{OLD}"))  # the first encrypts
    [new_payload] = await after.encode([_plain("after rotation")])
    assert new_payload.metadata[KEY_ID] == b"k2"
    assert await after.decode([old_payload, new_payload]) == [_plain("before rotation"), _plain("after rotation")]
    named = EncryptionCodec(parse_keys(f"k1:{OLD},k2:{NEW}"), active="k2")  # or CODEC_KEY_ID names it
    assert (await named.encode([_plain("x")]))[0].metadata[KEY_ID] == b"k2"


async def test_unknown_key_id_fails_clearly() -> None:
    [sealed] = await EncryptionCodec(parse_keys(f"gone:{OLD}")).encode([_plain("x")])
    with pytest.raises(CodecKeyError, match="unknown codec key id 'gone'; known: k2"):
        await EncryptionCodec(parse_keys(f"k2:{NEW}")).decode([sealed])


def test_bad_key_configuration_is_refused_at_startup_without_echoing_keys() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32") as error:
        Settings(codec_keys="k1:" + base64.b64encode(b"short").decode())
    assert base64.b64encode(b"short").decode() not in str(error.value)
    with pytest.raises(ValueError, match="not among the keys"):
        Settings(codec_keys=f"k1:{OLD}", codec_key_id="k9")
    assert Settings().codec() is None and codec_from("  ") is None  # off without keys


def test_settings_read_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_CODEC_KEYS", f"k1:{OLD},k2:{NEW}")
    monkeypatch.setenv("CODEC_KEY_ID", "k2")
    codec = Settings().codec()
    assert codec is not None and codec.active == "k2"


async def test_the_data_converter_encrypts_pydantic_models_and_failures() -> None:
    converter = data_converter(codec_from(f"k1:{OLD}"))
    case = CaseIntake.model_validate(intake())
    [payload] = await converter.encode([case])
    assert payload.metadata["encoding"] == ENCODING and "张三丰".encode() not in payload.SerializeToString()
    assert await converter.decode([payload], [CaseIntake]) == [case]
    # Failure messages and stack traces are encrypted payloads too: they may quote the data.
    failure = Failure()
    await converter.encode_failure(ApplicationError("bad phone 13800138000"), failure)
    assert b"13800138000" not in failure.SerializeToString()
    assert "13800138000" in str(await converter.decode_failure(failure))


# ---- /codec ---------------------------------------------------------------------


def _wire(payload: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


@pytest.fixture
async def codec_api(env: WorkflowEnvironment):  # noqa: ANN201
    settings = Settings(codec_keys=f"k2:{NEW},k1:{OLD}", temporal_ui_url=UI + "/namespaces/default")
    app = create_app(settings, temporal=env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as client:
        yield client


async def _sealed() -> list[dict]:
    old = (await EncryptionCodec(parse_keys(f"k1:{OLD}")).encode([_plain("old 张三丰")]))[0]
    new = (await EncryptionCodec(parse_keys(f"k2:{NEW}")).encode([_plain("new 13800138000")]))[0]
    return [_wire(old), _wire(new), _wire(_plain("never encrypted"))]


async def test_codec_endpoint_refuses_without_authentication(codec_api: httpx.AsyncClient) -> None:
    for path in ("/codec/decode", "/codec/encode"):
        response = await codec_api.post(path, json={"payloads": await _sealed()}, headers={"X-Namespace": "default"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert "张三丰" not in response.text


@pytest.mark.parametrize("who", [SUPERVISOR, HEAD, ADMIN])
async def test_supervisor_head_and_admin_get_payloads_decoded(codec_api: httpx.AsyncClient, who: dict) -> None:
    response = await codec_api.post(
        "/codec/decode", json={"payloads": await _sealed()}, headers=who | {"X-Namespace": "default"}
    )
    assert response.status_code == 200
    assert response.json()["payloads"] == [
        _wire(_plain("old 张三丰")),
        _wire(_plain("new 13800138000")),
        _wire(_plain("never encrypted")),
    ]
    # ...and Temporal UI can encode what it sends (e.g. a signal's input) the same way.
    encoded = await codec_api.post("/codec/encode", json={"payloads": [_wire(_plain("x"))]}, headers=who)
    [payload] = encoded.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(payload["metadata"][KEY_ID]) == b"k2"


@pytest.mark.parametrize("who", [AGENT, HANDLER])
async def test_other_roles_get_the_payloads_still_encrypted(codec_api: httpx.AsyncClient, who: dict) -> None:
    sealed = await _sealed()
    response = await codec_api.post(
        "/codec/decode", json={"payloads": sealed}, headers=who | {"X-Namespace": "default"}
    )
    assert response.status_code == 200 and response.json()["payloads"] == sealed


async def test_another_namespace_is_left_alone(codec_api: httpx.AsyncClient) -> None:
    sealed = await _sealed()
    response = await codec_api.post(
        "/codec/decode", json={"payloads": sealed}, headers=SUPERVISOR | {"X-Namespace": "other"}
    )
    assert response.json()["payloads"] == sealed


async def test_cors_answers_the_ui_origin_only(codec_api: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    allowed = await codec_api.options("/codec/decode", headers=preflight | {"Origin": UI})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert {"authorization", "x-namespace", "content-type"} <= {
        h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")
    }
    post = await codec_api.post("/codec/decode", json={"payloads": []}, headers=SUPERVISOR | {"Origin": UI})
    assert post.status_code == 200 and post.headers["access-control-allow-origin"] == UI
    refused = await codec_api.post("/codec/decode", json={"payloads": []}, headers={"Origin": UI})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == UI  # the UI can read why

    for origin in ("http://evil.example", "http://ui.example:9999"):
        other = await codec_api.options("/codec/decode", headers=preflight | {"Origin": origin})
        assert not any(h.startswith("access-control-") for h in other.headers)
        post = await codec_api.post("/codec/decode", json={"payloads": []}, headers=SUPERVISOR | {"Origin": origin})
        assert not any(h.startswith("access-control-") for h in post.headers)
    # Nothing else in the API answers CORS, not even for the UI.
    cases = await codec_api.options("/cases", headers=preflight | {"Origin": UI})
    assert not any(h.startswith("access-control-") for h in cases.headers)


async def test_bad_base64_is_a_problem(codec_api: httpx.AsyncClient) -> None:
    response = await codec_api.post(
        "/codec/decode", json={"payloads": [{"metadata": {}, "data": "%%%"}]}, headers=SUPERVISOR
    )
    assert response.status_code == 422 and response.json()["title"] == "Invalid payload"


def _tampered(wire: dict) -> dict:
    data = bytearray(base64.b64decode(wire["data"]))
    data[-1] ^= 0x01
    return wire | {"data": base64.b64encode(bytes(data)).decode()}


def _truncated(wire: dict) -> dict:
    return wire | {"data": base64.b64encode(base64.b64decode(wire["data"])[:5]).decode()}


def _garbled_key_id(wire: dict) -> dict:
    return wire | {"metadata": wire["metadata"] | {KEY_ID: base64.b64encode(b"\xff\xfe").decode()}}


@pytest.mark.parametrize("spoil", [_tampered, _truncated, _garbled_key_id])
async def test_one_unreadable_payload_stays_encrypted_and_the_others_decode(
    codec_api: httpx.AsyncClient, spoil
) -> None:  # noqa: ANN001
    old, new, plain = await _sealed()
    spoiled = spoil(new)
    response = await codec_api.post("/codec/decode", json={"payloads": [old, spoiled, plain]}, headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    assert response.json()["payloads"] == [_wire(_plain("old 张三丰")), spoiled, _wire(_plain("never encrypted"))]
