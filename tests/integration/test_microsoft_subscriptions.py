"""Outlook change notifications against the fake Graph: the validation handshake (the token
echoed as plain text), notifications proven by their clientState waking a read, forged ones
ignored, renewal before expiry, lifecycle events (reauthorizationRequired, subscriptionRemoved,
missed), and polling going on when Graph refuses a subscription."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import CALENDAR, MicrosoftWorld, make_microsoft_world
from server.clock import FixedClock
from server.db.models import MicrosoftMirroredEvent, MicrosoftReadState
from server.microsoft.provider import MicrosoftProvider
from server.microsoft.subscriptions import LIFE
from server.sync.engine import Engine
from support import LiveServer, start_server

UTC = dt.timezone.utc


@pytest.fixture
def notified(tmp_path: Path, database_url: str
             ) -> Iterator[tuple[MicrosoftWorld, LiveServer, Engine]]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        fake.now = world.runtime.clock.now
        server = start_server(world.runtime)
        try:
            # The served runtime: its public_url is the server's, where Graph notifies.
            provider = MicrosoftProvider(server.runtime, client_factory=world.client_factory)
            yield world, server, Engine(server.runtime, worker="t", providers=[provider])
        finally:
            server.stop()
        assert fake.internal_errors == []


def state(world: MicrosoftWorld) -> MicrosoftReadState:
    with world.runtime.db.read() as session:
        found = session.execute(select(MicrosoftReadState)).scalar_one()
        session.expunge(found)
        return found


def add(world: MicrosoftWorld) -> str:
    start = world.now + dt.timedelta(days=3)
    when = {"dateTime": start.replace(tzinfo=None).isoformat(), "timeZone": "UTC"}
    end = {"dateTime": (start + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat(),
           "timeZone": "UTC"}
    return world.fake.user_add(CALENDAR, {"subject": "Dentist", "start": when, "end": end})


def mirrored(world: MicrosoftWorld) -> set[str]:
    with world.runtime.db.read() as session:
        return set(session.execute(select(MicrosoftMirroredEvent.event_id)).scalars())


def test_the_handshake_then_a_notification_wakes_a_read(
        notified: tuple[MicrosoftWorld, LiveServer, Engine]) -> None:
    world, _, engine = notified
    [first] = engine.run_once(force_pull=True)
    assert first.error is None
    [subscription] = world.fake.subscriptions.items.values()
    assert world.fake.subscriptions.answers == [("validation", 200), ("validation", 200)]
    assert subscription.resource == f"me/calendars/{CALENDAR}/events"
    assert state(world).channel_id == subscription.id
    assert subscription.client_state not in (state(world).channel_token_hash or "")
    assert engine.run_once() == []  # nothing due: the poll is not
    event = add(world)
    assert world.fake.subscriptions.notify(CALENDAR, event) == 1
    assert state(world).pull_requested
    [woken] = engine.run_once()
    assert woken.pulled is not None and woken.pulled.imported == 1
    assert mirrored(world) == {event} and not state(world).pull_requested


def test_forged_notifications_are_ignored(
        notified: tuple[MicrosoftWorld, LiveServer, Engine]) -> None:
    world, live, engine = notified
    engine.run_once(force_pull=True)
    [subscription] = world.fake.subscriptions.items.values()
    forged = {"value": [{"subscriptionId": subscription.id, "clientState": "guessed",
                         "changeType": "updated"}]}
    answer = requests.post(f"{live.url}/microsoft/notifications", json=forged, timeout=10)
    assert answer.status_code == 202 and not state(world).pull_requested
    assert requests.post(f"{live.url}/microsoft/notifications", data="not json",
                         timeout=10).status_code == 400


def test_the_validation_token_is_echoed_as_plain_text(
        notified: tuple[MicrosoftWorld, LiveServer, Engine]) -> None:
    _, live, _ = notified
    token = "Validation: Testing <b>client</b> & co"
    for path in ("/microsoft/notifications", "/microsoft/notifications/lifecycle"):
        answer = requests.post(f"{live.url}{path}", params={"validationToken": token},
                               timeout=10)
        assert answer.status_code == 200 and answer.text == token
        assert answer.headers["Content-Type"].startswith("text/plain")


def test_subscriptions_are_renewed_before_they_expire(
        notified: tuple[MicrosoftWorld, LiveServer, Engine]) -> None:
    world, _, engine = notified
    engine.run_once(force_pull=True)
    [subscription] = world.fake.subscriptions.items.values()
    first_expiry = subscription.expires
    assert isinstance(world.runtime.clock, FixedClock)
    world.runtime.clock.advance(LIFE - dt.timedelta(hours=12))
    engine.run_once(force_pull=True)
    assert list(world.fake.subscriptions.items) == [subscription.id]
    assert subscription.expires > first_expiry
    assert len(world.fake.requests("PATCH /v1.0/subscriptions/*")) == 1


@pytest.mark.parametrize("event", ["reauthorizationRequired", "subscriptionRemoved", "missed"])
def test_lifecycle_notifications(notified: tuple[MicrosoftWorld, LiveServer, Engine],
                                 event: str) -> None:
    world, _, engine = notified
    engine.run_once(force_pull=True)
    [subscription] = world.fake.subscriptions.items.values()
    missed = add(world)
    assert world.fake.subscriptions.lifecycle(subscription.id, event) == 1
    assert state(world).pull_requested
    [report] = engine.run_once()
    assert report.error is None and mirrored(world) == {missed}
    if event == "reauthorizationRequired":
        assert len(world.fake.requests("PATCH /v1.0/subscriptions/*")) == 1
        assert list(world.fake.subscriptions.items) == [subscription.id]
    elif event == "subscriptionRemoved":
        [again] = world.fake.subscriptions.items.values()
        assert again.id != subscription.id and state(world).channel_id == again.id


def test_a_refused_subscription_leaves_polling_and_is_tried_hourly(
        tmp_path: Path, database_url: str) -> None:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        fake.now = world.runtime.clock.now  # public_url answers nothing: validation fails
        engine = Engine(world.runtime, worker="t", providers=[world.provider()])
        event = add(world)
        [report] = engine.run_once(force_pull=True)
        assert report.error is None and mirrored(world) == {event}
        assert fake.subscriptions.items == {}
        engine.run_once(force_pull=True)
        assert len(fake.requests("POST /v1.0/subscriptions")) == 1  # not again each pass
        assert isinstance(world.runtime.clock, FixedClock)
        world.runtime.clock.advance(dt.timedelta(hours=1, minutes=1))
        engine.run_once(force_pull=True)
        assert len(fake.requests("POST /v1.0/subscriptions")) == 2
