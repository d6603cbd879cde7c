"""Reading config/bookingcal.toml: every value validated, secrets from files or the
environment, all problems reported at once (ConfigError, one line each)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from server.config.options import BY_KEY, OPTIONS, check_database_url, describe, same_endpoint
from server.config.settings import (
    AvailabilityConfig, CalDAVConfig, Config, ConfigError, DEFAULT_CONFIG, ENV_CONFIG,
    ENV_DATABASE_DIRECT_URL, ENV_DATABASE_URL, ENV_GOOGLE_SECRET, ENV_HOST_KEY,
    ENV_MAIL_PASSWORD, ENV_MICROSOFT_SECRET, ENV_WEBHOOK_SECRET, GoogleConfig, HealthConfig,
    IcsConfig, MailConfig, MicrosoftConfig, WebhookConfig,
)


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
        if key not in BY_KEY:
            close = [o.key for o in OPTIONS if o.key.split(".")[-1] == key.split(".")[-1]]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{name}: {key}: unknown key{hint}")
    for option in OPTIONS:
        value = flat.get(option.key, option.default)
        try:
            values[option.key] = option.check(value)
        except ValueError as exc:
            problems.append(f"{name}: {option.key}: found {describe(value)}, expected {exc}")

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
            database_url = check_database_url(database_url)
        except ValueError as exc:
            problems.append(f"environment: {ENV_DATABASE_URL}: expected {exc}")
    direct_url = env.get(ENV_DATABASE_DIRECT_URL) or values.get("database.direct_url", "")
    where = f"environment: {ENV_DATABASE_DIRECT_URL}" if env.get(ENV_DATABASE_DIRECT_URL) \
        else f"{name}: database.direct_url"
    if env.get(ENV_DATABASE_DIRECT_URL):
        try:
            direct_url = check_database_url(direct_url)
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
        elif same_endpoint(direct_url, database_url):
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
