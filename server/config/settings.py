"""The typed configuration a process sees (frozen dataclasses), the environment variables
that override the file, and ConfigError."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


ENV_CONFIG = "BOOKINGCAL_CONFIG"
ENV_HOST_KEY = "BOOKINGCAL_HOST_KEY"
ENV_DATABASE_URL = "BOOKINGCAL_DATABASE_URL"
ENV_DATABASE_DIRECT_URL = "BOOKINGCAL_DATABASE_DIRECT_URL"
ENV_GOOGLE_SECRET = "BOOKINGCAL_GOOGLE_CLIENT_SECRET"
ENV_MICROSOFT_SECRET = "BOOKINGCAL_MICROSOFT_CLIENT_SECRET"
ENV_MAIL_PASSWORD = "BOOKINGCAL_MAIL_PASSWORD"
ENV_WEBHOOK_SECRET = "BOOKINGCAL_WEBHOOK_SECRET"
MAIL_SECURITY = ("starttls", "tls", "none")
DEFAULT_CONFIG = Path("config") / "bookingcal.toml"


class ConfigError(Exception):
    """One or more configuration mistakes; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class GoogleConfig:
    """The Google OAuth client and the endpoints the bridge talks to (Google's by default;
    tests and proxies point them elsewhere)."""

    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    api_url: str
    batch_url: str
    auth_url: str
    token_url: str
    revoke_url: str
    poll_seconds: int
    backfill_per_minute: int
    push_notifications: bool

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


@dataclass(frozen=True)
class CalDAVConfig:
    """CalDAV accounts (iCloud, Fastmail, Nextcloud, any CalDAV server): no app registration;
    each connection brings its own server, user name and app password."""

    enabled: bool = True
    poll_seconds: int = 300  # the default of a connection without its own interval
    min_poll_seconds: int = 60  # the bounds of a connection's own interval
    max_poll_seconds: int = 86400
    backfill_per_minute: int = 300
    timeout_seconds: int = 30
    # Servers on loopback or private addresses may be connected (a Nextcloud on the LAN, tests).
    allow_private_hosts: bool = False
    allow_http: bool = False  # plain http:// servers (tests, a trusted LAN)
    allowed_networks: tuple[Network, ...] = ()  # private networks allowed although not all are


@dataclass(frozen=True)
class MicrosoftConfig:
    """The Microsoft identity platform app (Azure app registration) and the endpoints the
    bridge talks to (Microsoft's by default; tests point them at a fake)."""

    client_id: str
    client_secret: str | None
    authority: str  # https://login.microsoftonline.com/common (token: <authority>/oauth2/v2.0/token)
    graph_url: str  # https://graph.microsoft.com/v1.0
    poll_seconds: int
    backfill_per_minute: int
    max_concurrent_requests: int  # per mailbox (Graph allows 4)
    ca_file: Path | None = None  # a CA bundle to trust instead of the system's (proxies, tests)
    notifications: bool = True  # open change-notification subscriptions

    @property
    def verify(self) -> str | bool:
        """What HTTPS clients check the Microsoft endpoints' certificates against."""
        return str(self.ca_file) if self.ca_file is not None else True

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"


@dataclass(frozen=True)
class IcsConfig:
    """Subscribed ICS URLs (server/ics/): how they are fetched safely and how often."""

    allowed_networks: tuple[Network, ...] = ()  # private/loopback networks allowed anyway
    allow_http: bool = False  # plain http:// URLs (tests, an intranet)
    min_interval_seconds: int = 900
    default_interval_seconds: int = 3600
    max_interval_seconds: int = 86400
    timeout_seconds: float = 10.0  # connecting, and each read of the answer
    total_seconds: float = 30.0  # the whole fetch, redirects included
    max_bytes: int = 10 * 1024 * 1024  # of the body, after gzip
    max_redirects: int = 5
    horizon_days: int = 365  # recurrences expanded this far ahead
    max_instances: int = 20000  # events mirrored per feed at most
    max_sources_per_calendar: int = 10


@dataclass(frozen=True)
class AvailabilityConfig:
    """Defaults of online booking rules (a service may override the first three) and how fresh
    the Google picture must be before an online booking is accepted."""

    slot_step_minutes: int = 15
    min_notice_minutes: int = 60
    max_horizon_days: int = 90
    max_range_days: int = 62
    google_max_age_seconds: int = 300
    google_sync_timeout_seconds: float = 5.0
    max_calendar_days: int = 620


@dataclass(frozen=True)
class HealthConfig:
    """When a synced source counts as stale, and when a failing one is worth an e-mail."""

    push_stale_minutes: int = 15  # sources with push notifications
    poll_slack_minutes: int = 10  # polled sources: their poll interval plus this
    failing_minutes: int = 60  # a calendar failing this long is notified
    recheck_timeout_seconds: float = 5.0  # a live check before an online booking


@dataclass(frozen=True)
class MailConfig:
    """The SMTP server notifications are sent through; no host: no e-mail."""

    host: str = ""
    port: int = 587
    security: str = "starttls"  # starttls, tls or none
    user: str = ""
    password: str | None = field(default=None, repr=False)
    sender: str = "bookingcal@localhost"
    timeout_seconds: float = 10.0
    ca_file: Path | None = None  # a CA bundle to trust instead of the system's

    @property
    def configured(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class WebhookConfig:
    """The booking system's endpoint that receives the same events, signed (HMAC-SHA256)."""

    url: str = ""
    secret: str | None = field(default=None, repr=False)
    max_attempts: int = 8
    timeout_seconds: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.url and self.secret)


@dataclass(frozen=True)
class Config:
    source: Path | None
    public_url: str
    data_dir: Path
    server_host: str
    server_port: int
    server_threads: int
    max_body_bytes: int
    trusted_proxies: tuple[Network, ...]
    database_url: str
    database_busy_timeout: float
    database_lock_timeout: float
    database_pool_size: int
    journal_retention_days: int
    feed_days_back: int
    feed_days_ahead: int
    feed_refresh_minutes: int
    feed_cache_bytes: int
    feed_prerender: bool
    failed_link_limit: int
    keys_dir: Path
    host_key: str | None
    host_key_file: Path
    host_key_file_explicit: bool
    metrics_enabled: bool
    metrics_allow: tuple[Network, ...]
    log_level: str
    google: GoogleConfig
    demo_on_first_run: bool = field(default=True)
    availability: AvailabilityConfig = field(default_factory=AvailabilityConfig)
    admin_session_hours: int = field(default=12)
    admin_sign_in_attempts: int = field(default=10)
    microsoft: MicrosoftConfig = field(default_factory=lambda: MicrosoftConfig(
        "", None, "https://login.microsoftonline.com/common",
        "https://graph.microsoft.com/v1.0", 60, 600, 4))
    ics: IcsConfig = field(default_factory=IcsConfig)
    # PostgreSQL itself when database_url is a transaction-pooling PgBouncer (server/db/engine.py).
    database_direct_url: str | None = None
    health: HealthConfig = field(default_factory=HealthConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    caldav: CalDAVConfig = field(default_factory=CalDAVConfig)

    @property
    def public_path(self) -> str:
        """The sub-path of `public_url`, without a trailing slash ("" at the root)."""
        return urlsplit(self.public_url).path.rstrip("/")

    def public_link(self, path: str) -> str:
        """An absolute URL for `path` (which starts with "/") below `public_url`."""
        return self.public_url.rstrip("/") + path

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
