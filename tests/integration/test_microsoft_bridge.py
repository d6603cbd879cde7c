"""The Microsoft Graph adapter against the strict fake Graph (tests/fakes/microsoft_fake.py),
through the engine: delta paging and an idle pass, the read window's renewal, `$batch` of at
most 20 with per-part 429/424/5xx, transactionId idempotency, If-Match/412, throttling,
invalid_grant -> needs reconnecting with nothing lost, Graph's busy notions mapped onto the
blocking policy, and hidden client details (a marker scan of every request the fake got)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import CALENDAR, MicrosoftWorld, make_microsoft_world
from server.clock import FixedClock
from server.db.models import MicrosoftConnection, MicrosoftCopy, MicrosoftMirroredEvent
from server.microsoft import connections, copies
from server.microsoft.pull import RENEW_AFTER
from server.sync import writing
from server.sync.engine import Engine, PassReport

UTC = dt.timezone.utc


@pytest.fixture
def ms(tmp_path: Path, database_url: str) -> Iterator[MicrosoftWorld]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        yield world
        assert fake.internal_errors == []


def engine(world: MicrosoftWorld, **options: Any) -> Engine:
    return Engine(world.runtime, worker="ms-test", providers=[world.provider()], **options)


def sync(world: MicrosoftWorld, **options: Any) -> PassReport:
    [report] = engine(world, **options).run_once(force_pull=True)
    return report


def graph_time(moment: dt.datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(),
            "timeZone": "UTC"}


def add(world: MicrosoftWorld, day: int, hour: int, **fields: Any) -> str:
    start = world.now + dt.timedelta(days=day, hours=hour - world.now.hour)
    return world.fake.user_add(CALENDAR, {"subject": "Own", "start": graph_time(start),
                                          "end": graph_time(start + dt.timedelta(hours=1)),
                                          **fields})


def our_copies(world: MicrosoftWorld) -> list[Any]:
    return [e for e in world.fake.mailbox.live(CALENDAR)
            if any(p["id"] == copies.PROPERTY
                   for p in e.data.get("singleValueExtendedProperties", []))]


def mirrored(world: MicrosoftWorld) -> dict[str, MicrosoftMirroredEvent]:
    with world.runtime.db.read() as session:
        rows = list(session.execute(select(MicrosoftMirroredEvent)).scalars())
        session.expunge_all()
    return {row.event_id: row for row in rows}


def test_delta_pages_then_an_idle_pass_costs_one_delta_call(ms: MicrosoftWorld) -> None:
    ms.fake.mailbox.max_page_size = 2
    added = {add(ms, 2 + n, 9) for n in range(5)}
    bridge = engine(ms)
    [report] = bridge.run_once(force_pull=True)
    assert report.error is None
    assert report.pulled is not None and report.pulled.imported == 5
    assert report.pulled.pages == 3  # 2 + 2 + 1 events
    assert set(mirrored(ms)) == added
    before = len(ms.fake.log)
    [idle] = bridge.run_once(force_pull=True)  # its client and access token are kept
    assert idle.error is None and idle.pulled is not None and idle.pulled.imported == 0
    calls = [f"{r.method} {r.path}" for r in ms.fake.log[before:] if not r.batch_part]
    assert calls == [f"GET /v1.0/me/calendars/{CALENDAR}/calendarView/delta"]


def test_the_read_window_is_renewed_as_it_rolls_on(ms: MicrosoftWorld) -> None:
    first = sync(ms)
    assert first.pulled is not None and first.pulled.full_syncs == 1
    assert isinstance(ms.runtime.clock, FixedClock)
    ms.runtime.clock.advance(dt.timedelta(days=3))
    same = sync(ms)
    assert same.pulled is not None and same.pulled.full_syncs == 0
    ms.runtime.clock.advance(RENEW_AFTER)
    late = add(ms, 380, 9)  # beyond the first window's end, inside the renewed one
    renewed = sync(ms)
    assert renewed.pulled is not None and renewed.pulled.full_syncs == 1
    assert late in mirrored(ms)


def test_a_410_on_the_delta_link_means_a_full_read_that_reconciles(ms: MicrosoftWorld) -> None:
    kept, gone = add(ms, 2, 9), add(ms, 3, 9)
    sync(ms)
    ms.fake.mailbox.expire_tokens()
    ms.fake.mailbox.delete(gone)
    report = sync(ms)
    assert report.pulled is not None and report.pulled.full_syncs == 1
    assert set(mirrored(ms)) == {kept}
    assert any(r.status == 410 for r in ms.fake.log)


def test_batches_hold_at_most_20_writes(ms: MicrosoftWorld) -> None:
    for n in range(45):
        ms.book(1 + n // 8, 9 + n % 8)
    report = sync(ms, unthrottled=True)
    assert report.error is None and report.pushed is not None
    assert report.pushed.inserted == 45
    batches = ms.fake.requests("POST /v1.0/$batch")
    assert len(batches) == 3
    assert len(our_copies(ms)) == 45
    assert sync(ms).pushed is not None and sync(ms).pushed.writes == 0  # type: ignore[union-attr]


def test_a_part_answered_429_is_sent_again_alone_after_retry_after(ms: MicrosoftWorld) -> None:
    for hour in (9, 10, 11):
        ms.book(1, hour)
    ms.fake.fail(429, f"POST /v1.0/me/calendars/{CALENDAR}/events", retry_after=7)
    report = sync(ms)
    assert report.error is None and report.pushed is not None and report.pushed.inserted == 3
    assert 7.0 in ms.sleeps
    assert len(ms.fake.requests("POST /v1.0/$batch")) == 2
    second = ms.fake.requests("POST /v1.0/$batch")[1]
    assert second.body.count('"method": "POST"') == 1  # only the throttled part again
    assert len(our_copies(ms)) == 3


def test_parts_failing_beyond_their_attempts_back_off_then_converge(ms: MicrosoftWorld) -> None:
    ms.book(1, 9)
    ms.fake.fail(503, f"POST /v1.0/me/calendars/{CALENDAR}/events", times=5)
    report = sync(ms)
    assert report.pushed is not None and report.pushed.retryable is not None
    assert report.error is not None and "writing" in report.error
    assert our_copies(ms) == []
    for _ in range(3):
        report = sync(ms)
    assert report.error is None
    assert len(our_copies(ms)) == 1


def test_a_424_dependency_failure_is_retried(ms: MicrosoftWorld) -> None:
    ms.book(1, 9)
    ms.fake.fail(424, f"POST /v1.0/me/calendars/{CALENDAR}/events")
    report = sync(ms)
    assert report.error is None and len(our_copies(ms)) == 1


def test_a_create_sent_again_after_a_lost_answer_never_duplicates(ms: MicrosoftWorld) -> None:
    """The process dies after Graph created the copy, before recording it: the next pass
    creates again with the same transactionId and Graph answers the first event."""
    with ms.runtime.db.write() as session:  # no read adopts the copy: the create meets it
        connections.update_settings(session, ms.business, now=ms.now, direction="to_microsoft")
    booking = ms.book(1, 9)
    provider = ms.provider()
    with ms.runtime.db.read() as session:
        row = session.get(MicrosoftConnection, ms.connection)
        work, _, _ = writing.plan(session, provider, provider.copy_secret, row, ms.now)
    client = provider.client(ms.fake.identity.issue_refresh_token())
    [lost] = provider.write_batch(client, work, 1).values()  # never recorded
    assert lost.error is None and lost.remote_id
    report = sync(ms)
    assert report.pushed is not None and report.pushed.inserted == 1
    [copy] = our_copies(ms)
    assert copy.id == lost.remote_id
    assert len(ms.fake.requests(f"POST /v1.0/me/calendars/{CALENDAR}/events")) == 2
    assert copy.data["transactionId"] == provider.copy_id(provider.copy_secret, row,
                                                         "booking", booking)


def test_a_copy_changed_in_outlook_is_written_over_through_a_412(ms: MicrosoftWorld) -> None:
    ms.book(1, 9, client_id=ms.client)
    sync(ms)
    [copy] = our_copies(ms)
    ms.fake.mailbox.update(copy.id, {"subject": "Moved by someone"}, None)
    report = sync(ms)
    assert report.pulled is not None and report.pulled.copies_to_restore == 1
    assert report.pushed is not None and report.pushed.updated == 1
    [again] = our_copies(ms)
    assert again.data["subject"] == "Haircut – Ida Jensen"
    assert any(r.status == 412 for r in ms.fake.requests("PATCH /v1.0/me/events/*"))
    assert mirrored(ms) == {}  # our copy never mirrored, edited or not


def test_a_copy_deleted_in_outlook_is_created_again(ms: MicrosoftWorld) -> None:
    ms.book(1, 9)
    sync(ms)
    [copy] = our_copies(ms)
    ms.fake.mailbox.delete(copy.id)
    sync(ms)
    assert len(our_copies(ms)) == 1 and our_copies(ms)[0].id != copy.id


def test_throttled_reads_back_off_and_no_mailbox_sees_more_than_4(ms: MicrosoftWorld) -> None:
    add(ms, 2, 9)
    ms.fake.fail(429, "GET /v1.0/me/calendars/*/calendarView/delta", retry_after=30)
    report = sync(ms)
    assert report.error is not None and "429" in report.error
    assert mirrored(ms) == {}
    assert sync(ms).error is None and len(mirrored(ms)) == 1
    assert ms.fake.max_concurrent <= 4


def test_a_refused_refresh_token_needs_reconnecting_and_nothing_is_lost(
        ms: MicrosoftWorld) -> None:
    ms.book(1, 9)
    sync(ms)
    ms.fake.identity.revoke_all()
    ms.book(2, 9)
    report = sync(ms)
    assert report.error is not None and "reconnect" in report.error
    with ms.runtime.db.read() as session:
        row = session.get(MicrosoftConnection, ms.connection)
        assert row is not None and row.status == "needs_reconnect"
    assert sync_all(ms) == []  # no call for a connection that needs reconnecting
    with ms.runtime.db.write() as session:
        connections.connect(session, ms.runtime.keyring, ms.business,
                            ms.fake.identity.issue_refresh_token(), ms.now)
    report = sync(ms)
    assert report.error is None
    assert len(our_copies(ms)) == 2


def sync_all(world: MicrosoftWorld) -> list[PassReport]:
    return engine(world).run_once()


@pytest.mark.parametrize(("fields", "blocks", "summary"), [
    ({"showAs": "busy"}, True, "Own"),
    ({"showAs": "free"}, False, "Own"),
    ({"showAs": "tentative"}, True, "Own"),
    ({"showAs": "oof"}, True, "Own"),
    ({"showAs": "workingElsewhere"}, False, "Own"),
    ({"showAs": "unknown"}, True, "Own"),
    ({"showAs": "busy", "sensitivity": "private"}, True, ""),
])
def test_graph_busy_notions_meet_the_blocking_policy(ms: MicrosoftWorld, fields: dict[str, Any],
                                                     blocks: bool, summary: str) -> None:
    remote = add(ms, 2, 9, **fields)
    sync(ms)
    row = mirrored(ms)[remote]
    assert (row.blocks, row.summary) == (blocks, summary)


def test_tentative_and_all_day_follow_the_business_switches(ms: MicrosoftWorld) -> None:
    tentative = add(ms, 2, 9, showAs="tentative")
    start = dt.datetime.combine(ms.first_day, dt.time())
    whole_day = ms.fake.user_add(CALENDAR, {
        "subject": "Away", "isAllDay": True, "start": graph_time(start.replace(tzinfo=UTC)),
        "end": graph_time((start + dt.timedelta(days=1)).replace(tzinfo=UTC))})
    sync(ms)
    assert mirrored(ms)[tentative].blocks and mirrored(ms)[whole_day].blocks
    assert mirrored(ms)[whole_day].start_date == ms.first_day
    with ms.runtime.db.write() as session:
        connections.update_settings(session, ms.business, now=ms.now, block_tentative=False,
                                    block_all_day=False)
    assert not mirrored(ms)[tentative].blocks and not mirrored(ms)[whole_day].blocks


def test_a_cancelled_event_leaves_the_mirror(ms: MicrosoftWorld) -> None:
    remote = add(ms, 2, 9)
    sync(ms)
    ms.fake.mailbox.update(remote, {"subject": "Off"}, None)
    ms.fake.mailbox.events[remote].data["isCancelled"] = True  # the organiser cancelled it
    sync(ms)
    assert remote not in mirrored(ms)


def test_hidden_client_details_send_nothing_of_the_client(ms: MicrosoftWorld) -> None:
    with ms.runtime.db.write() as session:
        connections.update_settings(session, ms.business, now=ms.now, hide_client_details=True)
    ms.book(1, 9, client_id=ms.client, notes="Marker-notes-Quixote",
            location="Marker-street 7")
    report = sync(ms)
    assert report.error is None and len(our_copies(ms)) == 1
    sent = "\n".join(f"{r.path}?{r.query}\n{r.headers}\n{r.body}" for r in ms.fake.log)
    for marker in ("Ida", "Jensen", "ida@example.com", "1234 5678", "Marker-notes",
                   "Marker-street", "Haircut – Ida"):
        assert marker not in sent, marker
    assert "refresh_token" not in sent or ms.fake.identity.refresh_tokens  # sent to token only
    # Without the switch, the client's name is in the copy (the scan above can fail).
    with ms.runtime.db.write() as session:
        connections.update_settings(session, ms.business, now=ms.now,
                                    hide_client_details=False)
    sync(ms)
    assert "Ida Jensen" in our_copies(ms)[0].data["subject"]


def test_our_copies_are_recognised_by_their_transaction_id(ms: MicrosoftWorld) -> None:
    ms.book(1, 9)
    sync(ms)
    with ms.runtime.db.write() as session:  # as if restored from a backup without the copy
        for copy in session.execute(select(MicrosoftCopy)).scalars():
            session.delete(copy)
    ms.fake.mailbox.expire_tokens()
    report = sync(ms)
    assert report.pulled is not None and report.pulled.unknown_copies == 1
    assert mirrored(ms) == {} and len(our_copies(ms)) == 1
