"""The fast path's answers: each plan (server/publishing/davfast/plan.py) written as Radicale would write
it, from lean column queries (server/publishing/davfast/rows.py) for what needs no text and from the
publisher (rendered text, its cache) for what does. Item responses are strings
(server/publishing/davfast/xmlout.py) spooled to bounded memory (server/publishing/davfast/answer.py).

Where Radicale's answer depends on more than the rows (the collection's own <response>, an
invalid sync token, a repeating item under a time range), Radicale itself is asked: its
Depth-0 answer is spliced in, its storage's `sync` validates tokens, its filter decides."""

from __future__ import annotations

import copy
import posixpath
import re
import string
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import unquote, urlparse

from radicale import pathutils
from radicale.app.report import test_filter
from radicale.item import filter as radicale_filter

from server.publishing.dav_context import DavRequest
from server.publishing.davfast import rows, xmlout
from server.publishing.davfast.answer import STREAMING, Body, Part, Sendable, finish, wants_gzip
from server.publishing.davfast.plan import CALENDAR_DATA, Plan
from server.publishing.etags import etag_head, etags_of
from server.publishing.publish import Published
from server.storage_backend import Collection, _document, _instant, http_date

D = "{DAV:}"
CONTENT_TYPE = "text/calendar;charset=utf-8;component=VEVENT"
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
DAV_HEADER = "1, 2, 3, calendar-access, addressbook, extended-mkcol"
# Radicale's [reporting] max_expand_occurrence as the mount configures it: more VEVENTs in
# calendar-data than this and Radicale answers 400.
MAX_OCCURRENCE = 2000
TEXT_BATCH = 500
FIRST_HREF = re.compile(rb"<href>([^<]*)</href>")
# What `quote` leaves as it is: such a name needs neither quoting nor XML escaping.
UNQUOTED = re.compile(r"[A-Za-z0-9_.\-~/]*")
_DROP_UNQUOTED = str.maketrans("", "", string.ascii_letters + string.digits + "_.-~/")


def unquoted(text: str) -> bool:
    """`UNQUOTED.fullmatch(text)`, by one C-level pass (a whole chunk's UIDs at once)."""
    return not text.translate(_DROP_UNQUOTED)
RadicaleCall = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class TooManyEvents(Exception):
    """More VEVENTs in calendar-data than Radicale allows in one REPORT."""


def vevents_reference(text: str) -> int:
    """The VEVENTs Radicale counts in served calendar-data: lines that are BEGIN:VEVENT in
    upper case."""
    return sum(1 for line in text.splitlines() if line.upper() == "BEGIN:VEVENT")


# Characters where a regular expression over the text could disagree with
# `vevents_reference`: line breaks of `str.splitlines` other than CR and LF, and letters whose
# upper case holds ASCII letters (dotless i is "I").
_ODD = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029\u00df\u0131\u0149\u017f\u01f0"
                  "\u1e96-\u1e9a\ufb00-\ufb06]")
_BEGIN_VEVENT = re.compile(r"(?:^|(?<=[\r\n]))BEGIN:VEVENT(?=[\r\n]|\Z)",
                           re.IGNORECASE | re.ASCII)


def vevents(text: str) -> int:
    """`vevents_reference` by one scan of the text (equal: tests/unit/test_davfast_text.py)."""
    if _ODD.search(text) is not None:
        return vevents_reference(text)
    return len(_BEGIN_VEVENT.findall(text))


def _bad_request(accept_encoding: str) -> Sendable:
    return finish("400 Bad Request", {"Content-Type": "text/plain; charset=utf-8"},
                  Body([b"Bad Request"]), accept_encoding)


class ItemWriter:
    """One item <response> of a REPORT: found props (200) then the rest (404), as Radicale's
    `xml_item_response` writes them."""

    def __init__(self, props: list[str]) -> None:
        self.props = props
        self.not_found = [xmlout.empty(tag) for tag in props
                          if tag not in (D + "getetag", D + "getcontenttype", CALENDAR_DATA)]
        self.vevents = 0
        self.written = 0

    def write(self, part: Part, href: str, etag: str, text: str | None) -> None:
        if not self.props:
            return  # Radicale appends no <response> without properties
        found = []
        for tag in self.props:
            if tag == D + "getetag":
                found.append(xmlout.element(tag, etag))
            elif tag == D + "getcontenttype":
                found.append(xmlout.element(tag, CONTENT_TYPE))
            elif tag == CALENDAR_DATA:
                assert text is not None
                found.append(xmlout.element(tag, text))
                self.vevents += vevents(text)
                if self.vevents > MAX_OCCURRENCE:
                    raise TooManyEvents()
        stats = []
        if found:
            stats.append(xmlout.propstat(found, xmlout.OK))
        if self.not_found:
            stats.append(xmlout.propstat(self.not_found, xmlout.NOT_FOUND))
        part.write(xmlout.response(href, stats))
        self.written += 1


class FastPath:
    """Answers the plans; `radicale` is the mounted Radicale (asked for the collection's own
    response), called with the request context already set."""

    def __init__(self, radicale: RadicaleCall) -> None:
        self.radicale = radicale

    def answer(self, plan: Plan, request: DavRequest, env: dict[str, Any]) -> Sendable | None:
        """The whole answer, or None when Radicale must answer after all."""
        accept = env.get("HTTP_ACCEPT_ENCODING", "")
        base_prefix = env.get("SCRIPT_NAME", "").rstrip("/")
        if plan.kind == "get":
            return self._get(plan, request, env, accept)
        if plan.kind == "propfind":
            return self._propfind(plan, request, env, accept)
        collection = Collection(plan.collection_path, plan.calendar)
        body = Body()
        packed = STREAMING and wants_gzip(accept)  # compressed as written (answer.py)
        missing, found = Part(packed), Part(packed)
        try:
            writer = ItemWriter(plan.props)
            if plan.kind == "sync":
                token = self._sync(plan, request, collection, base_prefix, writer, missing,
                                   found)
                if token is None:
                    missing.close()
                    found.close()
                    return None
                head = f"<sync-token>{xmlout.escape(token)}</sync-token>"
            elif plan.kind == "multiget":
                if not self._multiget(plan, request, collection, base_prefix, writer, missing,
                                      found):
                    missing.close()
                    found.close()
                    return None
                head = ""
            else:
                self._query(plan, request, collection, base_prefix, writer, found)
                head = ""
        except TooManyEvents:
            missing.close()
            found.close()
            return _bad_request(accept)
        except ValueError:  # Radicale's filter refused the query: its 400
            missing.close()
            found.close()
            return _bad_request(accept)
        except BaseException:  # a database error: nothing was sent, the mount answers 503
            missing.close()
            found.close()
            raise
        namespaces = {xmlout.split_clark(tag)[0] for tag in plan.props} if writer.written \
            else set()
        if not head and missing.is_empty() and found.is_empty():
            # ElementTree writes a multistatus without children as an empty element.
            missing.close()
            found.close()
            body.add((xmlout.root_open(namespaces)[:-1] + " />").encode())
        else:
            body.add((xmlout.root_open(namespaces) + head).encode())
            body.add(missing)
            body.add(found)
            body.add(xmlout.ROOT_CLOSE.encode())
        return finish("207 Multi-Status", XML_HEADERS, body, accept)

    # --- GET and HEAD of an item ---------------------------------------------------------

    def _get(self, plan: Plan, request: DavRequest, env: dict[str, Any],
             accept: str) -> Sendable | None:
        """The item's document with Radicale's headers; a missing item is left to Radicale
        (its 404)."""
        item = request.publisher.by_uid(plan.calendar, plan.hrefs[0][:-4])
        if item is None:
            return None
        headers = {"Content-Type": "text/calendar; charset=utf-8",
                   "Last-Modified": http_date(item.updated), "ETag": item.etag}
        answer = finish("200 OK", headers, Body([_document(item).encode()]), accept)
        if env.get("REQUEST_METHOD", "").upper() == "HEAD":
            answer.body.close()
            answer.body = Body()  # the headers (Content-Length too) stay those of a GET
        return answer

    # --- PROPFIND Depth 1 ---------------------------------------------------------------

    def _collection_response(self, env: dict[str, Any]) -> bytes | None:
        """Radicale's own Depth-0 answer for the collection, uncompressed, or None."""
        held: list[Any] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            held[:] = [status, headers]

        sub = dict(env, HTTP_DEPTH="0")
        sub.pop("HTTP_ACCEPT_ENCODING", None)
        body = env["wsgi.input"].getvalue()
        sub["wsgi.input"] = type(env["wsgi.input"])(body)
        answer = b"".join(self.radicale(sub, hold))
        if not held or not held[0].startswith("207"):
            return None
        return answer

    def _propfind(self, plan: Plan, request: DavRequest, env: dict[str, Any],
                  accept: str) -> Sendable | None:
        collection_answer = self._collection_response(env)
        if collection_answer is None:
            return None
        end = collection_answer.rfind(b"</multistatus>")
        first = FIRST_HREF.search(collection_answer)
        if end < 0 or first is None:
            return None
        prefix = first.group(1).decode()
        if not prefix.endswith("/"):
            return None
        modified = D + "getlastmodified" in plan.props
        template = _propfind_template(plan.props)
        part = Part(STREAMING and wants_gzip(accept))  # compressed as written (answer.py)
        try:
            for kind, chunk in rows.listing(request.session, plan.calendar, modified):
                part.write(_responses(template, prefix, request, plan, kind, chunk, modified))
        except BaseException:
            part.close()
            raise
        body = Body([collection_answer[:end], part, collection_answer[end:]])
        return finish("207 Multi-Status", {"DAV": DAV_HEADER, **XML_HEADERS}, body, accept)

    # --- sync-collection ----------------------------------------------------------------

    def _sync(self, plan: Plan, request: DavRequest, collection: Collection, base_prefix: str,
              writer: ItemWriter, missing: Part, found: Part) -> str | None:
        try:
            token, names = collection.sync(plan.token)
        except ValueError:
            return None  # Radicale answers the valid-sync-token precondition itself
        if not plan.token:
            self._write_rows(plan, request, base_prefix, writer, found,
                             rows.members(request.session, plan.calendar))
            return token
        self._write_names(plan, request, base_prefix, writer, missing, found, list(names))
        return token

    # --- calendar-multiget --------------------------------------------------------------

    def _multiget(self, plan: Plan, request: DavRequest, collection: Collection,
                  base_prefix: str, writer: ItemWriter, missing: Part, found: Part) -> bool:
        references: dict[str, None] = {}
        for text in plan.hrefs:
            path = pathutils.sanitize_path(unquote(urlparse(text).path))
            if (path + "/").startswith(base_prefix + "/"):
                references[path[len(base_prefix):]] = None
        # Radicale's `name_from_path` on each (already sanitised) reference, its prefix
        # computed once.
        start = pathutils.unstrip_path(collection.path, True)
        names = []
        for reference in references:
            name = reference[len(start):]
            if not (reference + "/").startswith(start) or (
                    name and not pathutils.is_safe_path_component(name)):
                missing.write(xmlout.missing(xmlout.href(base_prefix, reference)))
                continue
            if not name:
                return False  # the collection itself: Radicale lists it through its filters
            names.append(name)
        self._write_names(plan, request, base_prefix, writer, missing, found, names)
        return True

    # --- shared by sync and multiget ----------------------------------------------------

    def _href(self, base_prefix: str, plan: Plan, name: str) -> str:
        return xmlout.href(base_prefix, pathutils.unstrip_path(
            posixpath.join(plan.collection_path, name)))

    def _member_prefix(self, base_prefix: str, plan: Plan) -> str:
        """The collection's href with its trailing slash: an item's href is this and its
        quoted name (quoting works character by character)."""
        return xmlout.href(base_prefix, pathutils.unstrip_path(plan.collection_path, True))

    def _write_names(self, plan: Plan, request: DavRequest, base_prefix: str,
                     writer: ItemWriter, missing: Part, found: Part, names: list[str]) -> None:
        """Members named by href (as the storage's `get_multi` finds them): 404 for those not
        shown, in order, then the found ones in the order asked (kinds interleaved)."""
        wanted = list(dict.fromkeys(names))
        uids = [name[:-4] for name in wanted if name.endswith(".ics")]
        if plan.wants_text:
            # With their texts in one query per kind (the publisher renders what its cache
            # lacks), by the unique uid index.
            items = {item.uid: item for item in request.publisher.by_uids(plan.calendar, uids)}
            shown: list[Published] = []
            for name in wanted:
                item = items.get(name[:-4]) if name.endswith(".ics") else None
                if item is None:
                    missing.write(xmlout.missing(self._href(base_prefix, plan, name)))
                else:
                    shown.append(item)
            prefix = self._member_prefix(base_prefix, plan)
            for item in shown:
                writer.write(found, prefix + _quoted(item.href), item.etag, _document(item))
            return
        known = rows.by_uids(request.session, plan.calendar, uids)
        listed: list[tuple[str, rows.Row]] = []
        for name in wanted:
            entry = known.get(name[:-4]) if name.endswith(".ics") else None
            if entry is None:
                missing.write(xmlout.missing(self._href(base_prefix, plan, name)))
            else:
                listed.append(entry)
        self._write_rows(plan, request, base_prefix, writer, found,
                         ((kind, [row]) for kind, row in listed))

    def _write_rows(self, plan: Plan, request: DavRequest, base_prefix: str,
                    writer: ItemWriter, found: Part, chunks: Iterable[rows.Chunk]) -> None:
        prefix = self._member_prefix(base_prefix, plan)
        if not plan.wants_text:
            template = _report_template(plan.props)
            for kind, chunk in chunks:
                if not chunk or template is None:
                    continue
                found.write(_responses(template, prefix, request, plan, kind, chunk, False))
                writer.written += len(chunk)
            return
        batch: list[tuple[str, rows.Row]] = []

        def flush() -> None:
            texts = _texts(request, plan, batch)
            for kind, row in batch:
                writer.write(found, prefix + _quoted(row[1] + ".ics"),
                             _etags(request, plan, kind, [row])[0],
                             texts.get((kind, row[0])))
            batch.clear()

        for kind, chunk in chunks:
            for row in chunk:
                batch.append((kind, row))
                if len(batch) >= TEXT_BATCH:
                    flush()
        flush()

    # --- calendar-query with a time range -----------------------------------------------

    def _query(self, plan: Plan, request: DavRequest, collection: Collection,
               base_prefix: str, writer: ItemWriter, found: Part) -> None:
        """The storage's `get_filtered` and Radicale's filtering: a booking under the simple
        range is claimed by the range query, everything else is tested by Radicale's filter."""
        filters = [copy.deepcopy(f) for f in plan.filters]
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, "VCALENDAR")
        if tag not in (None, "VEVENT"):
            return
        publisher = request.publisher
        items: Iterable[Published]
        if start <= radicale_filter.TIMESTAMP_MIN and end >= radicale_filter.TIMESTAMP_MAX:
            items = publisher.everything(plan.calendar)
        else:
            items = publisher.in_range([plan.calendar], _instant(start), _instant(end))
        for item in items:
            if not (simple and item.kind == "booking"):
                candidate = collection._item(item)
                if not all(test_filter("VCALENDAR", candidate, f) for f in filters):
                    continue
            writer.write(found, self._href(base_prefix, plan, item.href), item.etag,
                         _document(item) if plan.wants_text else None)


def _texts(request: DavRequest, plan: Plan, batch: list[tuple[str, rows.Row]]
           ) -> dict[tuple[str, int], str]:
    """Documents of a batch of rows through the publisher (rendering what its cache lacks and
    remembering it for `Publisher.save`)."""
    texts: dict[tuple[str, int], str] = {}
    # By UID: the unique index alone (by id with the calendar, SQLite walks the calendar).
    for item in request.publisher.by_uids(plan.calendar, [row[1] for _, row in batch]):
        texts[(item.kind, item.item_id)] = _document(item)
    return texts


def _hrefs(prefix: str, chunk: Sequence[rows.Row]) -> list[str]:
    """The hrefs of rows (id, uid, ...): `prefix` and each quoted name; the UIDs are checked
    all at once ("/" is among the characters left as they are, so the joined UIDs pass the
    check exactly when each one does)."""
    uids = [row[1] for row in chunk]
    if unquoted("/".join(uids)):
        return [f"{prefix}{uid}.ics" for uid in uids]
    return [prefix + _quoted(uid + ".ics") for uid in uids]


def _responses(template: str, prefix: str, request: DavRequest, plan: Plan, kind: str,
               chunk: Sequence[rows.Row], modified: bool) -> str:
    """The <response>s of a chunk of rows (id, uid, seq[, updated]) by `template` ({0} href,
    {1} ETag, {2} last modified). Where no date is asked and every UID goes into its href as
    it is (our own UIDs), one f-string per row; otherwise `template.format` per row."""
    literal = template.format("\x00", "\x01", "\x02")  # the text around the fields
    href_at, etag_at = literal.find("\x00"), literal.find("\x01")
    simple = "\x02" not in literal and literal.count("\x00") == 1 and \
        literal.count("\x01") <= 1 and (etag_at == -1 or etag_at > href_at)
    if simple and not modified and unquoted("/".join([row[1] for row in chunk])):
        before, rest = literal.split("\x00")
        if "\x01" not in rest:
            return "".join([f"{before}{prefix}{row[1]}.ics{rest}" for row in chunk])
        middle, after = rest.split("\x01")
        head = etag_head(request.epoch, request.publisher.etag_profile(kind, plan.calendar.id))
        return "".join([f'{before}{prefix}{row[1]}.ics{middle}{head}{row[2]}"{after}'
                        for row in chunk])
    dates = [http_date(row[3]) for row in chunk] if modified else [""] * len(chunk)
    return "".join(map(template.format, _hrefs(prefix, chunk),
                       _etags(request, plan, kind, chunk), dates))


def _etags(request: DavRequest, plan: Plan, kind: str, chunk: Sequence[rows.Row]) -> list[str]:
    """The ETags of rows (id, uid, seq, ...) of one kind in the plan's calendar, in the link's
    view (as `Published.etag` gives them)."""
    profile = request.publisher.etag_profile(kind, plan.calendar.id)
    return etags_of(request.epoch, kind, profile, [(row[0], row[2]) for row in chunk])


def _quoted(name: str) -> str:
    """An item's name as the tail of its href (Radicale's `make_href`)."""
    return name if unquoted(name) else xmlout.href("", name)


def _report_template(props: list[str]) -> str | None:
    """A format string for one item's REPORT <response> without text ({0} href, {1} ETag),
    as `ItemWriter` writes it; None when no property was asked (no <response> at all)."""
    if not props:
        return None
    found, not_found = [], []
    for tag in props:
        if tag == D + "getetag":
            found.append(f"<{xmlout.qname(tag)}>{{1}}</{xmlout.qname(tag)}>")
        elif tag == D + "getcontenttype":
            found.append(_braces(xmlout.element(tag, CONTENT_TYPE)))
        else:
            not_found.append(_braces(xmlout.empty(tag)))
    stats = (xmlout.propstat(found, xmlout.OK) if found else "") + \
        (xmlout.propstat(not_found, xmlout.NOT_FOUND) if not_found else "")
    return "<response><href>{0}</href>" + stats + "</response>"


def _propfind_template(props: list[str]) -> str:
    """A format string for one item's PROPFIND <response> ({0} href, {1} ETag, {2} last
    modified): propstats in the order their status first appears, as Radicale groups them."""
    groups: dict[int, list[str]] = {}
    for tag in props:
        if tag == D + "getetag":
            groups.setdefault(200, []).append(f"<{xmlout.qname(tag)}>{{1}}</{xmlout.qname(tag)}>")
        elif tag == D + "getlastmodified":
            groups.setdefault(200, []).append(f"<{xmlout.qname(tag)}>{{2}}</{xmlout.qname(tag)}>")
        elif tag == D + "getcontenttype":
            groups.setdefault(200, []).append(
                _braces(xmlout.element(tag, CONTENT_TYPE)))
        elif tag == D + "resourcetype":
            groups.setdefault(200, []).append(_braces(xmlout.empty(tag)))
        else:
            groups.setdefault(404, []).append(_braces(xmlout.empty(tag)))
    stats = "".join(xmlout.propstat(entries, xmlout.OK if code == 200 else xmlout.NOT_FOUND)
                    for code, entries in groups.items())
    return "<response><href>{0}</href>" + stats + "</response>"


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
