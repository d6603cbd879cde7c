"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives: STARTTLS with the
self-signed certificate of microsoft_tls.py (clients trust it through mail.ca_file) and a
login required over TLS, or plain (`tls=False`) for a local relay without login. With
`refusing` set it answers every message with 451, as a server that takes nothing for now."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from fakes.microsoft_tls import certificate

USER, PASSWORD = "bookingcal", "smtp-password-0123"


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None  # the user that logged in, if any


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SmtpServer:
    """``with SmtpServer() as smtp: ... smtp.port ... smtp.wait_for(1)``."""

    def __init__(self, tls: bool = True, port: int | None = None) -> None:
        self.tls = tls
        self._received: list[Received] = []
        self._cond = threading.Condition()
        self.port = port or _free_port()
        self.refusing = False  # answer DATA with 451 (a server that takes nothing for now)
        self.refused = 0  # messages refused so far
        server = self

        class Handler:
            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
                if server.refusing:
                    with server._cond:
                        server.refused += 1
                    return "451 4.3.0 Mailbox temporarily unavailable, try again later"
                parsed = message_from_bytes(envelope.original_content or envelope.content,
                                            policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                login = session.auth_data if session.authenticated else None
                with server._cond:
                    server._received.append(Received(envelope.mail_from,
                                                     list(envelope.rcpt_tos), parsed, login))
                    server._cond.notify_all()
                return "250 OK"

        def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str,
                         auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
                and auth_data.password == PASSWORD.encode()
            return AuthResult(success=ok, handled=False, auth_data=USER if ok else None)

        options: dict[str, Any] = {}
        if tls:
            cert, key = certificate()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert), str(key))
            options = {"tls_context": context, "require_starttls": True,
                       "authenticator": authenticate, "auth_require_tls": True}
        else:
            options = {"auth_required": False}
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                      ready_timeout=10, **options)

    @property
    def ca_file(self) -> str:
        return str(certificate()[0])

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop answering (the port refuses connections); a second stop does nothing."""
        if getattr(self, "_running", False):
            self._controller.stop()
            self._running = False

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(f"{len(self._received)} of {count} messages arrived")
            return list(self._received)
