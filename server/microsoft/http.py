"""The HTTPS session of every call to Microsoft: certificates checked against
`microsoft.ca_file` when set. (requests lets REQUESTS_CA_BUNDLE override a session's own
`verify`; here the configured bundle is passed with each request, so it wins.)"""

from __future__ import annotations

from typing import Any

import requests

from server.config import MicrosoftConfig


class VerifyingSession(requests.Session):
    """A requests session that checks certificates against the configured CA bundle."""

    def __init__(self, config: MicrosoftConfig) -> None:
        super().__init__()
        self.verify = config.verify

    def request(self, method: str, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)
