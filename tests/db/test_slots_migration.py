"""Migration 0013 (the `slots` profile) keeps every link and its chosen calendars on SQLite and
PostgreSQL: down to 0012 (slots links go, the others and their link_calendars rows stay) and up
again (a slots link can be made, the rows are still there)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.db.migrate import MIGRATIONS, upgrade
from server.db.models import Link, LinkCalendar
from server.domain import links
from server.domain.businesses import create_business
from server.domain.calendars import create_calendar
from server.domain.services import create_service
from support import NOW, make_runtime


def _downgrade(engine: object, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:  # type: ignore[attr-defined]
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def test_links_and_their_calendars_survive_0013_both_ways(tmp_path: Path,
                                                          database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url)
    db = runtime.db
    with db.write() as session:
        business = create_business(session, name="Salon", timezone="UTC", now=NOW).id
        calendar = create_calendar(session, business, name="Anna", now=NOW).id
        service = create_service(session, business, name="Cut", duration_minutes=30,
                                 now=NOW).id
        kept, _ = links.create_link(session, runtime.keyring, business, scope="calendar",
                                    profile="busy", calendar_ids=[calendar], now=NOW)
        kept_id = kept.id
        links.create_link(session, runtime.keyring, business, scope="calendar",
                          profile="slots", calendar_ids=[calendar], service_id=service, now=NOW)
    engine = db.engine
    _downgrade(engine, "0012")
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id, profile FROM links").all()
        assert [tuple(r) for r in rows] == [(kept_id, "busy")]
        assert connection.exec_driver_sql(
            "SELECT count(*) FROM link_calendars").scalar_one() == 1
    with pytest.raises(IntegrityError):  # the old check is back
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE links SET profile = 'slots'")
    upgrade(engine)
    with db.write() as session:
        links.create_link(session, runtime.keyring, business, scope="all", profile="slots",
                          service_id=service, now=NOW)
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(LinkCalendar)).scalar_one() == 1
        assert sorted(session.execute(select(Link.profile)).scalars()) == ["busy", "slots"]
