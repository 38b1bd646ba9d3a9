"""Settings from the environment (and `.env`), shared by the API, the worker and the CLI."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.handling import HandlingRules
from domain.phone import DEVELOPMENT_LOOKUP_KEY
from domain.returns import LEG_NAMES, default_return_deadlines, working_days
from domain.triage import TriageRules

# Signs actions when ACTION_SIGNING_KEY is unset (development only: it is in the source).
DEV_ACTION_SIGNING_KEY = b"aftersales-development-action-signing-key"
# Shorter HMAC keys are guessable; 32 characters of a random secret is 128 bits or more.
MIN_ACTION_KEY_CHARS = 32

# A delay or a wait: more than zero seconds.
Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    # Inputs stay out of validation errors: they may be codec keys.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(
        default=Path(".aftersales"), description="Temporal's state and the SQLite database live here"
    )
    database_url: str | None = Field(
        default=None, description="PostgreSQL or SQLite URL; SQLite in data_dir when unset"
    )
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    # A Temporal cluster behind TLS, or Temporal Cloud (core/temporal_client.py): mTLS with a client
    # certificate and key, or an API key (which turns TLS on by itself).
    temporal_tls: bool | None = Field(
        default=None, description="TLS to Temporal: on with a client certificate or an API key unless set false"
    )
    temporal_tls_cert_file: Path | None = Field(default=None, description="PEM client certificate for mTLS")
    temporal_tls_key_file: Path | None = Field(default=None, description="PEM private key of that certificate")
    temporal_tls_ca_file: Path | None = Field(
        default=None, description="PEM CA the server certificate is checked against; the system's when unset"
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="Server name for SNI and certificate checks, when it differs from the address"
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, description="Temporal Cloud API key, sent as a bearer token over TLS"
    )
    # Worker Versioning (deploy/README.md, "Safe deploys"): every worker reports the deployment and
    # build it runs; routing by version is opt-in because the server then needs a current version set.
    worker_deployment_name: str = Field(
        default="aftersales", pattern=r"^[^.]+$", description="Worker Deployment name (no dots)"
    )
    worker_build_id: str | None = Field(
        default=None, description="Build id this worker reports; the package version (+ git sha) when unset"
    )
    worker_versioning: bool = Field(
        default=False,
        description="Route tasks by worker version (Temporal Worker Versioning); cases then auto-upgrade",
    )
    task_queue: str = "aftersales-cases"
    temporal_ui_url: str = "http://localhost:8233"
    console_public_url: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^https?://[^\s]+[^/\s]$",
        description="Where people open the console (e.g. https://aftersales.example.com/console): a case's "
        "current details in Temporal UI link back to its page there; unset: no link",
    )
    business_timezone: str = "Asia/Shanghai"
    calendar_file: Path | None = Field(default=None, description="TOML file adding or overriding calendar days")
    case_number_prefix: str = Field(default="AS", pattern=r"^[A-Z]{2,8}$")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one object a line with trace_id and span_id (still masked)"
    )
    # Observability (core/metrics.py, api/metrics.py, core/tracing.py; traces are set by the OTEL_* variables).
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the worker's Prometheus endpoint (Temporal SDK and case counters); off when unset",
    )
    worker_metrics_host: str = Field(default="0.0.0.0", description="Address the worker's metrics endpoint binds")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, the API's /metrics asks for `Authorization: Bearer <token>`; open otherwise",
    )
    metrics_cache_seconds: float = Field(
        default=15,
        ge=0,
        description="The API's database gauges (open cases, approvals waiting, outbox) are computed at most this often",
    )
    compensation_cap_percent: Decimal = Field(
        default=Decimal("30"), ge=0, le=100, description="Compensation cap, % of the price paid"
    )
    triage_rules_file: Path | None = Field(
        default=None, description="JSON or TOML triage rules (versioned); built-in when unset"
    )
    triage_rules_cache_seconds: float = Field(
        default=30,
        ge=0,
        description="How long a worker keeps using the active uploaded triage rules before looking again",
    )
    reopen_limit: int = Field(default=3, ge=1, description="Reopens after which the after-sales head takes the case")
    # Returns and repairs (domain/returns.py) and unanswered exchange offers, pinned on new cases.
    return_step_working_days: dict[str, float] = Field(
        default_factory=dict,
        description='Working days a return or repair leg may take, overriding the defaults, e.g. {"receipt": 3}',
    )
    exchange_choice_reminder_working_days: float = Field(
        default=3, gt=0, description="Unanswered exchange offer: reminder after"
    )
    exchange_choice_default_working_days: float = Field(
        default=2, gt=0, description="...then the refund, after the reminder"
    )
    fix_check_after_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Calendar days after a satisfied close before the customer is asked whether the fix held",
    )
    worker_cached_cases: int = Field(
        default=1000,
        ge=0,
        description="Cases a worker keeps in memory (~150 KiB each); an idle case beyond it is evicted and replayed when it wakes",
    )

    def handling_rules(self) -> HandlingRules:
        """The rules pinned on a case opened now."""
        return HandlingRules(
            compensation_cap_percent=self.compensation_cap_percent,
            reopen_limit=self.reopen_limit,
            return_deadlines=default_return_deadlines()
            | {leg: working_days(days) for leg, days in self.return_step_working_days.items()},
            exchange_choice_reminder_after=working_days(self.exchange_choice_reminder_working_days),
            exchange_choice_default_after=working_days(self.exchange_choice_default_working_days),
            fix_check_after_days=self.fix_check_after_days,
        )

    @field_validator("return_step_working_days")
    @classmethod
    def _known_legs(cls, days: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(days) - LEG_NAMES)
        if unknown:
            raise ValueError(f"unknown legs {', '.join(unknown)}; known: {', '.join(sorted(LEG_NAMES))}")
        if any(value <= 0 for value in days.values()):
            raise ValueError("each leg needs more than 0 working days")
        return days

    def triage_rules(self) -> TriageRules:
        path = self.triage_rules_file
        if not path:
            return TriageRules()
        return TriageRules.parse(path.read_text(encoding="utf-8"), toml=path.suffix == ".toml")

    # Notification delivery (the outbox dispatcher beside the worker).
    notify_adapter: Literal["log", "webhook"] = Field(
        default="log", description="log: one line per notification; webhook: signed POST"
    )
    notify_webhook_url: str | None = None
    notify_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of X-Aftersales-Signature"
    )
    notify_max_attempts: int = Field(
        default=8, ge=1, description="A notification is marked failed after this many attempts"
    )
    notify_retry_base_seconds: Seconds = Field(default=5.0, description="First retry delay; doubles per attempt")
    notify_retry_max_seconds: Seconds = 600.0
    notify_poll_seconds: Seconds = Field(default=1.0, description="How often an idle dispatcher looks for due rows")
    robots: str | None = Field(
        default=None,
        description="Staff alerts to group robots (WeCom, DingTalk, Feishu): a TOML or JSON document, or the path "
        "of a .toml/.json file, with [robots.<id>] and [routes.<department>] <rung> = [ids] (README 'Staff alerts')",
    )
    worker_runs_dispatcher: bool = Field(
        default=True,
        description="The worker delivers the outbox too; false where `aftersales dispatcher` runs on its own",
    )
    # Customer messages (delivery/customer.py): e-mail and SMS, chosen per case; README "Customer messages".
    customer_channels: str = Field(
        default="",
        description="Channels for customer messages in order of preference, e.g. 'email,sms'; "
        "empty: customer notifications go to NOTIFY_ADAPTER like the others",
    )
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS")
    smtp_from: str = Field(default="售后服务 <aftersales@localhost>", description="From: of customer e-mails")
    smtp_timeout_seconds: Seconds = 20.0
    sms_provider_url: str | None = Field(default=None, description="The SMS provider's send endpoint (signed POST)")
    sms_api_key: str | None = Field(default=None, description="Our key id at the SMS provider (X-Api-Key)")
    sms_api_secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key of the provider request")
    sms_max_segments: int = Field(default=2, ge=1, le=5, description="Longest SMS, in segments (70 Chinese chars)")
    quiet_hours: str = Field(
        default="21:00-08:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$|^$",
        description="No SMS in these local hours of the customer unless P1 (held until they end); empty: none",
    )

    @field_validator("customer_channels")
    @classmethod
    def _known_channels(cls, channels: str) -> str:
        unknown = sorted(set(_names(channels)) - {"email", "sms"})
        if unknown:
            raise ValueError(f"unknown channels {', '.join(unknown)}; known: email, sms")
        return channels

    @property
    def customer_channel_order(self) -> list[str]:
        return _names(self.customer_channels)

    # Carrying out approved resolutions (refunds go to the original payment route first).
    execution_adapter: Literal["ledger", "webhook"] = Field(
        default="ledger",
        description="ledger: record locally only; webhook: signed POST to the payment/fulfilment service",
    )
    execution_webhook_url: str | None = None
    execution_webhook_secret: SecretStr | None = None
    execution_route_attempts: int = Field(
        default=5, ge=1, description="Attempts on one payment route that is unreachable before the next route is tried"
    )

    # People sign in elsewhere and bring a JWT (Authorization: Bearer); services use API keys.
    jwt_issuer: str = Field(default="aftersales", description="The `iss` every token must carry")
    jwt_audience: str = Field(default="aftersales-api", description="The `aud` every token must carry")
    jwt_algorithm: str = Field(
        default="HS256", description="HS256/384/512 with jwt_secret; RS*/ES*/PS* with a public key"
    )
    # Marketplace channels (channels/): a platform is on when its credentials are set.
    douyin_app_key: str | None = Field(default=None, description="Douyin Shop app key: turns the Douyin channel on")
    douyin_app_secret: SecretStr | None = Field(
        default=None, description="Douyin Shop app secret (signs pushes and calls)"
    )
    douyin_access_token: SecretStr | None = Field(default=None, description="the shop's access token for the open API")
    douyin_api_url: str = Field(default="https://openapi-fxg.jinritemai.com", description="Douyin Shop open API")
    # Taobao/Tmall (channels/taobao/): messages over TMC's WebSocket, decisions through the TOP API.
    taobao_app_key: str | None = Field(
        default=None, description="Taobao Open Platform app key: turns the Taobao channel and its TMC consumer on"
    )
    taobao_app_secret: SecretStr | None = Field(default=None, description="the app's secret (signs TMC and TOP calls)")
    taobao_session: SecretStr | None = Field(default=None, description="the shop's access token (TOP `session`)")
    taobao_api_url: str = Field(default="https://eco.taobao.com/router/rest", description="TOP API router")
    taobao_sign_method: Literal["md5", "hmac", "hmac-sha256"] = "md5"
    taobao_tmc_url: str = Field(default="ws://mc.api.taobao.com/", description="TMC WebSocket endpoint")
    taobao_tmc_group: str = Field(default="default", max_length=64, description="TMC user group to consume")
    taobao_shop_type: Literal["taobao", "tmall"] = Field(
        default="taobao", description="taobao: 20 refunds/¥6,000 per agree call; tmall: 30/¥10,000, refusals need proof"
    )
    taobao_return_address_id: str | None = Field(
        default=None, max_length=32, description="seller_address_id for authorising returns; unset: a person does it"
    )
    worker_runs_tmc: bool = Field(
        default=True,
        description="The worker consumes TMC when TAOBAO_APP_KEY is set; false where `aftersales tmc` runs",
    )
    # Reconciliation (workflows/reconciliation.py): what a missed push left behind, repaired on a schedule.
    reconcile_schedule_id: str = "aftersales-marketplace-reconcile"
    reconcile_every_minutes: int = Field(default=10, ge=1, le=1440, description="How often the platforms are read")
    reconcile_window_minutes: int = Field(
        default=30, ge=1, le=1440, description="How far back each run reads (overlapping the previous run)"
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="Shared HMAC secret (HS*); no JWTs accepted when no key is set"
    )
    jwt_public_key: str | None = Field(default=None, description="PEM public key for RS*/ES*/PS* tokens")
    jwt_public_key_file: Path | None = Field(default=None, description="File holding that PEM public key")
    jwt_role_claim: str = "role"
    jwt_department_claim: str = "department"
    # The console (console/auth.py): people sign in with the company's OpenID Connect provider
    # (authorization code + PKCE); its ID token's claims map to role and department like the API's JWTs.
    oidc_issuer: str | None = Field(
        default=None, description="The OpenID provider's issuer URL; unset: no OIDC sign-in"
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid profile"
    console_session_secret: SecretStr | None = Field(
        default=None,
        description="Signs console session cookies; unset: a random key per process (sessions end on restart)",
    )
    console_session_minutes: int = Field(
        default=480, ge=1, le=7 * 24 * 60, description="A console session lasts this long"
    )
    jwt_leeway_seconds: int = Field(default=30, ge=0, description="Clock skew tolerated on exp/nbf/iat")

    # Limits: one caller cannot starve the others, one request cannot exhaust memory.
    max_body_bytes: int = Field(default=1_048_576, ge=1, description="Larger request bodies answer 413")
    rate_limit: str = Field(
        default="600/minute",
        description="Per caller, in the `limits` notation (e.g. '10/second;600/minute'); empty: off",
    )
    rate_limit_storage: str = Field(
        default="memory://", description="`limits` storage URI; share one (e.g. redis://) between API processes"
    )
    case_query_timeout_seconds: Seconds = Field(
        default=10,
        description="How long a read waits for a case's live state; a case no worker answers for is then 503",
    )
    temporal_timeout_seconds: Seconds = Field(
        default=10,
        description="How long the API waits for Temporal to start a case, take an action or answer ops; then 503",
    )
    idempotency_lock_seconds: Seconds = Field(
        default=120, description="An Idempotency-Key in flight longer than this (a crashed request) may be retried"
    )
    # Payload encryption (core/codec.py): `kid:base64key,...`; unset keeps payloads in clear.
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
    # Finding a case by the customer's phone (domain/phone.py): the record indexes HMAC-SHA256(key,
    # E.164 number), never the number. API and worker must share the key: cases recorded under
    # another key are not found by phone until their column is recomputed.
    phone_lookup_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the phone look-up column; unset: a development key that is not secret",
    )

    # The customer page (/c/{token}, README "The customer page"): signed links, what the page shows, uploads.
    customer_link_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of the customer links; unset: one made once in data_dir (one machine only)",
    )
    customer_link_base_url: str = Field(
        default="http://127.0.0.1:8000", max_length=200, description="Where customers open /c/{token}"
    )
    customer_reply_window_hours: float = Field(
        default=7 * 24, gt=0, le=90 * 24, description="How long an information request's link stays open"
    )
    customer_hotline: str = Field(
        default="400-000-0000", max_length=40, description="The service hotline the customer page names"
    )
    customer_page_shows_staff: bool = Field(
        default=False, description="Show the handler's id on the customer page (off: staff stay unnamed)"
    )
    upload_storage: Literal["local", "s3"] = Field(
        default="local", description="local: files under upload_dir; s3: an S3-compatible store"
    )
    upload_dir: Path | None = Field(default=None, description="Local upload directory; data_dir/uploads when unset")
    upload_max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="Largest photo accepted")
    upload_max_video_bytes: int = Field(default=30 * 1024 * 1024, ge=1, description="Largest short video accepted")
    upload_max_answer_bytes: int = Field(
        default=40 * 1024 * 1024, ge=1, description="Largest answer with its files (the request body of /c/{token})"
    )
    upload_scanner: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:callable building the virus scanner (services/uploads.py Scanner); none scans nothing",
    )
    s3_endpoint: str | None = Field(default=None, description="host:port of the S3-compatible store")
    s3_bucket: str = "aftersales-uploads"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str | None = None
    s3_secure: bool = Field(default=True, description="HTTPS to the S3-compatible store")
    # Approvals only from people (workflows/signed_actions.py): the API signs every action it sends a
    # case, the worker accepts only signed ones; both need the same key.
    action_signing_key: SecretStr | None = Field(
        default=None,
        description="HMAC key (32+ characters) the API signs actions on cases with and the worker checks; "
        "the same for both. Unset: a development key, with a warning",
    )
    action_signing_previous_keys: SecretStr | None = Field(
        default=None, description="Comma-separated keys the worker still accepts while ACTION_SIGNING_KEY is rotated"
    )
    action_signing_key_required: bool = Field(
        default=False, description="Refuse to start without ACTION_SIGNING_KEY (set in production)"
    )

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_not_empty(cls, secret: SecretStr | None) -> SecretStr | None:
        # An empty secret would make every bearer request fail (an HMAC key cannot be empty):
        # refuse to start instead. Leave JWT_SECRET unset for no JWTs at all.
        if secret is not None and not secret.get_secret_value().strip():
            raise ValueError("JWT_SECRET is set but empty: set a secret, or unset it to accept no JWTs")
        return secret

    @model_validator(mode="after")
    def _temporal_tls_complete(self) -> Settings:
        # A certificate without its key (or the reverse) cannot make an mTLS connection: say which is missing.
        if (self.temporal_tls_cert_file is None) != (self.temporal_tls_key_file is None):
            given, missing = (
                ("TEMPORAL_TLS_CERT_FILE", "TEMPORAL_TLS_KEY_FILE")
                if self.temporal_tls_key_file is None
                else ("TEMPORAL_TLS_KEY_FILE", "TEMPORAL_TLS_CERT_FILE")
            )
            raise ValueError(f"{given} is set but {missing} is not: mTLS needs both the certificate and its key")
        if self.temporal_tls is False and (self.temporal_tls_cert_file or self.temporal_api_key):
            raise ValueError("TEMPORAL_TLS is false but a client certificate or TEMPORAL_API_KEY is set: both need TLS")
        if self.temporal_api_key is not None and not self.temporal_api_key.get_secret_value().strip():
            raise ValueError("TEMPORAL_API_KEY is set but empty: set the key, or unset it")
        return self

    @model_validator(mode="after")
    def _action_keys_valid(self) -> Settings:
        if self.action_signing_key is None and self.action_signing_key_required:
            raise ValueError("ACTION_SIGNING_KEY is required (ACTION_SIGNING_KEY_REQUIRED) but unset")
        self.action_keys()
        return self

    def action_keys(self) -> list[bytes]:
        """The key that signs, then the previous ones the worker still accepts (core/action_signing.py)."""
        if self.action_signing_key is None:
            return [DEV_ACTION_SIGNING_KEY]
        given = [self.action_signing_key.get_secret_value()]
        if self.action_signing_previous_keys:
            given += [k.strip() for k in self.action_signing_previous_keys.get_secret_value().split(",") if k.strip()]
        if any(len(key) < MIN_ACTION_KEY_CHARS for key in given):
            raise ValueError(
                f"ACTION_SIGNING_KEY and the previous keys need at least {MIN_ACTION_KEY_CHARS} characters"
            )
        return [key.encode() for key in given]

    @model_validator(mode="after")
    def _codec_keys_valid(self) -> Settings:
        self.codec()  # fail at startup, not at the first payload
        return self

    def codec(self):  # noqa: ANN201 - codec.EncryptionCodec | None
        from core.codec import codec_from

        return codec_from(self.codec_keys.get_secret_value() if self.codec_keys else None, self.codec_key_id)

    def phone_key(self) -> bytes:
        return self.phone_lookup_key.get_secret_value().encode() if self.phone_lookup_key else DEVELOPMENT_LOOKUP_KEY

    @property
    def effective_upload_dir(self) -> Path:
        return self.upload_dir or self.data_dir / "uploads"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'aftersales.db').as_posix()}"


def _names(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",") if name.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
