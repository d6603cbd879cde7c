"""The health notifier: a connection that needs reconnecting, or a calendar that keeps failing
past health.failing_minutes, reaches the business's admin accounts once — by e-mail through a
real SMTP server (aiosmtpd: STARTTLS, login) and as a signed event at a real HTTP receiver —
with the link to fix it; nothing more until the state changes; then a recovery digest. Two
bridge processes send once (the notifier's lease). Webhook deliveries are retried with backoff,
each attempt recorded. SQLite and PostgreSQL, on the injected clock."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
from pathlib import Path
from typing import Iterator

import pytest
import requests
from sqlalchemy import select, update

from fakes import FakeGoogle
from fakes.smtp_server import PASSWORD, USER, SmtpServer
from fakes.webhook_listener import WebhookListener
from google_world import World, bridge, make_world, run_cli
from server.admin.accounts import create_user
from server.db.models import GoogleConnection, GoogleReadState, SyncAlert, WebhookAttempt, WebhookDelivery
from server.google import oauth
from server.notify import mail
from server.sync import alerts
from support import NOW, start_server

SECRET = "webhook-key-0123456789"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[WebhookListener]:
    with WebhookListener() as listener:
        yield listener


@pytest.fixture
def world(tmp_path: Path, database_url: str, smtp: SmtpServer,
          hook: WebhookListener) -> Iterator[World]:
    (tmp_path / "smtp-password").write_text(PASSWORD + "\n", encoding="utf-8")
    (tmp_path / "webhook-secret").write_text(SECRET, encoding="utf-8")
    extra = (f'\n[mail]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "starttls"\n'
             f'user = "{USER}"\npassword_file = "smtp-password"\nca_file = "{smtp.ca_file}"\n'
             f'sender = "sync@salon.example"\n'
             f'[webhook]\nurl = "{hook.url}"\nsecret_file = "webhook-secret"\n')
    with FakeGoogle() as fake, make_world(tmp_path, database_url, fake, extra=extra) as made:
        with made.runtime.db.write() as session:
            create_user(session, made.business, "owner@salon.example", "a long password 1", NOW)
            create_user(session, made.business, "manager@salon.example", "a long password 2",
                        NOW)
        yield made


def run(world: World, worker: str = "worker-a") -> alerts.RunReport:
    report = alerts.run(world.runtime, worker, world.runtime.clock.now())
    assert report is not None
    return report


def advance(world: World, delta: dt.timedelta) -> None:
    world.runtime.clock.advance(delta)  # type: ignore[attr-defined]


def verify(body: bytes, header: str) -> bool:
    return header == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_a_connection_to_reconnect_is_told_once_then_its_recovery(
        world: World, smtp: SmtpServer, hook: WebhookListener) -> None:
    bridge(world).work(world.connection, NOW, force_pull=True)
    assert run(world).mailed == []  # all well: nothing to tell
    world.fake.revoke_all_tokens()
    report = bridge(world).work(world.connection, NOW, force_pull=True)
    assert report.error is not None
    first = run(world)
    assert first.opened == 1 and first.mailed == [world.business]
    [received] = smtp.wait_for(1)
    assert sorted(received.recipients) == ["manager@salon.example", "owner@salon.example"]
    assert received.login == USER and received.sender == "sync@salon.example"
    assert received.message["Subject"] == "Salon: calendar sync needs reconnecting"
    text = received.message.get_content()
    assert "The Google connection needs reconnecting" in text
    assert world.runtime.config.public_link("/admin/apps/google") in text
    assert "refresh" not in text.lower()  # no token, no credential
    [event] = hook.wait_for(1)
    assert verify(event.body, event.headers["X-Bookingcal-Signature"])
    payload = json.loads(event.body)
    assert payload["event"] == "sync.problem" and payload["problem"] == "needs_reconnecting"
    assert payload["business_id"] == world.business and payload["provider"] == "google"
    # No repeat while the state stays, however often the notifier runs.
    for _ in range(3):
        advance(world, dt.timedelta(minutes=5))
        again = run(world)
        assert (again.opened, again.mailed, again.queued) == (0, [], 0)
    assert len(smtp.received) == 1 and len(hook.received) == 1
    # Reconnected: one recovery digest, one sync.recovered event.
    with world.runtime.db.write() as session:
        oauth.connect(session, world.runtime.keyring, world.business,
                      world.fake.issue_tokens(), world.runtime.clock.now())
    back = run(world)
    assert back.resolved == 1 and back.recovered == [world.business]
    digest = smtp.wait_for(2)[1].message
    assert digest["Subject"] == "Salon: calendar sync works again"
    assert "Google: reconnected" in digest.get_content()
    assert json.loads(hook.wait_for(2)[1].body)["event"] == "sync.recovered"
    assert run(world).recovered == [] and len(smtp.received) == 2
    # Broken again: a new state, told again.
    with world.runtime.db.write() as session:
        session.execute(update(GoogleConnection).values(status="needs_reconnect"))
    assert run(world).mailed == [world.business]
    assert len(smtp.wait_for(3)) == 3


def test_a_failing_calendar_is_told_after_the_threshold(world: World, smtp: SmtpServer,
                                                       hook: WebhookListener) -> None:
    bridge(world).work(world.connection, NOW, force_pull=True)
    with world.runtime.db.write() as session:
        session.execute(update(GoogleReadState).values(
            last_error="the Google calendar primary was not found; choose another",
            last_error_at=NOW))
    first = run(world)
    assert first.opened == 1 and first.mailed == []  # failing, not yet for long
    advance(world, dt.timedelta(minutes=59))
    assert run(world).mailed == []
    advance(world, dt.timedelta(minutes=2))
    assert run(world).mailed == [world.business]
    [received] = smtp.wait_for(1)
    assert received.message["Subject"] == "Salon: calendar sync keeps failing"
    assert "reading primary" in received.message.get_content()
    assert "was not found" in received.message.get_content()
    # Cleared before anyone heard of a second failure: no mail for it, no digest for it.
    with world.runtime.db.write() as session:
        session.execute(update(GoogleReadState).values(last_error=None, last_error_at=None))
    assert run(world).recovered == [world.business]  # the told one recovered
    with world.runtime.db.write() as session:
        session.execute(update(GoogleReadState).values(last_error="again", last_error_at=NOW))
    run(world)
    with world.runtime.db.write() as session:
        session.execute(update(GoogleReadState).values(last_error=None, last_error_at=None))
    quiet = run(world)
    assert quiet.mailed == [] and quiet.recovered == [] and len(smtp.received) == 2
    with world.runtime.db.read() as session:
        assert session.execute(select(SyncAlert.resolved_at.is_not(None))).scalars().all() \
            == [True, True]


def test_two_bridge_processes_tell_once(world: World, smtp: SmtpServer,
                                        hook: WebhookListener) -> None:
    world.fake.revoke_all_tokens()
    bridge(world).work(world.connection, NOW, force_pull=True)
    results: list[alerts.RunReport | None] = []
    gate = threading.Barrier(2)

    def one(worker: str) -> None:
        gate.wait()
        results.append(alerts.run(world.runtime, worker, NOW))

    threads = [threading.Thread(target=one, args=(name,)) for name in ("bridge-a", "bridge-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    mailed = sum(len(r.mailed) for r in results if r is not None)
    assert mailed == 1
    smtp.wait_for(1)
    hook.wait_for(1)
    # The engine's own loop step: throttled to health's pace, one worker at a time.
    engine = bridge(world, "bridge-c")
    assert engine.notify() is not None and engine.notify() is None
    assert len(smtp.received) == 1 and len(hook.received) == 1


def test_webhook_deliveries_are_retried_with_backoff_and_recorded(
        world: World, hook: WebhookListener) -> None:
    hook.status = 503
    world.fake.revoke_all_tokens()
    bridge(world).work(world.connection, NOW, force_pull=True)
    assert run(world).delivered == 0
    hook.wait_for(1)
    assert run(world).delivered == 0 and len(hook.received) == 1  # not due yet
    advance(world, dt.timedelta(seconds=30))
    assert run(world).delivered == 0 and len(hook.received) == 2
    advance(world, dt.timedelta(seconds=59))
    assert run(world).delivered == 0 and len(hook.received) == 2  # 1 min after the second
    hook.status = 204
    advance(world, dt.timedelta(seconds=1))
    assert run(world).delivered == 1 and len(hook.received) == 3
    with world.runtime.db.read() as session:
        attempts = session.execute(select(WebhookAttempt.attempt, WebhookAttempt.status)
                                   .order_by(WebhookAttempt.id)).all()
        delivery = session.execute(select(WebhookDelivery)).scalar_one()
    assert [tuple(a) for a in attempts] == [(1, 503), (2, 503), (3, 204)]
    assert delivery.delivered_at is not None and delivery.attempts == 3
    bodies = {r.body for r in hook.received}
    assert len(bodies) == 1  # the same signed event each time


def test_an_smtp_server_down_is_tried_again_with_backoff(world: World, smtp: SmtpServer,
                                                        hook: WebhookListener) -> None:
    smtp.stop()  # the mail server is down
    world.fake.revoke_all_tokens()
    bridge(world).work(world.connection, NOW, force_pull=True)
    down = run(world)
    assert down.mailed == [] and len(down.mail_errors) == 1
    assert "sending through 127.0.0.1" in down.mail_errors[0]
    assert down.queued == 1 and len(hook.wait_for(1)) == 1  # the webhook hears at once
    assert run(world).mail_errors == []  # not before the backoff (1 min)
    with SmtpServer(port=smtp.port) as back:
        advance(world, dt.timedelta(minutes=1))
        up = run(world)
        assert up.mailed == [world.business] and up.queued == 0
        assert len(back.wait_for(1)) == 1
        advance(world, dt.timedelta(minutes=5))
        assert run(world).mailed == []
    assert len(hook.received) == 1
    with world.runtime.db.read() as session:
        alert = session.execute(select(SyncAlert)).scalar_one()
    assert alert.notified_at is not None and alert.mail_failures == 0


def test_an_email_the_server_keeps_refusing_is_a_failed_delivery_never_told(
        world: World, smtp: SmtpServer, hook: WebhookListener, tmp_path: Path,
        database_url: str) -> None:
    smtp.refusing = True
    world.fake.revoke_all_tokens()
    bridge(world).work(world.connection, NOW, force_pull=True)
    server = start_server(world.runtime)
    try:
        for failures in range(1, alerts.MAIL_ATTEMPTS + 1):
            report = run(world)
            assert report.mailed == [] and len(report.mail_errors) == 1, failures
            assert "451" in report.mail_errors[0]
            assert run(world).mail_errors == []  # not before its backoff
            if failures == 1:
                assert metric(server.url, "retrying") == 1.0
            advance(world, alerts.mail_backoff(failures))
        assert smtp.refused == alerts.MAIL_ATTEMPTS and smtp.received == []
        with world.runtime.db.read() as session:
            [alert] = alerts.failed_deliveries(session, world.business)
        assert alert.notified_at is None and alert.mail_failures == alerts.MAIL_ATTEMPTS
        advance(world, dt.timedelta(hours=6))
        assert run(world).mail_errors == []  # no more tries: a person decides
        assert smtp.refused == alerts.MAIL_ATTEMPTS
        assert len(hook.received) == 1  # the webhook heard of it at once, as ever
        # Visible: `bookingcal sync status`, the metrics, the admin overview.
        shown = run_cli(tmp_path, database_url, "sync", "status", clock=world.runtime.clock)
        assert shown.exit_code == 2
        [line] = [text for text in shown.output.splitlines()
                  if text.startswith("failed delivery")]
        assert "google" in line and "needs reconnecting connection" in line
        assert f"{alerts.MAIL_ATTEMPTS} attempts" in line
        assert metric(server.url, "failed") == 1.0 and metric(server.url, "retrying") == 0.0
        page = admin_sync_page(world, server.url)
        assert "E-mails not delivered" in page and "nobody was told" in page
        assert "Failed delivery" in page and "needs reconnecting" in page
        # The server takes mail again; an operator sends the failed ones again.
        smtp.refusing = False
        again = run_cli(tmp_path, database_url, "sync", "retry-mail", clock=world.runtime.clock)
        assert again.exit_code == 0 and "1 e-mail(s)" in again.output
        assert run(world).mailed == [world.business]
        [received] = smtp.wait_for(1)
        assert received.message["Subject"] == "Salon: calendar sync needs reconnecting"
        with world.runtime.db.read() as session:
            assert alerts.failed_deliveries(session) == []
            told = session.execute(select(SyncAlert)).scalar_one()
        assert told.notified_at is not None and told.mail_failures == 0
        assert metric(server.url, "failed") == 0.0
        assert "E-mails not delivered" not in admin_sync_page(world, server.url, again=True)
        shown = run_cli(tmp_path, database_url, "sync", "status", clock=world.runtime.clock)
        assert "failed delivery" not in shown.output
    finally:
        server.stop()


def metric(url: str, state: str) -> float:
    text = requests.get(url + "/metrics", timeout=20).text
    found = re.search(r'^bookingcal_sync_notification_mail\{state="' + state +
                      r'"\} ([0-9.]+)$', text, re.MULTILINE)
    assert found is not None, text[-2000:]
    return float(found.group(1))


def admin_sync_page(world: World, url: str, again: bool = False) -> str:
    if not again:
        with world.runtime.db.write() as session:
            create_user(session, world.business, "ops@salon.example", "a long password 3", NOW)
    browser = requests.Session()
    form = browser.get(url + "/admin/sign-in", timeout=20)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    signed = browser.post(url + "/admin/sign-in", timeout=20, allow_redirects=False, data={
        "csrf_token": token.group(1), "email": "ops@salon.example",
        "password": "a long password 3"})
    assert signed.status_code == 303, signed.text
    page = browser.get(url + "/admin/sync", timeout=20)
    assert page.status_code == 200, page.text
    return page.text


def test_a_wrong_smtp_password_is_a_clear_error(smtp: SmtpServer) -> None:
    from pathlib import Path as P
    from server.config import MailConfig
    config = MailConfig(host="127.0.0.1", port=smtp.port, security="starttls", user=USER,
                        password="wrong", ca_file=P(smtp.ca_file))
    with pytest.raises(mail.MailError, match="refused the login of 'bookingcal'"):
        mail.send(config, ["owner@salon.example"], "test", "body")
    assert smtp.received == []
