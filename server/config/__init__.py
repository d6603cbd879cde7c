"""The typed schema of config/bookingcal.toml: every option once, its type, default and help.

`load()` reads the file, validates every value and returns a frozen `Config`; all problems are
reported at once in a `ConfigError`, one line each, naming the file, the key, what was found and
what is expected. After validation the rest of the code sees typed values, never a dictionary.

settings.py holds the typed Config, options.py every key once, loading.py `load()`.
"""

from __future__ import annotations

from server.config.loading import config_path, load
from server.config.options import OPTIONS, Option, render_default_file
from server.config.settings import (
    AvailabilityConfig, CalDAVConfig, Config, ConfigError, DEFAULT_CONFIG, ENV_CONFIG,
    ENV_DATABASE_DIRECT_URL, ENV_DATABASE_URL, ENV_GOOGLE_SECRET, ENV_HOST_KEY,
    ENV_MAIL_PASSWORD, ENV_MICROSOFT_SECRET, ENV_WEBHOOK_SECRET, GoogleConfig, HealthConfig,
    IcsConfig, MAIL_SECURITY, MailConfig, MicrosoftConfig, Network, WebhookConfig,
)

__all__ = [
    "AvailabilityConfig", "CalDAVConfig", "Config", "ConfigError", "DEFAULT_CONFIG",
    "ENV_CONFIG", "ENV_DATABASE_DIRECT_URL", "ENV_DATABASE_URL", "ENV_GOOGLE_SECRET",
    "ENV_HOST_KEY", "ENV_MAIL_PASSWORD", "ENV_MICROSOFT_SECRET", "ENV_WEBHOOK_SECRET",
    "GoogleConfig", "HealthConfig", "IcsConfig", "MAIL_SECURITY", "MailConfig",
    "MicrosoftConfig", "Network", "OPTIONS", "Option", "WebhookConfig", "config_path", "load",
    "render_default_file",
]
