"""A bounded, seeded soak of the Google bridge (issue 13): random bookings, moves, cancels and
deletes; people in Google editing, deleting and replacing our copies (another app's full update
drops our mark) and adding, moving and deleting their own events; about one step in five with
an injected fault of every kind the fake knows (5xx, 429, rate and quota limits, 400, lost
responses, slow answers, failing token refreshes) or an expired sync token (410); and bridges
that die mid-pass: in-process ones abandoned with their lease, and a real `bookingcal bridge`
killed with SIGKILL while Google holds its next write. Once the faults stop and the bridge
settles, it counts and prints: duplicated copies, missing copies, stale copies, our own events
echoed back as Google events, and slots wrongly blocked — all must be 0.

The in-process bridge runs on the world's injected clock, which the test first sets to the real
now, so the bookings (dated from that clock) are ahead for the real bridge process too."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from fakes import FaultKind
from google_world import TZ, World, bridge
from server.clock import FixedClock
from server.db.models import Booking, GoogleConnection, GoogleCopy, MirroredEvent
from server.domain import bookings
from server.errors import ConflictError
from server.gcal_bridge import Bridge, pending
from server.google import settings
from server.domain.blocking import BlockingPolicy, blocks
from server.google.copies import MARK, is_ours
from support import HOST_KEY

SEED = int(os.environ.get("BOOKINGCAL_SOAK_SEED", "13"))  # another seed: another schedule
STEPS = 160
FAULT_SHARE = 0.2
FAULTS = [FaultKind.TOO_MANY_REQUESTS, FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE,
          FaultKind.RATE_LIMIT_EXCEEDED, FaultKind.USER_RATE_LIMIT_EXCEEDED,
          FaultKind.QUOTA_EXCEEDED, FaultKind.BAD_REQUEST, FaultKind.LOST_RESPONSE,
          FaultKind.LOST_RESPONSE_500, FaultKind.TIMEOUT]
ENDPOINTS = ["calendar.events.insert", "calendar.events.update", "calendar.events.delete",
             "calendar.events.list", "batch", "oauth.token"]
KILLED_BOOKINGS = 24
WAIT = 60.0
UTC = dt.timezone.utc
BOOKINGCAL = Path(sys.executable).parent / "bookingcal"


def start_bridge(folder: Path, database_url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`bookingcal bridge` on the world's configuration, as test_google_kill.py starts it."""
    env = {**os.environ, "BOOKINGCAL_DATABASE_URL": database_url,
           "BOOKINGCAL_HOST_KEY": HOST_KEY}
    env.pop("BOOKINGCAL_CONFIG", None)
    return subprocess.Popen([str(BOOKINGCAL), "--config", str(folder / "bookingcal.toml"),
                             "bridge"], env=env, stdout=log, stderr=subprocess.STDOUT)


@dataclass
class Counts:
    duplicates: int
    missing: int
    stale: int
    echoed: int
    wrongly_blocked: int


class Soak:
    def __init__(self, world: World) -> None:
        self.world, self.fake = world, world.fake
        self.rng = random.Random(SEED)
        self.clock = world.runtime.clock
        assert isinstance(self.clock, FixedClock)
        self.worker = self.new_bridge()
        self.user_events: list[str] = []
        self.abandoned = 0
        self.pauses = 0

    def new_bridge(self) -> Bridge:
        return bridge(self.world, f"soak-{self.rng.randrange(10**6)}")

    def start(self, days: int, hour: int) -> dt.datetime:
        today = self.clock.now().astimezone(ZoneInfo(TZ)).date()
        return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour))

    def live(self) -> list[int]:
        with self.world.runtime.db.read() as session:
            return list(session.execute(select(Booking.id).where(
                Booking.status == "confirmed")).scalars())

    def copy_of(self, booking: int) -> str | None:
        with self.world.runtime.db.read() as session:
            return session.execute(select(GoogleCopy.event_id).where(
                GoogleCopy.kind == "booking", GoogleCopy.item_id == booking)).scalar()

    def stored(self, event_id: str) -> dict[str, Any] | None:
        found = self.fake.event("primary", event_id)
        return found if found is not None and found.get("status") != "cancelled" else None

    # --- one random step --------------------------------------------------------------------

    def step(self) -> None:
        action = self.rng.choice([
            self.book, self.book, self.book, self.move, self.move, self.cancel,
            self.edit_copy, self.delete_copy, self.replace_copy, self.add_event,
            self.move_event, self.delete_event, self.toggle_hide])
        action()
        if self.rng.random() < FAULT_SHARE:
            self.fault()
        self.clock.advance(dt.timedelta(seconds=self.rng.choice([0.5, 0.5, 1, 5, 30])))
        if self.rng.random() < 0.03:
            self.die()
        else:
            self.worker.run_once(force_pull=self.rng.random() < 0.2)
        with self.world.runtime.db.read() as session:
            paused = session.get_one(GoogleConnection, self.world.connection).paused_until
        if paused is not None and paused > self.clock.now():
            self.pauses += 1
            self.clock.advance(paused - self.clock.now())  # the hour's pause, skipped

    def book(self) -> bool:
        try:
            with self.world.runtime.db.write() as session:
                bookings.create_booking(
                    session, self.world.business, calendar_id=self.world.anna,
                    service_id=self.world.service, now=self.clock.now(),
                    start=self.start(self.rng.randint(1, 20), self.rng.randint(8, 17)),
                    client_id=self.world.client if self.rng.random() < 0.5 else None)
            return True
        except ConflictError:  # the slot is taken
            return False

    def move(self) -> None:
        live = self.live()
        if live:
            try:
                with self.world.runtime.db.write() as session:
                    bookings.update_booking(
                        session, self.world.business, self.rng.choice(live),
                        now=self.clock.now(),
                        start=self.start(self.rng.randint(1, 20), self.rng.randint(8, 17)))
            except ConflictError:
                pass

    def cancel(self) -> None:
        live = self.live()
        if live:
            chosen = self.rng.choice(live)
            with self.world.runtime.db.write() as session:
                if self.rng.random() < 0.5:
                    bookings.cancel_booking(session, self.world.business, chosen,
                                            self.clock.now())
                else:
                    bookings.delete_booking(session, self.world.business, chosen,
                                            self.clock.now())

    def _our_stored(self) -> tuple[str, dict[str, Any]] | None:
        live = self.live()
        if not live:
            return None
        event_id = self.copy_of(self.rng.choice(live))
        found = self.stored(event_id) if event_id is not None else None
        return (event_id, found) if event_id is not None and found is not None else None

    def edit_copy(self) -> None:
        ours = self._our_stored()
        if ours is not None:
            self.fake.user_patch_event("primary", ours[0], {"summary": "edited in Google",
                                                            "transparency": "transparent"})

    def delete_copy(self) -> None:
        ours = self._our_stored()
        if ours is not None:
            self.fake.user_delete_event("primary", ours[0])

    def replace_copy(self) -> None:
        ours = self._our_stored()
        if ours is not None:
            self.fake.app_update_event("primary", ours[0], {
                "summary": "another app", "start": ours[1]["start"], "end": ours[1]["end"]})

    def add_event(self) -> None:
        start = self.start(self.rng.randint(1, 20), self.rng.randint(7, 19)).replace(
            tzinfo=ZoneInfo(TZ))
        extra = self.rng.choice([{}, {}, {"transparency": "transparent"},
                                 {"eventType": "focusTime"}, {"eventType": "outOfOffice"}])
        body = {"summary": f"private {len(self.user_events)}",
                "start": {"dateTime": start.isoformat()},
                "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}, **extra}
        if self.rng.random() < 0.15:
            made = self.fake.gmail_add_event("primary", body)
        else:
            made = self.fake.user_insert_event("primary", body)
        self.user_events.append(str(made["id"]))

    def move_event(self) -> None:
        if self.user_events:
            event_id = self.rng.choice(self.user_events)
            found = self.stored(event_id)
            if found is not None:
                start = dt.datetime.fromisoformat(found["start"]["dateTime"]) + dt.timedelta(
                    hours=self.rng.randint(-3, 3))
                self.fake.user_patch_event("primary", event_id, {
                    "start": {"dateTime": start.isoformat()},
                    "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}})

    def delete_event(self) -> None:
        if self.user_events:
            event_id = self.user_events.pop(self.rng.randrange(len(self.user_events)))
            if self.stored(event_id) is not None:
                self.fake.user_delete_event("primary", event_id)

    def toggle_hide(self) -> None:
        with self.world.runtime.db.write() as session:
            current = settings.get_connection(session, self.world.business).hide_client_details
            settings.update_settings(session, self.world.business, now=self.clock.now(),
                                     hide_client_details=not current)

    def fault(self) -> None:
        if self.rng.random() < 0.15:
            self.fake.invalidate_sync_tokens("primary")  # the next read answers 410
            return
        kind = self.rng.choice(FAULTS)
        if kind is FaultKind.TIMEOUT:
            self.fake.inject_fault(kind, endpoint=self.rng.choice(ENDPOINTS[:5]), delay=0.05,
                                   perform=self.rng.random() < 0.5)
            return
        endpoint = self.rng.choice(ENDPOINTS)
        if endpoint == "oauth.token":
            self.fake.expire_access_tokens()  # so that a refresh happens, and fails
            kind = self.rng.choice([FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE])
        self.fake.inject_fault(kind, endpoint=endpoint, times=self.rng.randint(1, 3))

    def die(self) -> None:
        """A bridge that dies mid-pass: its lease stays behind and a new one takes over when
        it expires; what it sent without recording is found again by id."""
        self.fake.inject_fault(FaultKind.LOST_RESPONSE, endpoint="batch")
        self.worker.run_once(force_pull=True)
        assert self.worker.acquire(self.world.connection, self.clock.now())  # left held
        self.worker = self.new_bridge()
        self.abandoned += 1
        self.clock.advance(dt.timedelta(minutes=3))  # the lease expires

    # --- settling and counting ---------------------------------------------------------------

    def settle(self) -> None:
        self.fake.clear_faults()
        self.clock.advance(dt.timedelta(hours=2))  # past every pause and backoff
        for _ in range(6):
            [report] = self.worker.run_once(force_pull=True)
            assert report.error is None, report.error
            assert report.pushed is not None and report.pulled is not None
            if report.pushed.writes == 0 and report.pulled.copies_to_restore == 0:
                return
        raise AssertionError("the bridge did not settle")

    def counts(self) -> Counts:
        now = self.clock.now()
        google = self.fake.events("primary")
        with self.world.runtime.db.read() as session:
            copies = {c.event_id: c for c in session.execute(select(GoogleCopy)).scalars()}
            connection = session.get_one(GoogleConnection, self.world.connection)
            hidden = connection.hide_client_details
            policy = BlockingPolicy.of(connection)
            live = {b.id: b for b in session.execute(select(Booking).where(
                Booking.status == "confirmed", Booking.end_utc > now)).scalars()}
            with_client = {b.id for b in live.values() if b.client_id is not None}
            mirrored = list(session.execute(select(MirroredEvent)).scalars())
            left = pending(session, connection, now)
        ours = [e for e in google if is_ours(e) or str(e["id"]) in copies]
        refs = Counter(e.get("extendedProperties", {}).get("private", {}).get(MARK)
                       for e in ours)
        duplicates = sum(n - 1 for n in refs.values() if n > 1)
        missing = sum(1 for b in live if refs[f"booking:{b}"] == 0)
        stale = left
        for event in ours:
            ref = event.get("extendedProperties", {}).get("private", {}).get(MARK)
            booking = live.get(int(ref.split(":")[1])) if ref else None
            title = "Haircut – Ida Jensen" if booking is not None and \
                booking.id in with_client and not hidden else "Haircut"
            if booking is None or _instant(event["start"]) != booking.start_utc \
                    or _instant(event["end"]) != booking.end_utc \
                    or event.get("summary") != title \
                    or event.get("transparency", "opaque") != "opaque":
                stale += 1
        theirs = {str(e["id"]): e for e in google if not (is_ours(e) or str(e["id"]) in copies)}
        echoed = sum(1 for row in mirrored if row.event_id not in theirs)
        wrongly_blocked = 0
        for row in mirrored:
            event = theirs.get(row.event_id)
            should = event is not None and blocks(
                status=str(event.get("status", "confirmed")),
                transparency=str(event.get("transparency", "opaque")),
                event_type=str(event.get("eventType", "default")), self_response=None,
                policy=policy)
            if row.blocks and not should:
                wrongly_blocked += 1
        return Counts(duplicates, missing, stale, echoed, wrongly_blocked)


def _instant(when: dict[str, str]) -> dt.datetime:
    return dt.datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00")).astimezone(UTC)


def kill_a_real_bridge(soak: Soak, tmp_path: Path, database_url: str) -> None:
    """New bookings; a real `bookingcal bridge` takes some of their inserts, then is killed
    with SIGKILL while Google holds the next; a second one, started at once, takes over and
    is stopped when it has sent everything."""
    made = 0
    for _ in range(10 * KILLED_BOOKINGS):
        made += soak.book()
        if made == KILLED_BOOKINGS:
            break
    hold = soak.fake.hold("calendar.events.insert", after=soak.rng.randint(1, 10))
    with (tmp_path / "bridge.log").open("wb") as log:
        process = start_bridge(tmp_path, database_url, log)
        try:
            assert hold.reached.wait(WAIT), "the bridge never reached the held insert"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            soak.fake.release_holds()
        assert process.returncode == -signal.SIGKILL
        process = start_bridge(tmp_path, database_url, log)
        try:
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                with soak.world.runtime.db.read() as session:
                    left = pending(session, session.get_one(
                        GoogleConnection, soak.world.connection), dt.datetime.now(UTC))
                if left == 0:
                    break
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
    output = (tmp_path / "bridge.log").read_text(encoding="utf-8", errors="replace")
    assert process.returncode == 0 and "Traceback" not in output, output


def test_a_random_soak_with_faults_and_killed_bridges_ends_clean(
        world: World, tmp_path: Path, database_url: str) -> None:
    clock = world.runtime.clock
    assert isinstance(clock, FixedClock)
    clock.instant = dt.datetime.now(UTC).replace(microsecond=0)  # see the module docstring
    soak = Soak(world)
    soak.worker.run_once(force_pull=True)
    for _ in range(STEPS):
        soak.step()
    soak.settle()
    kill_a_real_bridge(soak, tmp_path, database_url)
    clock.instant = max(clock.instant, dt.datetime.now(UTC))
    soak.settle()
    found = soak.counts()
    print(f"soak: {STEPS} steps, {len(soak.live())} live bookings, {soak.abandoned} bridges "
          f"abandoned mid-pass, 1 killed; duplicates {found.duplicates}, missing "
          f"{found.missing}, stale {found.stale}, echoed {found.echoed}, wrongly blocked "
          f"{found.wrongly_blocked}")
    assert found == Counts(0, 0, 0, 0, 0)
