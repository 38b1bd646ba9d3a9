"""Reaching a Temporal cluster behind TLS or Temporal Cloud: what the settings hand to `Client.connect`
(no network needed), the refusals of half-given mTLS settings, and the build a worker reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.common import VersioningBehavior
from temporalio.service import TLSConfig

from core.settings import Settings
from core.temporal_client import TemporalSettingsError, connect_options
from core.worker_version import build_id, deployment_config, git_sha, package_version

CERT = b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"
CA = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, Path]:
    files = {"cert": tmp_path / "tls.crt", "key": tmp_path / "tls.key", "ca": tmp_path / "ca.crt"}
    for name, content in (("cert", CERT), ("key", KEY), ("ca", CA)):
        files[name].write_bytes(content)
    return files


def test_the_local_dev_server_is_reached_in_plain_text() -> None:
    options = connect_options(Settings())
    assert options["tls"] is False
    assert options["api_key"] is None
    assert options["namespace"] == "default"


def test_mtls_reads_the_certificate_key_and_ca_into_a_tls_config(pem_files: dict[str, Path]) -> None:
    settings = Settings(
        temporal_namespace="aftersales.a1b2c",
        temporal_tls_cert_file=pem_files["cert"],
        temporal_tls_key_file=pem_files["key"],
        temporal_tls_ca_file=pem_files["ca"],
        temporal_tls_server_name="aftersales.a1b2c.tmprl.cloud",
    )
    options = connect_options(settings)
    assert options["namespace"] == "aftersales.a1b2c"
    assert options["tls"] == TLSConfig(
        server_root_ca_cert=CA, domain="aftersales.a1b2c.tmprl.cloud", client_cert=CERT, client_private_key=KEY
    )
    assert options["api_key"] is None


def test_mtls_without_a_private_ca_checks_the_server_against_the_systems_cas(pem_files: dict[str, Path]) -> None:
    tls = connect_options(Settings(temporal_tls_cert_file=pem_files["cert"], temporal_tls_key_file=pem_files["key"]))[
        "tls"
    ]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (CERT, KEY, None)


def test_an_api_key_is_sent_over_tls() -> None:
    options = connect_options(Settings(temporal_api_key=SecretStr("cloud-key-123")))
    assert options["api_key"] == "cloud-key-123"
    assert options["tls"] is True


def test_the_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, pem_files: dict[str, Path]
) -> None:
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "prod")
    monkeypatch.setenv("TEMPORAL_TLS_CERT_FILE", str(pem_files["cert"]))
    monkeypatch.setenv("TEMPORAL_TLS_KEY_FILE", str(pem_files["key"]))
    monkeypatch.setenv("TEMPORAL_API_KEY", "from-env")
    options = connect_options(Settings())
    assert options["namespace"] == "prod"
    assert options["api_key"] == "from-env"
    assert isinstance(options["tls"], TLSConfig) and options["tls"].client_cert == CERT


def test_tls_can_be_forced_on_without_client_credentials() -> None:
    assert connect_options(Settings(temporal_tls=True))["tls"] is True


@pytest.mark.parametrize(("given", "missing"), [("cert", "TEMPORAL_TLS_KEY_FILE"), ("key", "TEMPORAL_TLS_CERT_FILE")])
def test_half_of_an_mtls_pair_is_refused_naming_the_missing_half(
    pem_files: dict[str, Path], given: str, missing: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{f"temporal_tls_{given}_file": pem_files[given]})
    message = str(refused.value)
    assert f"{missing} is not" in message
    assert "mTLS needs both" in message
    assert str(pem_files[given]) not in message  # inputs stay out of validation errors


def test_tls_off_with_an_api_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="TEMPORAL_TLS is false"):
        Settings(temporal_tls=False, temporal_api_key=SecretStr("k"))


def test_an_empty_api_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="TEMPORAL_API_KEY is set but empty"):
        Settings(temporal_api_key=SecretStr("  "))


def test_an_unreadable_certificate_file_is_named(tmp_path: Path, pem_files: dict[str, Path]) -> None:
    settings = Settings(temporal_tls_cert_file=tmp_path / "missing.crt", temporal_tls_key_file=pem_files["key"])
    with pytest.raises(TemporalSettingsError, match=r"TEMPORAL_TLS_CERT_FILE .*missing\.crt cannot be read"):
        connect_options(settings)


# ---- the build a worker reports ---------------------------------------------------------------------


def test_the_worker_reports_the_configured_build_and_stays_unversioned_by_default() -> None:
    config = deployment_config(Settings(worker_build_id="2026.12.01-abc123"))
    assert config.version.deployment_name == "aftersales"
    assert config.version.build_id == "2026.12.01-abc123"
    assert config.use_worker_versioning is False
    assert config.default_versioning_behavior == VersioningBehavior.UNSPECIFIED


def test_with_worker_versioning_cases_auto_upgrade() -> None:
    config = deployment_config(Settings(worker_versioning=True, worker_build_id="b7", worker_deployment_name="as"))
    assert config.use_worker_versioning is True
    assert config.default_versioning_behavior == VersioningBehavior.AUTO_UPGRADE
    assert config.version.to_canonical_string() == "as.b7"


def test_the_default_build_id_is_the_package_version_and_the_commit() -> None:
    sha = git_sha()  # a git checkout (CI, development); None in an installed image
    assert build_id(Settings()) == (f"{package_version()}-{sha}" if sha else package_version())
    if sha:
        assert re.fullmatch(r"[0-9a-f]{12}", sha)


def test_a_deployment_name_with_a_dot_is_refused() -> None:
    with pytest.raises(ValidationError, match="worker_deployment_name"):
        Settings(worker_deployment_name="after.sales")
