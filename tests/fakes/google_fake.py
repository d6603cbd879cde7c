"""``FakeGoogle``: a fake Google Calendar API v3 + OAuth 2.0 server on 127.0.0.1, in a thread.

    with FakeGoogle() as fake:
        service = fake.service()                  # the real googleapiclient, pointed at the fake
        service.events().list(calendarId="primary").execute()

Pointing the real client at it by hand::

    build("calendar", "v3", credentials=creds, static_discovery=True,
          client_options={"api_endpoint": fake.api_endpoint})          # ".../calendar/v3/"
    BatchHttpRequest(callback=cb, batch_uri=fake.batch_uri)          # not new_batch_http_request()
    Credentials(token=None, refresh_token=..., token_uri=fake.token_uri,
                client_id=fake.client_id, client_secret=fake.client_secret)
    Flow.from_client_config(fake.client_config(), scopes=[...], redirect_uri="http://127.0.0.1:1/cb")

``api_endpoint`` replaces root URL *and* service path in googleapiclient, so it must end in
``/calendar/v3/``; and ``service.new_batch_http_request()`` ignores ``api_endpoint`` (it
always targets https://www.googleapis.com/batch/calendar/v3), so batches must be built with
``BatchHttpRequest(batch_uri=...)`` (see :meth:`FakeGoogle.new_batch`).
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .google_app import App, LoggedRequest
from .google_batch import BatchRecord
from .google_errors import ApiError
from .google_faults import Fault, FaultKind, FaultQueue, Hold
from .google_http import FakeHTTPServer
from .google_oauth import CALENDAR, Consent, OAuthClient, OAuthServer
from .google_push import Channel, Delivery, PushHub, PushMode
from .google_store import CalendarStore
from .google_time import FakeClock

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import Resource
    from googleapiclient.http import BatchHttpRequest


class FakeGoogle:
    """Fake Google (Calendar v3 + OAuth 2.0) over real HTTP on an ephemeral loopback port."""

    DEFAULT_USER = "user@example.com"
    CLIENT_ID = "1234567890-fake.apps.googleusercontent.com"
    CLIENT_SECRET = "GOCSPX-fake-client-secret"

    def __init__(
        self,
        *,
        user: str = DEFAULT_USER,
        time_zone: str = "UTC",
        clock: FakeClock | None = None,
        seed: int = 0,
        access_token_ttl: int = 3599,
        recurrence_horizon: dt.timedelta = dt.timedelta(days=730),
        push_timeout: float = 5.0,
    ) -> None:
        self.clock = clock or FakeClock()
        self.rng = random.Random(seed)
        self.default_user = user
        self.client_id, self.client_secret = self.CLIENT_ID, self.CLIENT_SECRET
        self.push = PushHub(self.clock, timeout=push_timeout)
        self.store = CalendarStore(self.clock, self.rng, horizon=recurrence_horizon, on_change=self.push.changed)
        self.oauth = OAuthServer(self.clock, default_user=user, access_ttl=access_token_ttl)
        self.oauth.register_client(OAuthClient(self.CLIENT_ID, self.CLIENT_SECRET))
        self.faults = FaultQueue()
        self._stop = threading.Event()
        self.app = App(store=self.store, oauth=self.oauth, push=self.push, faults=self.faults,
                       rng=random.Random(seed + 1),
                       stop=self._stop, base_url=lambda: self.url)
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_user(user, time_zone)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeGoogle:
        if self._server is not None:
            return self
        self._stop.clear()
        self._server = FakeHTTPServer(self.app)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-google-http", daemon=True)
        self._thread.start()
        self.push.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stop.set()  # ends deliberate delays and holds early
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.push.close()
        self._server, self._thread = None, None

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- URLs

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash); only while started."""
        if self._server is None:
            raise RuntimeError("FakeGoogle is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_endpoint(self) -> str:
        """For ``client_options={"api_endpoint": ...}``: ``<url>/calendar/v3/``."""
        return f"{self.url}/calendar/v3/"

    @property
    def batch_uri(self) -> str:
        return f"{self.url}/batch/calendar/v3"

    @property
    def auth_uri(self) -> str:
        return f"{self.url}/o/oauth2/auth"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def revoke_uri(self) -> str:
        return f"{self.url}/revoke"

    def client_config(self, kind: str = "installed", redirect_uris: Iterable[str] = ()) -> dict[str, Any]:
        """A client-secrets dict for ``google_auth_oauthlib.flow.Flow.from_client_config``."""
        uris = list(redirect_uris) or ["http://127.0.0.1"]
        return {kind: {"client_id": self.client_id, "client_secret": self.client_secret,
                       "auth_uri": self.auth_uri, "token_uri": self.token_uri,
                       "redirect_uris": uris}}

    # ------------------------------------------------------- clients & users

    def register_client(self, client_id: str, client_secret: str, redirect_uris: Iterable[str] = ()) -> None:
        """Another OAuth client; with ``redirect_uris`` only those exact URIs are accepted."""
        self.oauth.register_client(OAuthClient(client_id, client_secret, tuple(redirect_uris)))

    def add_user(self, email: str, time_zone: str = "UTC") -> str:
        """A Google account with its primary calendar (id = the e-mail address)."""
        self.store.add_user(email, time_zone)
        with self.oauth.lock:
            self.oauth.users.add(email)
        return email

    def add_calendar(self, summary: str, *, owner: str | None = None, calendar_id: str | None = None,
                     time_zone: str = "UTC") -> str:
        """A secondary calendar (``c_...@group.calendar.google.com`` unless ``calendar_id``)."""
        return self.store.add_calendar(owner or self.default_user, calendar_id, summary, time_zone)

    def share_read_only(self, calendar_id: str, *, user: str | None = None) -> None:
        """Share a calendar with ``user`` (default: the default user) read-only: the user reads
        it, and every write to it answers 403 requiredAccessLevel."""
        self.store.share_read_only(self._calendar_id(calendar_id), user or self.default_user)

    # ----------------------------------------------------------------- OAuth

    def queue_consent(self, *, deny: bool = False, user: str | None = None,
                      granted_scopes: Iterable[str] | None = None) -> None:
        """How the next consent screen is answered: denied (``error=access_denied``), by which
        user, or with only some scopes granted (Google's granular consent)."""
        scopes = tuple(granted_scopes) if granted_scopes is not None else None
        self.oauth.queue_consent(Consent(deny=deny, user=user, granted_scopes=scopes))

    def deny_next_consent(self) -> None:
        self.queue_consent(deny=True)

    def issue_tokens(self, *, user: str | None = None, scopes: Iterable[str] = (CALENDAR,),
                     offline: bool = True) -> dict[str, Any]:
        """A token response as if the consent flow had run (access_token, refresh_token, ...)."""
        return self.oauth.issue(user or self.default_user, self.client_id, tuple(scopes), offline=offline)

    def credentials(self, *, user: str | None = None, scopes: Iterable[str] = (CALENDAR,)) -> Credentials:
        """``google.oauth2.credentials.Credentials`` holding a fresh access and refresh token."""
        from google.oauth2.credentials import Credentials

        scope_list = list(scopes)
        tokens = self.issue_tokens(user=user, scopes=scope_list)
        expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=int(tokens["expires_in"]))
        return Credentials(  # type: ignore[no-untyped-call]
            token=tokens["access_token"], refresh_token=tokens["refresh_token"], token_uri=self.token_uri,
            client_id=self.client_id, client_secret=self.client_secret, scopes=scope_list, expiry=expiry)

    def service(self, credentials: Any = None, *, timeout: float | None = None) -> Resource:
        """The real googleapiclient Calendar v3 service, pointed at this fake."""
        from googleapiclient.discovery import build

        creds = credentials if credentials is not None else self.credentials()
        options = {"api_endpoint": self.api_endpoint}
        if timeout is None:
            return build("calendar", "v3", credentials=creds, static_discovery=True, client_options=options,
                         cache_discovery=False)
        import google_auth_httplib2
        import httplib2

        http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=timeout))
        return build("calendar", "v3", http=http, static_discovery=True, client_options=options,
                     cache_discovery=False)

    def new_batch(self, callback: Callable[..., Any] | None = None) -> BatchHttpRequest:
        """``BatchHttpRequest`` aimed at the fake (``new_batch_http_request()`` cannot be)."""
        from googleapiclient.http import BatchHttpRequest

        return BatchHttpRequest(callback=callback, batch_uri=self.batch_uri)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (401 authError)."""
        self.oauth.expire_access_tokens()

    def revoke_refresh_token(self, refresh_token: str) -> None:
        """The user revoked this grant: refreshing it answers 400 invalid_grant."""
        self.oauth.revoke_refresh_token(refresh_token)

    def revoke_all_tokens(self, user: str | None = None) -> None:
        self.oauth.revoke_all(user)

    def refresh_tokens(self, user: str | None = None, *, live: bool = True) -> list[str]:
        return self.oauth.refresh_tokens(user, live=live)

    # ------------------------------------------------------------ sync state

    def invalidate_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token of the calendar issued so far now answers 410 fullSyncRequired."""
        self.store.invalidate_sync_tokens(self._calendar_id(calendar_id))

    def expire_page_tokens(self) -> None:
        """Every page token issued so far answers 400 "Invalid page token value." from now on."""
        self.store.expire_page_tokens()

    @property
    def page_size_cap(self) -> int | None:
        """When set, pages hold at most this many items whatever maxResults says (Google may
        return short pages)."""
        return self.store.page_size_cap

    @page_size_cap.setter
    def page_size_cap(self, value: int | None) -> None:
        self.store.page_size_cap = value

    # ------------------------------------------------------------ inspection

    def _calendar_id(self, calendar_id: str) -> str:
        return self.default_user if calendar_id == "primary" else calendar_id

    def events(self, calendar_id: str = "primary", *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Stored events (series, exceptions and single events) of a calendar, as resources."""
        return self.store.snapshot(self._calendar_id(calendar_id), include_deleted=include_deleted)

    def event(self, calendar_id: str, event_id: str) -> dict[str, Any] | None:
        return self.store.stored(self._calendar_id(calendar_id), event_id)

    def requests(self, endpoint: str | None = None, *, method: str | None = None,
                 path: str | None = None) -> list[LoggedRequest]:
        """Logged requests (batch parts included, with ``batch`` set), oldest first."""
        return [r for r in self.app.log.entries()
                if (endpoint is None or r.endpoint == endpoint) and (method is None or r.method == method)
                and (path is None or r.path == path)]

    def count(self, endpoint: str | None = None, *, method: str | None = None, path: str | None = None) -> int:
        return len(self.requests(endpoint, method=method, path=path))

    def endpoint_counts(self) -> Counter[str]:
        """Requests per endpoint: ``calendar.events.list``, ``oauth.token``, ``batch``, ..."""
        return self.app.log.counts()

    def clear_log(self) -> None:
        self.app.log.clear()

    @property
    def batches(self) -> list[BatchRecord]:
        return list(self.app.batches)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs in the fake itself (answered as 500); tests should expect none."""
        return list(self.app.internal_errors)

    # ------------------------------------------------ edits "as a Google user"

    def _owner(self, calendar_id: str) -> str:
        return self.store.owner_of(self._calendar_id(calendar_id))

    def user_insert_event(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The calendar's owner creates an event in Google Calendar (validated like the API)."""
        cid = self._calendar_id(calendar_id)
        return self.store.insert_event(self._owner(cid), cid, copy.deepcopy(body))

    def user_patch_event(self, calendar_id: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """The owner edits an event (patch semantics; instance ids create exceptions)."""
        cid = self._calendar_id(calendar_id)
        return self.store.modify_event(self._owner(cid), cid, event_id, copy.deepcopy(changes),
                                       replace=False, if_match=None)

    def gmail_add_event(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Gmail puts an event it found in a message (a flight, a reservation) into the
        calendar: ``eventType`` ``fromGmail``, which no API client may create."""
        cid = self._calendar_id(calendar_id)
        return self.store.insert_event(self._owner(cid), cid,
                                       {**copy.deepcopy(body), "eventType": "fromGmail"},
                                       by_google=True)

    def app_update_event(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Another app with access to the calendar writes the event with ``events.update``:
        the whole resource is replaced, so whatever ``body`` leaves out (``extendedProperties``
        included) is gone."""
        cid = self._calendar_id(calendar_id)
        return self.store.modify_event(self._owner(cid), cid, event_id, copy.deepcopy(body),
                                       replace=True, if_match=None)

    def user_delete_event(self, calendar_id: str, event_id: str) -> None:
        """The owner deletes an event, a whole series, or one instance (``<id>_<stamp>``)."""
        cid = self._calendar_id(calendar_id)
        self.store.delete_event(self._owner(cid), cid, event_id, if_match=None)

    # ---------------------------------------------------------------- faults

    def inject_fault(
        self,
        kind: FaultKind | str,
        *,
        method: str | None = None,
        path: str | None = None,
        endpoint: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
        delay: float = 5.0,
        perform: bool = False,
    ) -> Fault:
        """The next ``times`` requests matching ``method``/``path`` (glob on the decoded path)/
        ``endpoint`` fail with ``kind``.  Batch parts are matched one by one (a lost part is
        answered 500 inside the batch).  ``TIMEOUT`` holds the answer ``delay`` seconds; with
        ``perform`` it carries the request out first."""
        return self.faults.add(Fault(FaultKind(kind), method, path, endpoint, times, retry_after, delay, perform))

    def hold(self, endpoint: str, *, after: int) -> Hold:
        """Let ``after`` more requests to ``endpoint`` through (batch parts count one by one),
        then hold the next ones unperformed until :meth:`release_holds`, which drops them (no
        answer). ``hold.reached`` tells when the first was held: the moment to kill a client
        that has had exactly ``after`` of its writes taken."""
        return self.app.holds.add(Hold(endpoint, after))

    def release_holds(self) -> None:
        self.app.holds.release()

    def pending_faults(self) -> list[Fault]:
        return self.faults.pending()

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ push

    @property
    def push_mode(self) -> PushMode:
        return self.push.mode

    @push_mode.setter
    def push_mode(self, mode: PushMode) -> None:
        """``"deliver"`` (default), ``"hold"`` until :meth:`release_held_notifications`, ``"drop"``."""
        if mode not in ("deliver", "hold", "drop"):
            raise ValueError(mode)
        self.push.mode = mode

    def release_held_notifications(self) -> None:
        self.push.release_held()

    def wait_for_notifications(self, timeout: float = 5.0) -> bool:
        """Block until every queued notification was POSTed (or failed); False on timeout."""
        return self.push.wait_idle(timeout)

    def notifications(self) -> list[Delivery]:
        """Every notification sent (or dropped), with the listener's HTTP status."""
        return self.push.deliveries()

    def channels(self) -> list[Channel]:
        return self.push.channels()


__all__ = ["ApiError", "FakeClock", "FakeGoogle", "FaultKind"]
