"""The typed schema of config/bookingcal.toml: every option once, its type, default and help.

`load()` reads the file, validates every value and returns a frozen `Config`; all problems are
reported at once in a `ConfigError`, one line each, naming the file, the key, what was found and
what is expected. After validation the rest of the code sees typed values, never a dictionary.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
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


# --- value checkers: each returns the typed value or raises ValueError(expected) -------------


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, (list, dict)) or len(repr(value)) < 60 else "..."
    return f"{shown} ({kind})"


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a string")
    return value


def _path(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a string")
    if "\x00" in value:
        raise ValueError("a path without NUL characters")
    return value


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return value
    return check


def _positive_number(value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
            or not math.isfinite(value)):
        raise ValueError("a positive number")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _http_url(value: Any) -> str:
    expected = "an absolute http:// or https:// URL with a host, such as \"https://cal.example.com/\""
    if not isinstance(value, str):
        raise ValueError(expected)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or "?" in value or "#" in value:
        raise ValueError(expected)
    try:
        parts.port
    except ValueError:
        raise ValueError(expected) from None
    return value if value.endswith("/") else value + "/"


def _database_url(value: Any) -> str:
    expected = ("empty (SQLite under data_dir), a sqlite:///PATH URL "
                "or a postgresql+psycopg://USER@HOST/DB URL")
    if not isinstance(value, str):
        raise ValueError(expected)
    if value and not (value.startswith("sqlite:///") or value.startswith("postgresql+psycopg://")):
        raise ValueError(expected)
    return value


def _same_endpoint(one: str, other: str) -> bool:
    """Whether two database URLs dial the same host and port."""
    a, b = urlsplit(one), urlsplit(other)
    try:
        return (a.hostname, a.port or 5432) == (b.hostname, b.port or 5432)
    except ValueError:
        return False


def _networks(value: Any) -> tuple[Network, ...]:
    expected = "a list of IP addresses or networks, such as [\"127.0.0.1\", \"10.0.0.0/8\"]"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(expected)
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in value)
    except ValueError:
        raise ValueError(expected) from None


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or \
            not all(isinstance(item, str) and item for item in value):
        raise ValueError("a non-empty list of strings")
    return tuple(value)


def _optional_url(value: Any) -> str:
    return "" if value == "" else _http_url(value)


def _mail_security(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in MAIL_SECURITY:
        raise ValueError("one of " + ", ".join(MAIL_SECURITY))
    return value.lower()


def _sender(value: Any) -> str:
    if not isinstance(value, str) or "@" not in value or any(c in value for c in "\r\n<>,;"):
        raise ValueError("one e-mail address, such as \"bookingcal@example.com\"")
    return value


def _log_level(value: Any) -> str:
    levels = ("DEBUG", "INFO", "WARNING", "ERROR")
    if not isinstance(value, str) or value.upper() not in levels:
        raise ValueError("one of " + ", ".join(levels))
    return value.upper()


@dataclass(frozen=True)
class Option:
    key: str
    default: Any
    check: Callable[[Any], Any]
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("public_url", "http://127.0.0.1:5232/", _http_url,
           "The address users see (https behind a reverse proxy), with any sub-path; every link "
           "and redirect is built from it."),
    Option("data_dir", "../data", _path,
           "Folder for the SQLite database, key files and backups; relative to this file's folder."),
    Option("server.host", "127.0.0.1", _string, "Address `bookingcal serve` listens on."),
    Option("server.port", 5232, _int_between(1, 65535), "Port `bookingcal serve` listens on."),
    Option("server.threads", 8, _int_between(1, 256), "Worker threads of the WSGI server."),
    Option("server.max_body_bytes", 1_048_576, _int_between(1024, 1 << 30),
           "Largest request body accepted; larger bodies get 413."),
    Option("server.trusted_proxies", [], _networks,
           "Reverse-proxy addresses whose X-Forwarded-* headers are believed; nobody else's are."),
    Option("database.url", "", _database_url,
           "Empty for SQLite in data_dir, or postgresql+psycopg://user@host:port/db. "
           "Environment: BOOKINGCAL_DATABASE_URL overrides it (keeps passwords out of the file)."),
    Option("database.direct_url", "", _database_url,
           "Only when database.url is a PgBouncer in transaction pooling mode: "
           "postgresql+psycopg://user@host:port/db of PostgreSQL itself, for what needs a "
           "session of its own (the bridge's LISTEN, backups). Setting it turns off server-side "
           "prepared statements on database.url. Environment: BOOKINGCAL_DATABASE_DIRECT_URL."),
    Option("database.busy_timeout_seconds", 10, _positive_number,
           "SQLite: how long a writer waits for another writer before answering 503."),
    Option("database.lock_timeout_seconds", 10, _positive_number,
           "PostgreSQL: how long a writer waits for a calendar's lock before answering 503."),
    Option("database.pool_size", 10, _int_between(1, 200), "Connections kept per process."),
    Option("feeds.window_days_back", 90, _int_between(0, 3650),
           "Feeds show items from this many days back ..."),
    Option("feeds.window_days_ahead", 730, _int_between(1, 3650),
           "... to this many days ahead."),
    Option("feeds.refresh_minutes", 60, _int_between(5, 1440),
           "How often subscribers are asked to poll (REFRESH-INTERVAL, X-PUBLISHED-TTL)."),
    Option("feeds.cache_megabytes", 64, _int_between(0, 65536),
           "Memory per server process for compressed feed bodies, kept by ETag (least recently "
           "used go first; 0 turns the cache off; a feed too big for it is not cached)."),
    Option("feeds.prerender", True, _bool,
           "Render a new link's feed (or one whose profile changed) in the background right "
           "away, so that its first subscriber does not wait for every item to be rendered."),
    Option("links.failed_attempts_per_hour", 60, _int_between(1, 100000),
           "Unknown link tokens accepted from one address per hour before further unknown ones "
           "get 429 (valid tokens are always served; revoked and expired ones do not count)."),
    Option("journal.retention_days", 90, _int_between(1, 3650),
           "Change-journal entries and tombstones older than this are pruned; a client holding "
           "an older sync token is told to resync."),
    Option("keys.dir", "", _path,
           "Folder of the key files (generated on first run, mode 0600); empty for data_dir/keys. "
           "Back it up with the database."),
    Option("api.host_key_file", "", _path,
           "File holding the host system's API key (all businesses); empty for keys.dir/host.key, "
           "generated on first run. Environment: BOOKINGCAL_HOST_KEY overrides it."),
    Option("metrics.enabled", True, _bool, "Serve Prometheus metrics at /metrics."),
    Option("metrics.allow", ["127.0.0.1/32", "::1/128"], _networks,
           "Client addresses allowed to read /metrics."),
    Option("logging.level", "INFO", _log_level, "DEBUG, INFO, WARNING or ERROR."),
    Option("google.client_id", "", _string,
           "OAuth client id of a Google Cloud 'Web application' client; empty turns Google "
           "Calendar off."),
    Option("google.client_secret_file", "", _path,
           "File holding the OAuth client secret. Environment: BOOKINGCAL_GOOGLE_CLIENT_SECRET "
           "overrides it."),
    Option("google.scopes", ["https://www.googleapis.com/auth/calendar"], _strings,
           "OAuth scopes asked for at connection."),
    Option("google.api_url", "https://www.googleapis.com/", _http_url,
           "Root of the Google Calendar API."),
    Option("google.batch_url", "https://www.googleapis.com/batch/calendar/v3", _http_url,
           "Batch endpoint of the Calendar API."),
    Option("google.auth_url", "https://accounts.google.com/o/oauth2/auth", _http_url,
           "OAuth consent page."),
    Option("google.token_url", "https://oauth2.googleapis.com/token", _http_url,
           "OAuth token endpoint."),
    Option("google.revoke_url", "https://oauth2.googleapis.com/revoke", _http_url,
           "OAuth revocation endpoint."),
    Option("google.poll_seconds", 60, _int_between(5, 86400),
           "How often the bridge polls Google for changes (push notifications, when public_url "
           "is public https, make changes arrive sooner)."),
    Option("google.backfill_per_minute", 600, _int_between(1, 100000),
           "Existing future bookings sent per minute when a calendar is connected."),
    Option("google.push_notifications", True, _bool,
           "Ask Google for push notifications (needs a public https public_url)."),
    Option("microsoft.client_id", "", _string,
           "Application (client) id of the Azure app registration; empty turns Microsoft 365 / "
           "Outlook.com off."),
    Option("microsoft.client_secret_file", "", _path,
           "File holding the app registration's client secret (or set "
           "BOOKINGCAL_MICROSOFT_CLIENT_SECRET)."),
    Option("microsoft.authority", "https://login.microsoftonline.com/common", _http_url,
           "The Microsoft identity platform authority; 'common' lets work and personal "
           "accounts sign in."),
    Option("microsoft.graph_url", "https://graph.microsoft.com/v1.0", _http_url,
           "Root of Microsoft Graph (v1.0)."),
    Option("microsoft.poll_seconds", 60, _int_between(5, 86400),
           "How often the bridge reads Outlook calendars for changes."),
    Option("microsoft.backfill_per_minute", 600, _int_between(1, 100000),
           "Existing bookings sent to Outlook per minute while a calendar backfills."),
    Option("microsoft.max_concurrent_requests", 4, _int_between(1, 4),
           "Requests in flight per mailbox at most (Graph throttles above 4)."),
    Option("microsoft.notifications", True, _bool,
           "Ask Graph for change notifications (needs a public https public_url)."),
    Option("microsoft.ca_file", "", _path,
           "A CA bundle (PEM) to trust for the Microsoft endpoints instead of the system's "
           "(a TLS-inspecting proxy); empty: the system's."),
    Option("ics.allowed_networks", [], _networks,
           "Networks a subscribed ICS URL may reach although they are loopback, private or "
           "link-local (tests, an intranet calendar server), such as [\"10.1.0.0/16\"]; "
           "everything else of that kind is refused (SSRF). Cloud metadata addresses are "
           "always refused."),
    Option("ics.allow_http", False, _bool,
           "Accept plain http:// ICS URLs (only sensible with allowed_networks, on a trusted "
           "network); otherwise only https:// is subscribed to."),
    Option("ics.min_interval_seconds", 900, _int_between(10, 86400),
           "Shortest time between two fetches of one ICS URL, whatever the feed's "
           "REFRESH-INTERVAL or the source's own interval ask for."),
    Option("ics.default_interval_seconds", 3600, _int_between(10, 604800),
           "Time between fetches when neither the source nor the feed names one."),
    Option("ics.max_interval_seconds", 86400, _int_between(10, 604800),
           "Longest time between two fetches of one ICS URL."),
    Option("ics.timeout_seconds", 10, _positive_number,
           "Longest wait to connect to an ICS URL's server, and for each part of its answer."),
    Option("ics.total_seconds", 30, _positive_number,
           "Longest time one fetch may take in all, redirects included."),
    Option("ics.max_megabytes", 10, _int_between(1, 1024),
           "Largest ICS body accepted (after gzip); a larger one is aborted while it streams."),
    Option("ics.max_redirects", 5, _int_between(0, 20),
           "Redirects followed (each checked again) before a fetch gives up."),
    Option("ics.horizon_days", 365, _int_between(1, 3650),
           "Repeating events of a feed are expanded this many days ahead."),
    Option("ics.max_instances", 20000, _int_between(100, 1000000),
           "Most events (occurrences included) mirrored from one feed; the rest is left out "
           "and the source's status says so."),
    Option("ics.max_sources_per_calendar", 10, _int_between(1, 1000),
           "ICS URLs one employee calendar may subscribe to."),
    Option("caldav.enabled", True, _bool,
           "Let employee calendars connect CalDAV accounts (iCloud, Fastmail, Nextcloud, ...)."),
    Option("caldav.poll_seconds", 300, _int_between(30, 86400),
           "How often the bridge checks each CalDAV calendar (one cheap request when nothing "
           "changed; CalDAV has no push), unless a connection has its own interval."),
    Option("caldav.min_poll_seconds", 60, _int_between(30, 86400),
           "The shortest poll interval a CalDAV connection may be given."),
    Option("caldav.max_poll_seconds", 86400, _int_between(30, 604800),
           "The longest poll interval a CalDAV connection may be given."),
    Option("caldav.backfill_per_minute", 300, _int_between(1, 100000),
           "Existing bookings sent to a CalDAV calendar per minute while it backfills."),
    Option("caldav.timeout_seconds", 30, _int_between(1, 300),
           "Seconds a CalDAV server may take to answer one request."),
    Option("caldav.allow_private_hosts", False, _bool,
           "Allow CalDAV servers on loopback and private addresses (a server on the LAN)."),
    Option("caldav.allowed_networks", [], _networks,
           "Networks a CalDAV server (and anything its answers point to) may be on although "
           "they are loopback or private, such as [\"10.1.0.0/16\"] for a Nextcloud on the LAN; "
           "narrower than allow_private_hosts. Cloud metadata addresses are always refused."),
    Option("caldav.allow_http", False, _bool,
           "Allow plain http:// CalDAV servers (the app password crosses the network in "
           "clear: a trusted LAN only)."),
    Option("availability.slot_step_minutes", 15, _int_between(1, 1440),
           "Minutes between the start times offered online (a service may set its own)."),
    Option("availability.min_notice_minutes", 60, _int_between(0, 525600),
           "Online bookings start at least this many minutes from now (a service may set its "
           "own)."),
    Option("availability.max_horizon_days", 90, _int_between(1, 3650),
           "Online bookings start at most this many days ahead (a service may set its own)."),
    Option("availability.max_range_days", 62, _int_between(1, 366),
           "Longest date range one availability request may ask for."),
    Option("availability.max_calendar_days", 620, _int_between(1, 18250),
           "Most calendars times days one availability request may ask for (20 calendars "
           "for 31 days, or one for max_range_days)."),
    Option("availability.google_max_age_seconds", 300, _int_between(0, 86400),
           "When the events mirrored for a calendar from a source (Google, Outlook, CalDAV, a "
           "calendar link) are older than this, an online booking first reads that source "
           "live (when its busy time blocks booking); a business may set its own "
           "(live_check_max_age_seconds). A stale source is read live whatever its age "
           "under the 'recheck' policy."),
    Option("availability.google_sync_timeout_seconds", 5, _positive_number,
           "Longest wait for that sync; on timeout or error the booking is checked against the "
           "mirrored events and the answer says so."),
    Option("health.push_stale_minutes", 15, _int_between(1, 10080),
           "A synced source with push notifications (Google, Microsoft) is stale when its last "
           "successful read is older than this many minutes."),
    Option("health.poll_slack_minutes", 10, _int_between(0, 10080),
           "A polled source is stale when its last successful read is older than its poll "
           "interval plus this many minutes."),
    Option("health.failing_minutes", 60, _int_between(1, 10080),
           "A calendar failing for longer than this is reported to the business's admins."),
    Option("health.recheck_timeout_seconds", 5, _positive_number,
           "Longest wait for the live check of a stale source before an online booking "
           "(business policy 'recheck'); no answer in time refuses the booking."),
    Option("mail.host", "", _string,
           "SMTP server for notifications to the businesses' admins; empty: no e-mail."),
    Option("mail.port", 587, _int_between(1, 65535), "SMTP port (587 STARTTLS, 465 TLS)."),
    Option("mail.security", "starttls", _mail_security,
           "starttls (upgrade after connecting), tls (TLS from the start) or none (a local "
           "relay only)."),
    Option("mail.user", "", _string, "SMTP user name; empty: no authentication."),
    Option("mail.password_file", "", _path,
           "File holding the SMTP password. Environment: BOOKINGCAL_MAIL_PASSWORD overrides it."),
    Option("mail.sender", "bookingcal@localhost", _sender, "The From address of notifications."),
    Option("mail.timeout_seconds", 10, _positive_number,
           "Longest wait for the SMTP server per step."),
    Option("mail.ca_file", "", _path,
           "A CA bundle (PEM) to trust for the SMTP server instead of the system's; empty: "
           "the system's."),
    Option("webhook.url", "", _optional_url,
           "The booking system's endpoint receiving sync health events as signed JSON "
           "(POST, X-Bookingcal-Signature: sha256=HMAC); empty: none."),
    Option("webhook.secret_file", "", _path,
           "File holding the webhook's HMAC key. Environment: BOOKINGCAL_WEBHOOK_SECRET "
           "overrides it."),
    Option("webhook.max_attempts", 8, _int_between(1, 50),
           "Deliveries are retried with exponential backoff (30 s, 1 min, 2 min, ...) this "
           "many attempts at most."),
    Option("webhook.timeout_seconds", 10, _positive_number,
           "Longest wait for the webhook's answer per attempt."),
    Option("demo.on_first_run", True, _bool,
           "`bookingcal serve --demo` loads the demo business when the database is empty."),
    Option("admin.session_hours", 12, _int_between(1, 24 * 90),
           "How long a sign-in to the admin pages lasts."),
    Option("admin.failed_sign_ins_per_hour", 10, _int_between(1, 100000),
           "Failed admin sign-ins accepted from one address per hour before it gets 429."),
)
_BY_KEY = {option.key: option for option in OPTIONS}


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and any(o.key.startswith(name + ".") for o in OPTIONS):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _text(data: bytes, name: str) -> str:
    """The file's bytes as UTF-8 text (a UTF-8 byte order mark is dropped); any other encoding
    is a ConfigError saying how to save it."""
    boms = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
            (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
    for bom, encoding in boms:
        if data.startswith(bom):
            raise ConfigError([f"{name}: the file is {encoding} text; save it as UTF-8"])
    head = data[:400]
    if head and head.count(0) * 4 > len(head):  # text of a 16- or 32-bit encoding, no BOM
        raise ConfigError([f"{name}: the file looks like UTF-16 or UTF-32 text; save it as "
                           "UTF-8"])
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start}); save it as UTF-8"]) from None


def _not_a_folder(path: Path) -> str | None:
    """Why `path` cannot be, or be made, a folder (it, or a folder above it, is a file), or
    None. Found now so that `config check` says it, not `serve` with a traceback later."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return None
        if candidate.exists() or candidate.is_symlink():
            return "it is a file" if candidate == path else f"{str(candidate)!r} is a file"
    return None


def config_path(explicit: str | os.PathLike[str] | None,
                env: dict[str, str]) -> Path | None:
    """The file to read: --config, else $BOOKINGCAL_CONFIG, else config/bookingcal.toml if present."""
    if explicit:
        return Path(explicit)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def load(path: str | os.PathLike[str] | None = None,
         environ: dict[str, str] | None = None) -> Config:
    """Read and validate the configuration; raise ConfigError listing every problem."""
    env = dict(os.environ if environ is None else environ)
    source = config_path(path, env)
    raw: dict[str, Any] = {}
    name = str(source) if source else "(defaults)"
    if source is not None:
        try:
            raw = tomllib.loads(_text(source.read_bytes(), name))
        except FileNotFoundError:
            raise ConfigError([f"{name}: the file does not exist; create it (see "
                               "config/bookingcal.toml) or point --config at it"]) from None
        except PermissionError:
            raise ConfigError([f"{name}: the file is not readable by this user"]) from None
        except IsADirectoryError:
            raise ConfigError([f"{name}: is a folder, not a file"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{name}: not valid TOML: {exc}"]) from None
        except RecursionError:
            raise ConfigError([f"{name}: not valid TOML: arrays or tables nest too deeply"]) \
                from None
        except OSError as exc:
            raise ConfigError([f"{name}: cannot be read: {exc.strerror or exc}"]) from None
    problems: list[str] = []
    values: dict[str, Any] = {}
    flat = _flatten(raw)
    for key, value in flat.items():
        if key not in _BY_KEY:
            close = [o.key for o in OPTIONS if o.key.split(".")[-1] == key.split(".")[-1]]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{name}: {key}: unknown key{hint}")
    for option in OPTIONS:
        value = flat.get(option.key, option.default)
        try:
            values[option.key] = option.check(value)
        except ValueError as exc:
            problems.append(f"{name}: {option.key}: found {_describe(value)}, expected {exc}")

    # The checks below run even when the file has other mistakes, so all are reported at once.
    base = source.resolve().parent if source is not None else Path.cwd()
    if values.get("api.host_key_file") and not env.get(ENV_HOST_KEY):
        explicit_file = (base / values["api.host_key_file"]).resolve()
        if not explicit_file.is_file() or not os.access(explicit_file, os.R_OK):
            problems.append(f"{name}: api.host_key_file: found {str(explicit_file)!r}, "
                            "expected a readable file holding the host API key")
    database_url = env.get(ENV_DATABASE_URL) or values.get("database.url", "")
    if env.get(ENV_DATABASE_URL):
        try:
            database_url = _database_url(database_url)
        except ValueError as exc:
            problems.append(f"environment: {ENV_DATABASE_URL}: expected {exc}")
    direct_url = env.get(ENV_DATABASE_DIRECT_URL) or values.get("database.direct_url", "")
    where = f"environment: {ENV_DATABASE_DIRECT_URL}" if env.get(ENV_DATABASE_DIRECT_URL) \
        else f"{name}: database.direct_url"
    if env.get(ENV_DATABASE_DIRECT_URL):
        try:
            direct_url = _database_url(direct_url)
        except ValueError as exc:
            problems.append(f"{where}: expected {exc}")
    if direct_url and isinstance(database_url, str):
        if not direct_url.startswith("postgresql"):
            problems.append(f"{where}: found a SQLite URL, expected the "
                            "postgresql+psycopg:// URL of PostgreSQL itself (behind the pooler)")
        elif not database_url.startswith("postgresql"):
            problems.append(f"{where}: set, but database.url is not PostgreSQL: direct_url is "
                            "only for a PostgreSQL reached through a transaction pooler "
                            "(database.url the pooler, direct_url the server); remove it")
        elif _same_endpoint(direct_url, database_url):
            problems.append(f"{where}: the same server and port as database.url: set "
                            "database.url to the pooler (PgBouncer) and direct_url to "
                            "PostgreSQL itself, or remove direct_url when there is no pooler")
    google_secret = env.get(ENV_GOOGLE_SECRET) or None
    if values.get("google.client_secret_file") and not google_secret:
        secret_file = (base / values["google.client_secret_file"]).resolve()
        try:
            google_secret = secret_file.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            google_secret = None
        if google_secret is None:
            problems.append(f"{name}: google.client_secret_file: found {str(secret_file)!r}, "
                            "expected a readable file holding the OAuth client secret")
    microsoft_secret = env.get(ENV_MICROSOFT_SECRET) or None
    if values.get("microsoft.client_secret_file") and not microsoft_secret:
        ms_file = (base / values["microsoft.client_secret_file"]).resolve()
        try:
            microsoft_secret = ms_file.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            microsoft_secret = None
        if microsoft_secret is None:
            problems.append(f"{name}: microsoft.client_secret_file: found {str(ms_file)!r}, "
                            "expected a readable file holding the app's client secret")
    ms_ca_file = (base / values["microsoft.ca_file"]).resolve() \
        if values.get("microsoft.ca_file") else None
    if ms_ca_file is not None and not ms_ca_file.is_file():
        problems.append(f"{name}: microsoft.ca_file: found {str(ms_ca_file)!r}, expected a "
                        "readable PEM file of CA certificates")
    if values.get("microsoft.client_id") and not microsoft_secret \
            and not values.get("microsoft.client_secret_file"):
        problems.append(f"{name}: microsoft.client_id: set, but no client secret: set "
                        f"microsoft.client_secret_file or {ENV_MICROSOFT_SECRET}")
    if {"ics.min_interval_seconds", "ics.max_interval_seconds",
            "ics.default_interval_seconds"} <= values.keys() and not (
            values["ics.min_interval_seconds"] <= values["ics.default_interval_seconds"]
            <= values["ics.max_interval_seconds"]):
        problems.append(f"{name}: ics: expected min_interval_seconds <= "
                        "default_interval_seconds <= max_interval_seconds, found "
                        f"{values['ics.min_interval_seconds']}, "
                        f"{values['ics.default_interval_seconds']}, "
                        f"{values['ics.max_interval_seconds']}")
    if {"caldav.min_poll_seconds", "caldav.max_poll_seconds",
            "caldav.poll_seconds"} <= values.keys() and not (
            values["caldav.min_poll_seconds"] <= values["caldav.poll_seconds"]
            <= values["caldav.max_poll_seconds"]):
        problems.append(f"{name}: caldav: expected min_poll_seconds <= poll_seconds <= "
                        f"max_poll_seconds, found {values['caldav.min_poll_seconds']}, "
                        f"{values['caldav.poll_seconds']}, {values['caldav.max_poll_seconds']}")
    mail_password = _secret(env, ENV_MAIL_PASSWORD, values, "mail.password_file", base, name,
                            "the SMTP password", problems)
    if values.get("mail.user") and mail_password is None:
        problems.append(f"{name}: mail.user: set, but no password: set mail.password_file or "
                        f"{ENV_MAIL_PASSWORD}")
    if values.get("mail.host") and values.get("mail.security") == "none" \
            and values.get("mail.user"):
        problems.append(f"{name}: mail.security: found 'none' with mail.user set, expected "
                        "starttls or tls (a password is never sent in clear)")
    mail_ca = (base / values["mail.ca_file"]).resolve() if values.get("mail.ca_file") else None
    if mail_ca is not None and not mail_ca.is_file():
        problems.append(f"{name}: mail.ca_file: found {str(mail_ca)!r}, expected a readable "
                        "PEM file of CA certificates")
    webhook_secret = _secret(env, ENV_WEBHOOK_SECRET, values, "webhook.secret_file", base,
                             name, "the webhook's HMAC key", problems)
    if values.get("webhook.url") and webhook_secret is None:
        problems.append(f"{name}: webhook.url: set, but no key to sign with: set "
                        f"webhook.secret_file or {ENV_WEBHOOK_SECRET}")
    data_dir = (base / values["data_dir"]).resolve() if values.get("data_dir") else base
    keys_dir = (base / values["keys.dir"]).resolve() if values.get("keys.dir") \
        else data_dir / "keys"
    for key, folder in (("data_dir", data_dir), ("keys.dir", keys_dir)):
        why = _not_a_folder(folder)
        if why and (key == "data_dir" or values.get("keys.dir")
                    or not _not_a_folder(data_dir)):  # the keys' default follows data_dir
            problems.append(f"{name}: {key}: found {str(folder)!r}, expected a folder ({why})")
    if problems:
        raise ConfigError(problems)
    host_key_file = ((base / values["api.host_key_file"]).resolve()
                     if values["api.host_key_file"] else keys_dir / "host.key")
    if not database_url:
        database_url = f"sqlite:///{data_dir / 'bookingcal.sqlite3'}"
    return Config(
        source=source,
        public_url=values["public_url"],
        data_dir=data_dir,
        server_host=values["server.host"],
        server_port=values["server.port"],
        server_threads=values["server.threads"],
        max_body_bytes=values["server.max_body_bytes"],
        trusted_proxies=values["server.trusted_proxies"],
        database_url=database_url,
        database_busy_timeout=values["database.busy_timeout_seconds"],
        database_lock_timeout=values["database.lock_timeout_seconds"],
        database_pool_size=values["database.pool_size"],
        database_direct_url=direct_url or None,
        journal_retention_days=values["journal.retention_days"],
        feed_days_back=values["feeds.window_days_back"],
        feed_days_ahead=values["feeds.window_days_ahead"],
        feed_refresh_minutes=values["feeds.refresh_minutes"],
        feed_cache_bytes=values["feeds.cache_megabytes"] * 1024 * 1024,
        feed_prerender=values["feeds.prerender"],
        failed_link_limit=values["links.failed_attempts_per_hour"],
        keys_dir=keys_dir,
        host_key=env.get(ENV_HOST_KEY) or None,
        host_key_file=host_key_file,
        host_key_file_explicit=bool(values["api.host_key_file"]),
        metrics_enabled=values["metrics.enabled"],
        metrics_allow=values["metrics.allow"],
        log_level=values["logging.level"],
        google=GoogleConfig(
            client_id=values["google.client_id"], client_secret=google_secret,
            scopes=values["google.scopes"], api_url=values["google.api_url"],
            batch_url=values["google.batch_url"].rstrip("/"),
            auth_url=values["google.auth_url"].rstrip("/"),
            token_url=values["google.token_url"].rstrip("/"),
            revoke_url=values["google.revoke_url"].rstrip("/"),
            poll_seconds=values["google.poll_seconds"],
            backfill_per_minute=values["google.backfill_per_minute"],
            push_notifications=values["google.push_notifications"]),
        demo_on_first_run=values["demo.on_first_run"],
        availability=AvailabilityConfig(
            slot_step_minutes=values["availability.slot_step_minutes"],
            min_notice_minutes=values["availability.min_notice_minutes"],
            max_horizon_days=values["availability.max_horizon_days"],
            max_range_days=values["availability.max_range_days"],
            google_max_age_seconds=values["availability.google_max_age_seconds"],
            google_sync_timeout_seconds=values["availability.google_sync_timeout_seconds"],
            max_calendar_days=values["availability.max_calendar_days"]),
        admin_session_hours=values["admin.session_hours"],
        admin_sign_in_attempts=values["admin.failed_sign_ins_per_hour"],
        microsoft=MicrosoftConfig(
            client_id=values["microsoft.client_id"], client_secret=microsoft_secret,
            authority=values["microsoft.authority"].rstrip("/"),
            graph_url=values["microsoft.graph_url"].rstrip("/"),
            poll_seconds=values["microsoft.poll_seconds"],
            backfill_per_minute=values["microsoft.backfill_per_minute"],
            max_concurrent_requests=values["microsoft.max_concurrent_requests"],
            ca_file=ms_ca_file, notifications=values["microsoft.notifications"]),
        ics=IcsConfig(
            allowed_networks=values["ics.allowed_networks"],
            allow_http=values["ics.allow_http"],
            min_interval_seconds=values["ics.min_interval_seconds"],
            default_interval_seconds=values["ics.default_interval_seconds"],
            max_interval_seconds=values["ics.max_interval_seconds"],
            timeout_seconds=values["ics.timeout_seconds"],
            total_seconds=values["ics.total_seconds"],
            max_bytes=values["ics.max_megabytes"] * 1024 * 1024,
            max_redirects=values["ics.max_redirects"], horizon_days=values["ics.horizon_days"],
            max_instances=values["ics.max_instances"],
            max_sources_per_calendar=values["ics.max_sources_per_calendar"]),
        health=HealthConfig(
            push_stale_minutes=values["health.push_stale_minutes"],
            poll_slack_minutes=values["health.poll_slack_minutes"],
            failing_minutes=values["health.failing_minutes"],
            recheck_timeout_seconds=values["health.recheck_timeout_seconds"]),
        mail=MailConfig(
            host=values["mail.host"], port=values["mail.port"],
            security=values["mail.security"], user=values["mail.user"],
            password=mail_password, sender=values["mail.sender"],
            timeout_seconds=values["mail.timeout_seconds"], ca_file=mail_ca),
        webhook=WebhookConfig(
            url=values["webhook.url"], secret=webhook_secret,
            max_attempts=values["webhook.max_attempts"],
            timeout_seconds=values["webhook.timeout_seconds"]),
        caldav=CalDAVConfig(
            enabled=values["caldav.enabled"], poll_seconds=values["caldav.poll_seconds"],
            min_poll_seconds=values["caldav.min_poll_seconds"],
            max_poll_seconds=values["caldav.max_poll_seconds"],
            backfill_per_minute=values["caldav.backfill_per_minute"],
            timeout_seconds=values["caldav.timeout_seconds"],
            allow_private_hosts=values["caldav.allow_private_hosts"],
            allow_http=values["caldav.allow_http"],
            allowed_networks=values["caldav.allowed_networks"]),
    )


def _secret(env: dict[str, str], variable: str, values: dict[str, Any], key: str, base: Path,
            name: str, what: str, problems: list[str]) -> str | None:
    """A secret from the environment, else from the file named by option `key` (a problem
    when that file cannot be read), else None."""
    if env.get(variable):
        return env[variable]
    if not values.get(key):
        return None
    path = (base / values[key]).resolve()
    try:
        found = path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        found = None
    if found is None:
        problems.append(f"{name}: {key}: found {str(path)!r}, expected a readable file "
                        f"holding {what}")
    return found


def render_default_file() -> str:
    """The documented default file: every key, its default and a comment (used by tests to
    check config/bookingcal.toml stays complete)."""
    import json
    lines: list[str] = []
    section = None
    for option in OPTIONS:
        head, _, leaf = option.key.rpartition(".")
        if head != section and head:
            lines.append(f"\n[{head}]")
            section = head
        lines.append(f"# {option.help}")
        lines.append(f"{leaf} = {json.dumps(option.default)}")
    return "\n".join(lines) + "\n"
