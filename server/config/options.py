"""Every option of config/bookingcal.toml once: its key, default, checker and help (the
documented default file is rendered from them); the value checkers."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from server.config.settings import MAIL_SECURITY, Network


# --- value checkers: each returns the typed value or raises ValueError(expected) -------------


def describe(value: Any) -> str:
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


def check_database_url(value: Any) -> str:
    expected = ("empty (SQLite under data_dir), a sqlite:///PATH URL "
                "or a postgresql+psycopg://USER@HOST/DB URL")
    if not isinstance(value, str):
        raise ValueError(expected)
    if value and not (value.startswith("sqlite:///") or value.startswith("postgresql+psycopg://")):
        raise ValueError(expected)
    return value


def same_endpoint(one: str, other: str) -> bool:
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
    Option("database.url", "", check_database_url,
           "Empty for SQLite in data_dir, or postgresql+psycopg://user@host:port/db. "
           "Environment: BOOKINGCAL_DATABASE_URL overrides it (keeps passwords out of the file)."),
    Option("database.direct_url", "", check_database_url,
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
BY_KEY = {option.key: option for option in OPTIONS}




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
