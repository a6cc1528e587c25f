"""The one settings object. Every knob is a `FLOW_*` environment variable (or `.env` entry).

Secrets are `SecretStr`, so they never show up in reprs, logs or error messages.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Here rather than in kit/outbound.py, which uses it too: settings sit below kit (kit reads
# them), so the validator cannot import from kit.
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_-]+)*$")


def parse_allow_entry(entry: str) -> IPNetwork | str:
    """One `FLOW_OUTBOUND_ALLOW` entry: a network (`10.0.0.0/8`, `192.168.1.20`, `::1`) or a
    host name (`ollama.internal`), lower-cased."""
    text = entry.strip()
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if not _HOST_NAME.fullmatch(name):
        raise ValueError(f"{entry!r} is neither a host name nor an IP network (CIDR)")
    return name


SECRET_KEY_FILE = "secret_key"
# Values that people paste from examples; production must never run with them.
INSECURE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development"})
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    local = "local"
    test = "test"
    production = "production"


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class ConfigurationError(RuntimeError):
    """The settings cannot work; the message says which one and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLOW_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    env: Environment = Environment.local
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in the data dir."
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=5, ge=0, le=200)
    database_timeout_seconds: float = Field(
        default=5,
        gt=0,
        le=120,
        description="Longest wait for a database connection (connect or pool checkout) before "
        "a request is answered 503.",
    )
    database_statement_timeout_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="Longest wait for one statement's answer on PostgreSQL, so a hanging server "
        "cannot hold a request forever (0: no limit).",
    )
    redis_url: SecretStr | None = None
    redis_timeout_seconds: float = Field(
        default=1,
        gt=0,
        le=30,
        description="Socket timeout of Redis commands and connects: a hanging Redis costs a "
        "request at most this long before the in-process fallback takes over.",
    )
    redis_max_connections: int = Field(
        default=50,
        ge=2,
        le=10_000,
        description="Redis connections per process; a command waits (up to the Redis timeout) "
        "for a free one rather than failing. One is held by the live inbox's subscription.",
    )
    secret_key: SecretStr | None = None
    principal_cache_seconds: float = Field(
        default=30,
        ge=0,
        le=300,
        description="How long a checked credential may be reused while no revocation touched "
        "its workspace (0: check the database on every request).",
    )
    serving_processes: int = Field(
        default=1, ge=1, description="Set by `serve --workers N` for its workers."
    )
    gc_freeze: bool = Field(
        default=False,
        description="Keep the heap built at startup out of the garbage collector's later "
        "collections (kit/heap.py); `serve` turns it on for its server processes.",
    )

    cors_origins: list[str] = Field(default_factory=list)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    web_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    invitation_days: int = Field(default=7, ge=1, le=90)

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    http_compression: bool = Field(
        default=True,
        description="Gzip the web UI's pages, stylesheets and scripts (not the JSON API); off "
        "when a reverse proxy compresses.",
    )
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    register_max_per_client: int = Field(default=10, ge=1)
    password_reset_minutes: int = Field(
        default=45, ge=5, le=24 * 60, description="How long a password-reset link works."
    )
    password_reset_max_per_account: int = Field(
        default=3, ge=1, description="Reset e-mails one address may ask for per hour."
    )
    password_reset_max_per_client: int = Field(
        default=20, ge=1, description="Reset requests one client address may make per hour."
    )
    trust_forwarded_for: bool = Field(
        default=False, description="Take the client address from X-Forwarded-For (behind a proxy)."
    )

    events_max_batch: int = Field(default=100, ge=1, le=10_000)
    events_max_properties_bytes: int = Field(default=4096, ge=64)

    seed_demo: bool = Field(default=True, description="Create a demo workspace in an empty DB.")
    public_url: str = "http://127.0.0.1:8000"

    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token `GET /metrics` requires (unset: no token needed)."
    )
    metrics_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="CIDR networks allowed to read `/metrics` (empty: any address).",
    )
    log_format: LogFormat | None = Field(
        default=None, description="`json` or `console`; default: json in production, else console."
    )
    log_level: str = Field(default="INFO", description="Root log level (DEBUG, INFO, WARNING...).")
    tracing_enabled: bool = Field(
        default=False,
        description="Export traces over OTLP (also on when OTEL_EXPORTER_OTLP_ENDPOINT is set).",
    )
    fault_plan_file: Path | None = Field(
        default=None,
        description="Where worker processes share the fault plan; set by `serve --workers N` "
        "(unset: the plan stays in the process).",
    )
    fault_injection: bool = Field(
        default=False,
        description="Enable /api/ops/faults (latency and 500s for drills); refused in production.",
    )

    # --- metric history and alerting (issue 5, part C) ---
    metrics_sample_seconds: float = Field(
        default=15,
        ge=0,
        le=3600,
        description="Seconds between two samples of the alert signals into the `metrics` "
        "table (0 disables sampling).",
    )
    metrics_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days of metric history kept; PostgreSQL drops whole monthly partitions "
        "once they are older, SQLite deletes rows.",
    )
    alert_evaluation_seconds: float = Field(
        default=15,
        ge=0,
        le=3600,
        description="Seconds between two evaluations of the alert rules (0 disables the "
        "evaluator on this instance).",
    )
    alert_rules_file: Path | None = Field(
        default=None, description="YAML alert rules; default: the packaged default rules."
    )
    # --- predictive alerting models (issue 6, docs/forecasting.md) ---
    predictive_step_seconds: int = Field(
        default=300,
        ge=15,
        le=3600,
        description="Step of the series the predictive models read (samples averaged per step "
        "across instances); the default detector was tuned on 5-minute data.",
    )
    predictive_history_days: float = Field(
        default=14, gt=0, le=90, description="Days of metric history a model is trained on."
    )
    predictive_min_points: int = Field(
        default=288,
        ge=50,
        le=100_000,
        description="Steps of history a model needs before it predicts (cold start below it).",
    )
    predictive_retrain_minutes: int = Field(
        default=360,
        ge=1,
        le=7 * 24 * 60,
        description="Minutes between scheduled retrains of each model (drift retrains earlier).",
    )
    alert_webhook_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated URLs receiving Alertmanager-compatible webhook JSON.",
    )
    alert_slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL (or a Slack-compatible one)."
    )
    alert_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated addresses that receive alert emails."
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail (alerts, password resets)."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_user: str | None = Field(default=None, description="SMTP login (optional).")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(
        default="intuitivus-flow@localhost",
        description="Sender address of the e-mails the product sends.",
    )
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS before sending."
    )

    operator_workspaces: Annotated[list[uuid.UUID], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated workspace ids whose owners/admins operate this instance "
        "(service health, alerts, forecasts, fault injection). Empty: the first workspace "
        "created on the instance, in every environment.",
    )

    # --- product domains (issue 4) ---
    embedded_worker: bool | None = Field(
        default=None,
        description="Run the job worker inside the web process (default: yes, except in "
        "production, where `intuitivus-flow worker` processes run the jobs).",
    )
    worker_concurrency: int = Field(default=2, ge=1, le=64, description="Jobs run at once.")
    worker_lease_seconds: float = Field(
        default=300,
        ge=1,
        le=24 * 3600,
        description="How long a worker holds a job before another may take it over (a worker "
        "that died is noticed after this long).",
    )
    job_retention_days: int = Field(
        default=14,
        ge=1,
        le=3650,
        description="Days a finished job (succeeded or cancelled) is kept before the hourly "
        "prune deletes it.",
    )
    job_failed_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days a failed job (out of attempts) is kept, longer than a finished one "
        "so its error can still be read.",
    )
    event_retention_days: int = Field(
        default=0,
        ge=0,
        le=36500,
        description="Days a product event is kept in the database before the hourly prune "
        "deletes it (0 keeps every event; the analytics store keeps its own copy).",
    )
    notification_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days a finished alert notification (delivered or given up) and its send "
        "attempts are kept before the hourly prune deletes them.",
    )
    campaign_sender: str | None = Field(
        default=None,
        description="Import path 'module:factory' of the campaigns' message sender (a callable "
        "taking the settings); default: the built-in conversations channels.",
    )
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Fernet keys for secrets at rest (LLM provider keys); the "
        "first encrypts, all decrypt (rotation). Default: derived from the secret key.",
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names and IP networks (CIDR) that outbound requests "
        "to URLs chosen by workspaces (an OpenAI-compatible LLM server) may reach although "
        "they are not public, e.g. `ollama.internal,10.0.0.0/8`. Empty: public addresses only.",
    )
    # --- conversations (issue 4, section 2) ---
    whatsapp_graph_url: str = Field(
        default="https://graph.facebook.com",
        description="Base URL of the WhatsApp Cloud (Graph) API; tests point it at a fake.",
    )
    whatsapp_graph_version: str = Field(
        default="v21.0", pattern=r"^v\d+\.\d+$", description="Graph API version in URLs."
    )
    webchat_messages_per_minute: int = Field(
        default=20, ge=1, le=10_000, description="Web-chat messages one visitor may send a minute."
    )

    # --- billing (issue 4, section 4) ---
    signup_requires_licence: bool = Field(
        default=False,
        description="Sign-up needs an unused licence key bought on a payment platform.",
    )
    stripe_api_key: SecretStr | None = Field(
        default=None,
        description="Stripe secret key for payments (unset: the manual gateway records "
        "payments as pending for an operator).",
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", description="Stripe API base URL."
    )
    stripe_checkout_origin: str = Field(
        default="https://checkout.stripe.com",
        description="Origin of Stripe's hosted Checkout pages. The Billing page's policy lets "
        "its forms lead there (Content-Security-Policy form-action), because browsers apply "
        "form-action to the redirect that answers a form.",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="Stripe webhook signing secret (`whsec_...`)."
    )
    stripe_webhook_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="Oldest Stripe-Signature timestamp accepted, in seconds (replay window).",
    )
    hotmart_hottok: SecretStr | None = Field(
        default=None, description="Hotmart webhook token (the X-HOTMART-HOTTOK value)."
    )
    kiwify_secret: SecretStr | None = Field(
        default=None, description="Kiwify webhook token (HMAC-SHA1 key of `signature`)."
    )
    billing_grace_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="Days an invoice may stay unpaid after its due date (the subscription is "
        "past_due meanwhile) before the hourly billing sweep cancels the subscription.",
    )

    # --- data export and import (issue 4, section 5) ---
    import_max_bytes: int = Field(
        default=100 * 1_048_576,
        ge=1024,
        description="Largest import upload (compressed zip) in bytes; replaces "
        "FLOW_MAX_REQUEST_BYTES on the import routes only.",
    )
    import_max_uncompressed_bytes: int = Field(
        default=1024 * 1_048_576,
        ge=1024,
        description="Largest total size of an import's files once unpacked (zip-bomb guard).",
    )
    import_max_rows_per_file: int = Field(
        default=1_000_000, ge=1, description="Most rows one entity file of an import may hold."
    )
    export_page_rows: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Rows an export reads per query (memory per export grows with this).",
    )

    # --- backup and restore drill (issue 14, docs/operations/backup.md) ---
    backup_dir: Path | None = Field(
        default=None,
        description="Directory holding backups (and the local copy of S3 ones); default: "
        "`<data dir>/backups`.",
    )
    backup_s3_bucket: str | None = Field(
        default=None,
        description="S3 (or S3-compatible) bucket for backups; unset: the backup directory. "
        "Credentials come from the standard AWS_* variables or the pod's identity.",
    )
    backup_s3_prefix: str = Field(default="backups/", description="Key prefix inside the bucket.")
    backup_s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible server (MinIO, Ceph, R2...)."
    )
    backup_keep_daily: int = Field(
        default=7, ge=1, le=3650, description="Days whose newest backup is kept."
    )
    backup_keep_weekly: int = Field(
        default=4, ge=0, le=520, description="ISO weeks whose newest backup is kept."
    )
    backup_max_age_hours: float = Field(
        default=26,
        gt=0,
        le=24 * 30,
        description="Newest backup older than this raises the BackupTooOld alert.",
    )
    backup_restore_jobs: int = Field(
        default=4, ge=1, le=64, description="Parallel `pg_restore` jobs (PostgreSQL)."
    )
    backup_pg_bin_dir: Path | None = Field(
        default=None,
        description="Directory of pg_dump/pg_restore; default: the PATH's, else Debian's "
        "/usr/lib/postgresql/<newest>/bin.",
    )
    backup_daily_job: bool = Field(
        default=False,
        description="Back up, prune and drill once a day on the job queue (single-host "
        "installs; on Kubernetes the backup CronJobs do it).",
    )
    backup_watch: bool = Field(
        default=False,
        description="Each minute, sample whether the newest backup is fresh and the last drill "
        "passed, for the BackupTooOld and BackupDrillFailed alerts.",
    )

    # --- analytics store (issue 15, docs/analytics.md) ---
    analytics_url: str | None = Field(
        default=None,
        description="Analytics store: duckdb:///path (embedded), chdb:///path (ClickHouse "
        "in-process) or clickhouse://user:password@host:8123/db; default: DuckDB file "
        "`<data dir>/analytics.duckdb`.",
    )
    analytics_copy_batch: int = Field(
        default=50_000,
        ge=100,
        le=1_000_000,
        description="Events the copy job moves from the database to the store per batch.",
    )

    @field_validator(
        "alert_webhook_urls",
        "alert_email_to",
        "encryption_keys",
        "operator_workspaces",
        "outbound_allow",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        # FLOW_ALERT_WEBHOOK_URLS=https://a,https://b reads better than a JSON list in a .env.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _valid_outbound_allow(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_allow_entry(entry)  # a typo must stop the start, not widen or break the rule
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_url(cls, value: str | None) -> str | None:
        # Operators paste libpq URLs; the async engine needs the asyncpg driver name.
        if value and value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("use one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @property
    def resolved_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return LogFormat.json if self.is_production else LogFormat.console

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'flow.db').resolve()}"

    @property
    def resolved_analytics_url(self) -> str:
        if self.analytics_url:
            return self.analytics_url
        return f"duckdb:///{(self.data_dir / 'analytics.duckdb').resolve()}"

    @property
    def runs_embedded_worker(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        return not self.is_production

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    def resolved_secret_key(self) -> str:
        """The signing key: configured, or (outside production) generated once into the data dir."""
        configured = self.secret_key.get_secret_value() if self.secret_key else ""
        if self.is_production:
            _refuse_weak_production_secret(configured)
            return configured
        if configured:
            return configured
        return _local_secret(self.data_dir)


def _refuse_weak_production_secret(secret: str) -> None:
    if secret.strip().lower() in INSECURE_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            "FLOW_SECRET_KEY must be set to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters in production "
            '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )


def _local_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Create with owner-only permissions; never overwrite a key another process just wrote.
    try:
        with path.open("x") as handle:
            handle.write(value)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
