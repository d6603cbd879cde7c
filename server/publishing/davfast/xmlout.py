"""Multistatus text written as strings, exactly as Radicale's ElementTree serialisation writes it
(`ET.ElementTree(...).write(encoding="utf-8", xml_declaration=True)`, Radicale's prefixes: DAV:
the default namespace, C, CS, ICAL ...), so that an answer of the fast path is byte-equal to
Radicale's own. Only the shapes Radicale produces for items are written here."""

from __future__ import annotations

from typing import Iterable, Sequence
from urllib.parse import quote

from radicale import xmlutils

DAV = "DAV:"
DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"
OK = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"
# Radicale registers these prefixes with ElementTree (DAV: as the default namespace).
PREFIXES = {uri: ("" if short == "D" else short) for short, uri in xmlutils.NAMESPACES.items()}


def escape(text: str) -> str:
    """Character data as ElementTree escapes it (quotes stay as they are)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def split_clark(tag: str) -> tuple[str, str]:
    """("{ns}name") -> (ns, name); ("", tag) for a tag without namespace."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def writable(tag: str) -> bool:
    """Whether a property's tag can be written with Radicale's prefixes (a known namespace)."""
    namespace, name = split_clark(tag)
    return namespace in PREFIXES and bool(name)


def qname(tag: str) -> str:
    namespace, name = split_clark(tag)
    prefix = PREFIXES[namespace]
    return f"{prefix}:{name}" if prefix else name


def empty(tag: str) -> str:
    return f"<{qname(tag)} />"


def element(tag: str, text: str) -> str:
    name = qname(tag)
    return f"<{name}>{escape(text)}</{name}>" if text else f"<{name} />"


def href(base_prefix: str, path: str) -> str:
    """Radicale's `make_href`: the quoted path below the prefix, as element text."""
    return escape(quote(base_prefix + path))


def propstat(props: Iterable[str], status: str) -> str:
    return f"<propstat><prop>{''.join(props)}</prop><status>{status}</status></propstat>"


def response(href_text: str, propstats: Sequence[str]) -> str:
    return f"<response><href>{href_text}</href>{''.join(propstats)}</response>"


def missing(href_text: str) -> str:
    """A member that does not exist (404 for the whole response)."""
    return f"<response><href>{href_text}</href><status>{NOT_FOUND}</status></response>"


def root_open(namespaces: Iterable[str]) -> str:
    """The declaration and the <multistatus> start tag, declaring `namespaces` (URIs) in the
    order ElementTree writes them: sorted by prefix, the default namespace first."""
    declared = sorted({PREFIXES[ns] for ns in namespaces} | {""})
    uris = {prefix: uri for uri, prefix in PREFIXES.items()}
    attributes = "".join(f' xmlns="{uris[p]}"' if not p else f' xmlns:{p}="{uris[p]}"'
                         for p in declared)
    return f"{DECLARATION}<multistatus{attributes}>"


ROOT_CLOSE = "</multistatus>"
