"""Sending one plain-text e-mail over SMTP as `[mail]` configures it: STARTTLS after
connecting, TLS from the start, or none (a local relay); a login when a user is set (never over
an unencrypted connection: config.py refuses that). Every step is bounded by
mail.timeout_seconds. Failures raise MailError with what to change, never the password."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from server.config import MailConfig


class MailError(Exception):
    """The message could not be handed to the SMTP server."""


def _context(config: MailConfig) -> ssl.SSLContext:
    return ssl.create_default_context(
        cafile=str(config.ca_file) if config.ca_file is not None else None)


def build(config: MailConfig, to: list[str], subject: str, body: str) -> EmailMessage:
    """The message: From mail.sender, one To per recipient, plain UTF-8 text."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def send(config: MailConfig, to: list[str], subject: str, body: str) -> None:
    """Hand one message for `to` to the SMTP server."""
    if not config.configured:
        raise MailError("no SMTP server is configured (set mail.host)")
    if not to:
        return
    message = build(config, to, subject, body)
    try:
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_seconds,
                                    context=_context(config))
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=_context(config))
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise MailError(f"the SMTP server {config.host}:{config.port} refused the login of "
                        f"{config.user!r}; check mail.user and the password") from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(f"the SMTP server {config.host}:{config.port} does not offer "
                        f"STARTTLS; set mail.security to tls (port 465) or check the "
                        f"port") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise MailError(f"sending through {config.host}:{config.port} failed "
                        f"({type(exc).__name__}: {exc})") from None
