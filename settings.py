"""Settings from the environment (and `.env`), shared by the API, the worker and the CLI."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # Inputs stay out of validation errors: they may be codec keys.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(default=Path(".aftersales"), description="Temporal's state and the SQLite database live here")
    database_url: str | None = Field(default=None, description="PostgreSQL or SQLite URL; SQLite in data_dir when unset")
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "aftersales-cases"
    temporal_ui_url: str = "http://localhost:8233"
    business_timezone: str = "Asia/Shanghai"
    calendar_file: Path | None = Field(default=None, description="TOML file adding or overriding calendar days")
    case_number_prefix: str = Field(default="AS", pattern=r"^[A-Z]{2,8}$")
    log_level: str = "INFO"
    # Payload encryption (codec.py): `kid:base64key,...`; unset keeps payloads in clear.
    codec_keys: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("codec_keys", "AFTERSALES_CODEC_KEYS", "CODEC_KEYS"),
        description="AES keys as kid:base64key pairs, comma-separated; the first encrypts unless codec_key_id says",
    )
    codec_key_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("codec_key_id", "AFTERSALES_CODEC_KEY_ID", "CODEC_KEY_ID"),
        description="The key id that encrypts new payloads; every listed key decrypts",
    )
    # DOMAIN.md: records are kept at least three years; after that, personal data goes.
    retention_years: int = Field(default=3, ge=1, description="Anonymise personal data of cases archived longer ago")
    retention_schedule_id: str = "aftersales-retention"

    @model_validator(mode="after")
    def _codec_keys_valid(self) -> Settings:
        self.codec()  # fail at startup, not at the first payload
        return self

    def codec(self):  # noqa: ANN201 - codec.EncryptionCodec | None
        from codec import codec_from

        return codec_from(self.codec_keys.get_secret_value() if self.codec_keys else None, self.codec_key_id)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'aftersales.db').as_posix()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
