"""Google clients share one service object (server/google/api.py `calendar_service`) and send
its requests with their own authorised http: a bridge keeps a client per connection, and a
service built per client (its parsed discovery document and pretty-printed schemas) cost
~510 KiB each after its first requests (1.4-2.0 GB in a bridge serving 5,000 businesses in
bench/fleet_bench.py). The shared service is prepared once under a lock, so clients made by
many threads at once, each with its own grant, all work against the fake Google, each
refreshing its own token."""

from __future__ import annotations

import threading
from typing import Any

from google_world import World, bridge
from server.google import api as google_api
from server.google.api import GoogleCalendarApi


def test_clients_share_one_document_and_each_works_when_made_at_once(world: World) -> None:
    google_api._SERVICES.clear()  # as in a fresh process: the first clients prepare it
    world.fake.clear_log()
    accounts = [world.fake.issue_tokens() for _ in range(8)]  # 8 grants, 8 clients
    made: list[GoogleCalendarApi] = []
    answers: list[Any] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def use(tokens: dict[str, Any]) -> None:
        try:
            client = GoogleCalendarApi(world.runtime.config.google, tokens["refresh_token"],
                                       sleep=lambda seconds: None)
            email = client.primary_email()
            listed = client.call(client.events().list(calendarId="primary"))
            with lock:
                made.append(client)
                answers.append((email, listed.get("kind")))
        except BaseException as exc:  # a thread's failure fails the test
            failures.append(exc)

    threads = [threading.Thread(target=use, args=(tokens,)) for tokens in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert answers == [(world.fake.default_user, "calendar#events")] * 8
    services = {id(client.service) for client in made}
    assert services == {id(google_api.calendar_service(
        world.runtime.config.google.api_url + "calendar/v3/"))}
    assert world.fake.endpoint_counts()["oauth.token"] == 8  # each with its own credentials


def test_a_connections_client_keeps_its_token_but_no_socket_between_passes(
        world: World) -> None:
    """The bridge keeps one client per connection (its access token is reused: no token
    request per pass) but closes its kept-alive connections after each pass over it: a
    bridge serving thousands of connections held a socket per connection (3,800 descriptors
    at 5,000 businesses in bench/fleet_bench.py)."""
    engine = bridge(world)
    provider = engine.provider("google")
    for _ in range(2):
        report = engine.work_connection(provider, world.connection, world.now,
                                        force_pull=True)
        assert report.error is None
        credentials, client = engine.state(provider).clients[world.connection]
        assert isinstance(client, GoogleCalendarApi)
        assert client.http.http.connections == {}  # no socket left open
    counts = world.fake.endpoint_counts()
    assert counts["oauth.token"] == 1  # one refresh for both passes: the token was kept
    assert counts["calendar.events.list"] >= 2
