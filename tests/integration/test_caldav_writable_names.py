"""Names a writable account's phone gives what it makes (server/domain/resource_names.py): a
personal calendar and an item named with spaces, "@", non-ASCII letters and a literal "%" (sent
percent-encoded in UTF-8, as vdirsyncer's test_specialchars does) are stored and served back
under the same href, by GET, PROPFIND, calendar-multiget and python-caldav; hostile names (a
control character, an encoded slash, a leading dot, too long, bad UTF-8) are a 4xx with the
reason and nothing is stored. Long UIDs as real clients make them (Outlook's 112+ hex digits,
URLs) work up to 255 characters; a longer one is refused. A read-only link still answers such
paths 404.
Over real HTTP with requests and python-caldav, on the injected clock (support.NOW)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlsplit

import requests

from support import Api, Salon, make_link
from test_caldav_writable import (  # noqa: F401  (fixtures)
    Phone, api, changes, event_text, salon, writable_link,
)
from test_caldav_writable_tasks import task_text

D, C = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
COLLECTION = "test @ foo ät bar-vdirsyncer-ci-2c7a6a51-3bbf-4a55-9b8e-0d6f2b9c7e10"
UID = "test @ foo ät bar град сатану"
# An Outlook/Exchange UID (a Global Object ID in hex) as an iPhone copies an invitation: 150.
OUTLOOK_UID = ("040000008200E00074C5B7101A82E00800000000" "D0F1B4E3A5C2DA01000000000000000010000000"
               "7C2B2F6C8E4A3D4B9F1E5A6B7C8D9E0F" + "A1B2C3D4E5F60718" * 2 + "9A8B3C")
# A task's UID made of a client's ids and host, with spaces and "@": 200 characters.
TASK_UID = "reminder " + "b7e1c2d3-4f5a-6b7c-8d9e-0f1a2b3c4d5e " * 4 \
    + "05f4e3d2c1b0-errands1@reminders.example.com"


def hrefs(phone: Phone, url: str) -> list[str]:
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop>'
            '</D:propfind>')
    answer = requests.request("PROPFIND", url, data=body, auth=phone.auth, timeout=30,
                              headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    return sorted(href.text or "" for href in ET.fromstring(answer.content).iter(D + "href"))


def test_special_characters_round_trip_under_the_same_href(api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    home = phone.url.rsplit("/", 2)[0] + "/"
    collection_url = home + quote(COLLECTION) + "/"
    made = requests.request("MKCALENDAR", collection_url, auth=phone.auth, timeout=30)
    assert made.status_code == 201, made.text
    listed = api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}"
                           "/personal-calendars")["items"]
    assert [p["slug"] for p in listed] == [COLLECTION]
    sent: dict[str, bytes] = {}
    for uid, day in ((UID, "03"), ("50%off, 'quoted' *star*", "04")):
        url = collection_url + quote(uid) + ".ics"
        text = event_text(uid, f"202612{day}T100000", f"202612{day}T110000", "Errand")
        put = requests.put(url, data=text.encode(), auth=phone.auth, timeout=30,
                           headers={"Content-Type": "text/calendar; charset=utf-8"})
        assert put.status_code == 201, put.text
        got = requests.get(url, auth=phone.auth, timeout=30)
        assert got.status_code == 200 and got.content == text.encode(), got.text
        assert got.headers["ETag"] == put.headers["ETag"]
        sent[uid] = text.encode()
    # The listing names them percent-encoded; decoded, they are the names sent.
    base = urlsplit(collection_url).path
    found = hrefs(phone, collection_url)
    assert [unquote(h) for h in found] == sorted(
        [unquote(base)] + [unquote(base) + uid + ".ics" for uid in sent])
    # A multiget by those hrefs, and python-caldav, read the texts back as sent.
    body = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
            '</D:prop>' + "".join(f"<D:href>{h}</D:href>" for h in found if h != base)
            + "</C:calendar-multiget>")
    answer = requests.request("REPORT", collection_url, data=body.encode(), auth=phone.auth,
                              timeout=30, headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    datas = sorted((el.text or "").replace("\r\n", "\n").replace("\n", "\r\n").encode()
                   for el in ET.fromstring(answer.content).iter(C + "calendar-data"))
    assert datas == sorted(sent.values())
    calendar = next(c for c in phone.client.principal().calendars()
                    if unquote(str(c.url)).rstrip("/").endswith(COLLECTION))
    assert sorted(str(e.icalendar_component["UID"]) for e in calendar.events()) == sorted(sent)
    # DELETE by the same href removes it.
    assert requests.delete(collection_url + quote(UID) + ".ics", auth=phone.auth,
                           timeout=30).status_code == 204
    assert len(hrefs(phone, collection_url)) == 2
    # A UID with spaces works in the employee's own calendar too.
    url = phone.url + quote("lunch with Zoë") + ".ics"
    assert requests.put(url, auth=phone.auth, timeout=30, data=event_text(
        "lunch with Zoë", "20261205T120000", "20261205T130000").encode()).status_code == 201
    assert requests.get(url, auth=phone.auth, timeout=30).status_code == 200


def test_long_uids_of_real_clients_round_trip_and_longer_ones_are_refused(
        api: Api, salon: Salon) -> None:
    assert (len(OUTLOOK_UID), len(TASK_UID)) == (150, 200)
    phone = Phone(writable_link(api, salon))
    url = phone.url + OUTLOOK_UID + ".ics"
    text = event_text(OUTLOOK_UID, "20261203T100000", "20261203T110000", "Team sync",
                      "RRULE:FREQ=WEEKLY;COUNT=3\r\n")
    put = phone.put(OUTLOOK_UID, text, **{"If-None-Match": "*"})
    assert put.status_code == 201, put.text
    got = phone.get(OUTLOOK_UID)
    assert got.status_code == 200 and got.content == text.encode(), got.text
    assert got.headers["ETag"] == put.headers["ETag"]
    # Listed under the same href; python-caldav finds it by its UID there.
    assert hrefs(phone, phone.url) == sorted([urlsplit(phone.url).path, urlsplit(url).path])
    event = phone.calendar.event_by_uid(OUTLOOK_UID)
    assert str(event.url) == url
    assert str(event.icalendar_component["UID"]) == OUTLOOK_UID
    journaled = [c for c in changes(api, salon) if c["uid"] == OUTLOOK_UID]
    assert [c["action"] for c in journaled] == ["put"]
    # Edited (If-Match, then python-caldav), then deleted under the same href.
    edited = text.replace("Team sync", "Team sync moved")
    again = phone.put(OUTLOOK_UID, edited, **{"If-Match": put.headers["ETag"]})
    assert again.status_code == 204, again.text
    assert phone.get(OUTLOOK_UID).content == edited.encode()
    event = phone.calendar.event_by_uid(OUTLOOK_UID)
    event.icalendar_component["SUMMARY"] = "Team sync in room 4"
    event.save()
    assert "Team sync in room 4" in phone.get(OUTLOOK_UID).text
    assert phone.delete(OUTLOOK_UID, **{"If-Match": phone.get(OUTLOOK_UID).headers["ETag"]}
                        ).status_code == 204
    assert phone.get(OUTLOOK_UID).status_code == 404
    journaled = [c for c in changes(api, salon) if c["uid"] == OUTLOOK_UID]
    assert journaled[-1]["action"] == "delete"
    assert journaled[-1]["actor"] == f"link:{phone.link['id']}"
    # A task with a long UID, in a personal calendar.
    collection_url = phone.url.rsplit("/", 2)[0] + "/errands/"
    made = requests.request("MKCALENDAR", collection_url, auth=phone.auth, timeout=30)
    assert made.status_code == 201, made.text
    task_url = collection_url + quote(TASK_UID, safe="") + ".ics"
    task = task_text(TASK_UID)
    answer = requests.put(task_url, data=task.encode(), auth=phone.auth, timeout=30,
                          headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert answer.status_code == 201, answer.text
    got = requests.get(task_url, auth=phone.auth, timeout=30)
    assert got.status_code == 200 and got.content == task.encode(), got.text
    assert [unquote(h) for h in hrefs(phone, collection_url)] == [
        urlsplit(collection_url).path, urlsplit(collection_url).path + TASK_UID + ".ics"]
    assert requests.delete(task_url, auth=phone.auth, timeout=30).status_code == 204
    # 256 characters: refused with the reason, under its own name or another; nothing stored.
    long_uid = OUTLOOK_UID + "0" * 106
    for name in (long_uid, "short-name"):
        answer = phone.put(name, event_text(long_uid, "20261203T100000", "20261203T110000"))
        assert answer.status_code == 400, (name, answer.text)
        assert "at most 255 characters (this one has 256)" in answer.text, answer.text
    answer = requests.put(task_url.replace(".ics", "y.ics"), auth=phone.auth, timeout=30,
                          data=task_text(TASK_UID + "y" * 56).encode())
    assert answer.status_code == 400 and "at most 255" in answer.text, answer.text
    assert hrefs(phone, phone.url) == [urlsplit(phone.url).path]
    assert hrefs(phone, collection_url) == [urlsplit(collection_url).path]
    assert not [c for c in changes(api, salon) if len(c["uid"]) > 255]


def test_hostile_names_are_refused_with_the_reason_and_nothing_is_stored(
        api: Api, salon: Salon) -> None:
    phone = Phone(writable_link(api, salon))
    home = phone.url.rsplit("/", 2)[0] + "/"
    cases = {
        "line%0Afeed": "control",
        "nul%00byte": "control",
        "bidi%E2%80%AEtxt": "control",
        "a%2Fb": "slash",
        "back%5Cslash": "slash",
        "x" * 256: "at most 255",
        "bad%FFutf8": "UTF-8",
    }
    for name, reason in cases.items():
        sent_uid = unquote(name, errors="replace")
        answer = requests.put(f"{phone.url}{name}.ics", auth=phone.auth, timeout=30,
                              data=event_text(sent_uid, "20261203T100000",
                                              "20261203T110000").encode())
        assert answer.status_code in (400, 403), (name, answer.status_code)
        assert reason in answer.text, (name, answer.text)
    # Dot names (path traversal) never reach an item.
    for name in ("..", ".hidden"):
        answer = requests.put(f"{phone.url}{name}.ics", auth=phone.auth, timeout=30,
                              data=event_text(name, "20261203T100000",
                                              "20261203T110000").encode())
        assert answer.status_code in (400, 403, 404), (name, answer.status_code)
    for name, reason in (("c" * 129, "at most 128"), ("tab%09cal", "control")):
        answer = requests.request("MKCALENDAR", f"{home}{name}/", auth=phone.auth, timeout=30)
        assert answer.status_code == 400 and reason in answer.text, (name, answer.text)
    # The UID inside the body is checked as the name is.
    answer = phone.put("ok-name", event_text("ok-name\u202etxt", "20261203T100000",
                                             "20261203T110000"))
    assert answer.status_code == 400
    assert hrefs(phone, phone.url) == [urlsplit(phone.url).path]
    assert api.ok("GET", f"/businesses/{salon.business}/calendars/{salon.calendar}"
                         "/personal-calendars")["items"] == []


def test_a_read_only_link_answers_such_names_404(api: Api, salon: Salon) -> None:
    link = make_link(api, salon.business, scope="calendar", calendar_ids=[salon.calendar])
    account = link["caldav"]
    auth = (account["username"], account["password"])
    calendar_url = account["server"].rstrip("/") + "/"
    principal = requests.request("PROPFIND", calendar_url, auth=auth, timeout=30,
                                 headers={"Depth": "0"})
    assert principal.status_code == 207
    answer = requests.get(calendar_url + quote("test @ foo ät bar") + ".ics", auth=auth,
                          timeout=30)
    assert answer.status_code == 404
