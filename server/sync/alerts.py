"""The health notifier, run by the bridge (server/sync/engine.py) under a lease of its own so
that one process at a time tells people, once.

Each run compares what is wrong now — per provider (server/sync/sources.py): connections that
need reconnecting, connections and calendars whose last pass failed — with the open alerts
(table sync_alerts): a new problem opens an alert, a problem gone resolves it. An alert is
told once: a connection to reconnect at once, a failure once it lasted health.failing_minutes;
the business's admin accounts get one e-mail per run listing what happened, with the link to
the page where it is fixed (an e-mail the SMTP server did not take is tried again with backoff),
and the webhook one event per alert. Nothing is repeated until the state changes; when told
problems are gone, one recovery digest (and a `sync.recovered` event each). A constant number
of queries per provider, each reading only rows with a problem through a partial index
(server/db/models/indexes.py): the cost does not grow with the number of healthy connections or
businesses. An e-mail the SMTP server refuses MAIL_ATTEMPTS times is never marked told: it
stays a failed delivery (admin overview, `bookingcal sync status`, metrics) until
`bookingcal sync retry-mail` or the problem's end."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import ConflictError
from server.db.models import NEEDS_RECONNECT_SQL, AdminUser, Business, SyncAlert, SyncJob
from server.db.scope import get_of
from server.notify import mail, webhook
from server.runtime import Runtime
from server.sync import health, leases
from server.sync.sources import KINDS, SourceKind, kinds

log = logging.getLogger(__name__)
JOB = "health-notifier"
NEEDS_RECONNECTING, FAILING = "needs_reconnecting", "failing"
MAIL_ATTEMPTS = 8  # failed e-mails about one alert before it is a failed delivery
MAIL_FIRST_WAIT = dt.timedelta(minutes=1)
MAIL_MAX_WAIT = dt.timedelta(hours=1)
CONNECTION = "connection"


@dataclass(frozen=True)
class Problem:
    """Something wrong now with one connection or one of its calendars."""

    business_id: int
    provider: str
    connection_id: int
    subject: str  # CONNECTION, "reading <calendar>" or "writing <calendar>"
    problem: str  # NEEDS_RECONNECTING or FAILING
    detail: str

    @property
    def key(self) -> tuple[str, int, str, str]:
        return self.provider, self.connection_id, self.subject, self.problem


@dataclass
class RunReport:
    """What one run of the notifier did."""

    opened: int = 0
    resolved: int = 0
    mailed: list[int] = field(default_factory=list)  # business ids e-mailed about problems
    recovered: list[int] = field(default_factory=list)  # business ids sent a recovery digest
    queued: int = 0  # webhook events
    delivered: int = 0
    mail_errors: list[str] = field(default_factory=list)


def problems(session: Session) -> list[Problem]:
    """Everything wrong now, over every provider: three queries per provider."""
    found: list[Problem] = []
    for kind in kinds():
        tables = kind.tables
        conn = tables.connection
        # Literal predicates, as the partial indexes have them (server/db/models/indexes.py): only
        # the rows with a problem are read, however many connections are healthy.
        for row in session.execute(select(conn.id, conn.business_id, conn.status,
                                          conn.last_error).where(or_(
                conn.status == literal_column(NEEDS_RECONNECT_SQL),
                conn.last_error.is_not(None)))):
            if row.status == health.NEEDS_RECONNECT:
                found.append(Problem(row.business_id, kind.name, row.id, CONNECTION,
                                     NEEDS_RECONNECTING, row.last_error or ""))
            elif row.last_error:
                found.append(Problem(row.business_id, kind.name, row.id, CONNECTION, FAILING,
                                     row.last_error))
        sides = [(tables.read_state, tables.read_state.google_calendar, "reading")]
        if tables.calendar_map is not None:  # a read-only kind (ICS) writes nothing
            sides.append((tables.calendar_map, tables.calendar_map.write_calendar, "writing"))
        for table, column, verb in sides:
            for row in session.execute(
                    select(conn.business_id, table.connection_id, column, table.last_error)
                    .join(conn, and_(conn.id == table.connection_id,
                                     conn.business_id == table.business_id))
                    .where(table.last_error.is_not(None),
                           conn.status != health.NEEDS_RECONNECT)):  # its partial index
                found.append(Problem(row.business_id, kind.name, row.connection_id,
                                     f"{verb} {row[2]}", FAILING, row.last_error))
    return found


def _claim(runtime: Runtime, worker: str, now: dt.datetime) -> int | None:
    """The notifier job's id, when this worker holds its lease."""
    with runtime.db.read() as session:
        job_id = session.execute(select(SyncJob.id).where(SyncJob.name == JOB)).scalar()
    if job_id is None:
        try:
            with runtime.db.write() as session:
                session.add(SyncJob(name=JOB))
        except (IntegrityError, ConflictError):
            pass  # another process made it
        with runtime.db.read() as session:
            job_id = session.execute(select(SyncJob.id).where(SyncJob.name == JOB)).scalar()
    if job_id is None or not leases.acquire(runtime.db, SyncJob, job_id, worker, now):
        return None
    return job_id


def run(runtime: Runtime, worker: str, now: dt.datetime) -> RunReport | None:
    """One run, if this worker gets the notifier's lease (None otherwise)."""
    job_id = _claim(runtime, worker, now)
    if job_id is None:
        return None
    try:
        report = RunReport()
        _track(runtime, now, report)
        _tell(runtime, now, report)
        report.delivered = webhook.deliver_due(runtime.db, runtime.config.webhook, now)
        with runtime.db.write() as session:
            job = session.get(SyncJob, job_id)
            if job is not None:
                job.last_run_at = now
        return report
    finally:
        leases.release(runtime.db, SyncJob, job_id, worker)


def _track(runtime: Runtime, now: dt.datetime, report: RunReport) -> None:
    """Open an alert per new problem, resolve those gone."""
    with runtime.db.write() as session:
        current = {problem.key: problem for problem in problems(session)}
        open_alerts = list(session.execute(select(SyncAlert).where(
            SyncAlert.resolved_at.is_(None))).scalars())
        seen = set()
        for alert in open_alerts:
            key = (alert.provider, alert.connection_id, alert.subject, alert.problem)
            problem = current.get(key)
            if problem is None or key in seen:
                alert.resolved_at = now
                alert.mail_failures, alert.retry_at = 0, None
                report.resolved += 1
                continue
            seen.add(key)
            alert.detail = problem.detail
        for key, problem in current.items():
            if key not in seen:
                session.add(SyncAlert(
                    business_id=problem.business_id, provider=problem.provider,
                    connection_id=problem.connection_id, subject=problem.subject,
                    problem=problem.problem, detail=problem.detail, first_seen_at=now))
                report.opened += 1


def _due(alert: SyncAlert, now: dt.datetime, failing_after: dt.timedelta) -> bool:
    return alert.problem == NEEDS_RECONNECTING or now - alert.first_seen_at >= failing_after


def _waiting(alert: SyncAlert, now: dt.datetime) -> bool:
    """Whether a failed e-mail about `alert` waits for its next try."""
    return alert.retry_at is not None and alert.retry_at > now


def mail_backoff(failures: int) -> dt.timedelta:
    """The wait before trying an e-mail again after `failures` failures."""
    return min(MAIL_MAX_WAIT, MAIL_FIRST_WAIT * (2 ** max(0, failures - 1)))


def _tell(runtime: Runtime, now: dt.datetime, report: RunReport) -> None:
    """E-mail and queue webhook events for alerts due and recoveries not yet told."""
    config = runtime.config
    failing_after = dt.timedelta(minutes=config.health.failing_minutes)
    with runtime.db.read() as session:
        untold = [alert for alert in session.execute(select(SyncAlert).where(
            SyncAlert.resolved_at.is_(None), SyncAlert.notified_at.is_(None),
            SyncAlert.mail_failures < MAIL_ATTEMPTS)).scalars()
            if _due(alert, now, failing_after) and not _waiting(alert, now)]
        recovered = [alert for alert in session.execute(select(SyncAlert).where(
            SyncAlert.recovered_sent_at.is_(None), SyncAlert.resolved_at.is_not(None))
        ).scalars() if alert.notified_at is None or (
            not _waiting(alert, now) and alert.mail_failures < MAIL_ATTEMPTS)]
        session.expunge_all()
        businesses = {alert.business_id for alert in untold + recovered}
        names = {business_id: name for business_id, name in session.execute(
            select(Business.id, Business.name).where(Business.id.in_(businesses)))}
        admins: dict[int, list[str]] = defaultdict(list)
        if businesses:
            for business_id, email in session.execute(
                    select(AdminUser.business_id, AdminUser.email).where(
                        AdminUser.business_id.in_(businesses)).order_by(AdminUser.id)):
                admins[business_id].append(email)
    by_business: dict[int, list[SyncAlert]] = defaultdict(list)
    for alert in untold:
        by_business[alert.business_id].append(alert)
    for business_id, alerts in by_business.items():
        subject, body = problem_mail(config.public_link, names.get(business_id, ""), alerts)
        if _deliver(runtime, now, admins[business_id], subject, body, alerts,
                    Step("notified_at", "sync.problem", "problem_queued"), report):
            report.mailed.append(business_id)
    done: dict[int, list[SyncAlert]] = defaultdict(list)
    for alert in recovered:
        done[alert.business_id].append(alert)
    for business_id, alerts in done.items():
        told = [alert for alert in alerts if alert.notified_at is not None]
        silent = [alert.id for alert in alerts if alert.notified_at is None]
        if silent:  # resolved before an e-mail told anyone: no digest
            with runtime.db.write() as session:
                for alert_id in silent:
                    row = get_of(session, SyncAlert, business_id, alert_id)
                    if row is None:
                        continue
                    row.recovered_sent_at = now
                    if row.problem_queued and not row.recovery_queued \
                            and config.webhook.configured:  # the webhook heard of it
                        webhook.queue(session, row.business_id, "sync.recovered",
                                      _payload(row), now)
                        row.recovery_queued = True
                        report.queued += 1
        if told:
            subject, body = recovery_mail(config.public_link, names.get(business_id, ""), told)
            if _deliver(runtime, now, admins[business_id], subject, body, told,
                        Step("recovered_sent_at", "sync.recovered", "recovery_queued"),
                        report):
                report.recovered.append(business_id)


@dataclass(frozen=True)
class Step:
    """What telling marks: the column set once told, the webhook event and its flag."""

    column: str
    event: str
    queued: str


def _deliver(runtime: Runtime, now: dt.datetime, to: list[str], subject: str, body: str,
             alerts: list[SyncAlert], step: Step, report: RunReport) -> bool:
    """Queue each alert's webhook event (once) and send the e-mail; an e-mail that fails is
    tried again with backoff, MAIL_ATTEMPTS times at most. Whether the e-mail went."""
    sent: bool | None = None  # None: no e-mail to send (no [mail], no admin account)
    if runtime.config.mail.configured and to:
        sent = _mail(runtime, to, subject, body, report)
    with runtime.db.write() as session:
        for alert in alerts:
            row = get_of(session, SyncAlert, alert.business_id, alert.id)
            if row is None:
                continue
            if runtime.config.webhook.configured and not getattr(row, step.queued):
                webhook.queue(session, row.business_id, step.event, _payload(row), now)
                setattr(row, step.queued, True)
                report.queued += 1
            if sent is False:  # never marked told: nobody was
                row.mail_failures += 1
                if row.mail_failures < MAIL_ATTEMPTS:
                    row.retry_at = now + mail_backoff(row.mail_failures)
                else:  # a failed delivery, shown (failed_deliveries) until fixed or resolved
                    row.retry_at = None
                    log.warning("notification e-mail of alert %d not delivered after %d "
                                "attempts; shown as a failed delivery", row.id,
                                row.mail_failures)
                continue
            setattr(row, step.column, now)
            row.mail_failures, row.retry_at = 0, None
    return bool(sent)


def failed(alert: SyncAlert) -> bool:
    """Whether the e-mail about `alert` is a failed delivery (MAIL_ATTEMPTS attempts failed)."""
    return alert.mail_failures >= MAIL_ATTEMPTS


def failed_deliveries(session: Session, business_id: int | None = None) -> list[SyncAlert]:
    """E-mails about sync problems (or their recovery) that the SMTP server never took after
    MAIL_ATTEMPTS tries (of one business, or all), newest problem first: nobody was told.
    Cleared when one is sent (`bookingcal sync retry-mail`) or the alert is resolved."""
    scope = [SyncAlert.business_id == business_id] if business_id is not None else []
    return list(session.execute(select(SyncAlert).where(  # ix_sync_alerts_undelivered
        SyncAlert.mail_failures > literal_column("0"),
        SyncAlert.mail_failures >= MAIL_ATTEMPTS, *scope).order_by(
        SyncAlert.first_seen_at.desc(), SyncAlert.id)).scalars())


def mail_counts(session: Session) -> tuple[int, int]:
    """(e-mails waiting to be tried again, failed deliveries): one query, counts only."""
    retrying = func.sum(case((and_(SyncAlert.mail_failures > 0,
                                   SyncAlert.mail_failures < MAIL_ATTEMPTS), 1), else_=0))
    failed = func.sum(case((SyncAlert.mail_failures >= MAIL_ATTEMPTS, 1), else_=0))
    row = session.execute(select(retrying, failed).where(  # ix_sync_alerts_undelivered
        SyncAlert.mail_failures > literal_column("0"))).one()
    return int(row[0] or 0), int(row[1] or 0)


def retry_failed(session: Session, now: dt.datetime, business_id: int | None = None) -> int:
    """Try the failed deliveries (of one business, or all) again at the notifier's next run,
    with their backoff starting over; how many."""
    rows = failed_deliveries(session, business_id)
    for row in rows:
        row.mail_failures, row.retry_at = 0, now
    return len(rows)


def _mail(runtime: Runtime, to: list[str], subject: str, body: str,
          report: RunReport) -> bool:
    try:
        mail.send(runtime.config.mail, to, subject, body)
        return True
    except mail.MailError as exc:
        log.warning("notification e-mail not sent: %s", exc)
        report.mail_errors.append(str(exc))
        return False


def _payload(alert: SyncAlert) -> dict[str, Any]:
    kind = KINDS.get(alert.provider)
    return {"provider": alert.provider, "connection_id": alert.connection_id,
            "subject": alert.subject, "problem": alert.problem, "detail": alert.detail,
            "since": alert.first_seen_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "fix_path": kind.reconnect_path if kind is not None else None}


def _what(kind: SourceKind | None, alert: SyncAlert) -> str:
    label = kind.label if kind is not None else alert.provider
    if alert.problem == NEEDS_RECONNECTING:
        return (f"The {label} connection needs reconnecting: {label} refused its "
                f"credentials (a password changed, access revoked, or an expired sign-in). "
                f"Nothing is synced with {label} until it is reconnected.")
    where = "the connection" if alert.subject == CONNECTION else f"{alert.subject}"
    return f"{label} sync keeps failing ({where}): {alert.detail}"


def problem_mail(link: Any, business: str, alerts: list[SyncAlert]) -> tuple[str, str]:
    """Subject and body of the e-mail about `alerts` of one business."""
    reconnect = any(alert.problem == NEEDS_RECONNECTING for alert in alerts)
    subject = (f"{business}: calendar sync needs reconnecting" if reconnect
               else f"{business}: calendar sync keeps failing")
    lines = [f"Calendar sync of {business} needs your attention.", ""]
    for alert in alerts:
        kind = KINDS.get(alert.provider)
        lines.append("- " + _what(kind, alert))
        lines.append(f"  Since {alert.first_seen_at:%Y-%m-%d %H:%M} UTC. Fix it here: "
                     f"{link(kind.reconnect_path if kind is not None else '/admin/sync')}")
    lines += ["", "Until then, online booking may offer times that are no longer free "
              "(see the business's stale-data policy).",
              f"All connections: {link('/admin/sync')}", "",
              "You get this message once; another comes when it is fixed."]
    return subject, "\n".join(lines) + "\n"


def recovery_mail(link: Any, business: str, alerts: list[SyncAlert]) -> tuple[str, str]:
    """Subject and body of the recovery digest of one business."""
    lines = [f"Calendar sync of {business} works again:", ""]
    for alert in alerts:
        kind = KINDS.get(alert.provider)
        label = kind.label if kind is not None else alert.provider
        what = "reconnected" if alert.problem == NEEDS_RECONNECTING else \
            f"{alert.subject} recovered"
        until = f"{alert.resolved_at:%Y-%m-%d %H:%M}" if alert.resolved_at else "now"
        lines.append(f"- {label}: {what} (a problem from "
                     f"{alert.first_seen_at:%Y-%m-%d %H:%M} to {until} UTC)")
    lines += ["", f"All connections: {link('/admin/sync')}"]
    return f"{business}: calendar sync works again", "\n".join(lines) + "\n"
